//! The messaging core end to end: a real server on 127.0.0.1:0, real HTTP and WebSocket clients.
//!
//! Longer than 400 lines on purpose: every file under `server/tests/` is its own test binary,
//! linked against the whole server, so the files are one per area (not one per job) to keep
//! build and link time down; the setup they share is in `support/`.

mod support;

use app::api::ApiError;
use app::model::{Member, RoomId};
use app::protocol::{Ack, ClientFrame, ErrorCode, ServerFrame};
use app::timeline::Membership;
use minitalk_client::{Api, CallError, Socket};
use support::{ack_seq, message_of, register, start};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// The answer of a call the server refuses with `status` and `error`.
fn refused<T>(status: u16, error: ApiError) -> Result<T, CallError> {
    Err(CallError::Refused { status, error })
}

#[tokio::test]
async fn two_users_chat_live() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let (users, room) = support::members_of(server.addr, &["ana", "bob"], "general").await;
    let [ana, bob] = &users[..] else {
        unreachable!()
    };

    let mut ana_ws = ana.connect().await;
    let mut bob_ws = bob.connect().await;
    assert!(ana_ws.subscribe(room, None).await.is_empty());
    assert!(bob_ws.subscribe(room, None).await.is_empty());

    ana_ws.send(room, "a1", "hello bob").await;
    let mut saw_ack = false;
    let mut saw_own = false;
    while !(saw_ack && saw_own) {
        match ana_ws.next().await {
            ServerFrame::Ack(Ack { client_id, seq, .. }) => {
                // Seq 1 is bob's join: the room's timeline counts joins too.
                assert_eq!((client_id.as_str(), seq), ("a1", 2));
                saw_ack = true;
            }
            ServerFrame::Message(m) => {
                assert_eq!(m.content, "hello bob");
                saw_own = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    match bob_ws.next().await {
        ServerFrame::Message(m) => {
            assert_eq!(
                (m.seq, m.sender.as_str(), m.content.as_str()),
                (2, "ana", "hello bob")
            );
            assert_eq!(m.client_id, "a1");
        }
        other => panic!("unexpected {other:?}"),
    }

    assert_eq!(
        ack_seq(&bob_ws.send_and_wait(room, "b1", "hi ana").await),
        3
    );
    let reply = loop {
        if let ServerFrame::Message(m) = ana_ws.next().await {
            break m;
        }
    };
    assert_eq!((reply.seq, reply.content.as_str()), (3, "hi ana"));
    server.shutdown();
    server.stopped().await.unwrap();
}

#[tokio::test]
async fn a_non_member_can_neither_read_nor_post_nor_subscribe() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let ana = register(server.addr, "ana").await;
    let eve = register(server.addr, "eve").await;
    let room = ana.create_room("private").await;
    let mut ana_ws = ana.connect().await;
    ana_ws.subscribe(room, None).await;
    ack_seq(&ana_ws.send_and_wait(room, "a1", "secret").await);

    assert_eq!(
        eve.api.history(RoomId(room), None, 10).await,
        refused(403, ApiError::NotMember)
    );

    let mut eve_ws = eve.connect().await;
    eve_ws
        .send_frame(&ClientFrame::Subscribe {
            room_id: RoomId(room),
            after_seq: Some(0),
        })
        .await;
    match eve_ws.next().await {
        ServerFrame::Error(e) => assert_eq!(e.code, ErrorCode::NotMember),
        other => panic!("expected not_member, got {other:?}"),
    }
    match eve_ws.send_and_wait(room, "e1", "let me in").await {
        ServerFrame::Error(e) => assert_eq!(e.code, ErrorCode::NotMember),
        other => panic!("expected not_member, got {other:?}"),
    }
    match eve_ws.send_and_wait(9999, "e2", "anyone?").await {
        ServerFrame::Error(e) => assert_eq!(e.code, ErrorCode::NoSuchRoom),
        other => panic!("expected no_such_room, got {other:?}"),
    }
    assert_eq!(ana.history(room).await, [(1, "secret".to_owned())]);
}

#[tokio::test]
async fn a_reconnect_with_after_seq_gets_exactly_the_missed_messages() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let (users, room) = support::members_of(server.addr, &["ana", "bob"], "general").await;
    let [ana, bob] = &users[..] else {
        unreachable!()
    };

    let mut bob_ws = bob.connect().await;
    bob_ws.subscribe(room, None).await;
    let mut ana_ws = ana.connect().await;
    ack_seq(&ana_ws.send_and_wait(room, "m1", "one").await);
    // Seq 1 is bob's join.
    assert_eq!(message_of(&bob_ws.next().await), (2, "one".to_owned()));
    drop(bob_ws);

    for (id, text) in [("m2", "two"), ("m3", "three"), ("m4", "four")] {
        ack_seq(&ana_ws.send_and_wait(room, id, text).await);
    }
    let mut bob_ws = bob.connect().await;
    let replayed: Vec<_> = bob_ws
        .subscribe(room, Some(2))
        .await
        .iter()
        .map(message_of)
        .collect();
    assert_eq!(
        replayed,
        [(3, "two".into()), (4, "three".into()), (5, "four".into())]
    );
    ack_seq(&ana_ws.send_and_wait(room, "m5", "five").await);
    assert_eq!(message_of(&bob_ws.next().await), (6, "five".to_owned()));
}

