//! The handle every request handler and WebSocket connection is given.
//!
//! Why a handle and not a struct of `pub` fields: a reader should see, from the calls a module
//! makes, which parts of the server it uses, and no module should be able to reach into another
//! part's internals. [`AppState`] is cheap to clone (one `Arc`) and exposes each part through an
//! accessor that returns a shared reference; the parts themselves are handles with small
//! synchronous methods (or async ones that hold no lock across an await).

use crate::accounts::Accounts;
use crate::bus::Bus;
use crate::config::Config;
use crate::history::HistoryCache;
use crate::hub::Hub;
use crate::newest::NewestMessages;
use crate::processor::MessageProcessor;
use crate::ratelimit::RateLimiter;
use crate::rooms::Rooms;
use crate::stats::Stats;
use crate::store::MessageStore;
use app::model::{RoomId, StatsSnapshot, UserId};
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The per-user and per-(user, room) rate limits a connection and the server functions apply.
pub struct Limiters {
    /// Sends per user.
    pub sends: RateLimiter<UserId>,
    /// Typing hints per (user, room).
    pub typing: RateLimiter<(UserId, RoomId)>,
    /// Room creations per user.
    pub room_creations: RateLimiter<UserId>,
    /// Presence announcements per user.
    pub presence: RateLimiter<UserId>,
    /// Joins and leaves per user (each one is a timeline entry every member receives).
    pub membership_changes: RateLimiter<UserId>,
    /// Read marks and notification levels per user (each is a journaled write).
    pub own_rows: RateLimiter<UserId>,
    /// Searches per user (each reads the index and a page of messages).
    pub searches: RateLimiter<UserId>,
}

/// What [`AppState::new`] is built from; `server::start` fills it in once.
pub struct Parts {
    pub config: Config,
    pub accounts: Accounts,
    pub rooms: Rooms,
    pub messages: Arc<dyn MessageStore>,
    pub history: HistoryCache,
    /// Each room's newest message, for the rows' previews.
    pub newest: NewestMessages,
    /// The full-text index of messages (or `Search::off()`).
    pub search: crate::search::Search,
    pub hub: Hub,
    /// Where revocations, presence and typing are published (applied to `hub` at once).
    pub bus: Arc<dyn Bus>,
    pub processor: MessageProcessor,
    pub stats: Stats,
    pub limiters: Limiters,
    /// Fires when the server begins to stop.
    pub shutdown: CancellationToken,
    /// Every WebSocket connection task, so shutdown can wait for them.
    pub connections: TaskTracker,
    /// What `/readyz` and `/metrics` last read from the store (at most once a second).
    pub ops: crate::http::ops::OpsReads,
}

/// The server's parts, behind one cloneable handle.
#[derive(Clone)]
pub struct AppState {
    parts: Arc<Parts>,
    leptos_options: LeptosOptions,
}

impl AppState {
    pub fn new(parts: Parts, leptos_options: LeptosOptions) -> Self {
        Self {
            parts: Arc::new(parts),
            leptos_options,
        }
    }

    pub fn config(&self) -> &Config {
        &self.parts.config
    }

    pub fn leptos_options(&self) -> &LeptosOptions {
        &self.leptos_options
    }

    /// What the operators' endpoints last read from the store.
    pub fn ops(&self) -> &crate::http::ops::OpsReads {
        &self.parts.ops
    }

    /// Accounts and sessions (the service; its store is behind it).
    pub fn accounts(&self) -> &Accounts {
        &self.parts.accounts
    }

    /// Rooms and membership (the service; its store is behind it).
    pub fn rooms(&self) -> &Rooms {
        &self.parts.rooms
    }

    /// The message store every replay, catch-up and history page reads.
    pub fn messages(&self) -> &Arc<dyn MessageStore> {
        &self.parts.messages
    }

    pub fn history(&self) -> &HistoryCache {
        &self.parts.history
    }

    pub fn newest(&self) -> &NewestMessages {
        &self.parts.newest
    }

    pub fn search(&self) -> &crate::search::Search {
        &self.parts.search
    }

    pub fn hub(&self) -> &Hub {
        &self.parts.hub
    }

    /// Where leaves, sign-outs, presence and typing are published; never call the hub for them.
    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.parts.bus
    }

    pub fn processor(&self) -> &MessageProcessor {
        &self.parts.processor
    }

    pub fn stats(&self) -> &Stats {
        &self.parts.stats
    }

    pub fn limiters(&self) -> &Limiters {
        &self.parts.limiters
    }

    /// Fires when the server begins to stop.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.parts.shutdown
    }

    /// Every WebSocket connection task, so shutdown can wait for them.
    pub fn connections(&self) -> &TaskTracker {
        &self.parts.connections
    }

    /// The processor's figures with the current queue depth and connection count.
    pub fn stats_snapshot(&self) -> StatsSnapshot {
        self.parts.stats.snapshot(
            self.parts.processor.queue_depth(),
            self.parts.processor.queue_capacity(),
            self.parts.hub.connections(),
        )
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
