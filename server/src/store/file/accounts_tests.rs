//! What the file account store keeps on disk, and data directories from older versions.

use super::*;
use crate::clock;
use crate::hub::SessionKey;
use crate::store::accounts::token_key;
use crate::store::accounts::{AccountStore, StoredSession};
use crate::store::Document;
use app::model::{UserId, UserInfo, Username};

#[tokio::test]
async fn raw_tokens_of_an_old_data_dir_are_hashed_on_open_and_keep_working() {
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
    let store = FileAccounts::open(&data).unwrap();
    let user_of = |token: &str| {
        let key = token_key(token);
        let store = store.clone();
        async move { store.session(&key, 0).await.unwrap().map(|s| s.user) }
    };
    assert_eq!(user_of(&token).await.unwrap().username.as_str(), "ana");
    let bob = user_of(&"b".repeat(64)).await.unwrap();
    assert_eq!(bob.username.as_str(), "bob");
    for file in ["sessions.json", "sessions.journal"] {
        let text = std::fs::read_to_string(data.file(file)).unwrap();
        assert!(
            !text.contains(&token) && !text.contains(&"b".repeat(64)),
            "{file}: {text}"
        );
    }
    drop(store);
    let store = FileAccounts::open(&data).unwrap();
    let key = token_key(&token);
    assert!(store.session(&key, 0).await.unwrap().is_some());
}

#[tokio::test]
async fn an_expired_session_is_refused_and_dropped_with_the_next_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileAccounts::open(&DataDir::open(dir.path()).unwrap()).unwrap();
    let ana = UserInfo {
        id: UserId(1),
        username: Username::parse("ana").unwrap(),
    };
    let now = clock::now_ms();
    let (old, live) = (SessionKey("old".into()), SessionKey("live".into()));
    for (key, expires) in [(&old, now - 1), (&live, now + 60_000)] {
        let session = StoredSession {
            user: ana.clone(),
            expires,
        };
        store.begin_session(key.clone(), session, 20).await.unwrap();
    }
    assert_eq!(store.session(&old, now).await.unwrap(), None);
    assert!(store.session(&live, now).await.unwrap().is_some());

    let mut doc = store.sessions.read().clone();
    doc.prune();
    assert!(!doc.contains(&old));
    assert!(doc.contains(&live));
}
