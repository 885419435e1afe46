//! Full-text search over the rooms a person is in. Two engines answer the same [`Wanted`]:
//!
//! - **On the file store**, a tantivy index in the data directory (`search/`, module `index`),
//!   fed by the indexer task below.
//! - **On PostgreSQL**, the database itself ([`PgSearch`]: a generated `tsvector` column and a GIN
//!   index), because every node must find what any node stored, at once; a node's own index
//!   would know only what that node saw.
//!
//! Both cut words the same way (runs of letters and digits, any case, at most [`MAX_WORDS`], all
//! of them required) and both are read back through the message store before a hit is shown.
//!
//! Why the tantivy index is shaped this way:
//! - **Off the hot path.** The publisher only marks the rooms a stored batch touched
//!   ([`Search::touch`]: one lock, a set insert per entry, never a wait). The indexer task reads
//!   what is new from the message store itself, at most once per [`COMMIT_EVERY`], so a batch's
//!   ack never waits for the index, and a busy minute costs one commit a second, not one per
//!   batch. A touch is never lost (a set, not a queue, and bounded by the number of rooms).
//! - **The store is the truth.** The index keeps, per room, the newest seq it reflects (its
//!   cursor), committed atomically with the documents (the commit's payload). At start every
//!   room is caught up from its cursor; an index that is missing, damaged or of another schema
//!   is started again empty and filled from the log the same way.
//! - **Edits and deletions.** An edit re-indexes its message as it reads now; a message's or a
//!   room's deletion removes its documents, and the indexer then rewrites the segments still
//!   holding removed documents, so a deleted message's words leave the index's files within
//!   [`PURGE_EVERY`] of the commit that removes them (plus the time to catch up).
//! - **Never another's rooms, never a deleted word.** A query is limited to the rooms the
//!   caller is a member of *now* (a `must` clause; the words are plain words, with no query
//!   syntax to widen it or make it costly), and each hit is
//!   read back from the message store before it is shown: a message deleted since it was
//!   indexed is dropped, an edited one shows its current text. The index stores no text.

mod index;

use crate::store::postgres::{PgSearch, SearchRefusal};
use index::{SearchIndex, Searcher};

use crate::fasthash::FastSet;
use crate::store::MessageStore;
use app::model::RoomId;
use app::timeline::Entry;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often the indexer commits at most: the longest a stored message waits to be findable,
/// when the indexer keeps up.
pub const COMMIT_EVERY: Duration = Duration::from_secs(1);
/// How often at most the segments holding removed documents are rewritten: a deleted message's
/// words leave the index's files within this of its removal (a member deleting a message a
/// second does not make the indexer rewrite large segments every second).
pub const PURGE_EVERY: Duration = Duration::from_secs(10);
/// Entries read from the store at once while catching a room up.
const CHUNK: u64 = 500;
/// The most words of a search that count (the rest are left out).
pub const MAX_WORDS: usize = 16;

/// What a query asks: words, within some rooms, optionally by one sender and within a time.
pub struct Wanted {
    pub words: String,
    pub rooms: Vec<RoomId>,
    /// A [`app::model::Username::key`].
    pub sender: Option<String>,
    pub from_ts: Option<i64>,
    pub until_ts: Option<i64>,
    pub limit: usize,
}

/// Why a search could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search is turned off on this server")]
    Off,
    #[error("the search index failed: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// Only on PostgreSQL, whose searches run under a time limit.
    #[error("{0}")]
    Database(#[from] SearchRefusal),
    #[error("the search task failed")]
    Task,
}

/// The search handle: cloneable, cheap. `Search::off()` answers every query with
/// [`SearchError::Off`] and indexes nothing.
#[derive(Clone)]
pub struct Search {
    engine: Option<Engine>,
}

#[derive(Clone)]
enum Engine {
    /// The file store's tantivy index, and the indexer that feeds it.
    Index(Arc<Shared>),
    /// PostgreSQL's own full-text search: nothing to feed.
    Database(PgSearch),
}

struct Shared {
    /// Rooms with entries the index may not reflect yet.
    dirty: Mutex<FastSet<RoomId>>,
    wake: Notify,
    searcher: Searcher,
}

impl Search {
    pub fn off() -> Self {
        Self { engine: None }
    }

    /// Searches with the database's full-text index (a node on PostgreSQL).
    pub fn database(search: PgSearch) -> Self {
        Self {
            engine: Some(Engine::Database(search)),
        }
    }

