//! Remembering recent acks so a resent message is answered, not stored twice: the store's
//! authority on duplicates, shared by every [`MessageStore`](super::MessageStore) that keeps
//! its own memory of them.
//!
//! Keyed by (sender, client_id). Entries live for the configured window (10 minutes by default)
//! and are rebuilt when a store opens from its recent messages, so the promise holds across a
//! restart. The map is bounded too: at `max_entries` the oldest entry goes early, and that is
//! logged, because from then on a very late resend of it could be stored again.
//!
//! Each entry also keeps a [`fingerprint`] of what was sent (room and content). A send whose key
//! is known but whose fingerprint differs is not a resend: the client reused a client_id for a
//! different message, and is told so ([`Lookup::Reused`]) instead of getting the old message's
//! ack, which would silently drop the new one (audit L9).

use super::{
    ack_of, fingerprint_of, Ack, Appended, NewEntry, StoreError, StoredEntry, TargetRefusal,
};
use crate::fasthash::FastMap;
use app::model::{RoomId, Username};
use app::timeline::Entry;
use std::collections::VecDeque;
use std::sync::Arc;

/// A 64-bit hash of what a send asks to store: its room and its content.
///
/// Fixed seeds, so the same message hashes the same way for the life of the process, which is
/// all it needs: the dedupe memory is rebuilt from the log at every start by the process that
/// then uses it. (The per-map random seeds of [`FastMap`] would not do.) aHash, like the hot
/// path's maps, because every message's whole content goes through it. A collision would only
/// make a reused client_id look like a resend, as every reuse did before fingerprints.
pub fn fingerprint(room_id: RoomId, content: &str) -> u64 {
    static SEEDS: ahash::RandomState = ahash::RandomState::with_seeds(
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    );
    SEEDS.hash_one((room_id.0, content))
}

/// The fingerprint remembered for a deleted message of `room` read back erased at start: what
/// it said is gone, so a message sent to the same room under its key is taken for a resend of
/// it (see [`Dedupe::append_with`]).
pub fn erased(room: RoomId) -> u64 {
    fingerprint(room, "\0erased")
}

/// What the dedupe memory says about a send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Not seen within the window: store it.
    New,
    /// The same message again: answer with its original ack.
    Resend(Ack),
    /// The client_id was used for a different message: refuse.
    Reused,
}

/// (sender, client_id) as one string, `"{sender key} {client_id}"`: what makes two sends the
/// same message. A space can be in neither part, so the split is unambiguous. One shared
/// allocation serves the map and the expiry queue, which matters at millions of entries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DedupeKey(Arc<str>);

impl DedupeKey {
    pub fn new(sender: &Username, client_id: &str) -> Self {
        let mut key = sender.key();
        key.reserve(1 + client_id.len());
        key.push(' ');
        key.push_str(client_id);
        Self(key.into())
    }

    fn client_id(&self) -> &str {
        self.0
            .split_once(' ')
            .map_or("", |(_, client_id)| client_id)
    }
}

/// What an ack says besides the client_id (which the key holds).
#[derive(Debug, Clone, Copy)]
struct Stored {
    room_id: RoomId,
    id: u64,
    seq: u64,
    ts: i64,
    fingerprint: u64,
}

pub struct Dedupe {
    window_ms: i64,
    max_entries: usize,
    acks: FastMap<DedupeKey, Stored>,
    /// Keys in the order they were stored, with their timestamps.
    order: VecDeque<(i64, DedupeKey)>,
    /// Whether "memory full" was logged since the map last had room: once per episode, not
    /// once per insert (which flooded the log at the cap).
    warned_full: bool,
}

impl Dedupe {
    pub fn new(window_ms: i64, max_entries: usize) -> Self {
        Self {
            window_ms,
            max_entries: max_entries.max(1),
            acks: FastMap::default(),
            order: VecDeque::new(),
            warned_full: false,
        }
    }

    /// Whether a send with `key` and `fingerprint` is new, a resend, or a reused client_id.
    pub fn lookup(&self, key: &DedupeKey, fingerprint: u64) -> Lookup {
        match self.acks.get(key) {
            None => Lookup::New,
            Some(stored) if stored.fingerprint != fingerprint => Lookup::Reused,
            Some(stored) => Lookup::Resend(Ack {
                client_id: key.client_id().to_owned(),
                room_id: stored.room_id,
                id: stored.id,
                seq: stored.seq,
                ts: stored.ts,
            }),
        }
    }