#[tokio::test]
async fn a_client_on_the_lines_protocol_gets_several_frames_a_message_and_others_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let (users, room) = support::members_of(server.addr, &["ana", "bob"], "general").await;
    let [ana, bob] = &users[..] else {
        unreachable!()
    };
    let mut lines = Socket::connect_lines(&bob.api)
        .await
        .expect("the server takes it");
    let room_id = RoomId(room);
    lines
        .send(&ClientFrame::Subscribe {
            room_id,
            after_seq: None,
        })
        .await
        .unwrap();
    assert!(matches!(
        lines.next_frame().await.unwrap(),
        ServerFrame::Subscribed { .. }
    ));
    let mut single = bob.listening(room).await;

    let mut ana_ws = ana.connect().await;
    let sent = 40;
    for i in 0..sent {
        let frame = ClientFrame::Send {
            room_id,
            client_id: format!("c{i}"),
            content: format!("message {i}"),
            reply_to: None,
        };
        ana_ws.socket.feed(&frame).await.unwrap();
    }
    ana_ws.socket.flush().await.unwrap();

    // Each reader counts the socket's messages and reads the frames in them.
    // A socket message counts when it carries chat messages (Ana coming online is announced to
    // both readers; passed over).
    let read = |text: &str, seqs: &mut Vec<u64>| {
        let before = seqs.len();
        for line in app::protocol::frames(text) {
            match serde_json::from_str(line).expect("a frame a line") {
                ServerFrame::Message(m) => seqs.push(m.seq),
                ServerFrame::Presence { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        usize::from(seqs.len() > before)
    };
    let (mut on_lines, mut messages) = (Vec::new(), 0);
    while on_lines.len() < sent {
        if let Message::Text(text) = tokio::time::timeout(support::PATIENCE, lines.recv())
            .await
            .expect("in time")
            .unwrap()
            .unwrap()
        {
            messages += read(&text, &mut on_lines);
        }
    }
    // Seq 1 is bob's join.
    assert_eq!(on_lines, (2..2 + sent as u64).collect::<Vec<_>>());
    assert!(messages < sent, "{messages} messages for {sent} frames");
    let (mut one_each, mut messages) = (Vec::new(), 0);
    while one_each.len() < sent {
        if let Message::Text(text) = single.recv().await {
            messages += read(&text, &mut one_each);
        }
    }
    assert_eq!((one_each, messages), (on_lines, sent));
}

#[tokio::test]
async fn a_resent_client_id_yields_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let ana = register(server.addr, "ana").await;
    let room = ana.create_room("general").await;
    let mut ws = ana.connect().await;

    let first = ws.send_and_wait(room, "same", "only once").await;
    // Twice more at once (so both may share a batch), then again after a reconnect.
    ws.send(room, "same", "only once").await;
    let again = ws.send_and_wait(room, "same", "only once").await;
    assert_eq!(first, again);
    drop(ws);
    let mut ws = ana.connect().await;
    assert_eq!(ws.send_and_wait(room, "same", "only once").await, first);
    assert_eq!(ana.history(room).await, [(1, "only once".to_owned())]);
}

#[tokio::test]
async fn a_client_id_reused_for_another_room_or_content_is_refused_not_acked() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let ana = register(server.addr, "ana").await;
    let room_a = ana.create_room("alpha").await;
    let room_b = ana.create_room("beta").await;
    let mut ws = ana.connect().await;

    let first = ws.send_and_wait(room_a, "x1", "hello").await;
    ack_seq(&first);
    let reused = |frame: ServerFrame| match frame {
        ServerFrame::Error(e) => {
            e.code == ErrorCode::ClientIdReused
                && e.message
                    == "this client_id was already used for a different message; use a new one"
        }
        _ => false,
    };
    assert!(reused(ws.send_and_wait(room_b, "x1", "hello").await));
    assert!(reused(ws.send_and_wait(room_a, "x1", "other").await));
    assert_eq!(ws.send_and_wait(room_a, "x1", "hello").await, first);
    assert!(ana.history(room_b).await.is_empty());
    assert_eq!(ana.history(room_a).await, [(1, "hello".to_owned())]);
}

