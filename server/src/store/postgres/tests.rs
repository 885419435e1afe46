//! What only a shared database can get wrong: several nodes starting at once, appending to the
//! same rooms at once, storing the same resend at once, and a node starting again. (The
//! contract suite, `store::contract`, checks everything else against this store too.)

use super::{scratch, PgConfig, PgSearch, PgStores, SearchRefusal};
use crate::search::Wanted;
use crate::store::contract::{delete, edit, new};
use crate::store::{Appended, MessageStore, NewEntry};
use app::model::{RoomId, Username};
use app::timeline::Entry;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

async fn open(url: &str) -> PgStores {
    let config = PgConfig {
        url: url.to_owned(),
        pool_size: 4,
    };
    PgStores::open(&config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_at_once_apply_the_schema_once() {
    let url = scratch::fresh_database().await;
    let opened = futures::future::join_all((0..4).map(|_| open(&url))).await;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&opened[0].pool)
        .await
        .unwrap();
    let files = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/store/postgres/migrations"
    ))
    .unwrap()
    .count();
    assert_eq!(applied as usize, files);
}

/// Four nodes append batches to the same two rooms at once, each batch naming the rooms in
/// the opposite order of the next: every message stored once, each room's seqs 1..=n.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_appending_to_the_same_rooms_number_them_densely() {
    let url = scratch::fresh_database().await;
    let nodes: Vec<Arc<PgStores>> = futures::future::join_all((0..4).map(|_| open(&url)))
        .await
        .into_iter()
        .map(Arc::new)
        .collect();
    let (batches, per_batch) = (15, 8);
    let writers = nodes.iter().enumerate().map(|(node, stores)| {
        let stores = stores.clone();
        tokio::spawn(async move {
            for b in 0..batches {
                let batch = (0..per_batch)
                    .map(|i| {
                        let room = if (b + i + node) % 2 == 0 { 1 } else { 2 };
                        let id = format!("n{node}-b{b}-{i}");
                        new(room, &id, &id, i64::from(b as u8))
                    })
                    .collect();
                let appended = stores.messages.append(batch).await.unwrap();
                assert!(appended.iter().all(|a| matches!(a, Appended::Stored(_))));
            }
        })
    });
    for writer in futures::future::join_all(writers).await {
        writer.unwrap();
    }
    let reader = &nodes[0].messages;
    let mut texts = BTreeSet::new();
    let mut total = 0;
    for room in [1, 2] {
        let entries = reader.read_range(RoomId(room), 1, u64::MAX).await.unwrap();
        let seqs: Vec<u64> = entries.iter().map(Entry::seq).collect();
        let dense: Vec<u64> = (1..=entries.len() as u64).collect();
        assert_eq!(seqs, dense, "room {room}'s seqs are 1..=n");
        assert_eq!(
            reader.head(RoomId(room)).await.unwrap().last_seq,
            entries.len() as u64
        );
        total += entries.len();
        texts.extend(
            entries
                .into_iter()
                .filter_map(Entry::into_message)
                .map(|m| m.content),
        );
    }
    assert_eq!(total, 4 * batches * per_batch);
    assert_eq!(texts.len(), total, "each message stored once");
}

/// The same resend reaches two nodes at once (a client reconnected to another node while its
/// first node was still storing): one stores it, the other answers the original.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_stored_by_two_nodes_at_once_is_stored_once() {
    let url = scratch::fresh_database().await;
    let (a, b) = (open(&url).await, open(&url).await);
    for round in 0..20 {
        let id = format!("r{round}");
        let batch = || vec![new(1, &id, "same words", 1), new(2, "filler", "x", 1)];
        let (one, two) = tokio::join!(a.messages.append(batch()), b.messages.append(batch()));
        let (one, two) = (one.unwrap(), two.unwrap());
        let acks: Vec<(u64, u64)> = [&one[0], &two[0]]
            .iter()
            .map(|answer| match answer {
                Appended::Stored(s) => (s.ack.seq, s.ack.id),
                Appended::Duplicate(ack) => (ack.seq, ack.id),
                other => panic!("round {round}: {other:?}"),
            })
            .collect();
        assert_eq!(
            acks[0], acks[1],
            "round {round}: both answer the one message"
        );
        let stored = [&one[0], &two[0]]
            .iter()
            .filter(|a| matches!(a, Appended::Stored(_)))
            .count();
        assert_eq!(stored, 1, "round {round}: stored by one node only");
    }
    assert_eq!(a.messages.head(RoomId(1)).await.unwrap().last_seq, 20);
}

#[tokio::test]
async fn a_node_started_again_finds_everything_and_still_knows_resends() {
    let url = scratch::fresh_database().await;
    let first = open(&url).await;
    first
        .messages
        .append(vec![new(1, "a", "hello", 5)])
        .await
        .unwrap();
    first.pool.close().await;
    let again = open(&url).await;
    let entries = again.messages.read_range(RoomId(1), 1, 10).await.unwrap();
    assert_eq!(entries.len(), 1);
    let resent = again
        .messages
        .append(vec![new(1, "a", "hello", 99)])
        .await
        .unwrap();
    let [Appended::Duplicate(ack)] = &resent[..] else {
        panic!("a resend after a restart is a duplicate: {resent:?}")
    };
    assert_eq!((ack.seq, ack.ts), (1, 5));
}

