//! One WebSocket connection's loop: it waits on the client's frames, the hub's queues, the
//! answers to submitted messages, the hub's signals and its timers, and takes one step at a time.
//! It is generic over the socket's two halves (`Sink` and `Stream` of [`Message`]), so its tests
//! drive it with channels.
//!
//! Access ends at once: a sign-out in any tab, "sign out everywhere" and the session's expiry
//! end the socket (an `unauthorized` error, then close code 4001); leaving a room answers
//! `not_member` for that room and drops its cursor. They arrive as bus events, which the hub
//! raises as [`Signals`], and the connection takes them before every delivery and before sending
//! anything read from the store (see `hub` for why that ordering means nothing stored after a leave
//! reaches the socket). A bus `Resync` (events were lost) makes it check its session and every
//! membership again, then catch up every room from the store.
//!
//! The server pings every `--ws-ping-interval-ms` and closes a socket that has sent nothing (no
//! pong either) in answer to two pings in a row, so a vanished client stops counting as online.
//!
//! Shutdown: when the server stops, the processor writes what it has queued and refuses more. The
//! connection keeps answering (acks for queued messages, `overloaded` for new sends) until the
//! client has been quiet for a moment or a grace period ends, then closes with 1001 "going
//! away": no message the server read is left unanswered.

use super::delivery::RoomCursors;
use super::errors::{close_code_for, CLOSE_GOING_AWAY, CLOSE_SIGNED_OUT};
use super::user_stream::UserStream;
use super::writer::{Framing, Urgency, Writer};
use super::ConnDeps;
use crate::accounts::Session;
use crate::bus::BusEvent;
use crate::hub::{to_json, Credit, Outbound, Registration, Signals, Subscriber, EVENT_QUEUE};
use app::model::RoomId;
use app::protocol::{ErrorCode, ErrorFrame, ServerFrame};
use axum::extract::ws::{Message, Utf8Bytes};
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, Sink, Stream, StreamExt};
use std::fmt::Display;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::{interval_at, sleep, sleep_until, Duration, Instant, MissedTickBehavior};

/// After shutdown begins: how long a connection keeps answering, and how long a quiet client
/// (nothing sent, nothing pending) is waited for before closing.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
const QUIET: Duration = Duration::from_millis(200);
/// Frames taken from the outbound queue per step of the loop (then flushed with one write).
const DELIVERY_BURST: usize = 256;
/// Longest a write to the socket may take before the client is considered gone.
pub(super) const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the loop stopped writing: the socket is gone.
pub struct Closed;

pub struct Connection<W> {
    pub(super) deps: ConnDeps,
    pub(super) session: Session,
    pub(super) registration: Registration,
    /// This connection as the hub hands it messages and events.
    pub(super) subscriber: Subscriber,
    pub(super) signals: Arc<Signals>,
    pub(super) credit: Credit,
    pub(super) cursors: RoomCursors,
    /// The person's own rooms, once the client asked to follow them (`user_stream.rs`).
    pub(super) user_stream: Option<UserStream>,
    /// Answers to submitted messages, as they come.
    pub(super) pending: FuturesUnordered<BoxFuture<'static, ServerFrame>>,
    out: Writer<W>,
}