    /// Opens (or rebuilds) the index in `dir` and starts the indexer task, which first catches
    /// up every room of `rooms`, then follows [`Search::touch`] until `shutdown`. The task ends
    /// soon after `shutdown` (between two rooms or chunks), letting go of the index's files.
    pub async fn start(
        dir: PathBuf,
        store: Arc<dyn MessageStore>,
        rooms: Vec<RoomId>,
        shutdown: CancellationToken,
    ) -> Result<(Self, JoinHandle<()>), SearchError> {
        let (index, searcher) = tokio::task::spawn_blocking(move || SearchIndex::open(&dir))
            .await
            .map_err(|_| SearchError::Task)??;
        // And every room the index knows: one deleted while its removal was not committed yet
        // is not among `rooms` any more.
        let dirty = rooms.into_iter().chain(index.rooms()).collect();
        let shared = Arc::new(Shared {
            dirty: Mutex::new(dirty),
            wake: Notify::new(),
            searcher,
        });
        shared.wake.notify_one();
        let task = tokio::spawn(run(
            Arc::clone(&shared),
            Arc::new(Mutex::new(index)),
            store,
            shutdown,
        ));
        let search = Self {
            engine: Some(Engine::Index(shared)),
        };
        Ok((search, task))
    }

    /// Marks the rooms of a stored batch for the indexer (the publisher calls this). The
    /// database needs no telling.
    pub fn touch(&self, rooms: impl IntoIterator<Item = RoomId>) {
        if let Some(Engine::Index(shared)) = &self.engine {
            shared
                .dirty
                .lock()
                .expect("search dirty set poisoned")
                .extend(rooms);
            shared.wake.notify_one();
        }
    }

    /// The (room, seq) of the best matches, best first (see the module docs for what the
    /// caller must still check).
    pub async fn find(&self, wanted: Wanted) -> Result<Vec<(RoomId, u64)>, SearchError> {
        match self.engine.as_ref().ok_or(SearchError::Off)? {
            Engine::Index(shared) => {
                let searcher = shared.searcher.clone();
                tokio::task::spawn_blocking(move || searcher.search(&wanted))
                    .await
                    .map_err(|_| SearchError::Task)?
                    .map_err(Into::into)
            }
            Engine::Database(search) => Ok(search.find(&wanted).await?),
        }
    }
}

/// What the index must do for one timeline entry.
enum Change {
    Put(app::model::ChatMessage),
    Remove(u64),
    RemoveRoom,
}

/// The indexer: wakes on a touch, catches every touched room up, commits, purges removed
/// documents when due ([`PURGE_EVERY`]), then rests until [`COMMIT_EVERY`] has passed since it
/// woke (touches meanwhile gather in the set). On `shutdown` it lets go of the index.
async fn run(
    shared: Arc<Shared>,
    index: Arc<Mutex<SearchIndex>>,
    store: Arc<dyn MessageStore>,
    shutdown: CancellationToken,
) {
    // The first removal is purged at once.
    let mut purged = tokio::time::Instant::now() - PURGE_EVERY;
    let mut purge_owed = false;
    loop {
        // A purge that is owed (tantivy was merging, or it is not due yet) wakes the loop too.
        let retry = tokio::time::sleep_until(purged + PURGE_EVERY);
        tokio::select! {
            () = shared.wake.notified() => {}
            () = retry, if purge_owed => {}
            () = shutdown.cancelled() => break,
        }
        let woke = tokio::time::Instant::now();
        let rooms: Vec<RoomId> =
            std::mem::take(&mut *shared.dirty.lock().expect("search dirty set poisoned"))
                .into_iter()
                .collect();
        let mut changed = false;
        for room in rooms {
            if shutdown.is_cancelled() {
                break;
            }
            match catch_up(&index, store.as_ref(), room, &shutdown).await {
                Ok(moved) => changed |= moved,
                Err(e) => {
                    // Left dirty: the next round tries again.
                    tracing::error!(%room, "indexing for search failed: {e}");
                    shared
                        .dirty
                        .lock()
                        .expect("search dirty set poisoned")
                        .insert(room);
                }
            }
        }
        let due = woke >= purged + PURGE_EVERY;
        let index_now = Arc::clone(&index);
        let done = tokio::task::spawn_blocking(move || {
            let mut index = index_now.lock().expect("search index poisoned");
            if changed {
                index.commit()?;
            }
            let holds = index.holds_removed();
            if holds && due {
                index.purge()?;
                return Ok((true, index.holds_removed()));
            }
            Ok::<_, tantivy::TantivyError>((false, holds))
        })
        .await;
        match done {
            Ok(Ok((tried, owed))) => {
                if tried {
                    purged = woke;
                }
                purge_owed = owed;
            }
            // Tantivy merging a segment on its own meanwhile is the usual reason: tried again.
            Ok(Err(e)) => {
                tracing::warn!("updating the search index failed (tried again): {e}");
                purged = woke;
                purge_owed = true;
            }
            Err(e) => tracing::error!("the search index task failed: {e}"),
        }
        tokio::select! {
            () = tokio::time::sleep_until(woke + COMMIT_EVERY) => {}
            () = shutdown.cancelled() => break,
        }
    }
    let closed = tokio::task::spawn_blocking(move || match Arc::try_unwrap(index) {
        Ok(index) => index.into_inner().expect("search index poisoned").close(),
        Err(_) => Ok(()),
    })
    .await;
    if !matches!(closed, Ok(Ok(()))) {
        tracing::error!("closing the search index failed: {closed:?}");
    }
}