    /// Remembers an entry read back from the log (start-up rebuilds the memory this way).
    /// An erased entry has no sender or client_id left to remember.
    pub fn remember(&mut self, entry: &Entry) {
        let Some(sender) = entry.sender() else {
            return;
        };
        self.insert(
            DedupeKey::new(sender, entry.client_id()),
            fingerprint_of(entry),
            &ack_of(entry),
        );
    }

    /// Remembers a stored message's ack and [`fingerprint`]; forgets entries older than the
    /// window as of `ack.ts`.
    pub fn insert(&mut self, key: DedupeKey, fingerprint: u64, ack: &Ack) {
        let horizon = ack.ts - self.window_ms;
        while let Some((ts, _)) = self.order.front() {
            if *ts >= horizon && self.order.len() < self.max_entries {
                break;
            }
            if *ts >= horizon && !self.warned_full {
                tracing::warn!(
                    max_entries = self.max_entries,
                    "dedupe memory full: forgetting acks before their window ended"
                );
                self.warned_full = true;
            }
            let (_, key) = self.order.pop_front().expect("front exists");
            self.acks.remove(&key);
        }
        if self.order.len() + 1 < self.max_entries {
            self.warned_full = false;
        }
        let stored = Stored {
            room_id: ack.room_id,
            id: ack.id,
            seq: ack.seq,
            ts: ack.ts,
            fingerprint,
        };
        self.order.push_back((ack.ts, key.clone()));
        self.acks.insert(key, stored);
    }