#[tokio::test]
async fn below_the_disk_watermark_sends_get_storage_full_but_sign_in_still_works() {
    let dir = tempfile::tempdir().unwrap();
    // A watermark larger than any disk: the disk always counts as nearly full.
    let server = start(dir.path(), &["--min-free-disk-mb", "1000000000"]).await;
    let ana = register(server.addr, "ana").await;
    let room = ana.create_room("general").await;
    let mut ws = ana.connect().await;
    match ws.send_and_wait(room, "c1", "hello").await {
        ServerFrame::Error(e) => {
            assert_eq!(e.code, ErrorCode::StorageFull);
            assert_eq!(e.retry_after_ms, Some(5_000));
        }
        other => panic!("expected storage_full, got {other:?}"),
    }
    assert!(ana.history(room).await.is_empty());
    let login = Api::at(server.addr).login("ana", support::PASSWORD).await;
    assert!(login.is_ok(), "{login:?}");
    register(server.addr, "bob").await;
}

#[tokio::test]
async fn after_a_restart_history_seq_and_dedupe_continue() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let ana = register(server.addr, "ana").await;
    let room = ana.create_room("general").await;
    let mut ws = ana.connect().await;
    let first = ws.send_and_wait(room, "c1", "before").await;
    ack_seq(&ws.send_and_wait(room, "c2", "restart").await);
    drop(ws);
    server.shutdown();
    server.stopped().await.unwrap();

    let server = start(dir.path(), &[]).await;
    let ana = ana.at(server.addr);
    let me = ana.api.me().await.unwrap();
    assert_eq!(me.username.as_str(), "ana");
    let mut ws = ana.connect().await;
    assert_eq!(ws.send_and_wait(room, "c1", "before").await, first);
    assert_eq!(ack_seq(&ws.send_and_wait(room, "c3", "after").await), 3);
    assert_eq!(
        ana.history(room).await,
        [
            (1, "before".into()),
            (2, "restart".into()),
            (3, "after".into())
        ]
    );
}

#[tokio::test]
async fn your_own_messages_and_what_came_before_them_are_never_unread_also_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let (users, room) = support::members_of(server.addr, &["ana", "bob"], "general").await;
    let [ana, bob] = &users[..] else {
        unreachable!()
    };
    let mut ana_ws = ana.connect().await;
    let mut bob_ws = bob.connect().await;
    // Seq 1 is bob's join; neither has marked anything read.
    for i in 0..3 {
        ack_seq(
            &ana_ws
                .send_and_wait(room, &format!("a{i}"), "from ana")
                .await,
        );
    }
    ack_seq(&bob_ws.send_and_wait(room, "b0", "bob answers").await);
    for i in 3..5 {
        ack_seq(
            &ana_ws
                .send_and_wait(room, &format!("a{i}"), "from ana")
                .await,
        );
    }
    drop((ana_ws, bob_ws));
    let unread = |user: &support::User| {
        let api = user.api.clone();
        async move { api.list_rooms().await.unwrap()[0].unread }
    };
    assert_eq!(
        (unread(ana).await, unread(bob).await),
        (0, 2),
        "ana wrote the newest; bob has read up to his answer"
    );

    server.shutdown();
    server.stopped().await.unwrap();
    let server = start(dir.path(), &[]).await;
    let (ana, bob) = (ana.at(server.addr), bob.at(server.addr));
    assert_eq!((unread(&ana).await, unread(&bob).await), (0, 2));
}

