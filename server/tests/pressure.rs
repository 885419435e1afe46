//! Overload, slow readers, rate limits and hostile input against a real server.

mod support;

use app::api::{ApiError, History, ListRooms, Me, RoomMembers};
use app::model::RoomId;
use app::protocol::{ClientFrame, ErrorCode, ServerFrame};
use minitalk_client::Api;
use std::collections::HashMap;
use support::{ack_seq, message_of, register, start};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

/// Sends `count` messages at once, then collects one answer for each: ack seqs and error codes.
async fn flood(ws: &mut support::Client, room: u64, count: usize) -> (Vec<u64>, Vec<ServerFrame>) {
    for i in 0..count {
        ws.send(room, &format!("flood-{i}"), "midnight!").await;
    }
    let (mut acks, mut errors) = (Vec::new(), Vec::new());
    while acks.len() + errors.len() < count {
        match ws.next().await {
            ServerFrame::Ack(ack) => acks.push(ack.seq),
            frame @ ServerFrame::Error(_) => errors.push(frame),
            _ => {}
        }
    }
    (acks, errors)
}

fn code(frame: &ServerFrame) -> ErrorCode {
    match frame {
        ServerFrame::Error(e) => e.code,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_burst_ten_times_the_queue_is_refused_with_overloaded_then_service_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let flags = [
        "--queue-capacity",
        "20",
        "--batch-size",
        "10",
        "--flush-interval-ms",
        "50",
        "--rate-limit",
        "0",
    ];
    let server = start(dir.path(), &flags).await;
    let ana = register(server.addr, "ana").await;
    let room = ana.create_room("burst").await;
    let mut ws = ana.connect().await;

    let (acks, errors) = flood(&mut ws, room, 200).await;
    assert!(
        !errors.is_empty(),
        "200 at once into a queue of 20 must overflow"
    );
    for error in &errors {
        let ServerFrame::Error(e) = error else {
            unreachable!()
        };
        assert_eq!(e.code, ErrorCode::Overloaded);
        assert!(
            e.retry_after_ms.is_some(),
            "overloaded carries a retry hint"
        );
    }
    let mut sorted = acks.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=acks.len() as u64).collect::<Vec<_>>());

    // Normal service right after.
    let next = ack_seq(&ws.send_and_wait(room, "after", "still here").await);
    assert_eq!(next, acks.len() as u64 + 1);
    let stats = Api::at(server.addr).stats().await.unwrap();
    assert_eq!(stats.overloaded_total, errors.len() as u64);
}

#[tokio::test]
async fn a_reader_that_stops_reading_misses_nothing_and_holds_nobody_up() {
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--outbound-queue", "8", "--rate-limit", "0"];
    let server = start(dir.path(), &flags).await;
    let (users, room) = support::members_of(server.addr, &["ana", "bob", "carl"], "busy").await;
    let [ana, bob, carl] = &users[..] else {
        unreachable!()
    };

    let mut slow = carl.connect().await;
    slow.subscribe(room, None).await;
    let mut fast = bob.connect().await;
    fast.subscribe(room, None).await;
    let mut sender = ana.connect().await;

    const TOTAL: u64 = 3000;
    let send = tokio::spawn(async move {
        for chunk in 0..(TOTAL / 100) {
            for i in 0..100 {
                let id = format!("m{}", chunk * 100 + i);
                sender
                    .send(room, &id, &format!("message {id} {}", "x".repeat(200)))
                    .await;
            }
            let mut answered = 0;
            while answered < 100 {
                if let ServerFrame::Ack(_) = sender.next().await {
                    answered += 1;
                }
            }
        }
    });
    // Seqs 1 and 2 are bob's and carl's joins, before anyone subscribed.
    let first = 3;
    // The fast reader gets everything while the slow one reads nothing at all.
    for expected in first..first + TOTAL {
        assert_eq!(message_of(&fast.next().await).0, expected);
    }
    send.await.unwrap();

    // Now the slow reader reads: every message once, in order, caught up from the log.
    for expected in first..first + TOTAL {
        assert_eq!(message_of(&slow.next().await).0, expected);
    }
    slow.ping().await;
    assert_eq!(
        slow.next().await,
        ServerFrame::Pong,
        "nothing after the last message"
    );
}

