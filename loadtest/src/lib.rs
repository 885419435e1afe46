//! The New Year's Eve burst against a running Minitalk server, as a library so that tests can
//! run a small one against a real server; `main.rs` is only the command line.
//!
//! - [`run`]: the phases of one run (setup, midnight, burst, drain, checks) under one deadline.
//! - `setup`: accounts and rooms over HTTP; `user`: one simulated person on a WebSocket.
//! - [`report`]: what was measured and checked, printed however the run ended.
//! - `cpu`: CPU time of the generator and the server during the burst.
//!
//! Everything the load test says to the server goes through `minitalk-client`.

mod cpu;
pub mod report;
pub mod run;
mod setup;
mod user;

pub use report::Report;
pub use run::{run, Scenario};
