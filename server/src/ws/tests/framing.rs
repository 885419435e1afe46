//! The lines protocol (`writer.rs`): several frames in one message, in order; a busy socket's
//! room messages held up to [`HOLD`] to share one; what the client waits for, and a quiet
//! socket's first message, never held; no message over [`MAX_MESSAGE_BYTES`].

use super::harness::{subscribed, Harness, Server, ROOM};
use crate::ws::writer::{Framing, HOLD, MAX_MESSAGE_BYTES};
use app::protocol::ServerFrame;
use axum::extract::ws::Message;
use std::time::Duration;
use tokio::time::Instant;

fn on_lines() -> Harness {
    let mut server = Server::new(64);
    server.framing = Framing::Lines;
    Harness::connect(server)
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
    let mut client = on_lines();
    client.subscribe(None).await;
    assert_eq!(client.next_lines().await, [subscribed(0)]);
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
    let mut client = on_lines();
    client.subscribe(None).await;
    assert_eq!(client.next_lines().await, [subscribed(0)]);
    let written = Instant::now();
    client.store(1);
    let_it_run().await;
    client.send(serde_json::json!({"type": "ping"})).await;
    let frames = client.next_lines().await;
    assert_eq!(seqs(&frames[..1]), [1]);
    assert_eq!(frames[1..], [ServerFrame::Pong]);
    assert_eq!(written.elapsed(), Duration::ZERO, "nothing waited");
}

#[tokio::test(start_paused = true)]
async fn a_quiet_sockets_first_message_is_written_at_once() {
    let mut client = on_lines();
    client.subscribe(None).await;
    assert_eq!(client.next_lines().await, [subscribed(0)]);
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
