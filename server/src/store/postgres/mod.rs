//! The PostgreSQL stores: accounts, rooms and the timeline as rows of one database, so that
//! several identical nodes can serve one community (`--database-url`).
//!
//! Why PostgreSQL and not a home-made replication of the file store: a chat that must survive a
//! machine going down needs a system of record that already knows how to commit, replicate and
//! be backed up; Zulip, Mattermost and Synapse run on it. Each node keeps no state of its own
//! that another node needs: every promise the file store keeps with a lock in one process is kept
//! here by the database, inside one transaction:
//!
//! - an append is one transaction per batch (group commit) and the sender's ack waits for its
//!   COMMIT ([`Durability::Commit`]: `synchronous_commit` is on for every connection);
//! - a room's seqs are dense because its `room_heads` row is locked (`FOR UPDATE`, in room id
//!   order, so two nodes appending to the same rooms cannot deadlock) and the seqs are numbered
//!   under the lock: a rollback leaves no gap, since nothing was numbered outside it;
//! - resends are found by a unique index on (sender, client_id), which holds across nodes and
//!   restarts; two nodes storing the same resend at once collide on it, and the loser's batch is
//!   retried and finds the original;
//! - a user name is unique by a unique index; a room quota is counted under a per-user advisory
//!   lock in the same transaction as the insert.
//!
//! The schema is in `migrations/`, applied at start by sqlx's migrator, which holds a PostgreSQL
//! advisory lock while it runs, so nodes starting at once apply each migration once.
//!
//! Why sqlx: a pure-Rust, async driver with a connection pool and a migration tool in one
//! well-kept crate (no C library, no second runtime). Its compile-time checked queries are not
//! used (they need a database at build time); queries are plain strings, checked by the contract
//! suite, which runs against a private cluster (`scratch`).

mod accounts;
mod messages;
mod rooms;
pub mod scratch;
mod search;
#[cfg(test)]
mod tests;

pub use accounts::{users_by_id, PgAccounts};
pub use messages::PgMessageStore;
pub use rooms::PgRooms;
pub use search::{PgSearch, SearchRefusal};

use super::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Executor;
use std::str::FromStr;
use std::time::Duration;

/// The schema, embedded in the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/store/postgres/migrations");

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// `postgres://user@host:port/database`.
    pub url: String,
    /// Most connections this node holds open: appends take one per batch, reads one each.
    pub pool_size: u32,
}

/// The three stores of one database, sharing one pool.
pub struct PgStores {
    pub messages: PgMessageStore,
    pub accounts: PgAccounts,
    pub rooms: PgRooms,
    pub pool: PgPool,
    /// This node's name in its notifications (random at each start), so that it can pass over
    /// its own.
    pub node: NodeId,
}

/// A node's name on the cross-node bus: 16 hex digits, new at every start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeId(pub String);

impl NodeId {
    pub fn random() -> Self {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).expect("the system's random source");
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// The channel on which every append announces, inside its transaction, the seqs it stored:
/// `NODE ROOM:FROM:TO ...` (see `bus::postgres`).
pub const STORED_CHANNEL: &str = "minitalk_stored";

impl PgStores {
    /// Connects, applies the migrations (under the migrator's advisory lock), and hands out the
    /// stores.
    pub async fn open(config: &PgConfig) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(&config.url)
            .map_err(|e| StoreError::Database(format!("bad database URL: {e}")))?
            .application_name("minitalk");
        let pool = PgPoolOptions::new()
            .max_connections(config.pool_size.max(2))
            .acquire_timeout(Duration::from_secs(10))
            // An ack means committed and flushed here, whatever the server's default is.
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET synchronous_commit = on").await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(format!("migrations: {e}")))?;
        let node = NodeId::random();
        Ok(Self {
            messages: PgMessageStore::new(pool.clone(), node.clone()),
            accounts: PgAccounts::new(pool.clone()),
            rooms: PgRooms::new(pool.clone()),
            pool,
            node,
        })
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::Database(err.to_string())
    }
}

/// Whether `err` is PostgreSQL's `code` (see the SQLSTATE appendix of its manual).
fn is_code(err: &sqlx::Error, code: &str) -> bool {
    err.as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|c| c == code)
}

/// A unique index refused a row.
const UNIQUE_VIOLATION: &str = "23505";
/// Two transactions waited on each other; PostgreSQL ended this one.
const DEADLOCK: &str = "40P01";

/// `u64` ids and seqs as PostgreSQL's `bigint`: every value Minitalk makes is far below 2^63.
pub(crate) fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A `bigint` read back as the `u64` it was written from.
pub(crate) fn small(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
