//! History pages, with a TTL cache in front of the log for the pages everyone reads at once
//! (the newest page of a busy room when people open it).
//!
//! A page is cached under the exact seq range it holds. Stored messages never change, so a cached
//! range can never be stale: a new message makes "the newest page" a different range, hence a
//! different key, and the old entry simply stops being asked for until its TTL ends. That is the
//! write-through invalidation, for free. The TTL bounds how long memory holds pages nobody reads.

use crate::store::{MessageLog, StoreError};
use app::model::{ChatMessage, RoomId};
use quick_cache::sync::Cache;
use std::sync::Arc;
use std::time::{Duration, Instant};

type Page = Arc<Vec<ChatMessage>>;

pub struct HistoryCache {
    pages: Cache<(RoomId, u64, u64), (Instant, Page)>,
    ttl: Duration,
}

impl HistoryCache {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            pages: Cache::new(capacity),
            ttl,
        }
    }

    /// Up to `limit` messages of `room` with seq < `before_seq` (or the newest), ascending.
    pub fn page(
        &self,
        log: &MessageLog,
        room: RoomId,
        before_seq: Option<u64>,
        limit: u32,
    ) -> Result<Page, StoreError> {
        let last = log.last_seq(room);
        let end = before_seq.map_or(last, |b| b.saturating_sub(1)).min(last);
        if end == 0 || limit == 0 {
            return Ok(Page::default());
        }
        let start = end.saturating_sub(u64::from(limit) - 1).max(1);
        let key = (room, start, end);
        if let Some((at, page)) = self.pages.get(&key) {
            if at.elapsed() < self.ttl {
                return Ok(page);
            }
        }
        let page = Arc::new(log.read_range(room, start, end)?);
        self.pages.insert(key, (Instant::now(), page.clone()));
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{LogConfig, NewMessage};
    use app::model::Username;

    fn log_with(dir: &std::path::Path, count: usize) -> MessageLog {
        let log = MessageLog::open(dir, LogConfig::default()).unwrap().log;
        let batch = (0..count)
            .map(|i| NewMessage {
                room_id: RoomId(1),
                sender: Username::parse("ana").unwrap(),
                client_id: format!("c{i}"),
                content: format!("m{}", i + 1),
                ts: 0,
            })
            .collect();
        log.append(batch).unwrap();
        log
    }

    fn seqs(page: &Page) -> Vec<u64> {
        page.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn pages_walk_back_through_history_without_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_with(dir.path(), 250);
        let cache = HistoryCache::new(Duration::from_secs(3), 100);
        let newest = cache.page(&log, RoomId(1), None, 100).unwrap();
        assert_eq!(seqs(&newest), (151..=250).collect::<Vec<_>>());
        let older = cache.page(&log, RoomId(1), Some(151), 100).unwrap();
        assert_eq!(seqs(&older), (51..=150).collect::<Vec<_>>());
        let oldest = cache.page(&log, RoomId(1), Some(51), 100).unwrap();
        assert_eq!(seqs(&oldest), (1..=50).collect::<Vec<_>>());
        assert!(cache
            .page(&log, RoomId(1), Some(1), 100)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_new_message_is_visible_at_once_despite_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_with(dir.path(), 3);
        let cache = HistoryCache::new(Duration::from_secs(3600), 100);
        assert_eq!(
            seqs(&cache.page(&log, RoomId(1), None, 10).unwrap()),
            [1, 2, 3]
        );
        log.append(vec![NewMessage {
            room_id: RoomId(1),
            sender: Username::parse("bob").unwrap(),
            client_id: "late".into(),
            content: "late".into(),
            ts: 0,
        }])
        .unwrap();
        assert_eq!(
            seqs(&cache.page(&log, RoomId(1), None, 10).unwrap()),
            [1, 2, 3, 4]
        );
    }
}
