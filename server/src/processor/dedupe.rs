//! Remembering recent acks so a resent message is answered, not stored twice.
//!
//! Keyed by (sender, client_id). Entries live for the configured window (10 minutes by default)
//! and are rebuilt at start-up from the log's recent messages, so the promise holds across a
//! restart. The map is bounded too: at `max_entries` the oldest entry goes early, and that is
//! logged, because from then on a very late resend of it could be stored again.

use super::Ack;
use app::model::Username;
use std::collections::{HashMap, VecDeque};

/// (sender's [`Username::key`], client_id): what makes two sends the same message.
pub type DedupeKey = (String, String);

pub struct Dedupe {
    window_ms: i64,
    max_entries: usize,
    acks: HashMap<DedupeKey, Ack>,
    /// Keys in the order they were stored, with their timestamps.
    order: VecDeque<(i64, DedupeKey)>,
}

impl Dedupe {
    pub fn new(window_ms: i64, max_entries: usize) -> Self {
        Self {
            window_ms,
            max_entries: max_entries.max(1),
            acks: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    pub fn key(sender: &Username, client_id: &str) -> DedupeKey {
        (sender.key(), client_id.to_owned())
    }

    pub fn get(&self, key: &DedupeKey) -> Option<&Ack> {
        self.acks.get(key)
    }

    /// Remembers a stored message's ack; forgets entries older than the window as of `ack.ts`.
    pub fn insert(&mut self, key: DedupeKey, ack: Ack) {
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
        self.order.push_back((ack.ts, key.clone()));
        self.acks.insert(key, ack);
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
        let ana = Username::parse("ana").unwrap();
        let bob = Username::parse("bob").unwrap();
        dedupe.insert(Dedupe::key(&ana, "c1"), ack("c1", 0));
        assert!(dedupe.get(&Dedupe::key(&ana, "c1")).is_some());
        assert!(dedupe.get(&Dedupe::key(&bob, "c1")).is_none());
    }

    #[test]
    fn entries_expire_after_the_window_and_the_map_is_bounded() {
        let mut dedupe = Dedupe::new(1000, 3);
        let ana = Username::parse("ana").unwrap();
        dedupe.insert(Dedupe::key(&ana, "old"), ack("old", 0));
        dedupe.insert(Dedupe::key(&ana, "new"), ack("new", 1500));
        assert!(dedupe.get(&Dedupe::key(&ana, "old")).is_none());
        for i in 0..5 {
            let id = format!("c{i}");
            dedupe.insert(Dedupe::key(&ana, &id), ack(&id, 1600));
        }
        assert_eq!(dedupe.len(), 3);
    }
}
