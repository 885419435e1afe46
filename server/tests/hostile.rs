//! Hostile clients against the real server, judged by what they do to a bystander: sockets that
//! outlive a sign-out or a leave, floods of typing and sign-ins, too many sockets, ghosts, and a
//! damaged log. Loopback only; every loop is bounded in count and time.
//!
//! Longer than 400 lines on purpose: every file under `server/tests/` is its own test binary,
//! linked against the whole server, so the files are one per area (not one per job) to keep
//! build and link time down; the setup they share is in `support/`.

mod support;

use app::api::{ApiError, Login, Register};
use app::model::{NotifyLevel, RoomId};
use app::protocol::{ClientFrame, ErrorCode, ServerFrame};
use leptos::server_fn::ServerFn;
use minitalk_client::tungstenite::{self, Message};
use minitalk_client::{Api, CallError, Socket, SocketError};
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};
use support::{ack_seq, message_of, register, start, Client, PATIENCE};

/// The HTTP status `api`'s session gets from `me` (200 when it is valid).
async fn me_status(api: &Api) -> u16 {
    match api.me().await {
        Ok(_) => 200,
        Err(err) => err.refusal().expect("a typed refusal").0,
    }
}

/// Reads frames until the server closes the socket; returns them and the close code.
async fn until_closed(client: &mut Client) -> (Vec<ServerFrame>, u16) {
    let mut frames = Vec::new();
    loop {
        let message = tokio::time::timeout(PATIENCE, client.socket.recv())
            .await
            .expect("the server closes the socket within the patience");
        match message {
            Some(Ok(Message::Text(text))) => frames.push(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(frame))) => {
                return (frames, frame.map_or(1005, |f| f.code.into()));
            }
            Some(Ok(_)) => {}
            other => panic!("expected frames then a close, got {other:?}"),
        }
    }
}

fn is_unauthorized(frame: &ServerFrame) -> bool {
    matches!(frame, ServerFrame::Error(e) if e.code == ErrorCode::Unauthorized)
}

#[tokio::test]
async fn signing_out_in_another_tab_ends_the_socket_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let (users, room) = support::members_of(server.addr, &["ana"], "r").await;
    let ana = &users[0];
    let mut ws = ana.connect().await;
    ws.subscribe(room, None).await;

    assert_eq!(ana.api.logout().await, Ok(()));
    let (frames, code) = until_closed(&mut ws).await;
    assert!(frames.iter().any(is_unauthorized), "{frames:?}");
    assert_eq!(code, 4001);
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_and_socket_of_that_user_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let (users, room) = support::members_of(server.addr, &["ana", "bob"], "r").await;
    let (ana, bob) = (&users[0], &users[1]);
    let ana_phone = support::login(server.addr, &ana.name).await;
    let mut laptop = ana.connect().await;
    let mut phone = ana_phone.connect().await;
    let mut bystander = bob.connect().await;
    bystander.subscribe(room, None).await;

    assert_eq!(ana.api.logout_everywhere().await, Ok(()));
    for socket in [&mut laptop, &mut phone] {
        let (frames, code) = until_closed(socket).await;
        assert!(frames.iter().any(is_unauthorized));
        assert_eq!(code, 4001);
    }
    for session in [&ana.api, &ana_phone.api] {
        assert_eq!(me_status(session).await, 401);
    }
    assert_eq!(
        ack_seq(&bystander.send_and_wait(room, "b1", "still here").await),
        2,
        "seq 1 is bob's join"
    );
}

#[tokio::test]
async fn an_expired_session_ends_its_socket() {
    let dir = tempfile::tempdir().unwrap();
    // 0.00002 days is under two seconds.
    let server = start(dir.path(), &["--session-days", "0.00002"]).await;
    let ana = register(server.addr, "ana").await;
    let mut ws = ana.connect().await;
    let (frames, code) = until_closed(&mut ws).await;
    assert!(frames.iter().any(is_unauthorized), "{frames:?}");
    assert_eq!(code, 4001);
}

