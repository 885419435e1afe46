//! The newest message of each room, for the rows that preview it (`newest_unread`: what a
//! desktop notification shows, and where clicking it leads).
//!
//! Why a cache of its own: a row is read again for every follower of a busy room up to twice
//! a second (`ws::user_stream`), and the newest message changes with every batch, so a
//! read of the store each time (a blocking task and a file read) would cost more than the
//! message itself. The publisher already holds each committed batch; it leaves here, per run of
//! one room in a batch, a copy of the run's newest message frame, and a row reads it back
//! without touching the store. What the cache does not know (after a start, an eviction, or a
//! gap it could not bridge) is read from the store's tail once and kept.
//!
//! Each room's [`Tail`] says "through seq N, the newest message is M". A run without messages
//! (only joins and leaves) keeps M only when the tail reached the seq just before the run;
//! otherwise the room is forgotten, never guessed. A run with an edit or a message's deletion
//! forgets the room too (M may say something else now, or be gone).
//!
//! Bounded by weight: at most [`BUDGET_BYTES`] of frames (quick_cache's CLOCK-Pro evicts the
//! rest); a forgotten room costs one store read when a row next asks.

use crate::store::{MessageStore, StoreError, StoredEntry};
use app::model::{ChatMessage, RoomId};
use app::timeline::Entry;
use bytes::Bytes;
use quick_cache::sync::Cache;
use quick_cache::Weighter;
use std::sync::Arc;

/// Most bytes of message frames kept (a frame is at most a message's 8 KiB and its fields).
pub const BUDGET_BYTES: u64 = 16 * 1024 * 1024;
/// How many entries back from a room's head a miss looks for a message (joins, leaves, edits
/// and deletions may come last); past that the row has no preview. One read of this many lines,
/// only on a miss.
const LOOK_BACK: u64 = 32;
/// What an entry weighs apart from its frame (key, `Arc`, cache slot).
const TAIL_OVERHEAD: u64 = 64;

/// Through seq `through`, the newest message of the room is `message` (its `message` frame).
#[derive(Debug)]
struct Tail {
    through: u64,
    message: Option<Bytes>,
}

#[derive(Clone)]
struct ByBytes;

impl Weighter<RoomId, Arc<Tail>> for ByBytes {
    fn weight(&self, _room: &RoomId, tail: &Arc<Tail>) -> u64 {
        TAIL_OVERHEAD + tail.message.as_ref().map_or(0, |m| m.len() as u64)
    }
}

/// Cloneable handle to the cache.
#[derive(Clone)]
pub struct NewestMessages {
    tails: Arc<Cache<RoomId, Arc<Tail>, ByBytes>>,
}

impl Default for NewestMessages {
    fn default() -> Self {
        // A short message's frame weighs about 200 bytes.
        let estimated = (BUDGET_BYTES / 256) as usize;
        Self {
            tails: Arc::new(Cache::with_weighter(estimated, BUDGET_BYTES, ByBytes)),
        }
    }
}

impl NewestMessages {
    /// Notes what a committed batch stored (in commit order; the publisher calls this before
    /// the batch reaches anyone, so a row read after a wake-up finds it).
    pub fn record(&self, stored: &[StoredEntry]) {
        for run in stored.chunk_by(|a, b| a.ack.room_id == b.ack.room_id) {
            let (first, last) = (&run[0].ack, &run[run.len() - 1].ack);
            if run.iter().any(|e| revises(e.frame.bytes())) {
                // An edit or deletion may change what the newest message says, or whether it
                // is there at all (and a deleted text must not stay here): read it again.
                self.tails.remove(&first.room_id);
                continue;
            }
            let message = run
                .iter()
                .rev()
                .find(|e| is_message(e.frame.bytes()))
                .map(|e| Bytes::copy_from_slice(e.frame.bytes()));
            self.record_run(first.room_id, first.seq, last.seq, message);
        }
    }

