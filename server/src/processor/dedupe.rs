//! Remembering recent acks so a resent message is answered, not stored twice.
//!
//! Keyed by (sender, client_id). Entries live for the configured window (10 minutes by default)
//! and are rebuilt at start-up from the log's recent messages, so the promise holds across a
//! restart. The map is bounded too: at `max_entries` the oldest entry goes early, and that is
//! logged, because from then on a very late resend of it could be stored again.

use super::Ack;
use crate::fasthash::FastMap;
use app::model::{RoomId, Username};
use std::collections::VecDeque;
use std::sync::Arc;

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
}

pub struct Dedupe {
    window_ms: i64,
    max_entries: usize,
    acks: FastMap<DedupeKey, Stored>,
    /// Keys in the order they were stored, with their timestamps.
    order: VecDeque<(i64, DedupeKey)>,
}

impl Dedupe {
    pub fn new(window_ms: i64, max_entries: usize) -> Self {
        Self {
            window_ms,
            max_entries: max_entries.max(1),
            acks: FastMap::default(),
            order: VecDeque::new(),
        }
    }

    pub fn get(&self, key: &DedupeKey) -> Option<Ack> {
        self.acks.get(key).map(|stored| Ack {
            client_id: key.client_id().to_owned(),
            room_id: stored.room_id,
            id: stored.id,
            seq: stored.seq,
            ts: stored.ts,
        })
    }

    /// Remembers a stored message's ack; forgets entries older than the window as of `ack.ts`.
    pub fn insert(&mut self, key: DedupeKey, ack: &Ack) {
        let horizon = ack.ts - self.window_ms;
        while let Some((ts, _)) = self.order.front() {
            if *ts >= horizon && self.order.len() < self.max_entries {
                break;
            }
            if *ts >= horizon {
                tracing::warn!(
                    max_entries = self.max_entries,
                    "dedupe memory full: forgetting an ack before its window ended"
                );
            }
            let (_, key) = self.order.pop_front().expect("front exists");
            self.acks.remove(&key);
        }
        let stored = Stored {
            room_id: ack.room_id,
            id: ack.id,
            seq: ack.seq,
            ts: ack.ts,
        };
        self.order.push_back((ack.ts, key.clone()));
        self.acks.insert(key, stored);
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

    #[test]
    fn an_ack_is_found_by_sender_and_client_id() {
        let mut dedupe = Dedupe::new(1000, 10);
        dedupe.insert(key("ana", "c1"), &ack("c1", 0));
        let found = dedupe
            .get(&key("Ana", "c1"))
            .expect("same sender, any case");
        assert_eq!((found.client_id.as_str(), found.seq), ("c1", 1));
        assert!(dedupe.get(&key("bob", "c1")).is_none());
        assert!(dedupe.get(&key("ana", "c2")).is_none());
    }

    #[test]
    fn entries_expire_after_the_window_and_the_map_is_bounded() {
        let mut dedupe = Dedupe::new(1000, 3);
        dedupe.insert(key("ana", "old"), &ack("old", 0));
        dedupe.insert(key("ana", "new"), &ack("new", 1500));
        assert!(dedupe.get(&key("ana", "old")).is_none());
        for i in 0..5 {
            let id = format!("c{i}");
            dedupe.insert(key("ana", &id), &ack(&id, 1600));
        }
        assert_eq!(dedupe.len(), 3);
    }
}
