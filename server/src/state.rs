//! The server's shared state: one cloneable handle holding every part, handed to HTTP handlers,
//! server functions and WebSocket connections alike.

use crate::accounts::Accounts;
use crate::config::Config;
use crate::history::HistoryCache;
use crate::hub::Hub;
use crate::processor::MessageProcessor;
use crate::ratelimit::RateLimiter;
use crate::rooms::Rooms;
use crate::signin::SignInGate;
use crate::stats::Stats;
use crate::store::MessageLog;
use app::model::{RoomId, StatsSnapshot, UserId};
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use std::ops::Deref;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub struct Shared {
    pub config: Config,
    pub accounts: Accounts,
    pub rooms: Rooms,
    pub log: Arc<MessageLog>,
    pub history: HistoryCache,
    pub hub: Hub,
    pub processor: MessageProcessor,
    pub stats: Stats,
    /// Sends per user.
    pub limiter: RateLimiter<UserId>,
    /// Typing hints per (user, room).
    pub typing: RateLimiter<(UserId, RoomId)>,
    /// Room creations per user.
    pub room_creations: RateLimiter<UserId>,
    /// Presence announcements per user.
    pub presence: RateLimiter<UserId>,
    pub sign_in: SignInGate,
    /// Fires when the server begins to stop.
    pub shutdown: CancellationToken,
    /// Every WebSocket connection task, so shutdown can wait for them.
    pub connections: TaskTracker,
}

impl Shared {
    pub fn stats_snapshot(&self) -> StatsSnapshot {
        self.stats.snapshot(
            self.processor.queue_depth(),
            self.processor.queue_capacity(),
            self.hub.connections(),
        )
    }
}

#[derive(Clone)]
pub struct AppState {
    shared: Arc<Shared>,
    pub leptos_options: LeptosOptions,
}

impl AppState {
    pub fn new(shared: Shared, leptos_options: LeptosOptions) -> Self {
        Self {
            shared: Arc::new(shared),
            leptos_options,
        }
    }
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
