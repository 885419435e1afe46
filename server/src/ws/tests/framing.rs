//! The lines protocol (`writer.rs`): several frames in one message, in order; a busy socket's
//! room messages held up to [`HOLD`] to share one; what the client waits for, and a quiet
//! socket's first message, never held; no message over [`MAX_MESSAGE_BYTES`].

use super::harness::{subscribed, Harness, Log, Server, ANA, ROOM};
use crate::bus::{Bus, BusEvent};
use crate::ws::writer::{Framing, HOLD, MAX_MESSAGE_BYTES};
use app::protocol::{ErrorCode, ServerFrame};
use axum::extract::ws::Message;
use std::time::Duration;
use tokio::time::Instant;

fn on_lines() -> Harness {
    let mut server = Server::new(64);
    server.framing = Framing::Lines;
    Harness::connect(server)
}

/// A client on the lines protocol, subscribed to [`ROOM`]: the socket was just written.
async fn subscribed_on_lines() -> Harness {
    let mut client = on_lines();
    client.subscribe(None).await;
    assert_eq!(client.next_lines().await, [subscribed(0)]);
    client
}

/// Stores one message, which the connection takes and holds (the socket is busy). Answers the
/// time before it (the clock is paused: when the socket was last written).
async fn hold_one(client: &Harness) -> Instant {
    let written = Instant::now();
    client.store(1);
    let_it_run().await;
    written
}

/// Lets the connection's task take what was handed to it (the tests run on one thread).
async fn let_it_run() {
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}

fn seqs(frames: &[ServerFrame]) -> Vec<u64> {
    frames
        .iter()
        .map(|frame| match frame {
            ServerFrame::Message(m) => m.seq,
            other => panic!("expected a message, got {other:?}"),
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_busy_sockets_room_messages_wait_to_share_one_message_in_order() {
    let mut client = subscribed_on_lines().await;
    let written = Instant::now();
    // Three messages stored one by one, each taken by the connection in its own step.
    for _ in 0..3 {
        client.store(1);
        let_it_run().await;
    }
    assert_eq!(seqs(&client.next_lines().await), [1, 2, 3]);
    assert_eq!(
        written.elapsed(),
        HOLD,
        "held until the hold after the last write"
    );
}

#[tokio::test(start_paused = true)]
async fn an_answer_is_written_at_once_with_what_was_held() {
    let mut client = subscribed_on_lines().await;
    let written = hold_one(&client).await;
    client.send(serde_json::json!({"type": "ping"})).await;
    let frames = client.next_lines().await;
    assert_eq!(seqs(&frames[..1]), [1]);
    assert_eq!(frames[1..], [ServerFrame::Pong]);
    assert_eq!(written.elapsed(), Duration::ZERO, "nothing waited");
}

#[tokio::test(start_paused = true)]
async fn a_quiet_sockets_first_message_is_written_at_once() {
    let mut client = subscribed_on_lines().await;
    tokio::time::advance(HOLD).await;
    let stored = Instant::now();
    client.store(1);
    assert_eq!(seqs(&client.next_lines().await), [1]);
    assert_eq!(stored.elapsed(), Duration::ZERO, "nothing waited");
}

#[tokio::test(start_paused = true)]
async fn a_long_replay_comes_in_order_in_messages_of_bounded_size() {
    let mut client = on_lines();
    client.log.append(ROOM, 600);
    client.subscribe(Some(0)).await;
    let mut received = Vec::new();
    let mut messages = 0;
    while received.len() < 601 {
        let Message::Text(text) = client.next_message().await else {
            panic!("expected a text frame");
        };
        assert!(
            text.len() <= MAX_MESSAGE_BYTES,
            "a message of {}",
            text.len()
        );
        messages += 1;
        received
            .extend(app::protocol::frames(&text).map(|line| serde_json::from_str(line).unwrap()));
    }
    assert_eq!(received.pop(), Some(subscribed(600)));
    assert_eq!(seqs(&received), (1..=600).collect::<Vec<_>>());
    assert!(messages < 60, "{messages} messages for 601 frames");
    client.nothing_more_on_lines().await;
}

#[tokio::test(start_paused = true)]
async fn in_a_steady_flood_a_message_goes_out_every_hold_not_once_at_the_end() {
    let mut client = subscribed_on_lines().await;
    // One message every 10 ms for 200 ms: the hold runs from the last write, so it is not
    // pushed back by what keeps arriving.
    for _ in 0..20 {
        client.store(1);
        let_it_run().await;
        tokio::time::advance(Duration::from_millis(10)).await;
    }
    let mut received = Vec::new();
    let mut messages = Vec::new();
    while received.len() < 20 {
        let frames = client.next_lines().await;
        messages.push(frames.len());
        received.extend(seqs(&frames));
    }
    assert_eq!(received, (1..=20).collect::<Vec<_>>());
    assert!(
        messages.len() >= 4 && messages.iter().all(|&n| n <= 6),
        "frames a message: {messages:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_ack_is_not_held() {
    let mut client = subscribed_on_lines().await;
    let written = hold_one(&client).await;
    client
        .send(serde_json::json!({"type": "send", "room_id": ROOM, "client_id": "c1", "content": "hi"}))
        .await;
    let mut frames = Vec::new();
    while !frames.iter().any(|f| matches!(f, ServerFrame::Ack(_))) {
        frames.extend(client.next_lines().await);
    }
    assert_eq!(written.elapsed(), Duration::ZERO, "nothing waited");
    assert!(matches!(&frames[0], ServerFrame::Message(m) if m.seq == 1));
    assert!(matches!(frames.last(), Some(ServerFrame::Ack(a)) if a.seq == 2));
    // The message itself comes with the room's others (the ack already told the sender).
    assert_eq!(seqs(&client.next_lines().await), [2]);
}

#[tokio::test(start_paused = true)]
async fn what_is_held_and_the_last_error_go_out_before_the_close() {
    let mut client = subscribed_on_lines().await;
    hold_one(&client).await;
    client.bus.publish(BusEvent::UserSignedOut { user: ANA });
    let frames = client.next_lines().await;
    assert_eq!(seqs(&frames[..1]), [1]);
    assert!(matches!(&frames[1], ServerFrame::Error(e) if e.code == ErrorCode::Unauthorized));
    client.expect_close(4001).await;
}

#[tokio::test(start_paused = true)]
async fn an_error_about_a_room_from_a_delivery_is_not_held() {
    let mut client = subscribed_on_lines().await;
    let written = hold_one(&client).await;
    // Seq 3 arrives while the store has no seq 2: the gap cannot be replayed, and the room is
    // dropped with an `internal` error, from the step that delivers the room's messages.
    let elsewhere = Log::default().append(ROOM, 3);
    client.hub.publish(&elsewhere[2..]);
    let frames = client.next_lines().await;
    assert_eq!(written.elapsed(), Duration::ZERO, "nothing waited");
    assert_eq!(seqs(&frames[..1]), [1]);
    assert!(matches!(&frames[1], ServerFrame::Error(e) if e.code == ErrorCode::Internal));
}
