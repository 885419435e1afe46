//! Accounts and sign-in sessions: who may use Minitalk, and which cookie belongs to whom.
//!
//! Passwords are stored only as argon2id hashes. A session is a random 256-bit token handed to
//! the browser in the session cookie; it lasts `--session-days` (30 by default) or until sign-out, and it survives
//! restarts because every change is journaled before it is used (see `store::table`).
//!
//! Only the SHA-256 of a token is stored (its [`SessionKey`]): someone who reads the data
//! directory or a backup learns no token they could present. A token has 256 bits of entropy,
//! so an unsalted fast hash is enough (there is nothing to brute-force). Data directories from
//! before this are migrated on open, and the migration rewrites the snapshot and empties the
//! journal so no raw token stays in a file.
//!
//! A user holds at most [`MAX_SESSIONS_PER_USER`] sessions: signing in once more ends the
//! oldest (whose sockets the caller then closes). "Sign out everywhere" ends them all.
//!
//! Password work (argon2: 19 MiB and tens of milliseconds of one core per hash) is admitted by
//! `signin`, not here: these functions are blocking and run where they are sent.

use crate::clock::{self, Clock};
use crate::hub::SessionKey;
use crate::store::{DataDir, Document, StoreError, Table};
use app::api::ApiError;
use app::model::{UserId, UserInfo, Username};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Sessions one user may hold; signing in once more ends the oldest.
pub const MAX_SESSIONS_PER_USER: usize = 20;

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
    /// By the SHA-256 of the token (hex), once `hashed`; by the raw token before.
    sessions: BTreeMap<String, SessionRecord>,
    /// Whether the keys are token hashes (false only in data directories from before).
    #[serde(default)]
    hashed: bool,
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
                        .map(|(token, session)| (key_of(&token), session))
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

    /// Expired sessions are already refused; they leave with the next snapshot.
    fn prune(&mut self) {
        let now = clock::now_ms();
        self.sessions.retain(|_, s| s.expires > now);
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SessionRecord {
    user: UserInfo,
    expires: i64,
}

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

/// The stored form of a token: its SHA-256, in hex.
fn key_of(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub struct Accounts {
    users: Table<UsersDoc>,
    sessions: Table<SessionsDoc>,
    /// How long a session lasts from sign-in (`--session-days`).
    lifetime_ms: i64,
    /// When sessions begin and end.
    clock: Clock,
}

impl Accounts {
    pub fn open(
        data: &DataDir,
        lifetime: std::time::Duration,
        clock: Clock,
    ) -> Result<Self, StoreError> {
        let sessions = Table::<SessionsDoc>::open(&data.file("sessions.json"))?;
        if !sessions.read().hashed {
            sessions.update(|_| Ok::<_, StoreError>((SessionChange::HashKeys, ())))?;
            sessions.compact()?;
            tracing::info!("session tokens are now stored as hashes");
        }
        Ok(Self {
            users: Table::open(&data.file("users.json"))?,
            sessions,
            lifetime_ms: i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX),
            clock,
        })
    }

    /// Creates an account and signs it in. Slow on purpose (argon2): call off the async threads.
    pub fn register(&self, username: &Username, password: &str) -> Result<SignedIn, ApiError> {
        if self.users.read().users.contains_key(&username.key()) {
            return Err(ApiError::UsernameTaken);
        }
        let hash = hash_password(password)?;
        let user = self.users.update(|doc| {
            if doc.users.contains_key(&username.key()) {
                return Err(ApiError::UsernameTaken);
            }
            let record = UserRecord {
                id: UserId(doc.next_id + 1),
                username: username.clone(),
                password_hash: hash,
                created: self.clock.now_ms(),
            };
            let user = UserInfo {
                id: record.id,
                username: record.username.clone(),
            };
            Ok((record, user))
        })?;
        self.start_session(user)
    }

    /// Checks a password and signs the account in. Slow on purpose (argon2), and as slow for an
    /// unknown username as for a wrong password, so timing does not tell which names exist.
    pub fn login(&self, username: &Username, password: &str) -> Result<SignedIn, ApiError> {
        // A copy, so no lock is held for the tens of milliseconds argon2 takes.
        let record = self.users.read().users.get(&username.key()).cloned();
        let Some(record) = record else {
            if let Ok(hash) = PasswordHash::new(dummy_hash()) {
                let _same_cost = verify(&hash, password);
            }
            return Err(ApiError::InvalidCredentials);
        };
        let hash = PasswordHash::new(&record.password_hash).map_err(|e| {
            tracing::error!(user = %record.username, "stored password hash is unreadable: {e}");
            ApiError::Internal
        })?;
        if !verify(&hash, password) {
            return Err(ApiError::InvalidCredentials);
        }
        self.start_session(UserInfo {
            id: record.id,
            username: record.username,
        })
    }

    /// Ends the session of `token`; returns its key when there was one.
    pub fn logout(&self, token: &str) -> Result<Option<SessionKey>, ApiError> {
        let key = key_of(token);
        if !self.sessions.read().sessions.contains_key(&key) {
            return Ok(None);
        }
        let keys = vec![key.clone()];
        self.sessions
            .update(|_| Ok::<_, ApiError>((SessionChange::Finish { keys }, ())))?;
        Ok(Some(SessionKey(key.into())))
    }

    /// Ends every session of `user`; returns how many there were.
    pub fn logout_everywhere(&self, user: UserId) -> Result<usize, ApiError> {
        self.sessions.update(|doc| {
            let keys: Vec<String> = doc
                .sessions
                .iter()
                .filter(|(_, s)| s.user.id == user)
                .map(|(key, _)| key.clone())
                .collect();
            let count = keys.len();
            Ok::<_, ApiError>((SessionChange::Finish { keys }, count))
        })
    }

    /// The session a token belongs to, if it is known and not expired.
    pub fn session(&self, token: &str) -> Option<Session> {
        let key = key_of(token);
        let sessions = self.sessions.read();
        let session = sessions.sessions.get(&key)?;
        (session.expires > self.clock.now_ms()).then(|| Session {
            user: session.user.clone(),
            key: SessionKey(key.into()),
            expires: session.expires,
        })
    }

    /// Whether the session stored under `key` is known and not expired.
    pub fn is_active(&self, key: &SessionKey) -> bool {
        let sessions = self.sessions.read();
        sessions
            .sessions
            .get(&*key.0)
            .is_some_and(|s| s.expires > self.clock.now_ms())
    }

    /// The user a session token belongs to, if it is known and not expired.
    pub fn session_user(&self, token: &str) -> Option<UserInfo> {
        self.session(token).map(|s| s.user)
    }

    fn start_session(&self, user: UserInfo) -> Result<SignedIn, ApiError> {
        let token = random_hex::<32>();
        let key = key_of(&token);
        let now = self.clock.now_ms();
        let evicted = self.sessions.update(|doc| {
            // O(sessions) per sign-in, next to the tens of milliseconds of argon2 before it.
            let mut own: Vec<(i64, &String)> = doc
                .sessions
                .iter()
                .filter(|(_, s)| s.user.id == user.id)
                .map(|(key, s)| (s.expires, key))
                .collect();
            own.sort_unstable();
            let excess = (own.len() + 1).saturating_sub(MAX_SESSIONS_PER_USER);
            let evict: Vec<String> = own[..excess].iter().map(|(_, k)| (*k).clone()).collect();
            let change = SessionChange::Begin {
                key,
                session: SessionRecord {
                    user: user.clone(),
                    expires: now.saturating_add(self.lifetime_ms),
                },
                evict: evict.clone(),
            };
            Ok::<_, ApiError>((change, evict))
        })?;
        Ok(SignedIn {
            user,
            token,
            evicted: evicted
                .into_iter()
                .map(|key| SessionKey(key.into()))
                .collect(),
        })
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

    fn open(data: &DataDir) -> Accounts {
        Accounts::open(data, std::time::Duration::from_secs(3600), Clock::system()).unwrap()
    }

    #[test]
    fn a_session_ends_when_its_lifetime_has_passed() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        let clock = Clock::manual(1_000_000);
        let accounts =
            Accounts::open(&data, std::time::Duration::from_secs(60), clock.clone()).unwrap();
        let ana = accounts.register(&name("ana"), "password1").unwrap();
        clock.advance(59_999);
        assert_eq!(accounts.session_user(&ana.token), Some(ana.user));
        clock.advance(1);
        assert_eq!(accounts.session_user(&ana.token), None);
    }

    #[test]
    fn names_are_unique_regardless_of_case() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = open(&DataDir::open(dir.path()).unwrap());
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
        let first = open(&data).register(&name("ana"), "password1").unwrap();
        let accounts = open(&data);
        assert_eq!(accounts.session_user(&first.token), Some(first.user));
        assert_eq!(
            accounts.login(&name("ANA"), "wrong-password").unwrap_err(),
            ApiError::InvalidCredentials
        );
        assert_eq!(
            accounts.login(&name("nobody"), "password1").unwrap_err(),
            ApiError::InvalidCredentials
        );
        let second = accounts.login(&name("ANA"), "password1").unwrap();
        let ended = accounts.logout(&first.token).unwrap();
        assert_eq!(ended, Some(SessionKey(key_of(&first.token).into())));
        assert_eq!(accounts.session_user(&first.token), None);
        assert!(accounts.session_user(&second.token).is_some());
        assert_eq!(accounts.session_user("forged"), None);
        assert_eq!(accounts.logout("forged").unwrap(), None);
    }

    #[test]
    fn only_hashes_of_session_tokens_reach_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        let accounts = open(&data);
        let signed_in = accounts.register(&name("ana"), "password1").unwrap();
        accounts.sessions.compact().unwrap();
        accounts.login(&name("ana"), "password1").unwrap();
        let on_disk = std::fs::read_to_string(data.file("sessions.json")).unwrap()
            + &std::fs::read_to_string(data.file("sessions.journal")).unwrap();
        assert!(!on_disk.contains(&signed_in.token));
        assert!(on_disk.contains(&key_of(&signed_in.token)));
    }

    #[test]
    fn raw_tokens_of_an_old_data_dir_are_hashed_on_open_and_keep_working() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        let token = "a".repeat(64);
        // What a version that stored raw tokens left: a snapshot and a journal line.
        std::fs::write(
            data.file("sessions.json"),
            format!(
                r#"{{"through":0,"doc":{{"sessions":{{"{token}":{{"user":{{"id":1,"username":"ana"}},"expires":{}}}}}}}}}"#,
                i64::MAX
            ),
        )
        .unwrap();
        std::fs::write(
            data.file("sessions.journal"),
            format!(
                r#"{{"n":1,"change":{{"Start":{{"token":"{}","session":{{"user":{{"id":2,"username":"bob"}},"expires":{}}}}}}}}}"#,
                "b".repeat(64),
                i64::MAX
            ) + "\n",
        )
        .unwrap();
        let accounts = open(&data);
        assert_eq!(
            accounts.session_user(&token).unwrap().username.as_str(),
            "ana"
        );
        assert_eq!(
            accounts
                .session_user(&"b".repeat(64))
                .unwrap()
                .username
                .as_str(),
            "bob"
        );
        for file in ["sessions.json", "sessions.journal"] {
            let text = std::fs::read_to_string(data.file(file)).unwrap();
            assert!(
                !text.contains(&token) && !text.contains(&"b".repeat(64)),
                "{file}: {text}"
            );
        }
        drop(accounts);
        assert!(open(&data).session_user(&token).is_some());
    }

    #[test]
    fn a_user_holds_at_most_the_session_cap_and_the_oldest_goes_first() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = open(&DataDir::open(dir.path()).unwrap());
        let first = accounts.register(&name("ana"), "password1").unwrap();
        let user = first.user.clone();
        let mut tokens = vec![first.token];
        std::thread::sleep(std::time::Duration::from_millis(2));
        for _ in 1..MAX_SESSIONS_PER_USER {
            let signed_in = accounts.start_session(user.clone()).unwrap();
            assert!(signed_in.evicted.is_empty());
            tokens.push(signed_in.token);
        }
        let one_more = accounts.start_session(user.clone()).unwrap();
        assert_eq!(
            one_more.evicted,
            [SessionKey(key_of(&tokens[0]).into())],
            "the oldest session is ended"
        );
        assert_eq!(accounts.session_user(&tokens[0]), None);
        assert!(accounts.session_user(&tokens[1]).is_some());
        assert!(accounts.session_user(&one_more.token).is_some());
    }

    #[test]
    fn signing_out_everywhere_ends_every_session_of_the_user_only() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = open(&DataDir::open(dir.path()).unwrap());
        let ana = accounts.register(&name("ana"), "password1").unwrap();
        let ana2 = accounts.start_session(ana.user.clone()).unwrap();
        let bob = accounts.register(&name("bob"), "password1").unwrap();
        assert_eq!(accounts.logout_everywhere(ana.user.id).unwrap(), 2);
        assert_eq!(accounts.session_user(&ana.token), None);
        assert_eq!(accounts.session_user(&ana2.token), None);
        assert!(!accounts.is_active(&SessionKey(key_of(&ana.token).into())));
        assert!(accounts.session_user(&bob.token).is_some());
        assert!(accounts.is_active(&SessionKey(key_of(&bob.token).into())));
    }

    #[test]
    fn an_expired_session_is_refused_and_dropped_with_the_next_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = open(&DataDir::open(dir.path()).unwrap());
        let live = accounts.register(&name("ana"), "password1").unwrap();
        let expired = SessionChange::Begin {
            key: key_of("old"),
            session: SessionRecord {
                user: live.user.clone(),
                expires: clock::now_ms() - 1,
            },
            evict: Vec::new(),
        };
        accounts
            .sessions
            .update(|_| Ok::<_, StoreError>((expired, ())))
            .unwrap();
        assert_eq!(accounts.session_user("old"), None);
        assert!(!accounts.is_active(&SessionKey(key_of("old").into())));
        assert!(accounts.is_active(&SessionKey(key_of(&live.token).into())));
        assert_eq!(accounts.session_user(&live.token), Some(live.user));

        let mut doc = accounts.sessions.read().clone();
        doc.prune();
        assert!(!doc.sessions.contains_key(&key_of("old")));
        assert!(doc.sessions.contains_key(&key_of(&live.token)));
    }

    #[test]
    fn password_hashes_are_argon2id_not_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        open(&data).register(&name("ana"), "password1").unwrap();
        let stored = std::fs::read_to_string(data.file("users.journal")).unwrap();
        assert!(stored.contains("$argon2id$"));
        assert!(!stored.contains("password1"));
    }
}
