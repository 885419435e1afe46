//! In-order, exactly-once delivery to one socket: replay then live, the race between registering
//! with the hub and reading the head, catch-up after the queue overflowed, and a send's ack.

use super::harness::{subscribed, Harness, ROOM};
use app::protocol::{Ack, ServerFrame};

#[tokio::test]
async fn a_subscribe_replays_what_the_client_lacks_then_delivers_live() {
    let mut client = Harness::start(64);
    client.log.append(ROOM, 3);
    client.subscribe(Some(1)).await;
    assert_eq!(client.seqs(2).await, [2, 3]);
    assert_eq!(client.next().await, subscribed(3));
    client.store(2);
    assert_eq!(client.seqs(2).await, [4, 5]);
    client.nothing_more().await;
}

#[tokio::test]
async fn a_message_stored_between_registering_and_reading_the_head_arrives_once() {
    let mut client = Harness::start(64);
    client.log.append(ROOM, 3);
    // Inside the head read the connection is registered already: this message is both queued
    // for it by the hub and at or below the head it reads.
    let (log, hub) = (client.log.clone(), client.hub.clone());
    client
        .log
        .store
        .before_next_head(Box::new(move || hub.publish(&log.append(ROOM, 1))));
    client.subscribe(Some(0)).await;
    assert_eq!(client.seqs(4).await, [1, 2, 3, 4]);
    assert_eq!(client.next().await, subscribed(4));
    client.store(1);
    assert_eq!(client.seqs(1).await, [5]);
    client.nothing_more().await;
}

#[tokio::test]
async fn a_reader_whose_queue_overflowed_catches_up_in_order_from_the_log() {
    let mut client = Harness::start(1);
    client.subscribe(None).await;
    assert_eq!(client.next().await, subscribed(0));
    client.store(50);
    assert_eq!(client.seqs(50).await, (1..=50).collect::<Vec<_>>());
    client.nothing_more().await;
}

#[tokio::test]
async fn a_sent_message_is_acknowledged_and_delivered_to_its_sender() {
    let mut client = Harness::start(64);
    client.subscribe(None).await;
    assert_eq!(client.next().await, subscribed(0));
    client
        .send(serde_json::json!({"type": "send", "room_id": ROOM, "client_id": "c1", "content": "hi"}))
        .await;
    let mut frames = [client.next().await, client.next().await];
    frames.sort_by_key(|f| matches!(f, ServerFrame::Ack(_)));
    assert!(matches!(&frames[0], ServerFrame::Message(m) if m.seq == 1));
    assert!(matches!(&frames[1], ServerFrame::Ack(Ack { seq: 1, .. })));
}
