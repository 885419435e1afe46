//! The WebSocket side: `/ws` upgrade and authentication here; the connection's loop in
//! [`connection`], what a client may ask in [`commands`], in-order exactly-once delivery in
//! [`delivery`], how frames become socket messages in [`writer`], and error frames and close
//! codes in [`errors`].
//!
//! A connection does not see the whole server: it gets a [`ConnDeps`], built in one place from
//! the app state, naming exactly what it uses (the hub, the bus it publishes typing and presence
//! on, the processor, the authority over sessions and membership, the message log's read seam,
//! its limiters, the shutdown signal and its limits). Its tests
//! build one from in-memory parts.
//!
//! Limits set here: frames of 64 KiB (bigger ones close the socket with 1009), small socket
//! buffers, and sockets per user and per address (checked by the hub before the upgrade).

mod commands;
mod connection;
mod delivery;
mod errors;
#[cfg(test)]
mod tests;
mod user_stream;
mod writer;

pub use delivery::{LogReadError, MAX_REPLAY};

use crate::accounts::{Accounts, Session};
use crate::bus::Bus;
use crate::http::origin::same_origin;
use crate::hub::{Hub, SessionKey};
use crate::processor::{MessageProcessor, SendError, SendRequest};
use crate::ratelimit::RateLimiter;
use crate::state::AppState;
use crate::store::MessageStore;
use app::api::{ssr::session_token_from_headers, ApiError};
use app::model::{RoomId, RoomSummary, UserId, UserInfo};
use app::protocol::LINES_PROTOCOL;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use connection::Connection;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use writer::Framing;

/// Largest frame a client may send; bigger ones close the connection with 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Socket buffer sizes. Small, because a server holds thousands of connections (tungstenite's
/// 128 KiB defaults cost ~200 KiB of memory a connection); writes are batched per loop step.
/// tungstenite zeroes the whole read buffer before each read, and client frames are small.
const READ_BUFFER_BYTES: usize = 4 * 1024;
const WRITE_BUFFER_BYTES: usize = 16 * 1024;

/// Who may read and post where: the sessions and the rooms' membership, as the connection asks
/// them. A connection asks again on a bus resync, when it may have missed a sign-out or a leave.
pub trait Authority: Send + Sync + 'static {
    /// Whether `user` may read and post in `room`, from this node's state: cheap, and the
    /// answer when it is yes.
    fn check_member(&self, user: UserId, room: RoomId) -> Result<(), ApiError>;
    /// [`Authority::check_member`] with a refusal confirmed against the store when other nodes
    /// change the rooms too (they may have let `user` in a moment ago): the answer when the
    /// first one is no.
    fn confirm_member(&self, user: UserId, room: RoomId) -> BoxFuture<'_, Result<(), ApiError>> {
        futures::future::ready(self.check_member(user, room)).boxed()
    }
    fn rooms_of(&self, user: UserId) -> Vec<RoomId>;
    /// Every room `user` is in or invited to, as their list shows it (the user stream).
    fn room_list<'a>(
        &'a self,
        user: &'a UserInfo,
    ) -> BoxFuture<'a, Result<Vec<RoomSummary>, ApiError>>;
    /// `room`'s row in `user`'s list, or `None` when it is not theirs (any more).
    fn own_row<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
    ) -> BoxFuture<'a, Option<RoomSummary>>;
    /// Whether the sign-in `session` is still valid (not ended, not expired). Async because
    /// sessions live in the account store; a store that cannot answer counts as "not valid"
    /// (the socket closes, and the client's reconnect asks again at the upgrade).
    fn session_active<'a>(&'a self, session: &'a SessionKey) -> BoxFuture<'a, bool>;
}

/// Where a checked `send` goes to be stored (the processor's bounded queue).
pub trait Submit: Send + Sync + 'static {
    /// Queues the message or refuses at once; never waits.
    fn submit(&self, request: SendRequest) -> Result<(), SendError>;
}

impl Submit for MessageProcessor {
    fn submit(&self, request: SendRequest) -> Result<(), SendError> {
        MessageProcessor::submit(self, request)
    }
}

/// The rooms as kept by the app state.
struct Rooms(AppState);

impl Authority for Rooms {
    fn check_member(&self, user: UserId, room: RoomId) -> Result<(), ApiError> {
        Ok(self.0.rooms().check_member(user, room)?)
    }