#[tokio::test]
async fn nothing_stored_after_a_leave_reaches_the_leaver_not_even_through_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    // A queue of one frame: the leaver falls behind at once and is caught up from the log.
    let flags = ["--outbound-queue", "1", "--rate-limit", "0"];
    let server = start(dir.path(), &flags).await;
    let (users, room) = support::members_of(server.addr, &["ana", "bob"], "r").await;
    let (ana, bob) = (&users[0], &users[1]);
    let mut leaver = bob.connect().await;
    leaver.subscribe(room, None).await;
    let mut writer = ana.connect().await;
    for i in 0..50 {
        writer
            .send_and_wait(room, &format!("before{i}"), "before")
            .await;
    }
    // The leaver has read nothing: it lags. Now it leaves, and more is stored.
    assert_eq!(bob.api.leave_room(RoomId(room)).await, Ok(()));
    for i in 0..50 {
        writer
            .send_and_wait(room, &format!("after{i}"), "after")
            .await;
    }

    let mut told = false;
    while !told {
        match leaver.next().await {
            ServerFrame::Message(m) => assert_eq!(m.content, "before", "seq {}", m.seq),
            // Its own leave is the last entry it may see.
            ServerFrame::Member(e) => assert_eq!(e.user.as_str(), "bob"),
            ServerFrame::Error(e) if e.code == ErrorCode::NotMember => {
                assert_eq!(e.room_id.map(|r| r.0), Some(room));
                told = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    leaver.ping().await;
    assert_eq!(
        leaver.next().await,
        ServerFrame::Pong,
        "nothing after the notice"
    );
    writer.send_and_wait(room, "later", "after").await;
    leaver.ping().await;
    assert_eq!(leaver.next().await, ServerFrame::Pong, "and nothing live");
}

#[tokio::test]
async fn a_failed_history_read_drops_the_room_instead_of_skipping_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--rate-limit", "0"]).await;
    let (users, room) = support::members_of(server.addr, &["ana", "bob"], "r").await;
    let (ana, bob) = (&users[0], &users[1]);
    let mut writer = ana.connect().await;
    for i in 1..=6 {
        writer
            .send_and_wait(room, &format!("m{i}"), &format!("m{i}"))
            .await;
    }
    // Damage entry 3 on disk, the message m2 after bob's join (same length, so the index still
    // points at it).
    let segment = dir.path().join("messages").join("00000001.jsonl");
    let original = std::fs::read(&segment).unwrap();
    let third = original
        .split(|b| *b == b'\n')
        .take(2)
        .map(|line| line.len() + 1)
        .sum::<usize>();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    file.write_at(b"X", third as u64).unwrap();

    let mut reader = bob.connect().await;
    reader
        .send_frame(&ClientFrame::Subscribe {
            room_id: RoomId(room),
            after_seq: Some(0),
        })
        .await;
    // Whatever arrives before the error is a prefix (the replay reads in chunks), never past 2.
    let mut seen = Vec::new();
    loop {
        match reader.next().await {
            ServerFrame::Message(m) => seen.push(m.seq),
            ServerFrame::Member(e) => seen.push(e.seq),
            ServerFrame::Error(e) => {
                assert_eq!(
                    (e.code, e.room_id.map(|r| r.0)),
                    (ErrorCode::Internal, Some(room))
                );
                break;
            }
            other => panic!("expected messages then an error for the room, got {other:?}"),
        }
    }
    assert!(
        [&[][..], &[1], &[1, 2]].contains(&seen.as_slice()),
        "{seen:?}"
    );
    // The room is dropped, not skipped: a live message does not arrive past the hole.
    writer.send_and_wait(room, "m7", "m7").await;
    reader.ping().await;
    assert_eq!(reader.next().await, ServerFrame::Pong);

    // Repaired, a resubscribe from what the client has gets everything after it.
    file.write_at(&original[third..=third], third as u64)
        .unwrap();
    let have = seen.last().copied().unwrap_or(0);
    let replayed = reader.subscribe(room, Some(have)).await;
    let seqs: Vec<u64> = replayed
        .iter()
        .map(|frame| match frame {
            ServerFrame::Member(e) => e.seq,
            message => message_of(message).0,
        })
        .collect();
    // Bob's join, six messages and m7.
    assert_eq!(seqs, (have + 1..=8).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_typing_flood_reaches_nobody_and_holds_no_message_up() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--rate-limit", "0"]).await;
    let (users, room) =
        support::members_of(server.addr, &["attacker", "victim", "writer"], "big").await;
    let mut attacker = users[0].connect().await;
    let mut victim = users[1].connect().await;
    victim.subscribe(room, None).await;
    let mut writer = users[2].connect().await;

    let typing = ClientFrame::Typing {
        room_id: RoomId(room),
    };
    let flood = tokio::spawn(async move {
        for _ in 0..20_000 {
            attacker.send_frame(&typing).await;
        }
        attacker
    });
    let sent = Instant::now();
    writer.send(room, "m1", "hello").await;
    let mut hints = 0;
    let delivered = loop {
        let message = tokio::time::timeout(PATIENCE, victim.socket.recv())
            .await
            .expect("the message arrives")
            .unwrap()
            .unwrap();
        let Message::Text(text) = message else {
            continue;
        };
        match serde_json::from_str::<ServerFrame>(&text).unwrap() {
            ServerFrame::Typing { .. } => hints += 1,
            ServerFrame::Message(m) => break m,
            _ => {}
        }
    };
    let latency = sent.elapsed();
    assert_eq!(delivered.content, "hello");
    let _attacker = flood.await.unwrap();
    // Drain what the flood left for the victim (bounded: at most the typing limit's burst).
    while let Ok(Some(Ok(Message::Text(text)))) =
        tokio::time::timeout(Duration::from_millis(300), victim.socket.recv()).await
    {
        if matches!(serde_json::from_str(&text), Ok(ServerFrame::Typing { .. })) {
            hints += 1;
        }
    }
    println!("typing flood: delivery {latency:?}, hints reaching the victim {hints}");
    assert!(hints <= 4, "20,000 typing frames became {hints} hints");
}

#[tokio::test]
async fn a_sign_in_flood_is_refused_with_retry_after_and_messages_keep_flowing() {
    let dir = tempfile::tempdir().unwrap();
    let flags = [
        "--sign-ins-per-ip-per-min",
        "5",
        "--sign-ins-per-sec",
        "1000",
        "--rate-limit",
        "0",
    ];
    let server = start(dir.path(), &flags).await;
    // The first sign-up spends one of the five.
    let (users, room) = support::members_of(server.addr, &["ana"], "r").await;
    let mut ws = users[0].connect().await;

    let client = reqwest::Client::new();
    let wrong = Login {
        username: "ana".into(),
        password: "wrong password".into(),
    };
    // Raw requests, typed bodies: the test reads the Retry-After header itself.
    let attempts: Vec<_> = (0..200)
        .map(|_| {
            let request = client
                .post(format!("http://{}{}", server.addr, Login::PATH))
                .json(&wrong);
            tokio::spawn(async move { request.send().await.unwrap() })
        })
        .collect();
    let mut acked = Vec::new();
    for i in 0..20 {
        let sent = Instant::now();
        ws.send_and_wait(room, &format!("m{i}"), "during the flood")
            .await;
        acked.push(sent.elapsed());
    }
    let (mut refused, mut wrong) = (0, 0);
    for attempt in attempts {
        let response = attempt.await.unwrap();
        match response.status().as_u16() {
            429 => {
                let after: u64 = response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(after >= 1);
                refused += 1;
            }
            401 => wrong += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    acked.sort();
    println!(
        "sign-in flood: {refused} refused, {wrong} checked; ack p50 {:?}, max {:?}",
        acked[acked.len() / 2],
        acked.last().unwrap()
    );
    assert_eq!(wrong, 4, "the address had four attempts left");
    assert_eq!(refused, 196);
}

#[tokio::test]
async fn unknown_names_and_wrong_passwords_get_the_same_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    register(server.addr, "ana").await;
    let anonymous = Api::at(server.addr);
    let answer = |username: &str, password: &str| {
        anonymous.call_text(Login {
            username: username.into(),
            password: password.into(),
        })
    };
    let wrong = answer("ana", "not her password").await.unwrap();
    let unknown = answer("nobody", "not her password").await.unwrap();
    assert_eq!(wrong, unknown);
    assert_eq!(wrong.0, 401);
    // An over-long password is refused before any hashing, with the same answer.
    let long = answer("ana", &"x".repeat(100_000)).await.unwrap();
    assert_eq!(long, wrong);
}

#[tokio::test]
async fn sockets_per_user_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--max-sockets-per-user", "2"]).await;
    let ana = register(server.addr, "ana").await;
    let _one = ana.connect().await;
    let two = ana.connect().await;
    match Socket::connect(&ana.api).await {
        Err(SocketError::Ws(tungstenite::Error::Http(response))) => {
            assert_eq!(response.status(), 429);
        }
        other => panic!("a third socket was let in: {:?}", other.map(|_| ())),
    }
    drop(two);
    // The slot comes back once the server has seen the close.
    let deadline = Instant::now() + PATIENCE;
    while Socket::connect(&ana.api).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the closed socket's slot never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_client_that_stops_answering_pings_is_closed_and_goes_offline() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--ws-ping-interval-ms", "200"]).await;
    let (users, room) = support::members_of(server.addr, &["ana", "ghost"], "r").await;
    let ghost = users[1].connect().await; // never read again: it never answers a ping
    let ghost_online = || async {
        let members = users[0].api.room_members(RoomId(room)).await.unwrap();
        members
            .iter()
            .any(|m| m.username.as_str() == "ghost" && m.online)
    };
    assert!(ghost_online().await);
    let deadline = Instant::now() + PATIENCE;
    while ghost_online().await {
        assert!(Instant::now() < deadline, "the ghost is still online");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(ghost);
}

#[tokio::test]
async fn one_subscribe_replays_a_bounded_number_of_messages() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--rate-limit", "0"]).await;
    let (users, room) = support::members_of(server.addr, &["ana"], "r").await;
    let mut ws = users[0].connect().await;
    const TOTAL: u64 = 1100;
    for chunk in 0..TOTAL / 100 {
        for i in 0..100 {
            ws.send(room, &format!("m{}", chunk * 100 + i), "x").await;
        }
        let mut acked = 0;
        while acked < 100 {
            if let ServerFrame::Ack(_) = ws.next().await {
                acked += 1;
            }
        }
    }
    ws.send_frame(&ClientFrame::Subscribe {
        room_id: RoomId(room),
        after_seq: Some(0),
    })
    .await;
    let first_replayed = TOTAL - minitalk_server::connection::MAX_REPLAY + 1;
    for expected in first_replayed..=TOTAL {
        assert_eq!(message_of(&ws.next().await).0, expected);
    }
    assert_eq!(
        ws.next().await,
        ServerFrame::Subscribed {
            room_id: app::model::RoomId(room),
            last_seq: TOTAL,
            first_seq: Some(first_replayed),
        }
    );
}

#[tokio::test]
async fn with_secure_cookies_only_one_host_prefixed_secure_cookie_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--secure-cookies"]).await;
    // A raw request with a typed body: the test reads the whole Set-Cookie header.
    let register = Register {
        username: "ana".into(),
        password: support::PASSWORD.into(),
    };
    let response = reqwest::Client::new()
        .post(format!("http://{}{}", server.addr, Register::PATH))
        .json(&register)
        .send()
        .await
        .unwrap();
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set_cookie.starts_with("__Host-minitalk_session="),
        "{set_cookie}"
    );
    assert!(set_cookie.contains("; Secure"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let token = cookie.split_once('=').unwrap().1;
    let server_api = Api::at(server.addr);
    assert_eq!(me_status(&server_api.with_cookie(&cookie)).await, 200);
    let plain = format!("minitalk_session={token}");
    assert_eq!(me_status(&server_api.with_cookie(&plain)).await, 401);
    // A second cookie of the same name (planted by a sibling site) means no session at all.
    let tossed = format!("{cookie}; __Host-minitalk_session=planted");
    assert_eq!(me_status(&server_api.with_cookie(&tossed)).await, 401);
}

#[tokio::test]
async fn room_creation_is_rate_limited_and_capped_per_user() {
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--room-creations-per-hour", "3", "--rooms-per-user", "4"];
    let server = start(dir.path(), &flags).await;
    let ana = register(server.addr, "ana").await;
    for name in ["a", "b", "c"] {
        assert!(ana.api.create_room(name).await.is_ok());
    }
    match ana.api.create_room("d").await {
        Err(CallError::Refused {
            status: 429,
            error: ApiError::RateLimited(secs),
        }) => assert!(secs >= 1),
        other => panic!("expected rate_limited, got {other:?}"),
    }

    let dir = tempfile::tempdir().unwrap();
    let flags = ["--room-creations-per-hour", "0", "--rooms-per-user", "2"];
    let server = start(dir.path(), &flags).await;
    let bob = register(server.addr, "bob").await;
    for name in ["a", "b"] {
        assert!(bob.api.create_room(name).await.is_ok());
    }
    let refused = bob.api.create_room("c").await.unwrap_err();
    assert!(
        matches!(refused.refusal(), Some((403, ApiError::Forbidden(_)))),
        "{refused:?}"
    );
    assert_eq!(bob.api.list_rooms().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_join_and_leave_flood_is_rate_limited_and_records_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--membership-changes-per-min", "6"]).await;
    let ana = register(server.addr, "ana").await;
    let mallory = register(server.addr, "mallory").await;
    let room = ana.create_room("lobby").await;
    for _ in 0..3 {
        assert_eq!(
            mallory.api.join_room(RoomId(room)).await.map(|_| ()),
            Ok(())
        );
        assert_eq!(mallory.api.leave_room(RoomId(room)).await, Ok(()));
    }
    match mallory.api.join_room(RoomId(room)).await {
        Err(CallError::Refused {
            status: 429,
            error: ApiError::RateLimited(secs),
        }) => assert!(secs >= 1),
        other => panic!("expected rate_limited, got {other:?}"),
    }
    // Six entries in the room's timeline, and the refused join is not one of them.
    let timeline = ana.whole_history(room).await;
    assert_eq!(timeline.len(), 6);
    assert!(mallory.api.room_members(RoomId(room)).await.is_err());
}

#[tokio::test]
async fn read_marks_and_notify_levels_share_a_per_user_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let mallory = register(server.addr, "mallory").await;
    let room = RoomId(mallory.create_room("mine").await);
    // The burst (20) passes; a loop faster than 5 a second then meets `rate_limited`, for
    // both calls alike (a level change costs the same journaled write as a read mark).
    let mut refused = None;
    for n in 0..40 {
        let answer = if n % 2 == 0 {
            mallory.api.mark_read(room, 0).await
        } else {
            mallory.api.set_notify_level(room, NotifyLevel::All).await
        };
        if let Err(e) = answer {
            refused = Some((n, e));
            break;
        }
    }
    match refused {
        Some((
            n,
            CallError::Refused {
                status: 429,
                error: ApiError::RateLimited(secs),
            },
        )) => {
            assert!((20..30).contains(&n), "refused at call {n}");
            assert!(secs >= 1);
        }
        other => panic!("expected rate_limited within the loop, got {other:?}"),
    }
}
