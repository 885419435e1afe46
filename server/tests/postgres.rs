//! A node on PostgreSQL (`--database-url`), end to end: the chat works as on the file store, and
//! everything a node knows (accounts, sessions, rooms, the timeline, resends) is in the database,
//! so another node with an empty data directory carries on where the first stopped.

mod support;

use app::protocol::{ErrorCode, ServerFrame};
use app::timeline::Membership;
use minitalk_server::store::postgres::scratch;
use support::{ack_seq, message_of, register, start};

#[tokio::test]
async fn a_second_node_on_the_same_database_carries_on_where_the_first_stopped() {
    let url = scratch::fresh_database().await;
    let first_dir = tempfile::tempdir().unwrap();
    let first = start(first_dir.path(), &["--database-url", &url]).await;
    let (users, room) = support::members_of(first.addr, &["ana", "bob"], "general").await;
    let [ana, bob] = &users[..] else {
        unreachable!()
    };
    let mut ana_ws = ana.connect().await;
    let mut bob_ws = bob.listening(room).await;
    ana_ws.subscribe(room, None).await;
    assert_eq!(ack_seq(&ana_ws.send_and_wait(room, "a1", "hello").await), 2);
    assert_eq!(message_of(&bob_ws.next().await), (2, "hello".into()));
    // A name is taken whatever its case, on the database's unique index.
    let taken = minitalk_client::Api::at(first.addr)
        .register("ANA", support::PASSWORD)
        .await;
    assert!(taken.is_err(), "{:?}", taken.err());
    drop((ana_ws, bob_ws));
    first.shutdown();
    first.stopped().await.unwrap();

    // Another node, another (empty) data directory, the same database.
    let second_dir = tempfile::tempdir().unwrap();
    let second = start(second_dir.path(), &["--database-url", &url]).await;
    let (ana, bob) = (ana.at(second.addr), bob.at(second.addr));
    assert_eq!(
        bob.history(room).await,
        [(2, "hello".to_string())],
        "bob's session and the room's history are the database's"
    );
    let mut ana_ws = ana.connect().await;
    ana_ws.subscribe(room, Some(2)).await;
    // A resend of what the first node stored is answered with the original, not stored again.
    assert_eq!(ack_seq(&ana_ws.send_and_wait(room, "a1", "hello").await), 2);
    assert_eq!(ack_seq(&ana_ws.send_and_wait(room, "a2", "again").await), 3);
    let whole = bob.whole_history(room).await;
    assert_eq!(whole.iter().map(|e| e.seq()).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(matches!(
        &whole[0],
        app::timeline::Entry::Member(m) if m.membership == Membership::Join
    ));
    // Membership is the database's too: a stranger who never joined may not send.
    let carl = register(second.addr, "carl").await;
    let mut carl_ws = carl.connect().await;
    match carl_ws.send_and_wait(room, "c1", "let me in").await {
        ServerFrame::Error(e) => assert_eq!(e.code, ErrorCode::NotMember),
        other => panic!("expected not_member, got {other:?}"),
    }
    second.shutdown();
    second.stopped().await.unwrap();
}
