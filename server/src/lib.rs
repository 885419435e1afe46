//! Minitalk's server: serves the Leptos pages and server functions, the `/ws` WebSocket, and
//! stores every message durably before anyone is told it exists.
//!
//! # Layout
//!
//! Where one chat message goes, by file:
//!
//! 1. **Received** on one WebSocket: `ws/connection.rs` runs the socket's loop, `ws/commands.rs`
//!    turns a `send` frame into a checked request (membership, rate limit, in-flight cap) and
//!    submits it to the processor's bounded queue (`processor/mod.rs`).
//! 2. **Batched**: `processor/batcher.rs` gathers queued sends into one batch (by size and a
//!    short linger); `processor/writer.rs` commits each batch.
//! 3. **Made durable**: the writer appends the batch to the [`store::MessageStore`]
//!    (`store/messages.rs`), all or nothing. The default store, `store/file/`, answers resends
//!    from its dedupe memory (`store/dedupe.rs`) and writes the rest to the segmented log
//!    (`store/file/log/`) with one `write` and one `fdatasync` on its own thread. A message is
//!    *stored* when that returns.
//! 4. **Acked and fanned out**: only then does the writer ack every sender and publish the
//!    stored messages to `hub/`, which hands them to the bounded queue of every connection
//!    subscribed to the room.
//! 5. **Delivered in order** to one socket: `ws/delivery.rs` keeps a cursor per room and sends
//!    each seq once, in order, replaying from the store whenever the socket fell behind.
//! 6. **Rendered** in the browser: `app/src/client/` keeps the socket and the per-room state,
//!    `app/src/pages/room/` draws the room.
//!
//! The other parts:
//!
//! - [`server`]: [`start`] wires everything, [`Running`] stops it in order; [`routes`]: the
//!   HTTP routes; [`state`]: the handle request handlers and connections are given;
//!   [`clock`]: the time, injectable where rules depend on it.
//! - [`store`]: the data directory: the [`store::MessageStore`] seam with its file
//!   implementation ([`store::file`]: the append-only, segmented message log) and an in-memory
//!   one for unit tests, and small JSON [`store::Table`]s for metadata, written atomically.
//! - [`accounts`], [`rooms`]: the rules (passwords, sessions, quotas, membership) over the
//!   store; [`signin`]: admission for password work.
//! - [`history`]: history pages behind a cache bounded in bytes; [`stats`]: the processor's
//!   figures; [`ratelimit`]: per-user token buckets.
//! - [`backend`]: what the `/api/*` server functions of the `app` crate call.
//! - [`http`]: the HTTP edge: the CSRF guard on `/api/*`, security headers, static-file
//!   caching, and the connection loop with its timeouts.
//! - [`config`]: the command-line flags.

pub mod accounts;
pub mod backend;
pub mod clock;
pub mod config;
mod fasthash;
pub mod history;
pub mod http;
pub mod hub;
pub mod processor;
pub mod ratelimit;
pub mod rooms;
pub mod routes;
pub mod server;
pub mod signin;
pub mod state;
pub mod stats;
pub mod store;
pub mod ws;
/// The WebSocket side's name before it became a folder; integration tests name its limits by it.
pub use ws as connection;

pub use server::{start, Running};
