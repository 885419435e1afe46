//! One WebSocket connection: `/ws` upgrade, authentication, and the loop that reads client
//! frames and writes server frames.
//!
//! The connection keeps, per subscribed room, a cursor: the last seq it sent. Every message on
//! its way out goes through the cursor, which makes delivery exactly-once and in order however
//! the message arrived: a seq at or below the cursor is skipped (already sent during a replay),
//! a seq beyond cursor + 1 means something was missed (the hub's queue overflowed), and the gap
//! is filled from the log before going on. Replays for `subscribe`, catch-up after a lag and
//! live delivery are therefore one mechanism.
//!
//! Access ends at once: a sign-out in any tab, "sign out everywhere" and the session's expiry
//! end the socket (an `unauthorized` error, then close code 4001); leaving a room answers
//! `not_member` for that room and drops its cursor. The hub raises these as [`Signals`], and the
//! connection takes them before every delivery and before sending anything read from the log
//! (see `hub` for why that ordering means nothing stored after a leave reaches the socket). A
//! failed read of the log never moves a cursor past what was not sent: the room is answered
//! `internal` and dropped, and the client resubscribes from the last seq it has.
//!
//! Limits a client cannot exceed: frames of 64 KiB, 1,024 unanswered sends, 1,000 rooms, a
//! replay of [`MAX_REPLAY`] messages per subscribe (older ones come from `history`), typing
//! hints at one per two seconds per room (more are dropped), sockets per user and per address
//! (`hub`). The server pings every `--ws-ping-interval-ms` and closes a socket that has sent
//! nothing (no pong either) in answer to two pings in a row, so a vanished client stops counting as online.
//!
//! Shutdown: when the server stops, the processor writes what it has queued and refuses more. The
//! connection keeps answering (acks for queued messages, `overloaded` for new sends) until the
//! client has been quiet for a moment or a grace period ends, then closes with 1001 "going
//! away": no message the server read is left unanswered.

use crate::accounts::Session;
use crate::fasthash::FastMap;
use crate::http::origin::same_origin;
use crate::hub::{to_json, Credit, Outbound, Registration, Signals, Subscriber, EVENT_QUEUE};
use crate::processor::{SendError, SendRequest};
use crate::state::AppState;
use app::api::{ssr::session_token_from_headers, ApiError};
use app::model::{ClientId, MessageBody, RoomId, UserInfo, MAX_CLIENT_ID_CHARS};
use app::protocol::{ClientFrame, ErrorCode, ErrorFrame, ServerFrame};
use axum::extract::connect_info::ConnectInfo;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, SplitSink};
use futures::{FutureExt, SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{interval_at, sleep, sleep_until, Duration, Instant, MissedTickBehavior};

/// Largest frame a client may send; bigger ones close the connection with 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Messages one connection may have submitted and not yet had answered.
const MAX_IN_FLIGHT: usize = 1024;
/// Rooms one connection may listen to at once.
const MAX_SUBSCRIPTIONS: usize = 1000;
/// After shutdown begins: how long a connection keeps answering, and how long a quiet client
/// (nothing sent, nothing pending) is waited for before closing.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
const QUIET: Duration = Duration::from_millis(200);
/// Frames taken from the outbound queue per step of the loop (then flushed with one write).
const DELIVERY_BURST: usize = 256;
/// Socket buffer sizes. Small, because a server holds thousands of connections (tungstenite's
/// 128 KiB defaults cost ~200 KiB of memory a connection); writes are batched per loop step.
/// tungstenite zeroes the whole read buffer before each read, and client frames are small.
const READ_BUFFER_BYTES: usize = 4 * 1024;
const WRITE_BUFFER_BYTES: usize = 16 * 1024;
/// Messages read from the log per step of a replay.
const REPLAY_CHUNK: u64 = 256;
/// Most messages one `subscribe` replays; a client further behind gets the newest ones and a
/// `subscribed` frame naming `first_seq`, and pages older ones with `history`.
pub const MAX_REPLAY: u64 = 1000;
/// Longest a write to the socket may take before the client is considered gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Close code for a socket whose session ended (sign-out, expiry).
const CLOSE_SIGNED_OUT: u16 = 4001;

pub async fn upgrade(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site WebSocket refused").into_response();
    }
    let session = session_token_from_headers(&headers, state.config().secure_cookies)
        .and_then(|token| state.accounts().session(&token));
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
    let connections = state.connections().clone();
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            connections.track_future(Connection::run(state, session, registration, socket))
        })
}

