//! The user stream: the socket's feed of the person's own rooms, for the sidebar and the tab
//! title. `subscribe_user` answers with a snapshot (`user_subscribed`: every room they are in or
//! invited to, with unread counts), then sends a room's whole row again when it changes
//! (`room_changed`) or goes (`room_removed`).
//!
//! **Why a snapshot and changes of state, not a seq'd log of its own.** Everything the stream
//! says is already durable elsewhere: memberships in the rooms' timelines (and the room store,
//! their projection), read marks in the room store, counts in the log index. A second log keyed
//! by user would write the same facts twice, with a crash between the writes. So resuming is
//! re-reading: every (re)connect, and every bus resync, sends a fresh snapshot, which replaces
//! what the client knew. Nothing can fall between the snapshot and the changes: the connection
//! tells the hub it follows its user ([`Hub::follow_user`](crate::hub::Hub::follow_user))
//! *before* reading the rooms, so a change after the read raises a signal, and a row is always
//! re-read whole, so applying it twice, or late, converges on the truth.
//!
//! **Two speeds.** A membership change or a read mark (in any tab) is sent at once: it is rare
//! and someone is waiting to see it. New entries in a room only change its counts, and a busy
//! room would otherwise cost every member's every tab a frame per batch: they are coalesced to
//! one row per room per [`COUNTS_PERIOD`]. The hub marks the room active in the connection's
//! signals and wakes it only when nothing was active yet; the connection takes the active rooms
//! when its timer fires.
//!
//! Limits: one `subscribe_user` per connection (connections are capped per user and per
//! address); the rows it then sends are bounded by the rooms the person is in, and per room by
//! [`COUNTS_PERIOD`].

use super::connection::{Closed, Connection};
use crate::fasthash::FastSet;
use app::model::RoomId;
use app::protocol::{ErrorCode, ServerFrame};
use axum::extract::ws::Message;
use futures::Sink;
use tokio::time::{Duration, Instant};

/// At most one count update per room per this period, per connection (two a second).
///
/// Why 500 ms: during a burst every following connection wakes twice per period (the hub's
/// first mark, then the timer) and writes a row; at 250 ms that cost 19 % more server CPU per
/// message with every member following (BENCHMARKS.md, step 6). Half a second still reads as
/// live for a badge, and a notification waits at most that long.
pub const COUNTS_PERIOD: Duration = Duration::from_millis(500);

/// A connection's part of the user stream.
#[derive(Debug)]
pub(super) struct UserStream {
    /// Rooms whose new entries the hub reports to this connection: the ones it is a member of.
    watching: FastSet<RoomId>,
    /// When the counts were last sent.
    last_counts: Instant,
    /// When the active rooms' counts are due, while some are waiting.
    pub(super) counts_due: Option<Instant>,
    /// Events were lost (a bus resync): send the whole snapshot again.
    pub(super) resync: bool,
}

impl<W> Connection<W>
where
    W: Sink<Message> + Unpin,
{
    /// `subscribe_user`: follow the person's rooms (see the module docs).
    pub(super) async fn subscribe_user(&mut self) -> Result<(), Closed> {
        if self.user_stream.is_some() {
            let message = "this connection follows your rooms already".to_owned();
            return self
                .send_error(None, None, ErrorCode::Invalid, message)
                .await;
        }
        self.deps.hub.follow_user(self.registration.conn);
        self.user_stream = Some(UserStream {
            watching: FastSet::default(),
            last_counts: Instant::now() - COUNTS_PERIOD,
            counts_due: None,
            resync: false,
        });
        self.send_room_list().await
    }

    /// Reads every room of the person's and sends them as `user_subscribed`, watching the ones
    /// they are a member of (and no others).
    async fn send_room_list(&mut self) -> Result<(), Closed> {
        let rooms = match self.deps.authority.room_list(&self.session.user).await {
            Ok(rooms) => rooms,
            Err(e) => {
                let (code, message) = super::errors::api_error_code(&e);
                return self.send_error(None, None, code, message).await;
            }
        };
        let members: FastSet<RoomId> = rooms
            .iter()
            .filter(|room| room.role.is_some())
            .map(|room| room.id)
            .collect();
        self.set_watching(members);
        self.send(&ServerFrame::UserSubscribed { rooms }).await
    }

    /// Watches exactly `rooms`.
    fn set_watching(&mut self, rooms: FastSet<RoomId>) {
        let Some(stream) = &mut self.user_stream else {
            return;
        };
        let conn = self.registration.conn;
        for gone in stream.watching.difference(&rooms) {
            self.deps.hub.unwatch(*gone, conn);
        }
        for new in rooms.difference(&stream.watching) {
            self.deps.hub.watch(*new, conn);
        }
        stream.watching = rooms;
    }

    /// Acts on the user stream's signals: a resync sends the snapshot again, a changed row is
    /// sent at once, and active rooms arm the counts timer.
    pub(super) async fn follow_user(&mut self) -> Result<(), Closed> {
        let Some(stream) = &mut self.user_stream else {
            return Ok(());
        };
        if std::mem::take(&mut stream.resync) {
            self.send_room_list().await?;
        }
        for room in self.signals.take_rows_changed() {
            self.send_row(room).await?;
        }
        if let Some(stream) = &mut self.user_stream {
            if stream.counts_due.is_none() && self.signals.any_active() {
                stream.counts_due = Some(stream.last_counts + COUNTS_PERIOD);
            }
        }
        Ok(())
    }

    /// The counts timer fired: sends the row of every room that had new entries.
    pub(super) async fn send_counts(&mut self) -> Result<(), Closed> {
        if let Some(stream) = &mut self.user_stream {
            stream.counts_due = None;
            stream.last_counts = Instant::now();
        }
        for room in self.signals.take_active() {
            self.send_row(room).await?;
        }
        Ok(())
    }

    /// Reads `room`'s row again and sends it, or says it is gone; watches it while the person
    /// is a member.
    async fn send_row(&mut self, room: RoomId) -> Result<(), Closed> {
        let row = self.deps.authority.own_row(&self.session.user, room).await;
        let member = row.as_ref().is_some_and(|row| row.role.is_some());
        let conn = self.registration.conn;
        if let Some(stream) = &mut self.user_stream {
            if member && stream.watching.insert(room) {
                self.deps.hub.watch(room, conn);
            } else if !member && stream.watching.remove(&room) {
                self.deps.hub.unwatch(room, conn);
            }
        }
        match row {
            Some(room) => self.send(&ServerFrame::RoomChanged { room }).await,
            None => self.send(&ServerFrame::RoomRemoved { room_id: room }).await,
        }
    }
}