impl<W> Connection<W>
where
    W: Sink<Message> + Unpin,
{
    /// Runs one connection until the client leaves, the session ends or the server stops.
    pub async fn run<R, E>(
        deps: ConnDeps,
        session: Session,
        registration: Registration,
        sink: W,
        framing: Framing,
        mut stream: R,
    ) where
        R: Stream<Item = Result<Message, E>> + Unpin,
        E: Display,
    {
        let (messages_tx, mut messages) = mpsc::channel(deps.limits.outbound_queue.max(1));
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
        let expires = Instant::now()
            + Duration::from_millis((session.expires - crate::clock::now_ms()).max(0) as u64);
        let mut this = Connection {
            deps,
            session,
            registration,
            subscriber,
            signals: signals.clone(),
            credit: Credit::new(queued_bytes),
            cursors: RoomCursors::default(),
            user_stream: None,
            pending: FuturesUnordered::new(),
            out: Writer::new(sink, framing),
        };
        if came_online {
            this.announce_presence(true);
        }
        let shutdown = this.deps.shutdown.clone();
        let ping_every = this.deps.limits.ping_every;
        let mut ping = interval_at(Instant::now() + ping_every, ping_every);
        // Made once: a timer built inside the loop would be registered and dropped again on
        // every step, that is, several times per message delivered.
        let expiry = sleep_until(expires);
        tokio::pin!(expiry);
        // The user stream's counts timer, armed while some watched room has new entries.
        let counts = sleep_until(Instant::now());
        tokio::pin!(counts);
        // When frames held for a busy socket are due (see `writer`).
        let held = sleep_until(Instant::now());
        tokio::pin!(held);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // Ping ticks since the client last sent anything (a pong included): counting ticks
        // instead of reading the clock per frame keeps the receive path free of clock reads.
        let mut silent_ticks = 0u32;
        // Once the server stops, sends are answered with `overloaded` (the processor's queue is
        // closed) until the client goes quiet, or the grace period ends.
        let mut stopping_until: Option<Instant> = None;
        let ended = loop {
            // What the step queued is written at its end, unless it may wait (see `writer`).
            let mut urgency = Urgency::Now;
            let step = tokio::select! {
                biased;
                () = shutdown.cancelled(), if stopping_until.is_none() => {
                    stopping_until = Some(Instant::now() + SHUTDOWN_GRACE);
                    Ok(())
                }
                () = signals.wait() => this.on_signals().await,
                // Before the queues: in a flood they are never empty.
                () = &mut held, if this.out.held_until().is_some() => Ok(()),
                Some(answer) = this.pending.next(), if !this.pending.is_empty() => {
                    this.send_answers(answer).await
                }
                Some(out) = messages.recv() => {
                    urgency = Urgency::MayWait;
                    this.deliver_queued(out, &mut messages).await
                }
                Some(event) = events.recv() => {
                    urgency = Urgency::MayWait;
                    this.send_text(event).await
                }
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
                        this.close(CLOSE_GOING_AWAY, "no answer to pings").await;
                        Err(Closed)
                    } else {
                        this.out.ping().await
                    }
                }
                () = &mut counts, if this.counts_due().is_some() => this.send_counts().await,
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
            if let Some(due) = this.counts_due() {
                if counts.deadline() != due {
                    counts.as_mut().reset(due);
                }
            }
            // Frames are fed without flushing inside a step; one flush (one write) per step,
            // or later for frames that may wait.
            let step = match step {
                Ok(()) => this.out.end_step(urgency).await,
                failed => failed,
            };
            if step.is_err() {
                break Err(Closed);
            }
            if let Some(due) = this.out.held_until() {
                if held.deadline() != due {
                    held.as_mut().reset(due);
                }
            }
        };
        this.finish(ended.is_ok()).await;
    }

    async fn finish(mut self, say_goodbye: bool) {
        for room in self.cursors.rooms() {
            self.deps.hub.unsubscribe(room, self.registration.conn);
        }
        if self.deps.hub.disconnect(&mut self.registration) {
            self.announce_presence(false);
        }
        if say_goodbye {
            self.close(CLOSE_GOING_AWAY, "server shutting down").await;
        }
    }

    /// Sends what is queued, then a close frame (best effort: the socket may be gone already).
    async fn close(&mut self, code: u16, reason: &'static str) {
        self.out.close(code, reason).await;
    }

    /// Answers a broken incoming frame with the close code that names the problem.
    async fn close_for(&mut self, error: &impl Display) {
        let text = error.to_string();
        let (code, reason) = close_code_for(&text);
        tracing::debug!(user = %self.session.user.username, "closing a connection: {text}");
        self.close(code, reason).await;
    }

    /// Acts on what the hub raised: revocations first, then catch-up of lagging rooms, then the
    /// user stream.
    async fn on_signals(&mut self) -> Result<(), Closed> {
        self.take_revocations().await?;
        self.catch_up_lagged().await?;
        self.follow_user().await
    }

    fn counts_due(&self) -> Option<Instant> {
        self.user_stream.as_ref().and_then(|s| s.counts_due)
    }

    /// Ends access to revoked rooms (their cursors go, the client is told) and, if the session
    /// ended, the connection. On a resync (bus events may have been lost) the session and every
    /// subscribed room's membership are checked again, and whatever no longer holds ends the
    /// same way; the hub has flagged every room as lagging, so catch-up follows. Cheap when
    /// nothing was raised: one atomic load.
    pub(super) async fn take_revocations(&mut self) -> Result<(), Closed> {
        if !self.signals.is_urgent() {
            return Ok(());
        }
        let mut revoked = self.signals.take_revoked();
        if revoked.resync {
            if let Some(stream) = &mut self.user_stream {
                stream.resync = true;
            }
            let authority = &self.deps.authority;
            revoked.session_ended |= !authority.session_active(&self.session.key).await;
            let user = self.session.user.id;
            for room in self.cursors.rooms() {
                if authority.confirm_member(user, room).await.is_err() {
                    revoked.rooms.insert(room, None);
                }
            }
        }
        if revoked.session_ended {
            return self
                .end_session("you signed out (here or in another tab); sign in again")
                .await;
        }
        for (room, through) in revoked.rooms {
            self.revoke(room, through).await?;
        }
        Ok(())
    }

    /// Drops `room`'s cursor and tells the client, if it was subscribed; first sends what it
    /// has not sent up to `through`, the entry that ended the membership, when known.
    pub(super) async fn revoke(
        &mut self,
        room: RoomId,
        through: Option<u64>,
    ) -> Result<(), Closed> {
        if let Some(to) = through {
            self.send_through(room, to).await?;
        }
        if !self.cursors.remove(room) {
            return Ok(());
        }
        self.deps.hub.unsubscribe(room, self.registration.conn);
        self.send_error(
            None,
            Some(room),
            ErrorCode::NotMember,
            "you are no longer a member of this room".into(),
        )
        .await
    }

    /// Tells the client its session is over and closes.
    pub(super) async fn end_session(&mut self, why: &str) -> Result<(), Closed> {
        let _told = self
            .send_error(None, None, ErrorCode::Unauthorized, why.into())
            .await;
        self.close(CLOSE_SIGNED_OUT, "session ended").await;
        Err(Closed)
    }

    /// Tells the user's rooms they came online or went offline. Limited per user: a client
    /// that reconnects in a loop would otherwise announce to every room on every attempt.
    fn announce_presence(&self, online: bool) {
        let user = &self.session.user;
        if self.deps.presence.check(&user.id).is_err() {
            return;
        }
        // Its own socket listens to no room at either moment (not yet, or no longer).
        for room in self.deps.authority.rooms_of(user.id) {
            self.deps.bus.publish(BusEvent::Presence {
                room,
                user: user.username.clone(),
                user_id: user.id,
                online,
            });
        }
    }

    pub(super) async fn send_error(
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
    pub(super) async fn send(&mut self, frame: &ServerFrame) -> Result<(), Closed> {
        if let ServerFrame::Error(error) = frame {
            crate::metrics::error_sent(error.code.as_str());
            // Even from a step that delivers a room's messages (a room dropped, a revocation).
            self.out.expedite();
        }
        self.send_text(to_json(frame)).await
    }

    pub(super) async fn send_text(&mut self, json: Utf8Bytes) -> Result<(), Closed> {
        self.out.text(json).await
    }
}

/// A socket write that may wait at most [`WRITE_TIMEOUT`]. Almost every write completes at once
/// (into the buffer, or the kernel's); only one that has to wait gets a timer, because making a
/// timer per frame cost measurable CPU per message delivered.
pub(super) async fn bounded_write<F, E>(mut write: F) -> Result<(), Closed>
where
    F: std::future::Future<Output = Result<(), E>> + Unpin,
{
    if let Some(done) = (&mut write).now_or_never() {
        return done.map_err(|_| Closed);
    }
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(Closed),
    }
}