    /// Drops what is kept of a deleted room (its text is being erased from the disk; it does
    /// not stay here either).
    pub fn forget(&self, room: RoomId) {
        self.tails.remove(&room);
    }

    fn record_run(&self, room: RoomId, first: u64, last: u64, message: Option<Bytes>) {
        let message = match message {
            // A copy: the batch's buffer is not kept alive for one message of it.
            Some(message) => Some(message),
            None => match self.tails.get(&room) {
                Some(tail) if tail.through + 1 == first => tail.message.clone(),
                _ => {
                    self.tails.remove(&room);
                    return;
                }
            },
        };
        self.tails.insert(
            room,
            Arc::new(Tail {
                through: last,
                message,
            }),
        );
    }

    /// The newest message of `room`, whose newest seq is `head` (0: none): from the cache when
    /// it has reached `head`, else from the store's last [`LOOK_BACK`] entries.
    pub async fn newest(
        &self,
        store: &dyn MessageStore,
        room: RoomId,
        head: u64,
    ) -> Result<Option<ChatMessage>, StoreError> {
        if head == 0 {
            return Ok(None);
        }
        if let Some(tail) = self.tails.get(&room).filter(|t| t.through == head) {
            return Ok(tail.message.as_deref().and_then(parse));
        }
        let entries = store
            .read_range(room, head.saturating_sub(LOOK_BACK - 1).max(1), head)
            .await?;
        let newest = entries.into_iter().rev().find_map(Entry::into_message);
        let frame = newest.as_ref().map(|m| {
            Bytes::from(
                serde_json::to_vec(&Entry::Message(m.clone())).expect("a message serializes"),
            )
        });
        self.tails.insert(
            room,
            Arc::new(Tail {
                through: head,
                message: frame,
            }),
        );
        Ok(newest)
    }
}

