//! The users document and the sessions document, and the rules that change and read them,
//! written once for every store that keeps them whole in memory.
//!
//! Why here and not in one backend: the file store (`store::file::accounts`, which journals
//! each change through `store::table`) and the in-memory store for unit tests
//! (`store::memory`) keep the same documents, and a rule written twice drifts. So each
//! write is a pure decision over the current document that returns its change (or a refusal)
//! and its answer; the backend only decides where the change is kept before
//! [`Document::apply`] runs it.
//!
//! User ids come from `next_id`, and the username check is part of the decision, so a backend
//! that decides and applies under one lock gives the id and the uniqueness in the same write.
//! Only the SHA-256 of a token is a session key; documents from before that held raw tokens
//! and are converted by [`SessionChange::HashKeys`].

use super::{token_key, AccountError, StoredSession, UserRecord};
use crate::clock;
use crate::hub::SessionKey;
use crate::store::Document;
use app::model::{UserId, UserInfo, Username};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UsersDoc {
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
pub struct StoredUser {
    id: UserId,
    username: Username,
    password_hash: String,
    created: i64,
}

impl UsersDoc {
    /// An account with the next user id, unless the name (by [`Username::key`]) is taken.
    pub(crate) fn create_user(
        &self,
        name: Username,
        password_hash: String,
        created: i64,
    ) -> Result<(StoredUser, UserInfo), AccountError> {
        if self.users.contains_key(&name.key()) {
            return Err(AccountError::UsernameTaken);
        }
        let record = StoredUser {
            id: UserId(self.next_id + 1),
            username: name,
            password_hash,
            created,
        };
        let user = UserInfo {
            id: record.id,
            username: record.username.clone(),
        };
        Ok((record, user))
    }

    /// The account whose name has the same [`Username::key`], if any.
    pub(crate) fn user_by_name(&self, name: &Username) -> Option<UserRecord> {
        self.users.get(&name.key()).map(|r| UserRecord {
            user: UserInfo {
                id: r.id,
                username: r.username.clone(),
            },
            password_hash: r.password_hash.clone(),
            created: r.created,
        })
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SessionsDoc {
    /// By the SHA-256 of the token (hex), once `hashed`; by the raw token before.
    sessions: BTreeMap<String, SessionRecord>,
    /// Whether the keys are token hashes (false only in data directories from before).
    #[serde(default)]
    hashed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    user: UserInfo,
    expires: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum SessionChange {
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

impl SessionsDoc {
    /// Whether the keys are token hashes yet (see [`SessionChange::HashKeys`]).
    pub(crate) fn hashed(&self) -> bool {
        self.hashed
    }

    /// Whether a session (live or expired) is stored under `key`.
    pub(crate) fn contains(&self, key: &SessionKey) -> bool {
        self.sessions.contains_key(&*key.0)
    }

    /// A new session under `key`, ending the user's oldest (soonest to expire) so that they
    /// hold at most `max_per_user`; the answer is the keys ended.
    pub(crate) fn begin(
        &self,
        key: SessionKey,
        session: StoredSession,
        max_per_user: usize,
    ) -> (SessionChange, Vec<SessionKey>) {
        // O(sessions) per sign-in, next to the tens of milliseconds of argon2 before it.
        let mut own: Vec<(i64, &String)> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.user.id == session.user.id)
            .map(|(key, s)| (s.expires, key))
            .collect();
        own.sort_unstable();
        let excess = (own.len() + 1).saturating_sub(max_per_user);
        let evict: Vec<String> = own[..excess].iter().map(|(_, k)| (*k).clone()).collect();
        let ended = evict
            .iter()
            .map(|k| SessionKey(k.as_str().into()))
            .collect();
        let change = SessionChange::Begin {
            key: key.0.to_string(),
            session: SessionRecord {
                user: session.user,
                expires: session.expires,
            },
            evict,
        };
        (change, ended)
    }

    /// The session under `key`, if there is one and `now < expires`.
    pub(crate) fn session(&self, key: &SessionKey, now: i64) -> Option<StoredSession> {
        self.sessions
            .get(&*key.0)
            .filter(|s| s.expires > now)
            .map(|s| StoredSession {
                user: s.user.clone(),
                expires: s.expires,
            })
    }

    /// Ends the session under `key`; the answer is whether there was one.
    pub(crate) fn end(&self, key: &SessionKey) -> (SessionChange, bool) {
        let keys = vec![key.0.to_string()];
        (SessionChange::Finish { keys }, self.contains(key))
    }

    /// Ends every session of `user`; the answer is how many there were.
    pub(crate) fn end_all_of(&self, user: UserId) -> (SessionChange, usize) {
        let keys: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.user.id == user)
            .map(|(key, _)| key.clone())
            .collect();
        let count = keys.len();
        (SessionChange::Finish { keys }, count)
    }
}
