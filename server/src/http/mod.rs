//! The HTTP edge: what every request passes through before it reaches a page, a server
//! function or `/ws`, and the loop that accepts connections.
//!
//! - [`origin`]: is this request from one of our own pages? (shared by `/ws` and `/api/*`)
//! - [`csrf`]: the guard on `/api/*`: same-origin, JSON-bodied state changes only.
//! - [`assets`]: `Cache-Control` (a year for content-hashed bundle files) and compression.
//! - [`headers`]: the Content-Security-Policy with its per-response nonce, and the other
//!   security headers.
//! - [`serve`]: the accept loop: header-read timeout, upgrades, peer address, graceful stop.
//! - [`ops`]: `/healthz`, `/readyz` and `/metrics`, for operators and load balancers.

pub mod assets;
pub mod csrf;
pub mod headers;
pub mod ops;
pub mod origin;
pub mod serve;