#[tokio::test]
async fn sending_faster_than_the_rate_limit_is_answered_with_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--rate-limit", "5", "--rate-burst", "5"]).await;
    let ana = register(server.addr, "ana").await;
    let room = ana.create_room("calm").await;
    let mut ws = ana.connect().await;

    let (acks, errors) = flood(&mut ws, room, 10).await;
    assert_eq!(acks.len(), 5);
    assert_eq!(errors.len(), 5);
    for error in &errors {
        assert_eq!(code(error), ErrorCode::RateLimited);
        let ServerFrame::Error(e) = error else {
            unreachable!()
        };
        assert!(e.retry_after_ms.unwrap() > 0);
    }
}

#[tokio::test]
async fn thousands_of_subscribe_frames_are_each_answered_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let ana = register(server.addr, "ana").await;
    let room = ana.create_room("general").await;
    let mut ws = ana.connect().await;
    let files_before = data_files(dir.path());

    for _ in 0..2000 {
        ws.send_frame(&ClientFrame::Subscribe {
            room_id: RoomId(room),
            after_seq: None,
        })
        .await;
    }
    for i in 0..2000u64 {
        ws.send_frame(&ClientFrame::Subscribe {
            room_id: RoomId(100_000 + i),
            after_seq: Some(0),
        })
        .await;
    }
    let mut answers: HashMap<&str, usize> = HashMap::new();
    for _ in 0..4000 {
        let kind = match ws.next().await {
            ServerFrame::Subscribed { .. } => "subscribed",
            ServerFrame::Error(e) if e.code == ErrorCode::NoSuchRoom => "no_such_room",
            other => panic!("unexpected {other:?}"),
        };
        *answers.entry(kind).or_default() += 1;
    }
    assert_eq!(answers["subscribed"], 2000);
    assert_eq!(answers["no_such_room"], 2000);
    assert_eq!(data_files(dir.path()), files_before);
    assert_eq!(ack_seq(&ws.send_and_wait(room, "c", "still fine").await), 1);
}

#[tokio::test]
async fn odd_room_names_are_refused_or_kept_as_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let ana = register(server.addr, "ana").await;
    for name in [
        "x".repeat(10_000),
        "".into(),
        "   ".into(),
        "bell\u{7}".into(),
    ] {
        let refused = ana.api.create_room(&name).await.unwrap_err();
        assert!(
            matches!(refused.refusal(), Some((400, ApiError::Invalid(_)))),
            "{name:?}: {refused:?}"
        );
    }
    let room = ana.api.create_room("../../etc/passwd").await.unwrap();
    assert_eq!(room.name, "../../etc/passwd");
    // The search index's files are tantivy's own names, in its own directory.
    let mut files: Vec<String> = data_files(dir.path())
        .into_iter()
        .filter(|f| !f.starts_with("search/"))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "LOCK",
            "control.sock",
            "messages/00000001.jsonl",
            "rooms.journal",
            "sessions.journal",
            "sessions.json",
            "users.journal"
        ]
    );
}

#[tokio::test]
async fn secrets_never_leave_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let (users, room) = support::members_of(server.addr, &["ana", "bob"], "general").await;
    let [ana, bob] = &users[..] else {
        unreachable!()
    };
    let bob_token = bob.cookie().split_once('=').unwrap().1.to_owned();
    let room_id = RoomId(room);
    // Read as text: a typed reading would drop a field that should not be there.
    let answers = [
        ("me", ana.api.call_text(Me {}).await),
        ("list_rooms", ana.api.call_text(ListRooms {}).await),
        (
            "room_members",
            ana.api.call_text(RoomMembers { room_id }).await,
        ),
        (
            "history",
            ana.api
                .call_text(History {
                    room_id,
                    before_seq: None,
                    limit: 10,
                })
                .await,
        ),
    ];
    for (name, answer) in answers {
        let (_, text) = answer.unwrap();
        assert!(!text.contains("argon2"), "{name} leaks a password hash");
        assert!(!text.contains(&bob_token), "{name} leaks a session");
    }
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let ana = register(server.addr, "ana").await;
    let mut ws = ana.connect().await;
    let frame = Frame::message(vec![0xff, 0xfe, b'{'], OpCode::Data(Data::Text), true);
    ws.send_raw(Message::Frame(frame)).await;
    assert_eq!(ws.close_code().await, 1007);
}

/// Files in the data directory, relative to it.
fn data_files(dir: &std::path::Path) -> Vec<String> {
    fn walk(base: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}
