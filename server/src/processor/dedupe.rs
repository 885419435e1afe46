//! Remembering recent acks so a resent message is answered, not stored twice.
//!
//! Keyed by (sender, client_id). Entries live for the configured window (10 minutes by default)
//! and are rebuilt at start-up from the log's recent messages, so the promise holds across a
//! restart. The map is bounded too: at `max_entries` the oldest entry goes early, and that is
//! logged, because from then on a very late resend of it could be stored again.

use super::Ack;
use std::collections::{HashMap, VecDeque};

pub struct Dedupe {
    window_ms: i64,
    max_entries: usize,
    acks: HashMap<(String, String), Ack>,
    /// Keys in the order they were stored, with their timestamps.
    order: VecDeque<(i64, (String, String))>,
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

    pub fn get(&self, sender_key: &str, client_id: &str) -> Option<&Ack> {
        self.acks
            .get(&(sender_key.to_owned(), client_id.to_owned()))
    }

    /// Remembers a stored message's ack; forgets entries older than the window as of `ack.ts`.
    pub fn insert(&mut self, sender_key: String, ack: Ack) {
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
        let key = (sender_key, ack.client_id.clone());
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
        dedupe.insert("ana".into(), ack("c1", 0));
        assert!(dedupe.get("ana", "c1").is_some());
        assert!(dedupe.get("bob", "c1").is_none());
    }

    #[test]
    fn entries_expire_after_the_window_and_the_map_is_bounded() {
        let mut dedupe = Dedupe::new(1000, 3);
        dedupe.insert("ana".into(), ack("old", 0));
        dedupe.insert("ana".into(), ack("new", 1500));
        assert!(dedupe.get("ana", "old").is_none());
        for i in 0..5 {
            dedupe.insert("ana".into(), ack(&format!("c{i}"), 1600));
        }
        assert_eq!(dedupe.len(), 3);
    }
}