type Sink = SplitSink<WebSocket, Message>;
/// Why the loop stopped writing: the socket is gone.
struct Closed;

struct Connection {
    state: AppState,
    user: UserInfo,
    registration: Registration,
    /// This connection as the hub hands it messages and events.
    subscriber: Subscriber,
    signals: Arc<Signals>,
    credit: Credit,
    /// Per subscribed room, the last seq sent.
    cursors: FastMap<RoomId, u64>,
    /// Answers to submitted messages, as they come.
    pending: FuturesUnordered<BoxFuture<'static, ServerFrame>>,
    sink: Sink,
}

impl Connection {
    async fn run(state: AppState, session: Session, registration: Registration, socket: WebSocket) {
        let (sink, mut stream) = socket.split();
        let (messages_tx, mut messages) = mpsc::channel(state.config().outbound_queue.max(1));
        let (events_tx, mut events) = mpsc::channel(EVENT_QUEUE);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let signals = registration.signals.clone();
        let subscriber = Subscriber {
            user: session.user.id,
            messages: messages_tx,
            events: events_tx,
            signals: signals.clone(),
            queued_bytes: queued_bytes.clone(),
        };
        let came_online = registration.came_online;
        let mut this = Connection {
            state,
            user: session.user,
            registration,
            subscriber,
            signals: signals.clone(),
            credit: Credit::new(queued_bytes),
            cursors: FastMap::default(),
            pending: FuturesUnordered::new(),
            sink,
        };
        if came_online {
            this.announce_presence(true);
        }
        let shutdown = this.state.shutdown().clone();
        let expires = Instant::now()
            + Duration::from_millis((session.expires - crate::clock::now_ms()).max(0) as u64);
        let ping_every = Duration::from_millis(this.state.config().ws_ping_interval_ms.max(1));
        let mut ping = interval_at(Instant::now() + ping_every, ping_every);
        // Made once: a timer built inside the loop would be registered and dropped again on
        // every step, that is, several times per message delivered.
        let expiry = sleep_until(expires);
        tokio::pin!(expiry);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // Ping ticks since the client last sent anything (a pong included): counting ticks
        // instead of reading the clock per frame keeps the receive path free of clock reads.
        let mut silent_ticks = 0u32;
        // Once the server stops, sends are answered with `overloaded` (the processor's queue is
        // closed) until the client goes quiet, or the grace period ends.
        let mut stopping_until: Option<Instant> = None;
        let ended = loop {
            let step = tokio::select! {
                biased;
                () = shutdown.cancelled(), if stopping_until.is_none() => {
                    stopping_until = Some(Instant::now() + SHUTDOWN_GRACE);
                    Ok(())
                }
                () = signals.wait() => this.on_signals().await,
                Some(answer) = this.pending.next(), if !this.pending.is_empty() => {
                    this.send_answers(answer).await
                }
                Some(out) = messages.recv() => this.deliver_queued(out, &mut messages).await,
                Some(event) = events.recv() => this.send_text(event).await,
                incoming = stream.next() => match incoming {
                    Some(Ok(message)) => {
                        silent_ticks = 0;
                        this.on_message(message).await
                    }
                    Some(Err(e)) => {
                        this.close_for(&e).await;
                        Err(Closed)
                    }
                    None => Err(Closed),
                },
                _ = ping.tick() => {
                    silent_ticks += 1;
                    if silent_ticks > 2 {
                        this.close(1001, "no answer to pings").await;
                        Err(Closed)
                    } else {
                        this.sink.feed(Message::Ping(Default::default())).await.map_err(|_| Closed)
                    }
                }
                () = &mut expiry => {
                    this.end_session("your session expired; sign in again").await
                }
                () = sleep(QUIET), if stopping_until.is_some() && this.pending.is_empty() => break Ok(()),
                () = sleep_until(stopping_until.unwrap_or_else(Instant::now)), if stopping_until.is_some() => {
                    break Ok(())
                }
            };
            if messages.is_empty() {
                this.credit.settle();
            }
            // Frames are fed without flushing inside a step; one flush (one write) per step.
            let step = match step {
                Ok(()) => this.flush().await,
                failed => failed,
            };
            if step.is_err() {
                break Err(Closed);
            }
        };
        this.finish(ended.is_ok()).await;
    }

