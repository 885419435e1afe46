//! History pages, with a TTL cache in front of the message store for the pages everyone reads at once
//! (the newest page of a busy room when people open it).
//!
//! A page is cached under the exact seq range it holds and the room's revision (how many edits
//! and message deletions it holds). A range changes only with an edit or a deletion (a page
//! shows messages as they are now), and each of those moves the revision; so a cached page can
//! never be stale: a new message makes "the newest page" a different range, an edit or deletion
//! makes every page of the room a different key, and the old entries simply stop being asked
//! for until their TTL ends or eviction takes them. That is the write-through invalidation, for
//! free. A page past its TTL is never served: the TTL is checked
//! when a page is read, and it frees no memory by itself (quick_cache evicts by weight only);
//! since pages never change, all it costs is a re-read.
//!
//! The cache is bounded in bytes, not pages: each page weighs its messages' text plus a fixed
//! overhead, and the whole cache at most its budget (`--history-cache-mb`, 64 MiB by default).
//! (Counted in pages, 1,024 pages of 100 messages of 16 KB each could pin 1.6 GB; audit M8.) Past the budget, pages are evicted by
//! quick_cache's CLOCK-Pro policy, stale ones included.

use crate::store::{MessageStore, StoreError};
use app::model::RoomId;
use app::timeline::Entry as TimelineEntry;
use quick_cache::sync::Cache;
use quick_cache::Weighter;
use std::sync::Arc;
use std::time::{Duration, Instant};

type Page = Arc<Vec<TimelineEntry>>;

/// (room, first seq, last seq, the room's revision when the page was read).
type Key = (RoomId, u64, u64, u64);

/// Estimated bytes of a page apart from its messages (key, `Arc`, `Vec`, cache slot).
const PAGE_OVERHEAD: u64 = 128;
/// Estimated bytes of an entry apart from its strings (ids, seq, timestamp, string headers).
const MESSAGE_OVERHEAD: u64 = 96;

#[derive(Clone)]
struct Entry {
    at: Instant,
    /// Computed once at insert: the weigher is called on every eviction step.
    bytes: u64,
    page: Page,
}

impl Entry {
    fn new(page: Page) -> Self {
        let bytes = PAGE_OVERHEAD
            + page
                .iter()
                .map(|entry| match entry {
                    TimelineEntry::Message(m) => {
                        // A reaction's name, and each reacting name with its String's header.
                        let reactions = m.reactions.iter().flat_map(|r| &r.emoji).map(|r| {
                            32 + r.users.iter().map(|u| u.as_str().len() + 24).sum::<usize>()
                        });
                        MESSAGE_OVERHEAD
                            + (m.content.len()
                                + m.client_id.len()
                                + m.sender.as_str().len()
                                + reactions.sum::<usize>()) as u64
                    }
                    TimelineEntry::Member(e) => {
                        MESSAGE_OVERHEAD
                            + (e.client_id.len() + e.sender.as_str().len() + e.user.as_str().len())
                                as u64
                    }
                    TimelineEntry::Room(e) => {
                        MESSAGE_OVERHEAD
                            + (e.client_id.len()
                                + e.sender.as_str().len()
                                + e.name.as_str().len()
                                + e.topic.as_str().len()) as u64
                    }
                    TimelineEntry::RoomDeleted(e) => {
                        MESSAGE_OVERHEAD + (e.client_id.len() + e.sender.as_str().len()) as u64
                    }
                    TimelineEntry::Edit(e) => {
                        MESSAGE_OVERHEAD
                            + (e.client_id.len() + e.sender.as_str().len() + e.content.len()) as u64
                    }
                    TimelineEntry::MessageDeleted(e) => {
                        MESSAGE_OVERHEAD + (e.client_id.len() + e.sender.as_str().len()) as u64
                    }
                    TimelineEntry::Reaction(e) => {
                        MESSAGE_OVERHEAD + (e.client_id.len() + e.sender.as_str().len()) as u64
                    }
                    TimelineEntry::Erased(e) => {
                        MESSAGE_OVERHEAD
                            + e.sender.as_ref().map_or(0, |s| s.as_str().len()) as u64
                            + e.client_id.as_ref().map_or(0, String::len) as u64
                    }
                })
                .sum::<u64>();
        Self {
            at: Instant::now(),
            bytes,
            page,
        }
    }
}

#[derive(Clone)]
struct ByBytes;

impl Weighter<Key, Entry> for ByBytes {
    fn weight(&self, _key: &Key, entry: &Entry) -> u64 {
        entry.bytes
    }
}

pub struct HistoryCache {
    pages: Cache<Key, Entry, ByBytes>,
    ttl: Duration,
}

impl HistoryCache {
    /// A cache serving pages for `ttl` and holding at most `budget_bytes` of them.
    pub fn new(ttl: Duration, budget_bytes: u64) -> Self {
        // A page of 100 short messages weighs about 10 KB.
        let estimated_pages = (budget_bytes / 10_000).clamp(16, 100_000) as usize;
        Self {
            pages: Cache::with_weighter(estimated_pages, budget_bytes, ByBytes),
            ttl,
        }
    }

