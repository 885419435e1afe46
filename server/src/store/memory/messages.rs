//! [`MemoryMessageStore`]: a [`MessageStore`] that keeps everything in memory, for unit tests
//! of the parts above the store (the processor, the WebSocket side, history) that should not
//! need a data directory.
//!
//! Test-only (`#[cfg(test)]`): it keeps nothing across a restart and grows without bound, so it
//! must never be a choice for a running server. A room's deletion erases its earlier entries
//! at once, in the same append, and a message's deletion the message and its edits; no
//! integration test needs it (those run the real server on the file store). It honours the whole contract (`contract.rs` runs against
//! it), resends included, through the same [`Dedupe`] as the file store.
//!
//! Two seams for tests of the parts above it: [`MemoryMessageStore::fail_next_writes`], and
//! [`MemoryMessageStore::before_next_head`], to act inside a reader's `head` call (say, store a
//! message after a connection registered with the hub and before it reads the head).

use crate::fasthash::FastMap;
use crate::store::dedupe::Dedupe;
use crate::store::{
    check_target, Appended, Durability, MessageStore, NewEntry, RoomHead, StoreError, StoredEntry,
    TargetRefusal,
};
use app::model::{mention_keys, Edited, RoomId, Username};
use app::reactions::Reactions;
use app::timeline::{Entry, ErasedEntry};
use futures::future::{BoxFuture, FutureExt};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Default)]
struct Rooms {
    messages: FastMap<RoomId, Vec<Entry>>,
    next_id: u64,
    /// The newest edit of each edited message, shown when it is read.
    edits: FastMap<(RoomId, u64), (Edited, String)>,
    /// Each reacted-to message's reactions, shown when it is read.
    reactions: FastMap<(RoomId, u64), Reactions>,
    /// Each room's edits, deletions and reactions so far (see [`RoomHead::revision`]).
    revisions: FastMap<RoomId, u64>,
}

/// Runs once, inside the next `head` read, before the head is read.
pub type HeadHook = Box<dyn FnOnce() + Send>;

pub struct MemoryMessageStore {
    state: Mutex<(Dedupe, Rooms)>,
    fail_next_writes: AtomicUsize,
    on_head: Mutex<Option<HeadHook>>,
}

impl Default for MemoryMessageStore {
    fn default() -> Self {
        Self {
            state: Mutex::new((Dedupe::new(600_000, 100_000), Rooms::default())),
            fail_next_writes: AtomicUsize::new(0),
            on_head: Mutex::new(None),
        }
    }
}

impl MemoryMessageStore {
    /// Makes the next `n` batch writes fail, storing nothing.
    pub fn fail_next_writes(&self, n: usize) {
        self.fail_next_writes.store(n, Ordering::SeqCst);
    }

    /// Runs `hook` inside the next `head` call, before the head is read.
    pub fn before_next_head(&self, hook: HeadHook) {
        *self.on_head.lock().expect("memory store lock poisoned") = Some(hook);
    }

    fn store(
        &self,
        rooms: &mut Rooms,
        fresh: Vec<NewEntry>,
    ) -> Result<Vec<Result<StoredEntry, TargetRefusal>>, StoreError> {
        let failing = self
            .fail_next_writes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(StoreError::Stopped("injected write failure".into()));
        }
        // Each room's length before the batch: only what was stored before can be a target.
        let mut before: FastMap<RoomId, usize> = FastMap::default();
        Ok(fresh
            .into_iter()
            .map(|new| {
                let room = rooms.messages.entry(new.room_id).or_default();
                let held = *before.entry(new.room_id).or_insert(room.len());
                if let Some(target) = new.body.target_seq() {
                    // A deleted message is erased already, so it is no message.
                    let found = target
                        .checked_sub(1)
                        .filter(|i| (*i as usize) < held)
                        .and_then(|i| room.get(i as usize));
                    check_target(&new, found, false)?;
                }
                rooms.next_id += 1;
                let entry = new.into_entry(room.len() as u64 + 1, rooms.next_id);
                let stored = StoredEntry::of(&entry);
                match &entry {
                    Entry::RoomDeleted(_) => {
                        for earlier in room.iter_mut() {
                            *earlier = Entry::Erased(ErasedEntry::of(earlier));
                        }
                    }
                    Entry::Edit(edit) => {
                        let newest = Edited {
                            seq: edit.seq,
                            ts: edit.ts,
                        };
                        rooms.edits.insert(
                            (edit.room_id, edit.target_seq),
                            (newest, edit.content.clone()),
                        );
                    }
                    Entry::MessageDeleted(deletion) => {
                        let target = deletion.target_seq;
                        for earlier in room.iter_mut() {
                            let of_target = match earlier {
                                Entry::Message(m) => m.seq == target,
                                Entry::Edit(e) => e.target_seq == target,
                                _ => false,
                            };
                            if of_target {
                                *earlier = Entry::Erased(ErasedEntry::deleted(earlier));
                            }
                        }
                        rooms.edits.remove(&(deletion.room_id, target));
                        rooms.reactions.remove(&(deletion.room_id, target));
                    }
                    Entry::Reaction(r) => {
                        rooms
                            .reactions
                            .entry((r.room_id, r.target_seq))
                            .or_default()
                            .apply(r.seq, &r.emoji, &r.sender, r.on);
                    }
                    _ => {}
                }
                if matches!(
                    entry,
                    Entry::Edit(_) | Entry::MessageDeleted(_) | Entry::Reaction(_)
                ) {
                    *rooms.revisions.entry(entry.room_id()).or_default() += 1;
                }
                room.push(entry);
                Ok(stored)
            })
            .collect())
    }
}