fn is_message(frame: &[u8]) -> bool {
    frame.starts_with(br#"{"type":"message","#)
}

/// Whether the frame is an edit or a message's deletion.
fn revises(frame: &[u8]) -> bool {
    frame.starts_with(br#"{"type":"edit","#) || frame.starts_with(br#"{"type":"message_deleted","#)
}

fn parse(frame: &[u8]) -> Option<ChatMessage> {
    Entry::from_json(frame).ok().and_then(Entry::into_message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryMessageStore;
    use crate::store::{Appended, Body, MemberChange, NewEntry};
    use app::model::{ClientId, MessageBody, UserId, UserInfo, Username};
    use app::timeline::Membership;

    fn bob() -> UserInfo {
        UserInfo {
            id: UserId(2),
            username: Username::parse("bob").unwrap(),
        }
    }

    fn text(room: u64, content: &str) -> NewEntry {
        NewEntry {
            room_id: RoomId(room),
            sender: bob().username,
            client_id: ClientId::parse(&format!("c-{room}-{content}")).unwrap(),
            body: Body::Text(MessageBody::parse(content).unwrap()),
            ts: 0,
        }
    }

    fn join(room: u64) -> NewEntry {
        NewEntry {
            room_id: RoomId(room),
            sender: bob().username,
            client_id: ClientId::parse(&format!("j-{room}-{}", next_id())).unwrap(),
            body: Body::Member(MemberChange::of(&bob(), Membership::Join)),
            ts: 0,
        }
    }

    /// A fresh client_id suffix: each join is a new entry, not a resend.
    fn next_id() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }

    async fn append(store: &MemoryMessageStore, batch: Vec<NewEntry>) -> Vec<StoredEntry> {
        store
            .append(batch)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|a| match a {
                Appended::Stored(stored) => Some(stored),
                _ => None,
            })
            .collect()
    }

    fn content(message: Option<ChatMessage>) -> Option<String> {
        message.map(|m| m.content)
    }

    #[tokio::test]
    async fn a_recorded_batch_answers_without_the_store_and_joins_keep_the_message() {
        let store = MemoryMessageStore::default();
        let newest = NewestMessages::default();
        // Rooms interleaved in one batch: each run of a room is noted on its own.
        let stored = append(
            &store,
            vec![text(1, "a"), text(1, "b"), text(2, "x"), join(1)],
        )
        .await;
        newest.record(&stored);
        let empty = MemoryMessageStore::default();
        // Answered from the cache: the empty store would know nothing.
        assert_eq!(
            content(newest.newest(&empty, RoomId(1), 3).await.unwrap()),
            Some("b".into())
        );
        assert_eq!(
            content(newest.newest(&empty, RoomId(2), 1).await.unwrap()),
            Some("x".into())
        );
        // A run of joins right after what the tail reached keeps its message.
        newest.record(&append(&store, vec![join(1)]).await);
        assert_eq!(
            content(newest.newest(&empty, RoomId(1), 4).await.unwrap()),
            Some("b".into())
        );
    }

    #[tokio::test]
    async fn what_the_cache_cannot_vouch_for_is_read_from_the_store() {
        let store = MemoryMessageStore::default();
        let newest = NewestMessages::default();
        append(&store, vec![text(1, "old")]).await;
        // Seq 2 (a join) is recorded without knowing seq 1: the room is forgotten, not guessed.
        newest.record(&append(&store, vec![join(1)]).await);
        assert_eq!(
            content(newest.newest(&store, RoomId(1), 2).await.unwrap()),
            Some("old".into())
        );
        // A head the cache has not reached is read from the store too.
        append(&store, vec![text(1, "new")]).await;
        assert_eq!(
            content(newest.newest(&store, RoomId(1), 3).await.unwrap()),
            Some("new".into())
        );
        // Joins only, as far back as it looks: no preview.
        let joins: Vec<NewEntry> = (0..LOOK_BACK).map(|_| join(5)).collect();
        append(&store, joins).await;
        assert_eq!(
            newest.newest(&store, RoomId(5), LOOK_BACK).await.unwrap(),
            None
        );
        assert_eq!(newest.newest(&store, RoomId(6), 0).await.unwrap(), None);
    }

    /// An edit shows in the preview, and a deleted newest message leaves it for the one
    /// before (its text is not kept here either).
    #[tokio::test]
    async fn an_edit_or_deletion_of_the_newest_message_is_read_again() {
        use crate::store::contract::{delete, edit};
        let store = MemoryMessageStore::default();
        let newest = NewestMessages::default();
        newest.record(&append(&store, vec![text(1, "first"), text(1, "second")]).await);
        newest.record(&append(&store, vec![edit("bob", "e", 2, "second, edited")]).await);
        assert_eq!(
            content(newest.newest(&store, RoomId(1), 3).await.unwrap()),
            Some("second, edited".into())
        );
        newest.record(&append(&store, vec![delete("bob", "d", 2, false)]).await);
        assert!(newest.tails.get(&RoomId(1)).is_none(), "nothing of it kept");
        assert_eq!(
            content(newest.newest(&store, RoomId(1), 4).await.unwrap()),
            Some("first".into())
        );
    }

    #[tokio::test]
    async fn the_cache_stays_within_its_budget() {
        let store = MemoryMessageStore::default();
        let newest = NewestMessages::default();
        let long = "é".repeat(app::model::MAX_CONTENT_CHARS);
        // 3,000 rooms' newest messages of ~8 KB each: half again the budget.
        let batch: Vec<NewEntry> = (1..=3_000)
            .map(|room| NewEntry {
                client_id: ClientId::parse(&format!("long-{room}")).unwrap(),
                body: Body::Text(MessageBody::parse(&long).unwrap()),
                ..text(room, "x")
            })
            .collect();
        newest.record(&append(&store, batch).await);
        assert!(
            newest.tails.weight() <= BUDGET_BYTES,
            "{}",
            newest.tails.weight()
        );
        assert!(
            newest.tails.weight() > BUDGET_BYTES / 2,
            "it does keep what fits"
        );
    }
}