    /// Up to `limit` messages of `room` with seq < `before_seq` (or the newest), ascending.
    pub async fn page(
        &self,
        store: &dyn MessageStore,
        room: RoomId,
        before_seq: Option<u64>,
        limit: u32,
    ) -> Result<Page, StoreError> {
        let head = store.head(room).await?;
        let last = head.last_seq;
        let end = before_seq.map_or(last, |b| b.saturating_sub(1)).min(last);
        if end == 0 || limit == 0 {
            return Ok(Page::default());
        }
        let start = end.saturating_sub(u64::from(limit) - 1).max(1);
        let key = (room, start, end, head.revision);
        if let Some(entry) = self.pages.get(&key) {
            if entry.at.elapsed() < self.ttl {
                return Ok(entry.page);
            }
        }
        let page = Arc::new(store.read_range(room, start, end).await?);
        self.pages.insert(key, Entry::new(page.clone()));
        Ok(page)
    }

    #[cfg(test)]
    fn cached_pages(&self) -> usize {
        self.pages.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryMessageStore;
    use crate::store::NewEntry;
    use app::model::{ClientId, MessageBody, Username};

    /// The default budget, 64 MiB.
    const BUDGET: u64 = 64 * 1024 * 1024;

    async fn store_with(count: usize) -> MemoryMessageStore {
        let store = MemoryMessageStore::default();
        append(&store, 1, count, |i| format!("m{}", i + 1)).await;
        store
    }

    async fn append(
        store: &MemoryMessageStore,
        room: u64,
        count: usize,
        content: impl Fn(usize) -> String,
    ) {
        let batch = (0..count)
            .map(|i| NewEntry {
                room_id: RoomId(room),
                sender: Username::parse("ana").unwrap(),
                client_id: ClientId::parse(&format!("r{room}c{i}")).unwrap(),
                body: crate::store::Body::Text(MessageBody::parse(&content(i)).unwrap()),
                ts: 0,
            })
            .collect();
        store.append(batch).await.unwrap();
    }

    /// How many distinct 10-message pages of `room` stay cached after asking for 100 of them.
    async fn pages_kept(store: &MemoryMessageStore, room: u64, budget_bytes: u64) -> usize {
        let cache = HistoryCache::new(Duration::from_secs(3600), budget_bytes);
        for before in 12..=111 {
            cache
                .page(store, RoomId(room), Some(before), 10)
                .await
                .unwrap();
        }
        cache.cached_pages()
    }

    #[tokio::test]
    async fn the_cache_budget_is_in_bytes_so_it_holds_fewer_big_pages_than_small_ones() {
        let store = MemoryMessageStore::default();
        append(&store, 1, 110, |i| format!("m{i}")).await;
        append(&store, 2, 110, |_| "x".repeat(4_000)).await;
        let budget = 400_000;
        let small = pages_kept(&store, 1, budget).await;
        let big = pages_kept(&store, 2, budget).await;
        assert_eq!(small, 100, "100 small pages fit in {budget} bytes");
        assert!(big * 40_000 <= budget as usize, "{big} pages of 40 KB kept");
        assert!(big > 0);
    }

    fn seqs(page: &Page) -> Vec<u64> {
        page.iter().map(TimelineEntry::seq).collect()
    }

    #[tokio::test]
    async fn pages_walk_back_through_history_without_gaps() {
        let store = store_with(250).await;
        let cache = HistoryCache::new(Duration::from_secs(3), BUDGET);
        let newest = cache.page(&store, RoomId(1), None, 100).await.unwrap();
        assert_eq!(seqs(&newest), (151..=250).collect::<Vec<_>>());
        let older = cache.page(&store, RoomId(1), Some(151), 100).await.unwrap();
        assert_eq!(seqs(&older), (51..=150).collect::<Vec<_>>());
        let oldest = cache.page(&store, RoomId(1), Some(51), 100).await.unwrap();
        assert_eq!(seqs(&oldest), (1..=50).collect::<Vec<_>>());
        assert!(cache
            .page(&store, RoomId(1), Some(1), 100)
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn a_new_message_is_visible_at_once_despite_the_cache() {
        let store = store_with(3).await;
        let cache = HistoryCache::new(Duration::from_secs(3600), BUDGET);
        assert_eq!(
            seqs(&cache.page(&store, RoomId(1), None, 10).await.unwrap()),
            [1, 2, 3]
        );
        store
            .append(vec![NewEntry {
                room_id: RoomId(1),
                sender: Username::parse("bob").unwrap(),
                client_id: ClientId::parse("late").unwrap(),
                body: crate::store::Body::Text(MessageBody::parse("late").unwrap()),
                ts: 0,
            }])
            .await
            .unwrap();
        assert_eq!(
            seqs(&cache.page(&store, RoomId(1), None, 10).await.unwrap()),
            [1, 2, 3, 4]
        );
    }

    /// An edit or a deletion changes an older page without changing its range: the page read
    /// after it shows it, cache or not.
    #[tokio::test]
    async fn an_edit_or_deletion_is_visible_at_once_despite_the_cache() {
        use crate::store::contract::{delete, edit};
        let store = store_with(3).await;
        let cache = HistoryCache::new(Duration::from_secs(3600), BUDGET);
        let text = |page: &Page| -> Vec<String> {
            page.iter()
                .map(|entry| match entry {
                    TimelineEntry::Message(m) => m.content.clone(),
                    other => format!("#{}", other.seq()),
                })
                .collect()
        };
        let page = |before| cache.page(&store, RoomId(1), Some(before), 2);
        assert_eq!(text(&page(3).await.unwrap()), ["m1", "m2"]);
        store
            .append(vec![edit("ana", "e", 2, "m2 edited")])
            .await
            .unwrap();
        assert_eq!(text(&page(3).await.unwrap()), ["m1", "m2 edited"]);
        store
            .append(vec![delete("ana", "d", 1, false)])
            .await
            .unwrap();
        assert_eq!(text(&page(3).await.unwrap()), ["#1", "m2 edited"]);
    }
}
