//! [`KeptAccounts`]: the [`AccountStore`] over the users and sessions documents, wherever a
//! [`Keeper`] keeps them: the file store's journaled tables (`store::file::accounts`) or memory,
//! for unit tests (`store::memory`). Written once, so both stores answer alike.
//!
//! Reads run where they are called (a read guard and a map lookup). Writes go through
//! [`Keeper::update`], which decides under the writer's lock, so a new user's id and the
//! username check are decided in the same write. Ending a session that is not stored is
//! answered from the document without a write.

use super::document::{SessionsDoc, UsersDoc};
use super::{AccountError, AccountStore, StoredSession, UserRecord};
use crate::hub::SessionKey;
use crate::store::keeper::Keeper;
use crate::store::StoreError;
use app::model::{UserId, UserInfo, Username};
use futures::future::{ready, BoxFuture, FutureExt};

/// Users kept by `U` and sessions kept by `S`.
#[derive(Clone, Default)]
pub struct KeptAccounts<U, S> {
    pub(crate) users: U,
    pub(crate) sessions: S,
}

impl<U: Keeper<UsersDoc>, S: Keeper<SessionsDoc>> AccountStore for KeptAccounts<U, S> {
    fn create_user(
        &self,
        name: Username,
        password_hash: String,
        created: i64,
    ) -> BoxFuture<'_, Result<UserInfo, AccountError>> {
        self.users
            .update(move |doc| doc.create_user(name, password_hash, created))
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
        self.sessions
            .update(move |doc| Ok::<_, StoreError>(doc.begin(key, session, max_per_user)))
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
        let key = key.clone();
        self.sessions
            .update(move |doc| Ok::<_, StoreError>(doc.end(&key)))
    }

    fn end_sessions_of(&self, user: UserId) -> BoxFuture<'_, Result<usize, StoreError>> {
        self.sessions
            .update(move |doc| Ok::<_, StoreError>(doc.end_all_of(user)))
    }
}
