//! Accounts and sign-in sessions: who may use Minitalk, and which cookie belongs to whom.
//!
//! This is the service that keeps the rules; where users and sessions are kept is an
//! [`AccountStore`] (the file store by default). The rules:
//! - passwords are stored only as argon2id hashes, and the hashing (19 MiB and tens of
//!   milliseconds of one core) runs through the sign-in gate (`signin`): admitted per address
//!   and globally, then on the blocking pool, never on an async worker thread;
//! - a session is a random 256-bit token handed to the browser in the session cookie; it lasts
//!   `--session-days` (30 by default) or until sign-out, read through the injectable [`Clock`];
//! - only the SHA-256 of a token (its [`SessionKey`]) reaches the store: someone who reads the
//!   data directory or a backup learns no token they could present. A token has 256 bits of
//!   entropy, so an unsalted fast hash is enough (there is nothing to brute-force);
//! - a user holds at most [`MAX_SESSIONS_PER_USER`] sessions: signing in once more ends the
//!   oldest (whose sockets the caller then closes). "Sign out everywhere" ends them all;
//! - an unknown username costs the same argon2 work as a wrong password, so timing does not
//!   tell which names exist.

use crate::clock::Clock;
use crate::hub::SessionKey;
use crate::signin::SignInGate;
use crate::store::accounts::{token_key, AccountError, AccountStore, StoredSession};
use app::api::ApiError;
use app::model::{UserId, UserInfo, Username};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

/// Sessions one user may hold; signing in once more ends the oldest.
pub const MAX_SESSIONS_PER_USER: usize = 20;

/// A valid session: who, which one, and until when (ms since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: UserInfo,
    pub key: SessionKey,
    pub expires: i64,
}

/// A new sign-in: the token for the cookie, and the sessions it ended to stay within
/// [`MAX_SESSIONS_PER_USER`] (their sockets must be closed).
#[derive(Debug)]
pub struct SignedIn {
    pub user: UserInfo,
    pub token: String,
    pub evicted: Vec<SessionKey>,
}

pub struct Accounts {
    store: Arc<dyn AccountStore>,
    /// Admits and schedules password work.
    gate: SignInGate,
    /// How long a session lasts from sign-in (`--session-days`).
    lifetime_ms: i64,
    /// When sessions begin and end.
    clock: Clock,
}