    /// Stores `batch` through `store`, all or nothing, answering resends from memory.
    ///
    /// Resends of remembered messages, and a second copy of a message earlier in the same
    /// batch, become [`Appended::Duplicate`]; a client_id reused for a different message becomes
    /// [`Appended::ClientIdReused`]. Only the rest reaches `store` (not at all when nothing is
    /// left), and what it stored is remembered only once it returned `Ok`. What `store`
    /// refused (an edit of a message that is not there, say) is not remembered: a resend is
    /// decided again.
    pub fn append_with(
        &mut self,
        batch: Vec<NewEntry>,
        store: impl FnOnce(Vec<NewEntry>) -> Result<Vec<Result<StoredEntry, TargetRefusal>>, StoreError>,
    ) -> Result<Vec<Appended>, StoreError> {
        /// Where the answer for one message of the batch comes from.
        enum Slot {
            Known(Appended),
            /// The `n`th message handed to `store`.
            Fresh(usize),
            /// A resend of the `n`th fresh message, inside this batch.
            SameAs(usize),
        }
        let mut slots = Vec::with_capacity(batch.len());
        let mut fresh = Vec::with_capacity(batch.len());
        // Key → (index in `fresh`, fingerprint of what it stores).
        let mut in_batch: FastMap<DedupeKey, (usize, u64)> = FastMap::default();
        for new in batch {
            let key = DedupeKey::new(&new.sender, new.client_id.as_str());
            let print = new.fingerprint();
            let mut lookup = self.lookup(&key, print);
            if lookup == Lookup::Reused && new.body.is_message() {
                // The key of a message deleted and erased before a restart: its text is not
                // known any more, so a message to the same room is taken for its resend.
                if let Lookup::Resend(ack) = self.lookup(&key, erased(new.room_id)) {
                    lookup = Lookup::Resend(ack);
                }
            }
            let slot = match lookup {
                Lookup::Resend(ack) => Slot::Known(Appended::Duplicate(ack)),
                Lookup::Reused => Slot::Known(Appended::ClientIdReused),
                Lookup::New => match in_batch.get(&key) {
                    Some(&(first, first_print)) if first_print == print => Slot::SameAs(first),
                    Some(_) => Slot::Known(Appended::ClientIdReused),
                    None => {
                        in_batch.insert(key, (fresh.len(), print));
                        fresh.push(new);
                        Slot::Fresh(fresh.len() - 1)
                    }
                },
            };
            slots.push(slot);
        }
        let mut stored: Vec<Option<Result<StoredEntry, TargetRefusal>>> = if fresh.is_empty() {
            Vec::new()
        } else {
            store(fresh)?.into_iter().map(Some).collect()
        };
        for (key, (n, print)) in in_batch {
            if let Ok(entry) = stored[n].as_ref().expect("not taken yet") {
                self.insert(key, print, &entry.ack);
            }
        }
        // Copies inside the batch get their original's answer before the originals move out.
        for slot in &mut slots {
            if let Slot::SameAs(n) = *slot {
                *slot = Slot::Known(match stored[n].as_ref().expect("not taken yet") {
                    Ok(entry) => Appended::Duplicate(entry.ack.clone()),
                    Err(refusal) => Appended::Refused(*refusal),
                });
            }
        }
        Ok(slots
            .into_iter()
            .map(|slot| match slot {
                Slot::Known(answer) => answer,
                Slot::Fresh(n) => match stored[n].take().expect("each fresh slot is taken once") {
                    Ok(entry) => Appended::Stored(entry),
                    Err(refusal) => Appended::Refused(refusal),
                },
                Slot::SameAs(_) => unreachable!("resolved above"),
            })
            .collect())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.acks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::RoomId;

    fn key(sender: &str, client_id: &str) -> DedupeKey {
        DedupeKey::new(&Username::parse(sender).unwrap(), client_id)
    }

    fn ack(client_id: &str, ts: i64) -> Ack {
        Ack {
            client_id: client_id.into(),
            room_id: RoomId(1),
            id: 1,
            seq: 1,
            ts,
        }
    }

    const HELLO: u64 = 7;

    fn get(dedupe: &Dedupe, key: &DedupeKey) -> Option<Ack> {
        match dedupe.lookup(key, HELLO) {
            Lookup::Resend(ack) => Some(ack),
            _ => None,
        }
    }

    #[test]
    fn an_ack_is_found_by_sender_and_client_id() {
        let mut dedupe = Dedupe::new(1000, 10);
        dedupe.insert(key("ana", "c1"), HELLO, &ack("c1", 0));
        let found = get(&dedupe, &key("Ana", "c1")).expect("same sender, any case");
        assert_eq!((found.client_id.as_str(), found.seq), ("c1", 1));
        assert_eq!(dedupe.lookup(&key("bob", "c1"), HELLO), Lookup::New);
        assert_eq!(dedupe.lookup(&key("ana", "c2"), HELLO), Lookup::New);
    }

    #[test]
    fn a_known_client_id_with_another_room_or_content_is_reused_not_a_resend() {
        let mut dedupe = Dedupe::new(1000, 10);
        let sent = fingerprint(RoomId(1), "hello");
        dedupe.insert(key("ana", "x1"), sent, &ack("x1", 0));
        assert!(matches!(
            dedupe.lookup(&key("ana", "x1"), fingerprint(RoomId(1), "hello")),
            Lookup::Resend(_)
        ));
        assert_eq!(
            dedupe.lookup(&key("ana", "x1"), fingerprint(RoomId(2), "hello")),
            Lookup::Reused
        );
        assert_eq!(
            dedupe.lookup(&key("ana", "x1"), fingerprint(RoomId(1), "other")),
            Lookup::Reused
        );
    }

    #[test]
    fn a_rebuild_from_the_log_keeps_only_the_newest_max_entries() {
        let dir = tempfile::tempdir().unwrap();
        let log = crate::store::file::log::MessageLog::open(dir.path(), Default::default())
            .unwrap()
            .log;
        let batch = (0..10)
            .map(|i| crate::store::NewEntry {
                room_id: RoomId(1),
                sender: Username::parse("ana").unwrap(),
                client_id: app::model::ClientId::parse(&format!("c{i}")).unwrap(),
                body: crate::store::Body::Text(app::model::MessageBody::parse("hello").unwrap()),
                ts: 1_000 + i,
            })
            .collect();
        log.append(batch).unwrap();
        drop(log);
        let mut dedupe = Dedupe::new(600_000, 3);
        let mut most = 0;
        crate::store::file::log::MessageLog::open_visiting(
            dir.path(),
            Default::default(),
            0,
            |m| {
                dedupe.remember(m);
                most = most.max(dedupe.len());
            },
        )
        .unwrap();
        assert_eq!(most, 3, "bounded while scanning");
        let print = fingerprint(RoomId(1), "hello");
        assert!(matches!(
            dedupe.lookup(&key("ana", "c9"), print),
            Lookup::Resend(ack) if ack.seq == 10
        ));
        assert_eq!(dedupe.lookup(&key("ana", "c6"), print), Lookup::New);
    }

    #[test]
    fn entries_expire_after_the_window_and_the_map_is_bounded() {
        let mut dedupe = Dedupe::new(1000, 3);
        dedupe.insert(key("ana", "old"), HELLO, &ack("old", 0));
        dedupe.insert(key("ana", "new"), HELLO, &ack("new", 1500));
        assert!(get(&dedupe, &key("ana", "old")).is_none());
        for i in 0..5 {
            let id = format!("c{i}");
            dedupe.insert(key("ana", &id), HELLO, &ack(&id, 1600));
        }
        assert_eq!(dedupe.len(), 3);
    }
}
