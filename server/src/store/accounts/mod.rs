//! The account store: users and their sign-in sessions, as any backend keeps them.
//!
//! Why a trait: the rules (argon2, token generation, how long a session lasts) live in the
//! `accounts` service and do not change with the backend; what does change is where users and
//! sessions are kept and how a write is made durable. The embedded file store
//! (`store::file::accounts`) is the default; `store::memory` serves unit tests; a
//! database would be a third. `store::contract` is the suite each must pass.
//!
//! Promises every implementation keeps:
//! - user ids are assigned by the store, unique and increasing;
//! - usernames are unique by [`Username::key`] (ignoring ASCII case), checked atomically with
//!   the insert: two concurrent sign-ups for one name give one account and one
//!   [`AccountError::UsernameTaken`];
//! - a session is stored under its [`SessionKey`] (the SHA-256 of the token; the token itself
//!   never reaches the store) and is found only while `now < expires`;
//! - [`AccountStore::begin_session`] keeps a user at `max_per_user` sessions by ending their
//!   oldest (soonest to expire) in the same write;
//! - an `Ok` write is durable as the backend defines it (for the file store: journaled and
//!   fdatasync'ed) and visible to every later read.
//!
//! Methods return owned data and never a lock guard. Every method is async and object-safe
//! (`BoxFuture`, from `futures`, already a dependency): a backend that talks to a database awaits
//! it, and one that writes files blocks only its own blocking threads.
//!
//! The stores that keep users and sessions whole in memory (the file store and the in-memory
//! one) share one copy of the rules above, in [`document`].

pub mod document;
pub mod kept;

use super::StoreError;
use crate::hub::SessionKey;
use app::api::ApiError;
use app::model::{UserId, UserInfo, Username};
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};

/// The key a session token is stored under: its SHA-256, in hex. The token itself never
/// reaches a store.
pub fn token_key(token: &str) -> SessionKey {
    let hex: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    SessionKey(hex.into())
}

/// A stored account: who, and the argon2 hash of their password (PHC string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub user: UserInfo,
    pub password_hash: String,
    /// Milliseconds since the epoch.
    pub created: i64,
}

/// A stored session: whose, and until when (ms since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub user: UserInfo,
    pub expires: i64,
}

/// What can go wrong with accounts and sessions.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("username taken")]
    UsernameTaken,
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Password hashing or a stored hash failed; the cause is logged where it happened.
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// The sign-in gate refused the password work (see `signin`); retry after the seconds.
    #[error("too many sign-ins; try again in {0} s")]
    Busy(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<AccountError> for ApiError {
    fn from(err: AccountError) -> Self {
        match err {
            AccountError::UsernameTaken => ApiError::UsernameTaken,
            AccountError::InvalidCredentials => ApiError::InvalidCredentials,
            AccountError::Busy(secs) => ApiError::RateLimited(secs),
            AccountError::Hashing(reason) => {
                tracing::error!("password hashing: {reason}");
                ApiError::Internal
            }
            AccountError::Store(err) => err.into(),
        }
    }
}

pub trait AccountStore: Send + Sync + 'static {
    /// Creates an account with the next user id, or [`AccountError::UsernameTaken`].
    fn create_user(
        &self,
        name: Username,
        password_hash: String,
        created: i64,
    ) -> BoxFuture<'_, Result<UserInfo, AccountError>>;

    /// The account whose name has the same [`Username::key`], if any.
    fn user_by_name(
        &self,
        name: &Username,
    ) -> BoxFuture<'_, Result<Option<UserRecord>, StoreError>>;

    /// Stores a session under `key`. If `user` then holds more than `max_per_user`, their oldest
    /// are ended in the same write; returns those keys (their sockets must be closed).
    fn begin_session(
        &self,
        key: SessionKey,
        session: StoredSession,
        max_per_user: usize,
    ) -> BoxFuture<'_, Result<Vec<SessionKey>, StoreError>>;

    /// The session under `key`, if there is one and `now < expires`.
    fn session(
        &self,
        key: &SessionKey,
        now: i64,
    ) -> BoxFuture<'_, Result<Option<StoredSession>, StoreError>>;

    /// Ends the session under `key`; returns whether there was one.
    fn end_session(&self, key: &SessionKey) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// Ends every session of `user`; returns how many there were.
    fn end_sessions_of(&self, user: UserId) -> BoxFuture<'_, Result<usize, StoreError>>;
}