/// Indexes what `room` holds past the index's cursor. Answers whether anything moved.
async fn catch_up(
    index: &Arc<Mutex<SearchIndex>>,
    store: &dyn MessageStore,
    room: RoomId,
    shutdown: &CancellationToken,
) -> Result<bool, String> {
    let head = store.head(room).await.map_err(|e| e.to_string())?.last_seq;
    let mut from = index.lock().expect("search index poisoned").cursor(room) + 1;
    let moved = from <= head;
    while from <= head && !shutdown.is_cancelled() {
        let to = head.min(from + CHUNK - 1);
        let entries = store
            .read_range(room, from, to)
            .await
            .map_err(|e| e.to_string())?;
        let mut changes = Vec::with_capacity(entries.len());
        for entry in entries {
            match entry {
                Entry::Message(message) => changes.push(Change::Put(message)),
                // The message as it reads now (the newest edit), unless deleted since.
                Entry::Edit(edit) => {
                    let target = store
                        .read_range(room, edit.target_seq, edit.target_seq)
                        .await
                        .map_err(|e| e.to_string())?;
                    changes.push(match target.into_iter().next() {
                        Some(Entry::Message(message)) => Change::Put(message),
                        _ => Change::Remove(edit.target_seq),
                    });
                }
                Entry::MessageDeleted(deletion) => {
                    changes.push(Change::Remove(deletion.target_seq))
                }
                Entry::Erased(erased) => changes.push(Change::Remove(erased.seq)),
                Entry::RoomDeleted(_) => changes.push(Change::RemoveRoom),
                Entry::Member(_) | Entry::Room(_) | Entry::Reaction(_) => {}
            }
        }
        let index = Arc::clone(index);
        tokio::task::spawn_blocking(move || {
            let mut index = index.lock().expect("search index poisoned");
            for change in changes {
                match change {
                    Change::Put(message) => index.put(&message)?,
                    Change::Remove(seq) => index.remove(room, seq),
                    Change::RemoveRoom => index.remove_room(room),
                }
            }
            index.set_cursor(room, to);
            Ok::<_, tantivy::TantivyError>(())
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        from = to + 1;
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract::new;
    use crate::store::memory::MemoryMessageStore;
    use crate::store::{Body, NewEntry};

    /// What `search` finds of `words` in room 5, once it is `want` (polled, bounded).
    async fn found_until(search: &Search, words: &str, want: usize) -> usize {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let wanted = Wanted {
                words: words.into(),
                rooms: vec![RoomId(5)],
                sender: None,
                from_ts: None,
                until_ts: None,
                limit: 10,
            };
            let found = search.find(wanted).await.unwrap().len();
            if found == want || tokio::time::Instant::now() > deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A room deleted while the indexer was stopped is no longer among the rooms the server
    /// lists at start; its documents go all the same (the index knows it by its cursor).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_room_deleted_while_stopped_leaves_the_index_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn MessageStore> = Arc::new(MemoryMessageStore::default());
        store.append(vec![new(5, "k", "kiwi", 1)]).await.unwrap();
        let start = |rooms: Vec<RoomId>, stop: CancellationToken| {
            Search::start(dir.path().join("search"), Arc::clone(&store), rooms, stop)
        };
        let stop = CancellationToken::new();
        let (search, task) = start(vec![RoomId(5)], stop.clone()).await.unwrap();
        assert_eq!(found_until(&search, "kiwi", 1).await, 1);
        stop.cancel();
        task.await.unwrap();

        let deletion = NewEntry {
            body: Body::DeleteRoom,
            ..new(5, "d", "x", 2)
        };
        store.append(vec![deletion]).await.unwrap();
        let stop = CancellationToken::new();
        let (search, task) = start(Vec::new(), stop.clone()).await.unwrap();
        assert_eq!(found_until(&search, "kiwi", 0).await, 0);
        stop.cancel();
        task.await.unwrap();
    }
}
