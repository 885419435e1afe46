//! The file store's [`AccountStore`](crate::store::accounts::AccountStore): the users and
//! sessions documents (`store::accounts::document`) journaled in the data directory as
//! `users.json` and `sessions.json` (each a snapshot plus `X.journal`; see `store::table`),
//! answered by [`KeptAccounts`] (written once for every backend).
//!
//! Both documents live whole in memory, so reads never touch the disk: they run inline. Writes
//! append a journal line and `fdatasync` it (a few milliseconds of blocking I/O), so they run on
//! the blocking pool, never on an async worker thread (see the `Keeper` impl in `store::file`).
//!
//! Only the SHA-256 of a token is a key here. Data directories from before that stored raw
//! tokens; [`FileAccounts::open`] hashes them and rewrites the snapshot with an empty journal
//! so no raw token stays in a file.

use crate::store::accounts::document::{SessionChange, SessionsDoc, UsersDoc};
use crate::store::accounts::kept::KeptAccounts;
use crate::store::{DataDir, StoreError, Table};
use std::sync::Arc;

/// Users and sessions in the data directory.
pub type FileAccounts = KeptAccounts<Arc<Table<UsersDoc>>, Arc<Table<SessionsDoc>>>;

impl FileAccounts {
    /// Opens (or creates) `users.json` and `sessions.json`, hashing raw tokens left by older
    /// versions. Blocking: call at start, or from the blocking pool.
    pub fn open(data: &DataDir) -> Result<Self, StoreError> {
        let sessions = Table::<SessionsDoc>::open(&data.file("sessions.json"))?;
        if !sessions.read().hashed() {
            sessions.update(|_| Ok::<_, StoreError>((SessionChange::HashKeys, ())))?;
            sessions.compact()?;
            tracing::info!("session tokens are now stored as hashes");
        }
        Ok(KeptAccounts {
            users: Arc::new(Table::open(&data.file("users.json"))?),
            sessions: Arc::new(sessions),
        })
    }

    /// Folds the sessions journal into its snapshot now (tests of what reaches the disk).
    #[cfg(test)]
    pub(crate) fn compact_sessions(&self) -> Result<(), StoreError> {
        self.sessions.compact()
    }
}

#[cfg(test)]
#[path = "accounts_tests.rs"]
mod tests;
