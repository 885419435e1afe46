//! The backup procedure of `docs/operations.md` for PostgreSQL, restored: `pg_dump` of a live
//! database, `pg_restore` into an empty one, and a node started on the copy carries on (accounts,
//! sessions, rooms, history, and what it knows of resends).

mod support;

use minitalk_server::store::postgres::scratch;
use std::process::Command;
use support::{ack_seq, start};

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