#[tokio::test]
async fn bad_frames_get_errors_and_the_socket_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let ana = register(server.addr, "ana").await;
    let room = ana.create_room("general").await;
    let mut ws = ana.connect().await;

    let invalid = |frame: ServerFrame| match frame {
        ServerFrame::Error(e) => e.code == ErrorCode::Invalid,
        _ => false,
    };
    ws.send_raw(Message::Text("not json".into())).await;
    assert!(invalid(ws.next().await));
    ws.send_raw(Message::Text(r#"{"type":"shout"}"#.into()))
        .await;
    assert!(invalid(ws.next().await));
    ws.send_raw(Message::Binary(vec![1, 2, 3].into())).await;
    assert!(invalid(ws.next().await));
    ws.send_raw(Message::Text(
        r#"{"type":"subscribe","room_id":"../../etc/passwd","after_seq":null}"#.into(),
    ))
    .await;
    assert!(invalid(ws.next().await));
    assert!(invalid(ws.send_and_wait(room, "empty", "").await));
    assert!(invalid(
        ws.send_and_wait(room, "long", &"x".repeat(4001)).await
    ));
    assert_eq!(
        ack_seq(&ws.send_and_wait(room, "max", &"x".repeat(4000)).await),
        1
    );
    ws.ping().await;
    assert_eq!(ws.next().await, ServerFrame::Pong);
}

#[tokio::test]
async fn the_socket_needs_a_session_and_a_same_site_origin() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let ana = register(server.addr, "ana").await;
    let status_of = |result: Result<_, tokio_tungstenite::tungstenite::Error>| match result {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => 101,
    };

    let url = format!("ws://{}/ws", server.addr);
    assert_eq!(status_of(tokio_tungstenite::connect_async(&url).await), 401);

    let mut forged = url.as_str().into_client_request().unwrap();
    forged
        .headers_mut()
        .insert("cookie", "minitalk_session=forged".parse().unwrap());
    assert_eq!(
        status_of(tokio_tungstenite::connect_async(forged).await),
        401
    );

    let mut cross_site = url.as_str().into_client_request().unwrap();
    cross_site
        .headers_mut()
        .insert("cookie", ana.cookie().parse().unwrap());
    cross_site
        .headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    assert_eq!(
        status_of(tokio_tungstenite::connect_async(cross_site).await),
        403
    );
}

#[tokio::test]
async fn account_errors_are_clear_and_carry_status_codes() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let addr = server.addr;
    let anonymous = Api::at(addr);
    assert_eq!(anonymous.me().await, refused(401, ApiError::NotSignedIn));
    let short = anonymous.register("ana", "short").await;
    assert!(matches!(
        short.unwrap_err().refusal(),
        Some((400, ApiError::Invalid(_)))
    ),);

    register(addr, "ana").await;
    let taken = anonymous.register("ANA", "long enough").await;
    assert_eq!(
        taken.unwrap_err().refusal(),
        Some((409, &ApiError::UsernameTaken))
    );
    let wrong = anonymous.login("ana", "wrong password").await;
    assert_eq!(
        wrong.unwrap_err().refusal(),
        Some((401, &ApiError::InvalidCredentials))
    );

    let ana = register(addr, "ana2").await;
    assert_eq!(ana.api.logout().await, Ok(()));
    assert_eq!(
        ana.api
            .me()
            .await
            .unwrap_err()
            .refusal()
            .map(|(status, _)| status),
        Some(401)
    );
}

