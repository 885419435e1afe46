//! [`AccountStore`] over two journaled documents in the data directory: `users.json` and
//! `sessions.json` (each a snapshot plus `X.journal`; see `store::table`).
//!
//! Both documents live whole in memory, so reads take a read lock for a map lookup and never
//! touch the disk: they run inline. Writes append a journal line and `fdatasync` it (a few
//! milliseconds of blocking I/O), so they run on the blocking pool (`spawn_blocking`), never on
//! an async worker thread. User ids come from `next_id`, and the username check happens inside
//! the journal's writer lock, so the id and the uniqueness are decided in the same write.
//!
//! Only the SHA-256 of a token is a key here. Data directories from before that stored raw
//! tokens; [`FileAccounts::open`] hashes them and rewrites the snapshot with an empty journal
//! so no raw token stays in a file.

use super::blocking;
use crate::clock;
use crate::hub::SessionKey;
use crate::store::accounts::{token_key, AccountError, AccountStore, StoredSession, UserRecord};
use crate::store::{DataDir, Document, StoreError, Table};
use app::model::{UserId, UserInfo, Username};
use futures::future::{BoxFuture, FutureExt};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct UsersDoc {
    next_id: u64,
    /// By [`Username::key`].
    users: BTreeMap<String, StoredUser>,
}

impl Document for UsersDoc {
    /// A new account.
    type Change = StoredUser;

    fn apply(&mut self, record: StoredUser) {
        self.next_id = self.next_id.max(record.id.0);
        self.users.insert(record.username.key(), record);
    }
}

/// The stored form of a [`UserRecord`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredUser {
    id: UserId,
    username: Username,
    password_hash: String,
    created: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SessionsDoc {
    /// By the SHA-256 of the token (hex), once `hashed`; by the raw token before.
    sessions: BTreeMap<String, SessionRecord>,
    /// Whether the keys are token hashes (false only in data directories from before).
    #[serde(default)]
    hashed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SessionRecord {
    user: UserInfo,
    expires: i64,
}

#[derive(Debug, Serialize, Deserialize)]
enum SessionChange {
    /// Written by versions that stored raw tokens; still read from old journals.
    Start {
        token: String,
        session: SessionRecord,
    },
    /// Written by versions that stored raw tokens; still read from old journals.
    End { token: String },
    /// From here on keys are token hashes: converts the raw keys held so far.
    HashKeys,
    /// A new session under its key, ending the sessions in `evict` (the user's oldest).
    Begin {
        key: String,
        session: SessionRecord,
        evict: Vec<String>,
    },
    /// Ends sessions (sign-out, sign out everywhere).
    Finish { keys: Vec<String> },
}

impl Document for SessionsDoc {
    type Change = SessionChange;

    fn apply(&mut self, change: SessionChange) {
        match change {
            SessionChange::Start { token, session } => {
                self.sessions.insert(token, session);
            }
            SessionChange::End { token } => {
                self.sessions.remove(&token);
            }
            SessionChange::HashKeys => {
                if !self.hashed {
                    self.sessions = std::mem::take(&mut self.sessions)
                        .into_iter()
                        .map(|(token, session)| (token_key(&token).0.to_string(), session))
                        .collect();
                    self.hashed = true;
                }
            }
            SessionChange::Begin {
                key,
                session,
                evict,
            } => {
                for old in evict {
                    self.sessions.remove(&old);
                }
                self.sessions.insert(key, session);
            }
            SessionChange::Finish { keys } => {
                for key in keys {
                    self.sessions.remove(&key);
                }
            }
        }
    }

    /// Expired sessions are already refused; they leave with the next snapshot. (Housekeeping
    /// only, so the system clock: whether a session counts is decided by the `now` callers pass.)
    fn prune(&mut self) {
        let now = clock::now_ms();
        self.sessions.retain(|_, s| s.expires > now);
    }
}

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
        if !sessions.read().hashed {
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
        blocking(move || {
            users.update(|doc| {
                if doc.users.contains_key(&name.key()) {
                    return Err(AccountError::UsernameTaken);
                }
                let record = StoredUser {
                    id: UserId(doc.next_id + 1),
                    username: name,
                    password_hash,
                    created,
                };
                let user = UserInfo {
                    id: record.id,
                    username: record.username.clone(),
                };
                Ok((record, user))
            })
        })
        .boxed()
    }

    fn user_by_name(
        &self,
        name: &Username,
    ) -> BoxFuture<'_, Result<Option<UserRecord>, StoreError>> {
        let found = self
            .users
            .read()
            .users
            .get(&name.key())
            .map(|r| UserRecord {
                user: UserInfo {
                    id: r.id,
                    username: r.username.clone(),
                },
                password_hash: r.password_hash.clone(),
                created: r.created,
            });
        futures::future::ready(Ok(found)).boxed()
    }

    fn begin_session(
        &self,
        key: SessionKey,
        session: StoredSession,
        max_per_user: usize,
    ) -> BoxFuture<'_, Result<Vec<SessionKey>, StoreError>> {
        let sessions = self.sessions.clone();
        blocking(move || {
            let evicted = sessions.update(|doc| {
                // O(sessions) per sign-in, next to the tens of milliseconds of argon2 before it.
                let mut own: Vec<(i64, &String)> = doc
                    .sessions
                    .iter()
                    .filter(|(_, s)| s.user.id == session.user.id)
                    .map(|(key, s)| (s.expires, key))
                    .collect();
                own.sort_unstable();
                let excess = (own.len() + 1).saturating_sub(max_per_user);
                let evict: Vec<String> = own[..excess].iter().map(|(_, k)| (*k).clone()).collect();
                let change = SessionChange::Begin {
                    key: key.0.to_string(),
                    session: SessionRecord {
                        user: session.user,
                        expires: session.expires,
                    },
                    evict: evict.clone(),
                };
                Ok::<_, StoreError>((change, evict))
            })?;
            Ok(evicted
                .into_iter()
                .map(|key| SessionKey(key.into()))
                .collect())
        })
        .boxed()
    }

    fn session(
        &self,
        key: &SessionKey,
        now: i64,
    ) -> BoxFuture<'_, Result<Option<StoredSession>, StoreError>> {
        let found = self
            .sessions
            .read()
            .sessions
            .get(&*key.0)
            .filter(|s| s.expires > now)
            .map(|s| StoredSession {
                user: s.user.clone(),
                expires: s.expires,
            });
        futures::future::ready(Ok(found)).boxed()
    }

    fn end_session(&self, key: &SessionKey) -> BoxFuture<'_, Result<bool, StoreError>> {
        if !self.sessions.read().sessions.contains_key(&*key.0) {
            return futures::future::ready(Ok(false)).boxed();
        }
        let sessions = self.sessions.clone();
        let keys = vec![key.0.to_string()];
        blocking(move || {
            sessions.update(|_| Ok::<_, StoreError>((SessionChange::Finish { keys }, true)))
        })
        .boxed()
    }

    fn end_sessions_of(&self, user: UserId) -> BoxFuture<'_, Result<usize, StoreError>> {
        let sessions = self.sessions.clone();
        blocking(move || {
            sessions.update(|doc| {
                let keys: Vec<String> = doc
                    .sessions
                    .iter()
                    .filter(|(_, s)| s.user.id == user)
                    .map(|(key, _)| key.clone())
                    .collect();
                let count = keys.len();
                Ok::<_, StoreError>((SessionChange::Finish { keys }, count))
            })
        })
        .boxed()
    }
}

#[cfg(test)]
#[path = "accounts_tests.rs"]
mod tests;
