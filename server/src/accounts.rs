//! Accounts and sign-in sessions: who may use Minitalk, and which cookie belongs to whom.
//!
//! Passwords are stored only as argon2id hashes. A session is a random 256-bit token handed to
//! the browser in the `minitalk_session` cookie; it lasts 30 days or until sign-out, and it
//! survives restarts because every change is journaled before it is used (see `store::table`).
//!
//! Hashing is bounded: argon2 takes 19 MiB and tens of milliseconds of one core per hash, so a
//! crowd signing in at once (the load test's setup, everyone's browser after a restart) would
//! otherwise run hundreds at a time and take gigabytes. At most one hash per core runs; the rest
//! wait their turn (they are HTTP requests, themselves bounded by connections).

use crate::store::{DataDir, Document, StoreError, Table};
use app::api::ApiError;
use app::model::{UserId, UserInfo, Username};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex};

const SESSION_LIFETIME_MS: i64 = 30 * 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct UsersDoc {
    next_id: u64,
    /// By [`Username::key`].
    users: BTreeMap<String, UserRecord>,
}

impl Document for UsersDoc {
    /// A new account.
    type Change = UserRecord;

    fn apply(&mut self, record: UserRecord) {
        self.next_id = self.next_id.max(record.id.0);
        self.users.insert(record.username.key(), record);
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct UserRecord {
    id: UserId,
    username: Username,
    password_hash: String,
    created: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SessionsDoc {
    /// By token.
    sessions: BTreeMap<String, SessionRecord>,
}

#[derive(Debug, Serialize, Deserialize)]
enum SessionChange {
    Start {
        token: String,
        session: SessionRecord,
    },
    End {
        token: String,
    },
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
        }
    }

    /// Expired sessions are already refused; they leave with the next snapshot.
    fn prune(&mut self) {
        let now = crate::now_ms();
        self.sessions.retain(|_, s| s.expires > now);
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SessionRecord {
    user: UserInfo,
    expires: i64,
}

pub struct Accounts {
    users: Table<UsersDoc>,
    sessions: Table<SessionsDoc>,
    hashing: HashGate,
}

/// A counting semaphore for the blocking threads that hash passwords.
struct HashGate {
    running: Mutex<usize>,
    freed: Condvar,
    limit: usize,
}

impl HashGate {
    fn new(limit: usize) -> Self {
        Self {
            running: Mutex::new(0),
            freed: Condvar::new(),
            limit: limit.max(1),
        }
    }

    /// Runs `work` once fewer than `limit` others are running.
    fn run<T>(&self, work: impl FnOnce() -> T) -> T {
        let mut running = self.running.lock().expect("hash gate poisoned");
        while *running >= self.limit {
            running = self.freed.wait(running).expect("hash gate poisoned");
        }
        *running += 1;
        drop(running);
        let result = work();
        *self.running.lock().expect("hash gate poisoned") -= 1;
        self.freed.notify_one();
        result
    }
}

impl Accounts {
    pub fn open(data: &DataDir) -> Result<Self, StoreError> {
        Ok(Self {
            users: Table::open(&data.file("users.json"))?,
            sessions: Table::open(&data.file("sessions.json"))?,
            hashing: HashGate::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            ),
        })
    }

    /// Creates an account and signs it in. Slow on purpose (argon2): call off the async threads.
    pub fn register(
        &self,
        username: &Username,
        password: &str,
    ) -> Result<(UserInfo, String), ApiError> {
        if self.users.read().users.contains_key(&username.key()) {
            return Err(ApiError::UsernameTaken);
        }
        let hash = self.hashing.run(|| hash_password(password))?;
        let user = self.users.update(|doc| {
            if doc.users.contains_key(&username.key()) {
                return Err(ApiError::UsernameTaken);
            }
            let record = UserRecord {
                id: UserId(doc.next_id + 1),
                username: username.clone(),
                password_hash: hash,
                created: crate::now_ms(),
            };
            let user = UserInfo {
                id: record.id,
                username: record.username.clone(),
            };
            Ok((record, user))
        })?;
        let token = self.start_session(&user)?;
        Ok((user, token))
    }

    /// Checks a password and signs the account in. Slow on purpose (argon2).
    pub fn login(
        &self,
        username: &Username,
        password: &str,
    ) -> Result<(UserInfo, String), ApiError> {
        // A copy, so no lock is held for the tens of milliseconds argon2 takes.
        let record = self
            .users
            .read()
            .users
            .get(&username.key())
            .cloned()
            .ok_or(ApiError::InvalidCredentials)?;
        let hash = PasswordHash::new(&record.password_hash).map_err(|e| {
            tracing::error!(user = %record.username, "stored password hash is unreadable: {e}");
            ApiError::Internal
        })?;
        self.hashing
            .run(|| Argon2::default().verify_password(password.as_bytes(), &hash))
            .map_err(|_| ApiError::InvalidCredentials)?;
        let user = UserInfo {
            id: record.id,
            username: record.username,
        };
        let token = self.start_session(&user)?;
        Ok((user, token))
    }

    pub fn logout(&self, token: &str) -> Result<(), ApiError> {
        if !self.sessions.read().sessions.contains_key(token) {
            return Ok(());
        }
        self.sessions.update(|_| {
            let token = token.to_owned();
            Ok((SessionChange::End { token }, ()))
        })
    }

    /// The user a session token belongs to, if it is known and not expired.
    pub fn session_user(&self, token: &str) -> Option<UserInfo> {
        let sessions = self.sessions.read();
        let session = sessions.sessions.get(token)?;
        (session.expires > crate::now_ms()).then(|| session.user.clone())
    }

    fn start_session(&self, user: &UserInfo) -> Result<String, ApiError> {
        let token = random_hex::<32>();
        let now = crate::now_ms();
        self.sessions.update(|_| {
            let session = SessionRecord {
                user: user.clone(),
                expires: now + SESSION_LIFETIME_MS,
            };
            let token = token.clone();
            Ok::<_, ApiError>((SessionChange::Start { token, session }, ()))
        })?;
        Ok(token)
    }
}

fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()).map_err(|e| {
        tracing::error!("could not encode a salt: {e}");
        ApiError::Internal
    })?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| {
            tracing::error!("could not hash a password: {e}");
            ApiError::Internal
        })
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
mod tests {
    use super::*;

