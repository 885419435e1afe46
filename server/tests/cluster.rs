//! Several nodes on one PostgreSQL database (`--database-url`), each a real server with its own
//! data directory, talking to the others only through the database: messages, revocations and
//! sign-outs cross nodes, and a dropped listener connection loses nothing.

mod support;

use app::api::Moderation;
use app::model::RoomId;
use app::protocol::{ErrorCode, ServerFrame};
use minitalk_client::tungstenite::Message;
use minitalk_server::store::postgres::scratch;
use minitalk_server::Running;
use support::{ack_seq, message_of, next_entry, start};
use tempfile::TempDir;

/// `n` nodes on one fresh database, and their data directories.
async fn nodes(n: usize) -> (Vec<Running>, Vec<TempDir>, String) {
    let url = scratch::fresh_database().await;
    let mut nodes = Vec::new();
    let mut dirs = Vec::new();
    for _ in 0..n {
        let dir = tempfile::tempdir().unwrap();
        nodes.push(start(dir.path(), &["--database-url", &url]).await);
        dirs.push(dir);
    }
    (nodes, dirs, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_stored_on_one_node_reaches_listeners_on_the_others() {
    let (nodes, _dirs, _) = nodes(3).await;
    let (users, room) = support::members_of(nodes[0].addr, &["ana", "bob", "cyd"], "hall").await;
    // Each on another node, with the session the first node signed in.
    let on: Vec<_> = users
        .iter()
        .zip(&nodes)
        .map(|(user, node)| user.at(node.addr))
        .collect();
    // A socket that listens and one that sends, per user (an ack and the sender's own copy
    // of the message come in either order).
    let mut listening = Vec::new();
    let mut sending = Vec::new();
    for user in &on {
        listening.push(user.listening(room).await);
        sending.push(user.connect().await);
    }
    for (i, text) in ["from a", "from b", "from c"].into_iter().enumerate() {
        let seq = ack_seq(&sending[i].send_and_wait(room, &format!("m{i}"), text).await);
        for (j, socket) in listening.iter_mut().enumerate() {
            assert_eq!(
                message_of(&next_entry(socket).await),
                (seq, text.to_string()),
                "node {j} hears node {i}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kick_on_one_node_cuts_off_a_socket_on_another() {
    let (nodes, _dirs, _) = nodes(2).await;
    let (users, room) = support::members_of(nodes[0].addr, &["ana", "bob"], "hall").await;
    let (ana, bob) = (&users[0], users[1].at(nodes[1].addr));
    let mut bob_ws = bob.listening(room).await;
    let kicked = ana
        .api
        .moderate(RoomId(room), "bob", Moderation::Kick)
        .await;
    assert_eq!(kicked, Ok(()));
    match next_entry(&mut bob_ws).await {
        ServerFrame::Member(e) => assert_eq!(e.user.as_str(), "bob"),
        other => panic!("expected the kick, got {other:?}"),
    }
    match bob_ws.next().await {
        ServerFrame::Error(e) => assert_eq!(e.code, ErrorCode::NotMember),
        other => panic!("expected the not_member notice, got {other:?}"),
    }
    // Node 1 knows: bob may neither send nor read there.
    match bob_ws.send_and_wait(room, "b1", "still here?").await {
        ServerFrame::Error(e) => assert_eq!(e.code, ErrorCode::NotMember),
        other => panic!("a kicked member's send is refused, got {other:?}"),
    }
    assert!(bob.api.history(RoomId(room), None, 10).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_everywhere_on_one_node_closes_sockets_on_another() {
    let (nodes, _dirs, _) = nodes(2).await;
    let (users, room) = support::members_of(nodes[0].addr, &["ana"], "hall").await;
    let ana_there = users[0].at(nodes[1].addr);
    let mut socket = ana_there.listening(room).await;
    users[0].api.logout_everywhere().await.unwrap();
    assert_eq!(socket.close_code().await, 4001, "the session ended");
    assert!(
        ana_there.api.me().await.is_err(),
        "and is gone on every node"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_listener_connection_loses_no_message() {
    let (nodes, _dirs, url) = nodes(2).await;
    let (users, room) = support::members_of(nodes[0].addr, &["ana", "bob"], "hall").await;
    let bob = users[1].at(nodes[1].addr);
    let mut bob_ws = bob.listening(room).await;
    let mut ana_ws = users[0].connect().await;
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    for round in 0..3 {
        // Every listener connection ends (both nodes'), as a network blip would end them.
        let ended: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .fetch_all(&mut admin)
        .await
        .unwrap();
        assert!(!ended.is_empty(), "round {round}: listeners were found");
        let text = format!("during blip {round}");
        let id = format!("blip-{round}");
        let seq = ack_seq(&ana_ws.send_and_wait(room, &id, &text).await);
        assert_eq!(message_of(&next_entry(&mut bob_ws).await), (seq, text));
    }
}

/// Whether `user` is online in `room`'s member list as `asking` sees it, once it is `want`
/// (polled, bounded: presence is best effort and travels on the bus).
async fn online_until(asking: &support::User, room: u64, user: &str, want: bool) -> bool {
    let deadline = std::time::Instant::now() + support::PATIENCE;
    loop {
        let members = asking.api.room_members(RoomId(room)).await.unwrap();
        let online = members
            .iter()
            .any(|m| m.username.as_str() == user && m.online);
        if online == want || std::time::Instant::now() > deadline {
            return online;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The next presence frame about `user` on `socket`, within a short wait (`None`: none came).
async fn presence_of(socket: &mut support::Client, user: &str) -> Option<bool> {
    let wait = std::time::Duration::from_millis(500);
    loop {
        let Ok(Some(Ok(Message::Text(text)))) =
            tokio::time::timeout(wait, socket.socket.recv()).await
        else {
            return None;
        };
        if let Ok(ServerFrame::Presence {
            user: who, online, ..
        }) = serde_json::from_str(&text)
        {
            if who.as_str() == user {
                return Some(online);
            }
        }
    }
}

/// Presence across nodes: someone online on one node is online in every node's member lists
/// (a node started later too); closing a tab on one node while another node still has one
/// shows them offline nowhere; closing the last shows them offline everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_counts_every_node_s_sockets() {
    let (mut nodes, mut dirs, url) = nodes(2).await;
    let (users, room) = support::members_of(nodes[0].addr, &["ana", "bob"], "hall").await;
    let (ana, bob) = (&users[0], &users[1]);
    let mut bob_ws = bob.at(nodes[1].addr).listening(room).await;
    let ana_on_0 = ana.connect().await;
    assert_eq!(presence_of(&mut bob_ws, "ana").await, Some(true));
    assert!(online_until(&bob.at(nodes[1].addr), room, "ana", true).await);

    // A node that starts now learns who is online elsewhere from the others' presence rows
    // (node 0 writes its own, with ana, within a second of a change; node 1's has bob).
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let deadline = std::time::Instant::now() + support::PATIENCE;
    let written = "SELECT count(*) FROM node_presence WHERE cardinality(online) > 0";
    while sqlx::query_scalar::<_, i64>(written)
        .fetch_one(&pool)
        .await
        .unwrap()
        < 2
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    nodes.push(start(dir.path(), &["--database-url", &url]).await);
    dirs.push(dir);
    assert!(online_until(&bob.at(nodes[2].addr), room, "ana", true).await);

    // A second tab on node 2, then the first closes: offline on node 0, not anywhere else.
    let ana_on_2 = ana.at(nodes[2].addr).connect().await;
    // (Node 2 says so; a tab opened and another closed at the same instant on two nodes may
    // flicker, as their notices cross.)
    assert_eq!(presence_of(&mut bob_ws, "ana").await, Some(true));
    drop(ana_on_0);
    assert_eq!(
        presence_of(&mut bob_ws, "ana").await,
        None,
        "shown offline while online on node 2"
    );
    assert!(online_until(&bob.at(nodes[1].addr), room, "ana", true).await);
    assert!(
        online_until(bob, room, "ana", true).await,
        "node 0 counts node 2's socket"
    );

    drop(ana_on_2);
    assert_eq!(presence_of(&mut bob_ws, "ana").await, Some(false));
    for node in &nodes {
        assert!(!online_until(&bob.at(node.addr), room, "ana", false).await);
    }
}