impl Accounts {
    pub fn new(
        store: Arc<dyn AccountStore>,
        gate: SignInGate,
        lifetime: std::time::Duration,
        clock: Clock,
    ) -> Self {
        Self {
            store,
            gate,
            lifetime_ms: i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX),
            clock,
        }
    }

    /// Creates an account and signs it in. The hash runs through the sign-in gate.
    pub async fn register(
        &self,
        peer: Option<IpAddr>,
        username: &Username,
        password: String,
    ) -> Result<SignedIn, AccountError> {
        // Admission first, so a cheap "is the name taken?" is rate-limited like a sign-up.
        self.gate.admit(peer).map_err(refused)?;
        if self.store.user_by_name(username).await?.is_some() {
            return Err(AccountError::UsernameTaken);
        }
        let hash = self.password_work(move || hash_password(&password)).await?;
        let user = self
            .store
            .create_user(username.clone(), hash, self.clock.now_ms())
            .await?;
        self.start_session(user).await
    }

    /// Checks a password and signs the account in; as slow for an unknown username as for a
    /// wrong password.
    pub async fn login(
        &self,
        peer: Option<IpAddr>,
        username: &Username,
        password: String,
    ) -> Result<SignedIn, AccountError> {
        self.gate.admit(peer).map_err(refused)?;
        let record = self.store.user_by_name(username).await?;
        let stored = record.as_ref().map(|r| r.password_hash.clone());
        let name = username.clone();
        let matches = self
            .password_work(move || match stored {
                Some(stored) => {
                    let hash = PasswordHash::new(&stored).map_err(|e| {
                        tracing::error!(user = %name, "stored password hash is unreadable: {e}");
                        AccountError::Hashing(e.to_string())
                    })?;
                    Ok(verify(&hash, &password))
                }
                None => {
                    if let Ok(hash) = PasswordHash::new(dummy_hash()) {
                        let _same_cost = verify(&hash, &password);
                    }
                    Ok(false)
                }
            })
            .await?;
        match (record, matches) {
            (Some(record), true) => self.start_session(record.user).await,
            _ => Err(AccountError::InvalidCredentials),
        }
    }

    /// Ends the session of `token`; returns its key when there was one.
    pub async fn logout(&self, token: &str) -> Result<Option<SessionKey>, AccountError> {
        let key = token_key(token);
        Ok(self.store.end_session(&key).await?.then_some(key))
    }

    /// Ends every session of `user`; returns how many there were.
    pub async fn logout_everywhere(&self, user: UserId) -> Result<usize, AccountError> {
        Ok(self.store.end_sessions_of(user).await?)
    }

    /// The session a token belongs to, if it is known and not expired.
    pub async fn session(&self, token: &str) -> Result<Option<Session>, AccountError> {
        let key = token_key(token);
        let found = self.store.session(&key, self.clock.now_ms()).await?;
        Ok(found.map(|s| Session {
            user: s.user,
            key,
            expires: s.expires,
        }))
    }

    /// Whether the sign-in stored under `key` is known and not expired: what a live socket
    /// asks again when the bus says events may have been lost.
    pub async fn is_active(&self, key: &SessionKey) -> Result<bool, AccountError> {
        let found = self.store.session(key, self.clock.now_ms()).await?;
        Ok(found.is_some())
    }

    /// The user a session token belongs to, if it is known and not expired.
    pub async fn session_user(&self, token: &str) -> Result<Option<UserInfo>, AccountError> {
        Ok(self.session(token).await?.map(|s| s.user))
    }

    /// The account named `name` (ignoring case), if there is one: whom to invite or write to.
    pub async fn find(&self, name: &Username) -> Result<Option<UserInfo>, AccountError> {
        Ok(self
            .store
            .user_by_name(name)
            .await?
            .map(|record| record.user))
    }

    async fn start_session(&self, user: UserInfo) -> Result<SignedIn, AccountError> {
        let token = random_hex::<32>();
        let session = StoredSession {
            user: user.clone(),
            expires: self.clock.now_ms().saturating_add(self.lifetime_ms),
        };
        let evicted = self
            .store
            .begin_session(token_key(&token), session, MAX_SESSIONS_PER_USER)
            .await?;
        Ok(SignedIn {
            user,
            token,
            evicted,
        })
    }

    /// Runs password work on the sign-in gate's hashing permits, on the blocking pool. The
    /// caller has been admitted ([`SignInGate::admit`]) already.
    async fn password_work<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, AccountError> + Send + 'static,
    ) -> Result<T, AccountError> {
        self.gate.hash(move || Ok(work())).await.map_err(refused)?
    }
}

/// The sign-in gate's refusal, as an account error.
fn refused(err: ApiError) -> AccountError {
    match err {
        ApiError::RateLimited(secs) => AccountError::Busy(secs),
        other => AccountError::Hashing(other.to_string()),
    }
}

fn verify(hash: &PasswordHash<'_>, password: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A hash no password matches, to spend on unknown usernames the time a real check takes.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        hash_password(&random_hex::<16>()).expect("hashing a random password works")
    })
}

fn hash_password(password: &str) -> Result<String, AccountError> {
    let salt = SaltString::encode_b64(&random_bytes::<16>())
        .map_err(|e| AccountError::Hashing(format!("could not encode a salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AccountError::Hashing(format!("could not hash a password: {e}")))
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    bytes
}

fn random_hex<const N: usize>() -> String {
    random_bytes::<N>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
#[path = "accounts_tests.rs"]
mod tests;