    fn confirm_member(&self, user: UserId, room: RoomId) -> BoxFuture<'_, Result<(), ApiError>> {
        async move { Ok(self.0.rooms().confirm_member(user, room).await?) }.boxed()
    }

    fn rooms_of(&self, user: UserId) -> Vec<RoomId> {
        self.0.rooms().room_ids_of(user)
    }

    fn room_list<'a>(
        &'a self,
        user: &'a UserInfo,
    ) -> BoxFuture<'a, Result<Vec<RoomSummary>, ApiError>> {
        async move {
            let rooms = self.0.rooms().rooms_of(user.id).await?;
            Ok(self.0.rows(rooms, user).await)
        }
        .boxed()
    }

    fn own_row<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
    ) -> BoxFuture<'a, Option<RoomSummary>> {
        self.0.own_row(user, room).boxed()
    }

    fn session_active<'a>(&'a self, session: &'a SessionKey) -> BoxFuture<'a, bool> {
        fail_closed(self.0.accounts(), session).boxed()
    }
}

/// Whether `session` is still valid, failing closed: a store that cannot answer counts as "not
/// valid" (the socket closes, and the client's reconnect asks again at the upgrade).
async fn fail_closed(accounts: &Accounts, session: &SessionKey) -> bool {
    accounts.is_active(session).await.unwrap_or_else(|error| {
        tracing::error!(%error, "session check on resync failed; closing the socket");
        false
    })
}

/// Per-connection limits from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Stored messages queued for the connection before it counts as lagging.
    pub outbound_queue: usize,
    pub ping_every: Duration,
}

/// What one connection uses of the server.
#[derive(Clone)]
pub struct ConnDeps {
    pub hub: Hub,
    pub bus: Arc<dyn Bus>,
    pub processor: Arc<dyn Submit>,
    pub authority: Arc<dyn Authority>,
    pub messages: Arc<dyn MessageStore>,
    /// Sends per user.
    pub limiter: RateLimiter<UserId>,
    /// Typing hints per (user, room).
    pub typing: RateLimiter<(UserId, RoomId)>,
    /// Presence announcements per user.
    pub presence: RateLimiter<UserId>,
    pub shutdown: CancellationToken,
    pub limits: ConnLimits,
}

impl ConnDeps {
    pub fn of(state: &AppState) -> Self {
        Self {
            hub: state.hub().clone(),
            bus: state.bus().clone(),
            processor: Arc::new(state.processor().clone()),
            authority: Arc::new(Rooms(state.clone())),
            messages: state.messages().clone(),
            limiter: state.limiters().sends.clone(),
            typing: state.limiters().typing.clone(),
            presence: state.limiters().presence.clone(),
            shutdown: state.shutdown().clone(),
            limits: ConnLimits {
                outbound_queue: state.config().outbound_queue,
                ping_every: Duration::from_millis(state.config().ws_ping_interval_ms.max(1)),
            },
        }
    }
}

/// `GET /ws`: same-origin and signed-in only, within the socket limits.
pub async fn upgrade(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site WebSocket refused").into_response();
    }
    let token = session_token_from_headers(&headers, state.config().secure_cookies);
    let session: Option<Session> = match token {
        Some(token) => match state.accounts().session(&token).await {
            Ok(session) => session,
            Err(e) => {
                tracing::error!("session lookup at upgrade: {e}");
                return (StatusCode::INTERNAL_SERVER_ERROR, "try again").into_response();
            }
        },
        None => None,
    };
    let Some(session) = session else {
        return (StatusCode::UNAUTHORIZED, "not signed in").into_response();
    };
    let ip = peer.map(|Extension(ConnectInfo(addr))| addr.ip());
    let registration = match state
        .hub()
        .connect(session.user.id, session.key.clone(), ip)
    {
        Ok(registration) => registration,
        Err(refused) => {
            return (StatusCode::TOO_MANY_REQUESTS, refused.to_string()).into_response();
        }
    };
    let deps = ConnDeps::of(&state);
    let ws = ws.protocols([LINES_PROTOCOL]);
    let framing = Framing::of(ws.selected_protocol().map(|p| p.as_bytes()));
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            let (sink, stream) = socket.split();
            state.connections().track_future(Connection::run(
                deps,
                session,
                registration,
                sink,
                framing,
                stream,
            ))
        })
}
