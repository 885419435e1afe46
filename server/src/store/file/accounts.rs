//! [`AccountStore`] over two journaled documents in the data directory: `users.json` and
//! `sessions.json` (each a snapshot plus `X.journal`; see `store::table`).
//!
//! The documents and their rules are `store::accounts::document` (shared with the in-memory
//! store); this module decides where they run. Both documents live whole in memory, so reads
//! take a read lock for a map lookup and never touch the disk: they run inline. Writes append a
//! journal line and `fdatasync` it (a few milliseconds of blocking I/O), so they run on the
//! blocking pool (`spawn_blocking`), never on an async worker thread. Each write's decision runs
//! inside the journal's writer lock ([`Table::update`]), so a new user's id and the username
//! check are decided in the same write.
//!
//! Only the SHA-256 of a token is a key here. Data directories from before that stored raw
//! tokens; [`FileAccounts::open`] hashes them and rewrites the snapshot with an empty journal
//! so no raw token stays in a file.

use super::blocking;
use crate::hub::SessionKey;
use crate::store::accounts::document::{SessionChange, SessionsDoc, UsersDoc};
use crate::store::accounts::{AccountError, AccountStore, StoredSession, UserRecord};
use crate::store::{DataDir, StoreError, Table};
use app::model::{UserId, UserInfo, Username};
use futures::future::{ready, BoxFuture, FutureExt};
use std::sync::Arc;

/// Users and sessions in the data directory.
#[derive(Clone)]
pub struct FileAccounts {
    users: Arc<Table<UsersDoc>>,
    sessions: Arc<Table<SessionsDoc>>,
}

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
        Ok(Self {
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

impl AccountStore for FileAccounts {
    fn create_user(
        &self,
        name: Username,
        password_hash: String,
        created: i64,
    ) -> BoxFuture<'_, Result<UserInfo, AccountError>> {
        let users = self.users.clone();
        blocking(move || users.update(|doc| doc.create_user(name, password_hash, created))).boxed()
    }

    fn user_by_name(
        &self,
        name: &Username,
    ) -> BoxFuture<'_, Result<Option<UserRecord>, StoreError>> {
        ready(Ok(self.users.read().user_by_name(name))).boxed()
    }

    fn begin_session(
        &self,
        key: SessionKey,
        session: StoredSession,
        max_per_user: usize,
    ) -> BoxFuture<'_, Result<Vec<SessionKey>, StoreError>> {
        let sessions = self.sessions.clone();
        blocking(move || {
            sessions.update(|doc| Ok::<_, StoreError>(doc.begin(key, session, max_per_user)))
        })
        .boxed()
    }

    fn session(
        &self,
        key: &SessionKey,
        now: i64,
    ) -> BoxFuture<'_, Result<Option<StoredSession>, StoreError>> {
        ready(Ok(self.sessions.read().session(key, now))).boxed()
    }

    fn end_session(&self, key: &SessionKey) -> BoxFuture<'_, Result<bool, StoreError>> {
        if !self.sessions.read().contains(key) {
            return ready(Ok(false)).boxed();
        }
        let sessions = self.sessions.clone();
        let key = key.clone();
        blocking(move || sessions.update(|doc| Ok::<_, StoreError>(doc.end(&key)))).boxed()
    }

    fn end_sessions_of(&self, user: UserId) -> BoxFuture<'_, Result<usize, StoreError>> {
        let sessions = self.sessions.clone();
        blocking(move || sessions.update(|doc| Ok::<_, StoreError>(doc.end_all_of(user)))).boxed()
    }
}

#[cfg(test)]
#[path = "accounts_tests.rs"]
mod tests;