#[tokio::test]
async fn your_rooms_list_membership_and_unread_counts_and_the_directory_lists_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let ana = register(server.addr, "ana").await;
    let bob = register(server.addr, "bob").await;
    let room = ana.create_room("general").await;
    let mut ws = ana.connect().await;
    for i in 0..3 {
        ack_seq(&ws.send_and_wait(room, &format!("c{i}"), "hi").await);
    }
    assert_eq!(
        bob.api.list_rooms().await,
        Ok(vec![]),
        "bob is in no room yet"
    );
    let page = bob.api.room_directory("GEN", None, 10).await.unwrap();
    assert!(!page.rooms[0].is_member);
    assert_eq!(page.rooms[0].last_seq, 3);
    assert_eq!(page.next, None);
    let none = bob.api.room_directory("nothing like it", None, 10).await;
    assert_eq!(none.unwrap().rooms, []);
    bob.join(room).await;
    assert_eq!(bob.api.mark_read(RoomId(room), 2).await, Ok(()));
    let rooms = bob.api.list_rooms().await.unwrap();
    assert!(rooms[0].is_member);
    assert_eq!(rooms[0].last_read_seq, 2);
    assert_eq!(
        (rooms[0].last_seq, rooms[0].unread),
        (4, 1),
        "seq 4 is bob's join, which is not unread; message 3 is"
    );
    assert_eq!(rooms[0].member_count, 2);

    let members = bob.api.room_members(RoomId(room)).await.unwrap();
    let online: Vec<_> = members
        .iter()
        .map(
            |Member {
                 username, online, ..
             }| (username.as_str(), *online),
        )
        .collect();
    assert_eq!(online, [("ana", true), ("bob", false)]);

    let stats = Api::at(server.addr).stats().await.unwrap();
    assert_eq!(stats.processed_total, 4, "three messages and bob's join");
}

#[tokio::test]
async fn a_frame_over_the_size_limit_closes_the_socket_with_1009() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let ana = register(server.addr, "ana").await;
    let mut ws = ana.connect().await;
    ws.send_raw(Message::Text("x".repeat(70 * 1024).into()))
        .await;
    assert_eq!(ws.close_code().await, 1009);
}

#[tokio::test]
async fn leaving_a_room_stops_its_live_messages_and_its_history() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let (users, room) = support::members_of(server.addr, &["ana", "bob"], "general").await;
    let [ana, bob] = &users[..] else {
        unreachable!()
    };
    let mut bob_ws = bob.connect().await;
    bob_ws.subscribe(room, None).await;

    assert_eq!(bob.api.leave_room(RoomId(room)).await, Ok(()));
    match bob_ws.next().await {
        ServerFrame::Member(e) => assert_eq!(
            (e.seq, e.user.as_str(), e.membership),
            (2, "bob", Membership::Leave),
            "the leaver's own tab sees the leave before its access ends"
        ),
        other => panic!("expected bob's leave, got {other:?}"),
    }
    match bob_ws.next().await {
        ServerFrame::Error(e) => assert_eq!(
            (e.code, e.room_id.map(|r| r.0), e.client_id),
            (ErrorCode::NotMember, Some(room), None),
            "the socket is told the room is gone"
        ),
        other => panic!("expected the not_member notice, got {other:?}"),
    }
    let mut ana_ws = ana.connect().await;
    ack_seq(
        &ana_ws
            .send_and_wait(room, "after-leave", "not for bob")
            .await,
    );
    bob_ws.ping().await;
    assert_eq!(
        bob_ws.next().await,
        ServerFrame::Pong,
        "no message after leaving"
    );

    assert_eq!(
        bob.api.history(RoomId(room), None, 10).await,
        refused(403, ApiError::NotMember)
    );
}

#[tokio::test]
async fn a_history_page_holds_at_most_100_messages_however_many_are_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--rate-limit", "0"]).await;
    let ana = register(server.addr, "ana").await;
    let room = ana.create_room("long").await;
    let mut ws = ana.connect().await;
    for i in 0..120 {
        ws.send(room, &format!("c{i}"), &format!("m{}", i + 1))
            .await;
    }
    let mut acks = 0;
    while acks < 120 {
        if let ServerFrame::Ack(_) = ws.next().await {
            acks += 1;
        }
    }
    let page = ana.api.history(RoomId(room), None, 1000).await.unwrap();
    let seqs: Vec<u64> = page.iter().map(app::timeline::Entry::seq).collect();
    assert_eq!(seqs, (21..=120).collect::<Vec<_>>());
}
