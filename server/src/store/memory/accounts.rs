//! [`AccountStore`] over the users and sessions documents in memory: for unit tests of the
//! `accounts` service. The rules are the file store's (`store::accounts::document`); only the
//! journal is missing.

use super::MemoryTable;
use crate::hub::SessionKey;
use crate::store::accounts::document::{SessionsDoc, UsersDoc};
use crate::store::accounts::{AccountError, AccountStore, StoredSession, UserRecord};
use crate::store::StoreError;
use app::model::{UserId, UserInfo, Username};
use futures::future::{ready, BoxFuture, FutureExt};

#[derive(Default)]
pub struct MemoryAccounts {
    users: MemoryTable<UsersDoc>,
    sessions: MemoryTable<SessionsDoc>,
}

impl AccountStore for MemoryAccounts {
    fn create_user(
        &self,
        name: Username,
        password_hash: String,
        created: i64,
    ) -> BoxFuture<'_, Result<UserInfo, AccountError>> {
        let created = self
            .users
            .update(|doc| doc.create_user(name, password_hash, created));
        ready(created).boxed()
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
        let begun = self
            .sessions
            .update(|doc| Ok(doc.begin(key, session, max_per_user)));
        ready(begun).boxed()
    }

    fn session(
        &self,
        key: &SessionKey,
        now: i64,
    ) -> BoxFuture<'_, Result<Option<StoredSession>, StoreError>> {
        ready(Ok(self.sessions.read().session(key, now))).boxed()
    }

    fn end_session(&self, key: &SessionKey) -> BoxFuture<'_, Result<bool, StoreError>> {
        ready(self.sessions.update(|doc| Ok(doc.end(key)))).boxed()
    }

    fn end_sessions_of(&self, user: UserId) -> BoxFuture<'_, Result<usize, StoreError>> {
        ready(self.sessions.update(|doc| Ok(doc.end_all_of(user)))).boxed()
    }
}