    async fn finish(mut self, say_goodbye: bool) {
        for room in self.cursors.keys() {
            self.state.hub().unsubscribe(*room, self.registration.conn);
        }
        if self.state.hub().disconnect(&mut self.registration) {
            self.announce_presence(false);
        }
        if say_goodbye {
            self.close(1001, "server shutting down").await;
        }
    }

    /// Sends a close frame (best effort: the socket may be gone already).
    async fn close(&mut self, code: u16, reason: &'static str) {
        let close = self.sink.send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })));
        let _closing = tokio::time::timeout(WRITE_TIMEOUT, close).await;
    }

    /// Acts on what the hub raised: revocations first, then catch-up of lagging rooms.
    async fn on_signals(&mut self) -> Result<(), Closed> {
        self.take_revocations().await?;
        self.catch_up_lagged().await
    }

    /// Ends access to revoked rooms (their cursors go, the client is told) and, if the session
    /// ended, the connection. Cheap when nothing was revoked: one atomic load.
    async fn take_revocations(&mut self) -> Result<(), Closed> {
        if !self.signals.is_urgent() {
            return Ok(());
        }
        let revoked = self.signals.take_revoked();
        if revoked.session_ended {
            return self
                .end_session("you signed out (here or in another tab); sign in again")
                .await;
        }
        for room in revoked.rooms {
            if self.cursors.remove(&room).is_some() {
                self.state.hub().unsubscribe(room, self.registration.conn);
                self.send_error(
                    None,
                    Some(room),
                    ErrorCode::NotMember,
                    "you are no longer a member of this room".into(),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Tells the client its session is over and closes.
    async fn end_session(&mut self, why: &str) -> Result<(), Closed> {
        let _told = self
            .send_error(None, None, ErrorCode::Unauthorized, why.into())
            .await;
        self.close(CLOSE_SIGNED_OUT, "session ended").await;
        Err(Closed)
    }

    /// Answers a broken incoming frame with the close code that names the problem.
    async fn close_for(&mut self, error: &axum::Error) {
        let text = error.to_string();
        let (code, reason) = if text.contains("Space limit exceeded") || text.contains("too long") {
            (1009, "frame too large")
        } else if text.contains("UTF-8") || text.contains("utf-8") {
            (1007, "invalid UTF-8")
        } else {
            (1002, "protocol error")
        };
        tracing::debug!(user = %self.user.username, "closing a connection: {text}");
        let _closing = self
            .sink
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })))
            .await;
    }

    async fn on_message(&mut self, message: Message) -> Result<(), Closed> {
        match message {
            Message::Text(text) => match serde_json::from_str::<ClientFrame>(&text) {
                Ok(frame) => self.on_frame(frame).await,
                Err(e) => {
                    self.send_error(None, None, ErrorCode::Invalid, format!("bad frame: {e}"))
                        .await
                }
            },
            Message::Binary(_) => {
                self.send_error(
                    None,
                    None,
                    ErrorCode::Invalid,
                    "binary frames are not supported; send JSON text frames".into(),
                )
                .await
            }
            Message::Close(_) => Err(Closed),
            Message::Ping(_) | Message::Pong(_) => Ok(()),
        }
    }

    async fn on_frame(&mut self, frame: ClientFrame) -> Result<(), Closed> {
        match frame {
            ClientFrame::Ping => self.send(&ServerFrame::Pong).await,
            ClientFrame::Subscribe { room_id, after_seq } => {
                self.subscribe(room_id, after_seq).await
            }
            ClientFrame::Unsubscribe { room_id } => {
                self.state
                    .hub()
                    .unsubscribe(room_id, self.registration.conn);
                self.cursors.remove(&room_id);
                self.send(&ServerFrame::Unsubscribed { room_id }).await
            }
            ClientFrame::Send {
                room_id,
                client_id,
                content,
            } => match self.submit(room_id, &client_id, &content) {
                Ok(()) => Ok(()),
                Err(error) => self.send(&ServerFrame::Error(error)).await,
            },
            ClientFrame::Typing { room_id } => {
                if let Err(e) = self.state.rooms().check_member(self.user.id, room_id) {
                    let (code, message) = api_error_code(&e);
                    return self.send_error(None, Some(room_id), code, message).await;
                }
                // Past the limit, hints are dropped without an answer: a typing hint is a hint.
                if self
                    .state
                    .limiters()
                    .typing
                    .check(&(self.user.id, room_id))
                    .is_ok()
                {
                    let frame = ServerFrame::Typing {
                        room_id,
                        user: self.user.username.clone(),
                    };
                    let conn = self.registration.conn;
                    self.state.hub().announce(room_id, &frame, Some(conn));
                }
                Ok(())
            }
        }
    }

    async fn subscribe(&mut self, room: RoomId, after_seq: Option<u64>) -> Result<(), Closed> {
        if self.cursors.len() >= MAX_SUBSCRIPTIONS && !self.cursors.contains_key(&room) {
            let message = format!("at most {MAX_SUBSCRIPTIONS} subscriptions per connection");
            return self
                .send_error(None, Some(room), ErrorCode::Invalid, message)
                .await;
        }
        // Register first, then check membership: a leave that lands in between either finds
        // the registration (and revokes it) or is seen by the check.
        let log = self.state.log().clone();
        let conn = self.registration.conn;
        let last_seq = self
            .state
            .hub()
            .subscribe(room, conn, self.subscriber.clone(), || log.last_seq(room));
        if let Err(e) = self.state.rooms().check_member(self.user.id, room) {
            if !self.cursors.contains_key(&room) {
                self.state.hub().unsubscribe(room, conn);
            }
            let (code, message) = api_error_code(&e);
            return self.send_error(None, Some(room), code, message).await;
        }
        let wanted = after_seq.map_or(last_seq, |after| after.min(last_seq));
        let cursor = wanted.max(last_seq.saturating_sub(MAX_REPLAY));
        self.cursors.insert(room, cursor);
        self.replay(room, last_seq).await?;
        if !self.cursors.contains_key(&room) {
            return Ok(()); // revoked, or the replay failed and said so
        }
        self.send(&ServerFrame::Subscribed {
            room_id: room,
            last_seq,
            first_seq: (cursor > wanted).then_some(cursor + 1),
        })
        .await
    }

    /// Checks and queues one `send`; its answer arrives later through `pending`.
    fn submit(&mut self, room: RoomId, client_id: &str, content: &str) -> Result<(), ErrorFrame> {
        let error = |code, message: String| ErrorFrame {
            client_id: Some(client_id.chars().take(MAX_CLIENT_ID_CHARS).collect()),
            room_id: Some(room),
            code,
            message,
            retry_after_ms: None,
        };
        let parsed_id = ClientId::parse(client_id).map_err(|e| error(ErrorCode::Invalid, e.0))?;
        let body = MessageBody::parse(content).map_err(|e| error(ErrorCode::Invalid, e.0))?;
        if self.pending.len() >= MAX_IN_FLIGHT {
            return Err(ErrorFrame {
                retry_after_ms: Some(100),
                ..error(
                    ErrorCode::Overloaded,
                    format!("at most {MAX_IN_FLIGHT} unacknowledged messages per connection"),
                )
            });
        }
        if let Err(retry_after_ms) = self.state.limiters().sends.check(&self.user.id) {
            return Err(ErrorFrame {
                retry_after_ms: Some(retry_after_ms),
                ..error(ErrorCode::RateLimited, "you are sending too fast".into())
            });
        }
        self.state
            .rooms()
            .check_member(self.user.id, room)
            .map_err(|e| {
                let (code, message) = api_error_code(&e);
                error(code, message)
            })?;
        let (reply, answer) = oneshot::channel();
        self.state
            .processor()
            .submit(SendRequest {
                room_id: room,
                sender: self.user.username.clone(),
                client_id: parsed_id,
                content: body,
                reply,
            })
            .map_err(|e| send_error_frame(&e, error(ErrorCode::Internal, String::new())))?;
        let failed = error(ErrorCode::Internal, String::new());
        self.pending.push(
            async move {
                match answer.await {
                    Ok(Ok(ack)) => ServerFrame::Ack {
                        client_id: ack.client_id,
                        room_id: ack.room_id,
                        id: ack.id,
                        seq: ack.seq,
                        ts: ack.ts,
                    },
                    Ok(Err(e)) => ServerFrame::Error(send_error_frame(&e, failed)),
                    Err(_) => ServerFrame::Error(send_error_frame(&SendError::Storage, failed)),
                }
            }
            .boxed(),
        );
        Ok(())
    }

    /// Sends a message from the hub through the room's cursor (see the module docs).
    async fn deliver(&mut self, out: Outbound) -> Result<(), Closed> {
        self.credit.took(out.json.len());
        self.take_revocations().await?;
        let Some(&cursor) = self.cursors.get(&out.room) else {
            return Ok(());
        };
        if out.seq <= cursor {
            return Ok(());
        }
        if out.seq > cursor + 1 {
            self.replay(out.room, out.seq - 1).await?;
            if self.cursors.get(&out.room) != Some(&(out.seq - 1)) {
                return Ok(()); // revoked, or the replay failed and said so
            }
        }
        self.send_text(out.json).await?;
        self.cursors.insert(out.room, out.seq);
        Ok(())
    }

    async fn catch_up_lagged(&mut self) -> Result<(), Closed> {
        for room in self.signals.take_lagging() {
            if self.cursors.contains_key(&room) {
                let last = self.state.log().last_seq(room);
                self.replay(room, last).await?;
            }
        }
        Ok(())
    }

    /// Sends `room`'s messages after its cursor up to `to`, read from the log. Revocations are
    /// taken after each read and before its messages are sent. A failed read drops the room:
    /// the client is told (`internal` for the room) and resubscribes from what it has.
    async fn replay(&mut self, room: RoomId, to: u64) -> Result<(), Closed> {
        loop {
            let Some(&cursor) = self.cursors.get(&room) else {
                return Ok(());
            };
            if cursor >= to {
                return Ok(());
            }
            let end = to.min(cursor + REPLAY_CHUNK);
            let log = self.state.log().clone();
            let chunk =
                tokio::task::spawn_blocking(move || log.read_range(room, cursor + 1, end)).await;
            self.take_revocations().await?;
            if !self.cursors.contains_key(&room) {
                return Ok(());
            }
            let messages = match chunk {
                Ok(Ok(messages)) if messages.first().map(|m| m.seq) == Some(cursor + 1) => messages,
                other => {
                    tracing::error!(%room, "replay read failed: {:?}", other.map(|r| r.err()));
                    self.cursors.remove(&room);
                    self.state.hub().unsubscribe(room, self.registration.conn);
                    return self
                        .send_error(
                            None,
                            Some(room),
                            ErrorCode::Internal,
                            "could not read this room's history; resubscribe".into(),
                        )
                        .await;
                }
            };
            for message in messages {
                let seq = message.seq;
                self.send(&ServerFrame::Message(message)).await?;
                self.cursors.insert(room, seq);
            }
        }
    }

    /// Tells the user's rooms they came online or went offline. Limited per user: a client
    /// that reconnects in a loop would otherwise announce to every room on every attempt.
    fn announce_presence(&self, online: bool) {
        if self.state.limiters().presence.check(&self.user.id).is_err() {
            return;
        }
        let rooms = self.state.rooms().read();
        for room in rooms.rooms_of(self.user.id) {
            let frame = ServerFrame::Presence {
                room_id: room.id,
                user: self.user.username.clone(),
                online,
            };
            self.state
                .hub()
                .announce(room.id, &frame, Some(self.registration.conn));
        }
    }

    async fn send_error(
        &mut self,
        client_id: Option<String>,
        room_id: Option<RoomId>,
        code: ErrorCode,
        message: String,
    ) -> Result<(), Closed> {
        self.send(&ServerFrame::Error(ErrorFrame {
            client_id,
            room_id,
            code,
            message,
            retry_after_ms: None,
        }))
        .await
    }

    /// Sends an answer, and every other answer that is already there.
    async fn send_answers(&mut self, first: ServerFrame) -> Result<(), Closed> {
        self.send(&first).await?;
        while let Some(Some(answer)) = self.pending.next().now_or_never() {
            self.send(&answer).await?;
        }
        Ok(())
    }

    /// Delivers `first` and whatever else is queued for this connection, up to a bound so the
    /// other branches of the loop get their turn.
    async fn deliver_queued(
        &mut self,
        first: Outbound,
        queue: &mut mpsc::Receiver<Outbound>,
    ) -> Result<(), Closed> {
        self.deliver(first).await?;
        for _ in 0..DELIVERY_BURST {
            let Ok(next) = queue.try_recv() else { break };
            self.deliver(next).await?;
        }
        Ok(())
    }

    /// Queues a frame for the socket; it is written at the next flush (or when the write buffer
    /// fills).
    async fn send(&mut self, frame: &ServerFrame) -> Result<(), Closed> {
        self.send_text(to_json(frame)).await
    }

    async fn send_text(&mut self, json: Utf8Bytes) -> Result<(), Closed> {
        bounded_write(self.sink.feed(Message::Text(json))).await
    }

    async fn flush(&mut self) -> Result<(), Closed> {
        bounded_write(self.sink.flush()).await
    }
}