impl MessageStore for MemoryMessageStore {
    fn append(&self, batch: Vec<NewEntry>) -> BoxFuture<'_, Result<Vec<Appended>, StoreError>> {
        let mut state = self.state.lock().expect("memory store lock poisoned");
        let (dedupe, rooms) = &mut *state;
        // All or nothing: a failure is decided before any message is pushed.
        let result = dedupe.append_with(batch, |fresh| self.store(rooms, fresh));
        futures::future::ready(result).boxed()
    }

    fn head(&self, room: RoomId) -> BoxFuture<'_, Result<RoomHead, StoreError>> {
        let hook = self
            .on_head
            .lock()
            .expect("memory store lock poisoned")
            .take();
        if let Some(hook) = hook {
            hook();
        }
        let state = self.state.lock().expect("memory store lock poisoned");
        let rooms = &state.1;
        let head = rooms
            .messages
            .get(&room)
            .map_or(RoomHead::default(), |m| RoomHead {
                last_seq: m.len() as u64,
                last_ts: m.last().map(Entry::ts),
                revision: rooms.revisions.get(&room).copied().unwrap_or(0),
            });
        futures::future::ready(Ok(head)).boxed()
    }

    fn messages_after(&self, room: RoomId, seq: u64) -> BoxFuture<'_, Result<u64, StoreError>> {
        let state = self.state.lock().expect("memory store lock poisoned");
        let entries = state.1.messages.get(&room).map_or(&[][..], Vec::as_slice);
        let count = entries
            .iter()
            .filter(|e| e.seq() > seq && matches!(e, Entry::Message(_)))
            .count();
        futures::future::ready(Ok(count as u64)).boxed()
    }

    fn mentions_after<'a>(
        &'a self,
        room: RoomId,
        user: &'a Username,
        seq: u64,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        let key = user.key();
        let state = self.state.lock().expect("memory store lock poisoned");
        let entries = state.1.messages.get(&room).map_or(&[][..], Vec::as_slice);
        let count = entries
            .iter()
            .filter(|e| e.seq() > seq)
            .filter_map(|e| match e {
                Entry::Message(m) => Some(m),
                _ => None,
            })
            .filter(|m| mention_keys(&m.content).contains(&key))
            .count();
        futures::future::ready(Ok(count as u64)).boxed()
    }

    fn read_range(
        &self,
        room: RoomId,
        from: u64,
        to: u64,
    ) -> BoxFuture<'_, Result<Vec<Entry>, StoreError>> {
        let state = self.state.lock().expect("memory store lock poisoned");
        let rooms = &state.1;
        let messages = rooms.messages.get(&room).map_or(&[][..], Vec::as_slice);
        let to = to.min(messages.len() as u64);
        let from = from.max(1);
        let mut range = if from > to {
            Vec::new()
        } else {
            messages[(from - 1) as usize..to as usize].to_vec()
        };
        for entry in &mut range {
            if let Entry::Message(m) = entry {
                if let Some((edited, content)) = rooms.edits.get(&(room, m.seq)) {
                    m.content.clone_from(content);
                    m.edited = Some(*edited);
                }
                m.reactions = rooms.reactions.get(&(room, m.seq)).cloned();
            }
        }
        futures::future::ready(Ok(range)).boxed()
    }

    fn durability(&self) -> Durability {
        Durability::Memory
    }
}