    fn name(raw: &str) -> Username {
        Username::parse(raw).unwrap()
    }

    #[test]
    fn names_are_unique_regardless_of_case() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::open(&DataDir::open(dir.path()).unwrap()).unwrap();
        accounts.register(&name("Ana"), "password1").unwrap();
        assert_eq!(
            accounts.register(&name("ana"), "password2").unwrap_err(),
            ApiError::UsernameTaken
        );
    }

    #[test]
    fn sessions_and_passwords_survive_a_restart_and_logout_ends_a_session() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        let (user, token) = Accounts::open(&data)
            .unwrap()
            .register(&name("ana"), "password1")
            .unwrap();
        let accounts = Accounts::open(&data).unwrap();
        assert_eq!(accounts.session_user(&token), Some(user));
        assert_eq!(
            accounts.login(&name("ANA"), "wrong-password").unwrap_err(),
            ApiError::InvalidCredentials
        );
        let (_, second) = accounts.login(&name("ANA"), "password1").unwrap();
        accounts.logout(&token).unwrap();
        assert_eq!(accounts.session_user(&token), None);
        assert!(accounts.session_user(&second).is_some());
        assert_eq!(accounts.session_user("forged"), None);
    }

    #[test]
    fn an_expired_session_is_refused_and_dropped_with_the_next_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::open(&DataDir::open(dir.path()).unwrap()).unwrap();
        let (user, live) = accounts.register(&name("ana"), "password1").unwrap();
        let expired = SessionRecord {
            user: user.clone(),
            expires: crate::now_ms() - 1,
        };
        let start = SessionChange::Start {
            token: "old".into(),
            session: expired,
        };
        accounts
            .sessions
            .update(|_| Ok::<_, StoreError>((start, ())))
            .unwrap();
        assert_eq!(accounts.session_user("old"), None);
        assert_eq!(accounts.session_user(&live), Some(user));

        let mut doc = SessionsDoc {
            sessions: accounts.sessions.read().sessions.clone(),
        };
        doc.prune();
        assert!(!doc.sessions.contains_key("old"));
        assert!(doc.sessions.contains_key(&live));
    }

    #[test]
    fn the_hash_gate_never_runs_more_than_its_limit_at_once() {
        let gate = std::sync::Arc::new(HashGate::new(2));
        let now = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (gate, now, peak) = (gate.clone(), now.clone(), peak.clone());
                std::thread::spawn(move || {
                    gate.run(|| {
                        let running = now.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        peak.fetch_max(running, std::sync::atomic::Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        now.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    })
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn password_hashes_are_argon2id_not_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        Accounts::open(&data)
            .unwrap()
            .register(&name("ana"), "password1")
            .unwrap();
        let stored = std::fs::read_to_string(data.file("users.journal")).unwrap();
        assert!(stored.contains("$argon2id$"));
        assert!(!stored.contains("password1"));
    }
}
