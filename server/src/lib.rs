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
//!    (`store/file/log/`) with one `write` and one `fdatasync` on its own thread; on PostgreSQL
//!    (`store/postgres/messages.rs`) the batch is one transaction. A message is *stored* when
//!    that returns.
//! 4. **Fanned out and acked**: only then does the writer hand the batch to
//!    `processor/publisher.rs`, which publishes the stored messages to `hub/` (which hands them
//!    to the bounded queue of every connection subscribed to the room) and then acks every
//!    sender, while the writer already commits the next batch. A message is serialized once,
//!    by the store: its log line is its `message` frame.
//! 5. **Delivered in order** to one socket: `ws/delivery.rs` keeps a cursor per room and sends
//!    each seq once, in order, replaying from the store whenever the socket fell behind;
//!    `ws/writer.rs` puts the frames into socket messages (several a message for a browser, a
//!    busy room's gathered for a moment).
//! 6. **Rendered** in the browser: `app/src/client/` keeps the socket and the per-room state,
//!    `app/src/pages/room/` draws the room.
//!
//! The other parts:
//!
//! - [`server`]: [`start`] wires everything, [`Running`] stops it in order; [`routes`]: the
//!   HTTP routes; [`state`]: the handle request handlers and connections are given;
//!   [`clock`]: the time, injectable where rules depend on it.
//! - [`store`]: one async trait per noun ([`store::MessageStore`],
//!   [`store::accounts::AccountStore`], [`store::rooms::RoomStore`]), and nothing outside
//!   `store/` reaches past them. [`store::file`] is the default implementation over the data
//!   directory: the append-only, segmented message log, and metadata (users, sessions, rooms)
//!   as [`store::Table`]s, each a journal of changes folded into a snapshot now and then.
//!   The metadata documents and their rules are written once (`store/{accounts,rooms}/`:
//!   `document.rs`, and `kept.rs` for the store over it, generic over a `store/keeper.rs`).
//!   `store/memory/` implements the traits for unit tests (the same metadata stores, kept in
//!   memory), and `store/contract/` is the suite every implementation passes.
//!   `store/postgres/` implements them on PostgreSQL for several nodes (`--database-url`).
//!   `store/file/backup.rs` copies the whole file store at one moment while it runs; the
//!   [`control`] socket in the data directory is how `minitalk backup` asks for it.
//! - [`accounts`], [`rooms`]: the services that keep the rules (passwords, sessions, quotas,
//!   membership) over `Arc<dyn …Store>`. [`access`]: who may do what in a room, decided by the
//!   processor's writer in batch order, and the send path's fast membership check. [`signin`]: admission for password work, which [`accounts`] runs through.
//! - [`room_rows`]: a room's row as one person's lists show it (with unread), for the server
//!   functions and the socket's user stream (`ws/user_stream.rs`: the sidebar's snapshot and
//!   its live changes, counts coalesced per connection). [`newest`]: each room's newest
//!   message, left by the publisher, for the rows' previews (what notifications show).
//! - [`search`]: full-text search. On the file store a tantivy index (`search/` in the data
//!   directory), caught up from the message store by its own task after the publisher marks
//!   the rooms a batch touched; on PostgreSQL the database's own (`store/postgres/search.rs`).
//!   Queries scoped to the caller's rooms, each hit read back from the store.
//! - [`history`]: history pages behind a cache bounded in bytes; [`stats`]: the processor's
//!   figures; [`ratelimit`]: per-user token buckets.
//! - [`bus`]: events that are not messages (a leave, a sign-out, presence, typing) published
//!   once and applied to the hub by `hub/apply.rs`, the one path for revocation;
//!   [`bus::LocalBus`] applies them in process and offers them to bounded subscriber queues.
//!   On PostgreSQL the relay (`bus/postgres.rs`) subscribes and sends them to the other
//!   nodes over NOTIFY, and brings theirs and their stored seqs back to this node's hub.
//!   Messages never depend on it: cursors catch up from the store.
//! - [`backend`]: what the `/api/*` server functions of the `app` crate await (the async
//!   `app::api::ssr::Backend`).
//! - [`http`]: the HTTP edge: the CSRF guard on `/api/*`, security headers, static-file
//!   caching, the connection loop with its timeouts, and `/healthz`, `/readyz`, `/metrics`
//!   (`http/ops.rs`; the figures are recorded through [`metrics`]).
//! - [`config`]: the command-line flags.

pub mod access;
pub mod accounts;
pub mod backend;
pub mod bus;
pub mod clock;
pub mod config;
pub mod control;
mod fasthash;
pub mod history;
pub mod http;
pub mod hub;
pub mod metrics;
pub mod newest;
pub mod processor;
pub mod ratelimit;
pub mod room_rows;
pub mod rooms;
pub mod routes;
pub mod search;
pub mod server;
pub mod signin;
pub mod state;
pub mod stats;
pub mod store;
pub mod ws;
/// The WebSocket side's name before it became a folder; integration tests name its limits by it.
pub use ws as connection;

pub use server::{start, Running};
