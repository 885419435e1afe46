//! A connection's life beyond messages: the shutdown grace, pings to a silent peer, and the
//! write timeout that drops a peer that stopped reading.

use super::harness::{Harness, Server, ROOM};
use crate::ws::connection::WRITE_TIMEOUT;
use axum::extract::ws::Message;
use futures::channel::mpsc;
use futures::SinkExt;
use std::time::Duration;

#[tokio::test(start_paused = true)]
async fn at_shutdown_a_quiet_client_is_closed_with_going_away() {
    let mut client = Harness::start(64);
    client.shutdown.cancel();
    client.expect_close(1001).await;
    (&mut client.task).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn at_shutdown_a_client_still_gets_its_answers_before_the_close() {
    let mut client = Harness::start(64);
    client.shutdown.cancel();
    client.nothing_more().await;
    client.expect_close(1001).await;
}

#[tokio::test(start_paused = true)]
async fn a_silent_peer_is_pinged_twice_then_closed() {
    let mut client = Harness::start(64);
    assert!(matches!(client.next_message().await, Message::Ping(_)));
    assert!(matches!(client.next_message().await, Message::Ping(_)));
    client.expect_close(1001).await;
    (&mut client.task).await.unwrap();
}

/// A socket whose peer stopped reading: no write ever completes.
struct Stalled;

impl futures::Sink<Message> for Stalled {
    type Error = String;

    fn poll_ready(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), String>> {
        std::task::Poll::Pending
    }

    fn start_send(self: std::pin::Pin<&mut Self>, _: Message) -> Result<(), String> {
        unreachable!("never ready, so never sent to")
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), String>> {
        std::task::Poll::Pending
    }

    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), String>> {
        std::task::Poll::Pending
    }
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_stops_reading_is_dropped_after_the_write_timeout() {
    let server = Server::new(64);
    let (mut to_server, stream) = mpsc::unbounded();
    let task = server.connect_ana(Stalled, stream);
    let started = tokio::time::Instant::now();
    // The answer to this subscribe is the first write; it never completes.
    let subscribe = serde_json::json!({"type": "subscribe", "room_id": ROOM, "after_seq": null});
    to_server
        .send(Ok(Message::Text(subscribe.to_string().into())))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(600), task)
        .await
        .expect("the connection gives up on a stalled socket")
        .unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= WRITE_TIMEOUT,
        "gave up after {waited:?}, before the write timeout"
    );
    assert_eq!(server.hub.connections(), 0, "the hub forgot the connection");
}