/// What `search` finds of `words` in `rooms` (sorted, for comparing).
async fn found(
    search: &PgSearch,
    words: &str,
    rooms: &[u64],
    sender: Option<&str>,
) -> Vec<(u64, u64)> {
    let wanted = Wanted {
        words: words.into(),
        rooms: rooms.iter().map(|r| RoomId(*r)).collect(),
        sender: sender.map(str::to_owned),
        from_ts: None,
        until_ts: None,
        limit: 10,
    };
    let mut hits: Vec<(u64, u64)> = search
        .find(&wanted)
        .await
        .unwrap()
        .into_iter()
        .map(|(room, seq)| (room.0, seq))
        .collect();
    hits.sort();
    hits
}

/// Search on the database: plain words in the caller's rooms, a message as it reads now (an
/// edit by its new words, a deleted one by none, its words gone from its row), and a search
/// that runs too long refused rather than left running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_messages_as_they_read_now_and_only_in_the_rooms_given() {
    let url = scratch::fresh_database().await;
    let stores = open(&url).await;
    let messages = &stores.messages;
    let by = |sender: &str, entry: NewEntry| NewEntry {
        sender: Username::parse(sender).unwrap(),
        ..entry
    };
    messages
        .append(vec![
            new(1, "a", "Pineapple pizza tonight?", 100),
            by(
                "bob",
                new(1, "b", "no pineapple, and no durian please", 200),
            ),
            new(1, "c", "mail a@b.com about foo_bar", 300),
            new(2, "d", "pineapple secrets", 400),
        ])
        .await
        .unwrap();
    let search = PgSearch::new(stores.pool.clone());
    assert_eq!(
        found(&search, "PINEAPPLE", &[1], None).await,
        [(1, 1), (1, 2)]
    );
    assert_eq!(found(&search, "pineapple", &[1, 2], None).await.len(), 3);
    assert!(found(&search, "pineapple", &[], None).await.is_empty());
    assert_eq!(
        found(&search, "pineapple", &[1], Some("bob")).await,
        [(1, 2)]
    );
    // Every word, never syntax; punctuation separates words on both sides.
    assert_eq!(
        found(&search, "-pineapple, pizza!", &[1], None).await,
        [(1, 1)]
    );
    assert!(found(&search, "pineapple OR secrets", &[1, 2], None)
        .await
        .is_empty());
    assert_eq!(found(&search, "b.com bar", &[1], None).await, [(1, 3)]);
    let in_time = |from_ts, until_ts| Wanted {
        words: "pineapple".into(),
        rooms: vec![RoomId(1), RoomId(2)],
        sender: None,
        from_ts,
        until_ts,
        limit: 10,
    };
    assert_eq!(
        search.find(&in_time(Some(150), Some(399))).await.unwrap(),
        [(RoomId(1), 2)]
    );

    messages
        .append(vec![
            edit("ana", "e", 1, "mango pizza tonight?"),
            delete("bob", "f", 2, false),
        ])
        .await
        .unwrap();
    assert_eq!(found(&search, "mango", &[1], None).await, [(1, 1)]);
    assert!(found(&search, "pineapple", &[1], None).await.is_empty());
    assert!(found(&search, "durian", &[1], None).await.is_empty());
    let words: Option<String> =
        sqlx::query_scalar("SELECT words::text FROM entries WHERE room_id = 1 AND seq = 2")
            .fetch_one(&stores.pool)
            .await
            .unwrap();
    assert_eq!(words, None, "a deleted message's words stayed in its row");

    // Many matches and a deadline too short to rank them: refused, not left running.
    let many: Vec<NewEntry> = (0..20_000)
        .map(|i| new(3, &format!("m{i}"), &format!("common word {i}"), i))
        .collect();
    messages.append(many).await.unwrap();
    let hurried = PgSearch::with_limits(stores.pool.clone(), Duration::from_millis(1), 1);
    let wanted = Wanted {
        words: "common word".into(),
        ..in_time(None, None)
    };
    let wanted = Wanted {
        rooms: vec![RoomId(3)],
        ..wanted
    };
    assert!(matches!(
        hurried.find(&wanted).await,
        Err(SearchRefusal::TooCostly)
    ));
    assert_eq!(search.find(&wanted).await.unwrap().len(), 10);
    // Past the searches a node runs at once: refused, not queued on the pool.
    let crowded = PgSearch::with_limits(stores.pool.clone(), Duration::from_secs(3), 0);
    assert!(matches!(
        crowded.find(&wanted).await,
        Err(SearchRefusal::Busy)
    ));
}
