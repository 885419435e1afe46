//! The HTTP edge: what every request passes through before it reaches a page, a server
//! function or `/ws`, and the loop that accepts connections.
//!
//! - [`origin`]: is this request from one of our own pages? (shared by `/ws` and `/api/*`)
//! - [`csrf`]: the guard on `/api/*`: same-origin, JSON-bodied state changes only.

pub mod csrf;
pub mod origin;
