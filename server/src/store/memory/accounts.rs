//! [`AccountStore`] in a mutex-guarded map: for unit tests of the `accounts` service.

use crate::hub::SessionKey;
use crate::store::accounts::{AccountError, AccountStore, StoredSession, UserRecord};
use crate::store::StoreError;
use app::model::{UserId, UserInfo, Username};
use futures::future::{ready, BoxFuture, FutureExt};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
struct State {
    next_id: u64,
    /// By [`Username::key`].
    users: HashMap<String, UserRecord>,
    sessions: HashMap<SessionKey, StoredSession>,
}

#[derive(Default)]
pub struct MemoryAccounts(Mutex<State>);

impl MemoryAccounts {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.0.lock().expect("memory store lock poisoned"))
    }
}

impl AccountStore for MemoryAccounts {
    fn create_user(
        &self,
        name: Username,
        password_hash: String,
        created: i64,
    ) -> BoxFuture<'_, Result<UserInfo, AccountError>> {
        let result = self.with(|state| {
            if state.users.contains_key(&name.key()) {
                return Err(AccountError::UsernameTaken);
            }
            state.next_id += 1;
            let user = UserInfo {
                id: UserId(state.next_id),
                username: name,
            };
            let record = UserRecord {
                user: user.clone(),
                password_hash,
                created,
            };
            state.users.insert(user.username.key(), record);
            Ok(user)
        });
        ready(result).boxed()
    }

    fn user_by_name(
        &self,
        name: &Username,
    ) -> BoxFuture<'_, Result<Option<UserRecord>, StoreError>> {
        let found = self.with(|state| state.users.get(&name.key()).cloned());
        ready(Ok(found)).boxed()
    }

    fn begin_session(
        &self,
        key: SessionKey,
        session: StoredSession,
        max_per_user: usize,
    ) -> BoxFuture<'_, Result<Vec<SessionKey>, StoreError>> {
        let evicted = self.with(|state| {
            let mut own: Vec<(i64, SessionKey)> = state
                .sessions
                .iter()
                .filter(|(_, s)| s.user.id == session.user.id)
                .map(|(k, s)| (s.expires, k.clone()))
                .collect();
            own.sort_unstable_by(|(a, ka), (b, kb)| a.cmp(b).then_with(|| ka.0.cmp(&kb.0)));
            let excess = (own.len() + 1).saturating_sub(max_per_user);
            let evict: Vec<SessionKey> = own.drain(..excess).map(|(_, k)| k).collect();
            for old in &evict {
                state.sessions.remove(old);
            }
            state.sessions.insert(key, session);
            evict
        });
        ready(Ok(evicted)).boxed()
    }

    fn session(
        &self,
        key: &SessionKey,
        now: i64,
    ) -> BoxFuture<'_, Result<Option<StoredSession>, StoreError>> {
        let found = self.with(|state| state.sessions.get(key).filter(|s| s.expires > now).cloned());
        ready(Ok(found)).boxed()
    }

    fn end_session(&self, key: &SessionKey) -> BoxFuture<'_, Result<bool, StoreError>> {
        let ended = self.with(|state| state.sessions.remove(key).is_some());
        ready(Ok(ended)).boxed()
    }

    fn end_sessions_of(&self, user: UserId) -> BoxFuture<'_, Result<usize, StoreError>> {
        let count = self.with(|state| {
            let before = state.sessions.len();
            state.sessions.retain(|_, s| s.user.id != user);
            before - state.sessions.len()
        });
        ready(Ok(count)).boxed()
    }
}
