//! Full-text search on PostgreSQL: a `tsvector` column on `entries`, generated from each
//! message as it reads now, and a GIN index over it (migration `0002_search.sql`).
//!
//! Why the database and not each node's own tantivy index: a node's index learns of a message
//! only through what that node stores or hears on the bus, so a node that missed a notice would
//! miss the message until it restarted. The rows are every node's, and the column moves in the
//! very transaction that stores, edits or deletes the message: a message is findable on every
//! node once acked, an edit is found by its new words at once, and a deleted message's words
//! leave its row in the deleting transaction.
//!
//! What keeps a query cheap and scoped: the caller's rooms are a `room_id = ANY(…)` filter the
//! database applies to every hit (never another's room); the words are plain words, cut the
//! same way as the file store cuts them ([`plain_words`]), and combined with AND by
//! `minitalk_query` (no query syntax a stranger could use to widen it); and each search runs
//! under a [`STATEMENT_TIMEOUT`], so a common word over a long history costs a bounded time
//! (it is refused as [`SearchRefusal::TooCostly`], with advice to add a word).

use super::{big, small};
use crate::search::{Wanted, MAX_WORDS};
use crate::store::StoreError;
use app::model::RoomId;
use sqlx::postgres::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Searches one node runs at once; more are refused as [`SearchRefusal::Busy`] (a quarter of
/// the default pool of 16).
pub const CONCURRENT: usize = 4;

/// The longest one search may run in the database before it is given up.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(3);

/// PostgreSQL's SQLSTATE for a statement ended by `statement_timeout`.
const QUERY_CANCELED: &str = "57014";

/// Why the database answered no hits list.
#[derive(Debug, thiserror::Error)]
pub enum SearchRefusal {
    #[error("this search matches too much to rank in time; add a word or choose a room")]
    TooCostly,
    #[error("too many searches are running; try again in a moment")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Searches the `entries` table of one database.
#[derive(Clone)]
pub struct PgSearch {
    pool: PgPool,
    timeout: Duration,
    /// Searches running at once on this node: a search holds a pooled connection for up to
    /// [`STATEMENT_TIMEOUT`], and appends need the pool too.
    running: Arc<Semaphore>,
}

impl PgSearch {
    pub fn new(pool: PgPool) -> Self {
        Self::with_limits(pool, STATEMENT_TIMEOUT, CONCURRENT)
    }

    /// Gives up on a search after `timeout`, and refuses one past `concurrent` running (tests
    /// make them small, to see both refusals).
    pub fn with_limits(pool: PgPool, timeout: Duration, concurrent: usize) -> Self {
        Self {
            pool,
            timeout,
            running: Arc::new(Semaphore::new(concurrent)),
        }
    }

    /// The (room, seq) of the best matches, best first (most relevant, then newest): never
    /// outside `wanted.rooms`, never a deleted message.
    pub async fn find(&self, wanted: &Wanted) -> Result<Vec<(RoomId, u64)>, SearchRefusal> {
        let words = plain_words(&wanted.words);
        if words.is_empty() || wanted.rooms.is_empty() {
            return Ok(Vec::new());
        }
        let _running = self
            .running
            .try_acquire()
            .map_err(|_| SearchRefusal::Busy)?;
        let rooms: Vec<i64> = wanted.rooms.iter().map(|r| big(r.0)).collect();
        let limit = i64::try_from(wanted.limit.max(1)).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        // SET takes no parameters; the number is ours.
        sqlx::query(&format!(
            "SET LOCAL statement_timeout = {}",
            self.timeout.as_millis().max(1)
        ))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let found: Result<Vec<(i64, i64)>, sqlx::Error> = sqlx::query_as(
            "SELECT e.room_id, e.seq
               FROM entries e, minitalk_query($1) q
              WHERE e.kind = 0 AND e.words @@ q
                AND e.room_id = ANY($2)
                AND ($3::text IS NULL OR e.sender_key = $3)
                AND ($4::bigint IS NULL OR e.ts >= $4)
                AND ($5::bigint IS NULL OR e.ts <= $5)
              ORDER BY ts_rank(e.words, q) DESC, e.ts DESC, e.room_id, e.seq DESC
              LIMIT $6",
        )
        .bind(&words)
        .bind(&rooms)
        .bind(wanted.sender.as_deref())
        .bind(wanted.from_ts)
        .bind(wanted.until_ts)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await;
        match found {
            Ok(rows) => {
                tx.commit().await.map_err(StoreError::from)?;
                Ok(rows
                    .into_iter()
                    .map(|(room, seq)| (RoomId(small(room)), small(seq)))
                    .collect())
            }
            Err(e) if super::is_code(&e, QUERY_CANCELED) => Err(SearchRefusal::TooCostly),
            Err(e) => Err(StoreError::from(e).into()),
        }
    }
}

/// A person's words as a search takes them: every run of characters that are not letters or
/// digits separates words (so `-alpha`, `"alpha"` and `text:alpha` are the word alpha, never
/// syntax), and only the first [`MAX_WORDS`] count. The database lowercases them.
fn plain_words(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .take(MAX_WORDS)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_is_at_most_sixteen_plain_words() {
        assert_eq!(plain_words("ALPHA, beta!"), "ALPHA beta");
        assert_eq!(plain_words("text:gamma [a TO zz]"), "text gamma a TO zz");
        assert_eq!(plain_words("  -alpha \"école\" 東京 "), "alpha école 東京");
        assert_eq!(plain_words(" ,;! "), "");
        let long = format!("{} nowhere", "alpha ".repeat(16));
        assert_eq!(plain_words(&long), "alpha ".repeat(16).trim_end());
    }
}