/// A socket write that may wait at most [`WRITE_TIMEOUT`]. Almost every write completes at once
/// (into the buffer, or the kernel's); only one that has to wait gets a timer, because making a
/// timer per frame cost measurable CPU per message delivered.
async fn bounded_write<F>(mut write: F) -> Result<(), Closed>
where
    F: std::future::Future<Output = Result<(), axum::Error>> + Unpin,
{
    if let Some(done) = (&mut write).now_or_never() {
        return done.map_err(|_| Closed);
    }
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(Closed),
    }
}

fn api_error_code(error: &ApiError) -> (ErrorCode, String) {
    let code = match error {
        ApiError::NotMember => ErrorCode::NotMember,
        ApiError::NoSuchRoom => ErrorCode::NoSuchRoom,
        ApiError::NotSignedIn | ApiError::InvalidCredentials => ErrorCode::Unauthorized,
        ApiError::Invalid(_) => ErrorCode::Invalid,
        _ => ErrorCode::Internal,
    };
    (code, error.to_string())
}

/// How long a sender refused for low disk space is asked to wait: space comes back when an
/// operator acts, not within milliseconds, and the watermark is re-read once a second.
const STORAGE_FULL_RETRY_MS: u64 = 5_000;

/// The error frame for a processor refusal, filled into `base` (which names the message).
fn send_error_frame(error: &SendError, base: ErrorFrame) -> ErrorFrame {
    let (code, retry_after_ms) = match error {
        SendError::Overloaded { retry_after_ms } => (ErrorCode::Overloaded, Some(*retry_after_ms)),
        SendError::ShuttingDown => (ErrorCode::Overloaded, Some(1000)),
        SendError::Storage => (ErrorCode::Internal, None),
        SendError::ClientIdReused => (ErrorCode::ClientIdReused, None),
        SendError::StorageFull => (ErrorCode::StorageFull, Some(STORAGE_FULL_RETRY_MS)),
    };
    ErrorFrame {
        code,
        message: error.to_string(),
        retry_after_ms,
        ..base
    }
}
