//! The accounts service's rules, over the file store (so restarts are real).

use super::*;
use crate::ratelimit::RateLimit;
use crate::signin::SignInLimits;
use crate::store::file::accounts::FileAccounts;
use crate::store::DataDir;

fn name(raw: &str) -> Username {
    Username::parse(raw).unwrap()
}

fn gate() -> SignInGate {
    let off = RateLimit {
        per_sec: 0.0,
        burst: 0.0,
    };
    SignInGate::new(
        SignInLimits {
            per_ip: off,
            global: off,
        },
        2,
    )
}

fn with_clock(data: &DataDir, lifetime_s: u64, clock: Clock) -> Accounts {
    let store = Arc::new(FileAccounts::open(data).unwrap());
    Accounts::new(
        store,
        gate(),
        std::time::Duration::from_secs(lifetime_s),
        clock,
    )
}

fn open(data: &DataDir) -> Accounts {
    with_clock(data, 3600, Clock::system())
}

async fn user_of(accounts: &Accounts, token: &str) -> Option<UserInfo> {
    accounts.session_user(token).await.unwrap()
}

#[tokio::test]
async fn a_session_ends_when_its_lifetime_has_passed() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::open(dir.path()).unwrap();
    let clock = Clock::manual(1_000_000);
    let accounts = with_clock(&data, 60, clock.clone());
    let ana = accounts
        .register(None, &name("ana"), "password1".into())
        .await
        .unwrap();
    let key = token_key(&ana.token);
    clock.advance(59_999);
    assert_eq!(user_of(&accounts, &ana.token).await, Some(ana.user));
    assert!(accounts.is_active(&key).await.unwrap());
    clock.advance(1);
    assert_eq!(user_of(&accounts, &ana.token).await, None);
    assert!(!accounts.is_active(&key).await.unwrap());
}

#[tokio::test]
async fn names_are_unique_regardless_of_case() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = open(&DataDir::open(dir.path()).unwrap());
    accounts
        .register(None, &name("Ana"), "password1".into())
        .await
        .unwrap();
    let again = accounts
        .register(None, &name("ana"), "password2".into())
        .await;
    assert!(matches!(again, Err(AccountError::UsernameTaken)));
}

#[tokio::test]
async fn sessions_and_passwords_survive_a_restart_and_logout_ends_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::open(dir.path()).unwrap();
    let first = open(&data)
        .register(None, &name("ana"), "password1".into())
        .await
        .unwrap();
    let accounts = open(&data);
    assert_eq!(user_of(&accounts, &first.token).await, Some(first.user));
    let wrong = accounts
        .login(None, &name("ANA"), "wrong-password".into())
        .await;
    assert!(matches!(wrong, Err(AccountError::InvalidCredentials)));
    let nobody = accounts
        .login(None, &name("nobody"), "password1".into())
        .await;
    assert!(matches!(nobody, Err(AccountError::InvalidCredentials)));
    let second = accounts
        .login(None, &name("ANA"), "password1".into())
        .await
        .unwrap();
    let ended = accounts.logout(&first.token).await.unwrap();
    assert_eq!(ended, Some(token_key(&first.token)));
    assert_eq!(user_of(&accounts, &first.token).await, None);
    assert!(user_of(&accounts, &second.token).await.is_some());
    assert_eq!(user_of(&accounts, "forged").await, None);
    assert_eq!(accounts.logout("forged").await.unwrap(), None);
}

#[tokio::test]
async fn a_user_holds_at_most_the_session_cap_and_the_oldest_goes_first() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = open(&DataDir::open(dir.path()).unwrap());
    let first = accounts
        .register(None, &name("ana"), "password1".into())
        .await
        .unwrap();
    let user = first.user.clone();
    let mut tokens = vec![first.token];
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    for _ in 1..MAX_SESSIONS_PER_USER {
        let signed_in = accounts.start_session(user.clone()).await.unwrap();
        assert!(signed_in.evicted.is_empty());
        tokens.push(signed_in.token);
    }
    let one_more = accounts.start_session(user.clone()).await.unwrap();
    assert_eq!(
        one_more.evicted,
        [token_key(&tokens[0])],
        "the oldest session is ended"
    );
    assert_eq!(user_of(&accounts, &tokens[0]).await, None);
    assert!(user_of(&accounts, &tokens[1]).await.is_some());
    assert!(user_of(&accounts, &one_more.token).await.is_some());
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_of_the_user_only() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = open(&DataDir::open(dir.path()).unwrap());
    let ana = accounts
        .register(None, &name("ana"), "password1".into())
        .await
        .unwrap();
    let ana2 = accounts.start_session(ana.user.clone()).await.unwrap();
    let bob = accounts
        .register(None, &name("bob"), "password1".into())
        .await
        .unwrap();
    assert_eq!(accounts.logout_everywhere(ana.user.id).await.unwrap(), 2);
    assert_eq!(user_of(&accounts, &ana.token).await, None);
    assert_eq!(user_of(&accounts, &ana2.token).await, None);
    assert!(!accounts.is_active(&token_key(&ana.token)).await.unwrap());
    assert!(user_of(&accounts, &bob.token).await.is_some());
    assert!(accounts.is_active(&token_key(&bob.token)).await.unwrap());
}

#[tokio::test]
async fn only_hashes_of_session_tokens_and_passwords_reach_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::open(dir.path()).unwrap();
    let store = Arc::new(FileAccounts::open(&data).unwrap());
    let accounts = Accounts::new(
        store.clone(),
        gate(),
        std::time::Duration::from_secs(3600),
        Clock::system(),
    );
    let signed_in = accounts
        .register(None, &name("ana"), "password1".into())
        .await
        .unwrap();
    store.compact_sessions().unwrap();
    accounts
        .login(None, &name("ana"), "password1".into())
        .await
        .unwrap();
    let on_disk = std::fs::read_to_string(data.file("sessions.json")).unwrap()
        + &std::fs::read_to_string(data.file("sessions.journal")).unwrap();
    assert!(!on_disk.contains(&signed_in.token));
    assert!(on_disk.contains(&*token_key(&signed_in.token).0));
    let users = std::fs::read_to_string(data.file("users.journal")).unwrap();
    assert!(users.contains("$argon2id$"));
    assert!(!users.contains("password1"));
}

#[tokio::test]
async fn asking_whether_a_name_is_taken_is_rate_limited_like_a_sign_up() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::open(dir.path()).unwrap();
    let off = RateLimit {
        per_sec: 0.0,
        burst: 0.0,
    };
    let per_ip = RateLimit {
        per_sec: 0.001,
        burst: 1.0,
    };
    let gate = SignInGate::new(
        SignInLimits {
            per_ip,
            global: off,
        },
        1,
    );
    let store = Arc::new(FileAccounts::open(&data).unwrap());
    let accounts = Accounts::new(
        store,
        gate,
        std::time::Duration::from_secs(60),
        Clock::system(),
    );
    let ip: IpAddr = [10, 0, 0, 1].into();
    accounts
        .register(Some(ip), &name("ana"), "password1".into())
        .await
        .unwrap();
    let again = accounts
        .register(Some(ip), &name("ana"), "password1".into())
        .await;
    assert!(matches!(again, Err(AccountError::Busy(_))), "{again:?}");
    let login = accounts
        .login(Some(ip), &name("ana"), "password1".into())
        .await;
    assert!(matches!(login, Err(AccountError::Busy(_))), "{login:?}");
}
