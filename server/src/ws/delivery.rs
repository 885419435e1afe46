//! Delivery: per subscribed room, the last seq sent to the client (its cursor), and the one rule
//! that makes replay on `subscribe`, live delivery and catch-up after a lag a single
//! exactly-once, in-order mechanism. Every message on its way out goes through
//! [`RoomCursors::on_outbound`]: a seq at or below the cursor is skipped (already sent during a
//! replay), a seq beyond cursor + 1 means something was missed (the hub's queue overflowed) and
//! the gap is filled from the store before going on.
//!
//! The WebSocket side reads messages only through [`MessageStore`](crate::store::MessageStore) (the head of a room and a
//! range of it). The connection's tests run over the in-memory store; the server runs over the
//! file store.
//!
//! A failed read of the store never moves a cursor past what was not sent: the room is answered
//! `internal` and dropped, and the client resubscribes from the last seq it has.

use super::connection::{Closed, Connection};
use crate::fasthash::FastMap;
use crate::hub::Outbound;
use crate::store::StoreError;
use app::model::RoomId;
use app::protocol::ErrorCode;
use app::timeline::Entry;
use axum::extract::ws::Message;
use futures::Sink;

/// Messages read from the store per step of a replay.
pub const REPLAY_CHUNK: u64 = 256;
/// Most messages one `subscribe` replays; a client further behind gets the newest ones and a
/// `subscribed` frame naming `first_seq`, and pages older ones with `history`.
pub const MAX_REPLAY: u64 = 1000;

/// A read of the message log failed; the room it was for is dropped and the client told.
#[derive(Debug, thiserror::Error)]
#[error("reading the message store failed: {0}")]
pub struct LogReadError(String);

impl From<StoreError> for LogReadError {
    fn from(error: StoreError) -> Self {
        Self(error.to_string())
    }
}

/// What to do with a stored message on its way to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The next one: send it.
    Send,
    /// Sent already (by a replay), or the room is not subscribed.
    Skip,
    /// Messages `from..=to` were missed: read and send them first, then this one.
    Replay { from: u64, to: u64 },
}

/// Where a new subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    pub cursor: u64,
    /// Set when the replay was cut to [`MAX_REPLAY`]: the first seq it sends.
    pub first_seq: Option<u64>,
}

/// Per subscribed room, the last seq sent.
#[derive(Debug, Default)]
pub struct RoomCursors {
    cursors: FastMap<RoomId, u64>,
}

impl RoomCursors {
    /// Subscribes `room` (again): the client has everything up to `after` (or wants nothing old
    /// when `None`), and the store's head, read after registering with the hub, is `head`.
    pub fn start(&mut self, room: RoomId, after: Option<u64>, head: u64) -> Start {
        let wanted = after.map_or(head, |after| after.min(head));
        let cursor = wanted.max(head.saturating_sub(MAX_REPLAY));
        self.cursors.insert(room, cursor);
        Start {
            cursor,
            first_seq: (cursor > wanted).then_some(cursor + 1),
        }
    }

    pub fn on_outbound(&self, room: RoomId, seq: u64) -> Delivery {
        match self.cursors.get(&room) {
            Some(&cursor) if seq == cursor + 1 => Delivery::Send,
            Some(&cursor) if seq > cursor + 1 => Delivery::Replay {
                from: cursor + 1,
                to: seq - 1,
            },
            _ => Delivery::Skip,
        }
    }

    /// The next range to read to bring `room` up to `to`, at most [`REPLAY_CHUNK`] long; `None`
    /// when it is there already or no longer subscribed.
    pub fn next_chunk(&self, room: RoomId, to: u64) -> Option<(u64, u64)> {
        let cursor = *self.cursors.get(&room)?;
        (cursor < to).then(|| (cursor + 1, to.min(cursor + REPLAY_CHUNK)))
    }

    /// Records that `seq` of `room` was sent.
    pub fn sent(&mut self, room: RoomId, seq: u64) {
        if let Some(cursor) = self.cursors.get_mut(&room) {
            *cursor = seq;
        }
    }

