//! The backup procedures of `docs/operations.md`, each restored: for the file store,
//! `minitalk backup` of a running server mid-burst (and of a stopped one); for PostgreSQL,
//! `pg_dump` of a live database and `pg_restore` into an empty one. A node started on the copy
//! carries on (accounts, sessions, rooms, history, and what it knows of resends).

mod support;

use app::model::RoomId;
use app::timeline::Entry;
use minitalk_server::store::postgres::scratch;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{ack_seq, disk_holds, start};

/// `minitalk backup --data-dir DATA --to TO`, as an operator types it.
fn minitalk_backup(data: &Path, to: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_minitalk"))
        .args(["backup", "--data-dir"])
        .arg(data)
        .arg("--to")
        .arg(to)
        .output()
        .unwrap()
}

/// A room's messages by seq, and every seq the room holds (messages or not), from `history`.
fn by_seq(history: &[Entry]) -> (BTreeMap<u64, String>, Vec<u64>) {
    let texts = history
        .iter()
        .filter_map(|entry| match entry {
            Entry::Message(m) => Some((m.seq, m.content.clone())),
            _ => None,
        })
        .collect();
    (texts, history.iter().map(Entry::seq).collect())
}

/// Backed up while a burst is being stored: the copy is the store at one moment. Every message
/// acked before the command ran is in it, at its seq, the seqs are dense, nothing in it was not
/// acked; sessions and resends carry over, and a message deleted before leaves no word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_file_store_is_backed_up_at_one_moment_and_a_node_starts_on_the_copy() {
    let dir = tempfile::tempdir().unwrap();
    let (data, copy, offline) = (
        dir.path().join("data"),
        dir.path().join("backup"),
        dir.path().join("offline"),
    );
    let server = start(&data, &[]).await;
    let (users, room) = support::members_of(server.addr, &["ana", "bob"], "kept").await;
    let mut socket = users[0].connect().await;
    let gone = ack_seq(&socket.send_and_wait(room, "g", "durian secret").await);
    users[0]
        .api
        .delete_message(RoomId(room), gone, "d")
        .await
        .unwrap();

    // ana sends 300 messages one after another; the backup runs once 50 are acked.
    let acked: Arc<Mutex<BTreeMap<u64, String>>> = Arc::default();
    let burst = {
        let acked = acked.clone();
        tokio::spawn(async move {
            for i in 0..300 {
                let text = format!("burst {i}");
                let seq = ack_seq(&socket.send_and_wait(room, &format!("b{i}"), &text).await);
                acked.lock().unwrap().insert(seq, text);
            }
        })
    };
    let deadline = Instant::now() + support::PATIENCE;
    while acked.lock().unwrap().len() < 50 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let before = acked.lock().unwrap().clone();
    let out = tokio::task::spawn_blocking({
        let (data, copy) = (data.clone(), copy.clone());
        move || minitalk_backup(&data, &copy)
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("backed up "));
    // A backup never overwrites: the same place again is refused, saying why.
    let again = minitalk_backup(&data, &copy);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    let nowhere = minitalk_backup(&data, Path::new("/"));
    assert!(String::from_utf8_lossy(&nowhere.stderr).contains("names no directory"));
    burst.await.unwrap();
    let acked = acked.lock().unwrap().clone();
    let whole = users[1].whole_history(room).await.len();
    server.shutdown();
    server.stopped().await.unwrap();

    let node = start(&copy, &[]).await;
    let bob = users[1].at(node.addr);
    let (texts, seqs) = by_seq(&bob.whole_history(room).await);
    let last = *seqs.last().unwrap();
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>(), "dense seqs");
    for (seq, text) in &before {
        assert_eq!(
            texts.get(seq),
            Some(text),
            "acked before the backup, seq {seq}"
        );
    }
    for (seq, text) in &texts {
        assert_eq!(
            acked.get(seq),
            Some(text),
            "in the copy but never acked: seq {seq}"
        );
    }
    assert!(
        last < whole as u64,
        "the burst went on past the backup ({last} of {whole})"
    );
    // What the copy knows of resends: the first message of the burst is answered, not stored.
    let first = before.iter().next().unwrap();
    let mut socket = users[0].at(node.addr).connect().await;
    assert_eq!(
        ack_seq(&socket.send_and_wait(room, "b0", first.1).await),
        *first.0
    );
    // The deleted message's words leave the copy too (its erasure is owed again if it was
    // still owed at the moment of the backup).
    let deadline = Instant::now() + support::PATIENCE;
    while disk_holds(&copy, "durian") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!disk_holds(&copy, "durian"));
    drop(socket);
    node.shutdown();
    node.stopped().await.unwrap();

    // With no server running the command opens the data directory itself.
    let out = minitalk_backup(&data, &offline);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let node = start(&offline, &[]).await;
    let (texts, _) = by_seq(&users[1].at(node.addr).whole_history(room).await);
    assert_eq!(
        texts, acked,
        "the stopped store's copy has every acked message"
    );
    node.shutdown();
    node.stopped().await.unwrap();
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(scratch::tool(program))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_node_on_a_restored_dump_carries_on() {
    let url = scratch::fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &["--database-url", &url]).await;
    let (users, room) = support::members_of(node.addr, &["ana", "bob"], "kept").await;
    let mut socket = users[0].connect().await;
    assert_eq!(
        ack_seq(&socket.send_and_wait(room, "m1", "before the dump").await),
        2
    );

    // Dumped while the node runs.
    let dump = dir.path().join("minitalk.dump");
    run(
        "pg_dump",
        &["--format=custom", "--file", dump.to_str().unwrap(), &url],
    );
    node.shutdown();
    node.stopped().await.unwrap();

    let restored = scratch::fresh_database().await;
    run(
        "pg_restore",
        &["--dbname", &restored, dump.to_str().unwrap()],
    );
    let other = tempfile::tempdir().unwrap();
    let node = start(other.path(), &["--database-url", &restored]).await;
    let bob = users[1].at(node.addr);
    assert_eq!(
        bob.history(room).await,
        [(2, "before the dump".to_string())]
    );
    let mut socket = users[0].at(node.addr).connect().await;
    assert_eq!(
        ack_seq(&socket.send_and_wait(room, "m1", "before the dump").await),
        2,
        "a resend of what the dump holds is answered, not stored again"
    );
    assert_eq!(ack_seq(&socket.send_and_wait(room, "m2", "after").await), 3);
    // The search column and its index came back with the rows (a generated column needs its
    // function restored before it).
    let query = app::api::SearchQuery {
        words: "dump".into(),
        ..Default::default()
    };
    let found = bob.api.search(query).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].message.content, "before the dump");
    node.shutdown();
    node.stopped().await.unwrap();
}

/// A data directory too deep for a Unix socket's path (108 bytes at most) still serves; only the
/// backup of a running server is refused, saying why, and the stopped one's backup works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_too_deep_for_the_control_socket_still_serves() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d".repeat(120));
    let server = start(&data, &[]).await;
    let (users, room) = support::members_of(server.addr, &["ana"], "deep").await;
    let mut socket = users[0].connect().await;
    ack_seq(&socket.send_and_wait(room, "m", "still here").await);
    let refused = minitalk_backup(&data, &dir.path().join("online"));
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("control socket"));
    drop(socket);
    server.shutdown();
    server.stopped().await.unwrap();
    let out = minitalk_backup(&data, &dir.path().join("offline"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
