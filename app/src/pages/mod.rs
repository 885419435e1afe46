//! One module per page.

pub mod login;
pub mod not_found;
pub mod room;
pub mod rooms;
pub mod search;
pub mod stats;