    pub fn get(&self, room: RoomId) -> Option<u64> {
        self.cursors.get(&room).copied()
    }

    pub fn contains(&self, room: RoomId) -> bool {
        self.cursors.contains_key(&room)
    }

    /// Drops `room`; says whether it was subscribed.
    pub fn remove(&mut self, room: RoomId) -> bool {
        self.cursors.remove(&room).is_some()
    }

    pub fn len(&self) -> usize {
        self.cursors.len()
    }

    pub fn rooms(&self) -> Vec<RoomId> {
        self.cursors.keys().copied().collect()
    }
}

/// Whether a chunk read from `from` is usable: a short read (a message missing from the store)
/// would leave a gap behind the cursor.
fn chunk_starts_at(entries: &[Entry], from: u64) -> bool {
    entries.first().map(Entry::seq) == Some(from)
}

impl<W> Connection<W>
where
    W: Sink<Message> + Unpin,
{
    /// Sends a message from the hub through the room's cursor.
    pub(super) async fn deliver(&mut self, out: Outbound) -> Result<(), Closed> {
        self.credit.took(out.json.len());
        self.take_revocations().await?;
        match self.cursors.on_outbound(out.room, out.seq) {
            Delivery::Skip => return Ok(()),
            Delivery::Send => {}
            Delivery::Replay { to, .. } => {
                self.replay(out.room, to).await?;
                if self.cursors.get(out.room) != Some(to) {
                    return Ok(()); // revoked, or the replay failed and said so
                }
            }
        }
        self.send_text(out.json).await?;
        self.cursors.sent(out.room, out.seq);
        Ok(())
    }

    /// Brings every room the hub flagged as lagging up to the store's head.
    pub(super) async fn catch_up_lagged(&mut self) -> Result<(), Closed> {
        for room in self.signals.take_lagging() {
            self.catch_up(room).await?;
        }
        Ok(())
    }

    /// Brings `room` (if subscribed) up to the store's head.
    pub(super) async fn catch_up(&mut self, room: RoomId) -> Result<(), Closed> {
        if !self.cursors.contains(room) {
            return Ok(());
        }
        match self.deps.messages.head(room).await {
            Ok(head) => self.replay(room, head.last_seq).await,
            Err(e) => self.drop_unreadable(room, &e.into()).await,
        }
    }

    /// Sends `room`'s messages after its cursor up to `to`, read from the store. Revocations are
    /// taken after each read and before its messages are sent.
    pub(super) async fn replay(&mut self, room: RoomId, to: u64) -> Result<(), Closed> {
        while let Some((from, end)) = self.cursors.next_chunk(room, to) {
            let chunk = self.deps.messages.read_range(room, from, end).await;
            self.take_revocations().await?;
            if !self.cursors.contains(room) {
                return Ok(());
            }
            self.send_chunk(room, from, chunk).await?;
        }
        Ok(())
    }

    /// Sends `room`'s entries after its cursor up to `to` (the entry that ended the
    /// membership), read from the store, before access to the room ends. Unlike [`replay`]
    /// it does not stop for revocations: it is part of one.
    ///
    /// [`replay`]: Self::replay
    pub(super) async fn send_through(&mut self, room: RoomId, to: u64) -> Result<(), Closed> {
        while let Some((from, end)) = self.cursors.next_chunk(room, to) {
            let chunk = self.deps.messages.read_range(room, from, end).await;
            self.send_chunk(room, from, chunk).await?;
        }
        Ok(())
    }

    /// Sends one chunk read from `from` through the room's cursor, or drops the room if the
    /// read failed or came back short.
    async fn send_chunk(
        &mut self,
        room: RoomId,
        from: u64,
        chunk: Result<Vec<Entry>, crate::store::StoreError>,
    ) -> Result<(), Closed> {
        let entries = match chunk {
            Ok(entries) if chunk_starts_at(&entries, from) => entries,
            Ok(_) => {
                let short = LogReadError(format!("no message {from} in the store"));
                return self.drop_unreadable(room, &short).await;
            }
            Err(e) => return self.drop_unreadable(room, &e.into()).await,
        };
        for entry in entries {
            let seq = entry.seq();
            // An entry is tagged like the frame that carries it (see `app::timeline`).
            let frame = serde_json::to_string(&entry).expect("entries always serialize");
            self.send_text(frame.into()).await?;
            self.cursors.sent(room, seq);
        }
        Ok(())
    }

    /// Drops a room whose history could not be read, and tells the client to resubscribe.
    async fn drop_unreadable(&mut self, room: RoomId, error: &LogReadError) -> Result<(), Closed> {
        tracing::error!(%room, "replay read failed: {error}");
        self.cursors.remove(room);
        self.deps.hub.unsubscribe(room, self.registration.conn);
        self.send_error(
            None,
            Some(room),
            ErrorCode::Internal,
            "could not read this room's history; resubscribe".into(),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: RoomId = RoomId(1);

    fn subscribed_at(cursor: u64) -> RoomCursors {
        let mut cursors = RoomCursors::default();
        cursors.start(ROOM, Some(cursor), cursor);
        cursors
    }

    #[test]
    fn the_next_seq_is_sent_and_an_old_one_is_skipped() {
        let cursors = subscribed_at(5);
        assert_eq!(cursors.on_outbound(ROOM, 6), Delivery::Send);
        assert_eq!(cursors.on_outbound(ROOM, 5), Delivery::Skip);
        assert_eq!(cursors.on_outbound(ROOM, 2), Delivery::Skip);
    }

    #[test]
    fn a_gap_is_replayed_before_the_message_that_shows_it() {
        let cursors = subscribed_at(5);
        assert_eq!(
            cursors.on_outbound(ROOM, 9),
            Delivery::Replay { from: 6, to: 8 }
        );
    }

    #[test]
    fn a_room_not_subscribed_gets_nothing() {
        let cursors = RoomCursors::default();
        assert_eq!(cursors.on_outbound(ROOM, 1), Delivery::Skip);
        assert_eq!(cursors.next_chunk(ROOM, 10), None);
    }

    #[test]
    fn a_subscribe_replays_from_after_seq_but_no_more_than_the_cap() {
        let mut cursors = RoomCursors::default();
        assert_eq!(
            cursors.start(ROOM, Some(3), 10),
            Start {
                cursor: 3,
                first_seq: None
            }
        );
        assert_eq!(
            cursors.start(ROOM, Some(0), MAX_REPLAY + 50),
            Start {
                cursor: 50,
                first_seq: Some(51)
            }
        );
        // No `after_seq`: nothing old. An `after_seq` past the head: nothing either.
        assert_eq!(cursors.start(ROOM, None, 10).cursor, 10);
        assert_eq!(cursors.start(ROOM, Some(99), 10).cursor, 10);
    }

    #[test]
    fn replays_are_read_in_chunks_up_to_the_target() {
        let mut cursors = subscribed_at(0);
        assert_eq!(cursors.next_chunk(ROOM, 600), Some((1, REPLAY_CHUNK)));
        cursors.sent(ROOM, REPLAY_CHUNK);
        assert_eq!(cursors.next_chunk(ROOM, 300), Some((REPLAY_CHUNK + 1, 300)));
        cursors.sent(ROOM, 300);
        assert_eq!(cursors.next_chunk(ROOM, 300), None);
    }

    #[test]
    fn sending_moves_only_a_subscribed_cursor() {
        let mut cursors = subscribed_at(1);
        cursors.sent(ROOM, 2);
        cursors.sent(RoomId(2), 7);
        assert_eq!(cursors.get(ROOM), Some(2));
        assert!(!cursors.contains(RoomId(2)));
        assert!(cursors.remove(ROOM) && !cursors.remove(ROOM));
    }
}
