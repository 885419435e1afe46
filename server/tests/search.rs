//! Search, end to end: a real server on 127.0.0.1:0 indexing into its data directory, and nodes
//! on PostgreSQL searching the database; what a search finds, what it never finds (another's
//! room, a deleted message), and an index rebuilt from the log.

mod support;

use app::api::{ApiError, SearchQuery};
use app::model::RoomId;
use minitalk_client::CallError;
use minitalk_server::store::postgres::scratch;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::{ack_seq, disk_holds, start};

/// Searches never limited here (the polls below search many times); the limit has its test.
const UNLIMITED: &[&str] = &["--searches-per-min", "0"];

fn words(words: &str) -> SearchQuery {
    SearchQuery {
        words: words.into(),
        ..SearchQuery::default()
    }
}

/// The texts `query` finds for `user`, once they are what `want` says (the index follows the
/// store within about a second): polled, bounded by the support module's patience.
async fn found_until(
    user: &support::User,
    query: SearchQuery,
    want: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + support::PATIENCE;
    loop {
        let texts: Vec<String> = user
            .api
            .search(query.clone())
            .await
            .expect("search answers")
            .into_iter()
            .map(|hit| hit.message.content)
            .collect();
        if want(&texts) || Instant::now() > deadline {
            return texts;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn sorted(mut texts: Vec<String>) -> Vec<String> {
    texts.sort();
    texts
}

/// What every backend promises: words, any case, all of them, only in the caller's rooms,
/// with filters, an edit found by its new words and a deleted message by none. Leaves a
/// message "mango pizza tonight?" by ana, and a deleted one that held "durian".
async fn finds_what_you_may_read_as_it_reads_now(addr: SocketAddr) {
    let (users, room) = support::members_of(addr, &["ana", "bob"], "general").await;
    let [ana, bob] = &users[..] else {
        unreachable!()
    };
    let (others, hidden) = support::members_of(addr, &["eve"], "elsewhere").await;
    let eve = &others[0];
    let mut eve_socket = eve.connect().await;
    ack_seq(
        &eve_socket
            .send_and_wait(hidden, "e", "pineapple secrets")
            .await,
    );
    let mut ana_socket = ana.connect().await;
    let pizza = ack_seq(
        &ana_socket
            .send_and_wait(room, "a", "Pineapple pizza tonight?")
            .await,
    );
    let mut bob_socket = bob.connect().await;
    let durian = ack_seq(
        &bob_socket
            .send_and_wait(room, "b", "no pineapple, and no durian please")
            .await,
    );

    // Words, any case, all of them; never eve's room, which ana is not in.
    let both = found_until(ana, words("PINEAPPLE"), |t| t.len() >= 2).await;
    assert_eq!(
        sorted(both),
        [
            "Pineapple pizza tonight?",
            "no pineapple, and no durian please"
        ]
    );
    assert_eq!(
        found_until(eve, words("pineapple"), |t| !t.is_empty()).await,
        ["pineapple secrets"]
    );
    assert!(found_until(ana, words("pineapple pizza"), |_| true)
        .await
        .iter()
        .all(|t| t.contains("pizza")));
    // Filters: by sender, by room (only a room of yours), by time.
    let by_bob = SearchQuery {
        sender: Some("Bob".into()),
        ..words("pineapple")
    };
    assert_eq!(
        found_until(ana, by_bob, |_| true).await,
        ["no pineapple, and no durian please"]
    );
    let in_hidden = SearchQuery {
        room_id: Some(RoomId(hidden)),
        ..words("pineapple")
    };
    assert_eq!(
        ana.api.search(in_hidden).await,
        Err(CallError::Refused {
            status: 403,
            error: ApiError::NotMember
        })
    );
    let long_ago = SearchQuery {
        until_ts: Some(1_000),
        ..words("pineapple")
    };
    assert!(found_until(ana, long_ago, |_| true).await.is_empty());
    assert!(matches!(
        ana.api.search(words("   ")).await,
        Err(CallError::Refused { status: 400, .. })
    ));

    // An edit is found by its new words; a deleted message by none, and its words leave the
    // index's files (and the log's).
    ana.api
        .edit_message(RoomId(room), pizza, "mango pizza tonight?", "e1")
        .await
        .unwrap();
    assert_eq!(
        found_until(ana, words("mango"), |t| !t.is_empty()).await,
        ["mango pizza tonight?"]
    );
    bob.api
        .delete_message(RoomId(room), durian, "d1")
        .await
        .unwrap();
    assert!(found_until(ana, words("durian"), |t| t.is_empty())
        .await
        .is_empty());
}

#[tokio::test]
async fn search_finds_what_you_may_read_as_it_reads_now_and_survives_a_lost_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), UNLIMITED).await;
    finds_what_you_may_read_as_it_reads_now(server.addr).await;
    let ana = support::login(server.addr, "ana").await;
    let deadline = Instant::now() + support::PATIENCE;
    while disk_holds(dir.path(), "durian") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !disk_holds(dir.path(), "durian"),
        "a deleted word stayed on disk"
    );

    // The index lost (removed, then damaged): rebuilt from the log at start.
    for damage in ["remove", "garble"] {
        server.shutdown();
        server.stopped().await.unwrap();
        let index = dir.path().join("search");
        match damage {
            "remove" => std::fs::remove_dir_all(&index).unwrap(),
            _ => std::fs::write(index.join("meta.json"), b"{ not json").unwrap(),
        }
        let restarted = start(dir.path(), UNLIMITED).await;
        let ana = ana.at(restarted.addr);
        assert_eq!(
            found_until(&ana, words("pizza"), |t| !t.is_empty()).await,
            ["mango pizza tonight?"],
            "after the index was {damage}d"
        );
        assert!(found_until(&ana, words("durian"), |_| true)
            .await
            .is_empty());
        server = restarted;
    }
}

/// On PostgreSQL the database answers (no index of the node's own), with the same promises; a
/// second node on the same database finds at once what the first stored.
#[tokio::test]
async fn search_on_postgresql_keeps_the_same_promises_on_every_node() {
    let url = scratch::fresh_database().await;
    let on_db = ["--searches-per-min", "0", "--database-url", &url];
    let (first_dir, second_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = start(first_dir.path(), &on_db).await;
    let second = start(second_dir.path(), &on_db).await;
    finds_what_you_may_read_as_it_reads_now(first.addr).await;
    let ana = support::login(second.addr, "ana").await;
    // Asked once, not polled: stored means findable, on every node.
    let texts: Vec<String> = ana
        .api
        .search(words("pizza"))
        .await
        .unwrap()
        .into_iter()
        .map(|hit| hit.message.content)
        .collect();
    assert_eq!(texts, ["mango pizza tonight?"]);
    assert!(
        !first_dir.path().join("search").exists(),
        "a node on PostgreSQL built an index"
    );
}

#[tokio::test]
async fn searches_are_limited_per_user() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--searches-per-min", "1"]).await;
    let (users, _room) = support::members_of(server.addr, &["ana"], "general").await;
    assert!(users[0].api.search(words("hello")).await.is_ok());
    assert!(matches!(
        users[0].api.search(words("hello")).await,
        Err(CallError::Refused {
            status: 429,
            error: ApiError::RateLimited(_)
        })
    ));
}
