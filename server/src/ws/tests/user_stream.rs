//! The user stream: a snapshot of the person's rooms, rows sent again at once when a membership
//! or a read mark changes, and counts coalesced to one row per room per period.

use super::harness::{member_row, Harness, ANA, ROOM};
use crate::bus::{Bus, BusEvent};
use crate::ws::user_stream::COUNTS_PERIOD;
use app::model::RoomId;
use app::protocol::{ErrorCode, ServerFrame};
use serde_json::json;
use tokio::time::Instant;

const OTHER: RoomId = RoomId(2);

async fn follow(client: &mut Harness) {
    client.send(json!({"type": "subscribe_user"})).await;
    assert_eq!(
        client.next().await,
        ServerFrame::UserSubscribed {
            rooms: vec![member_row(ROOM)]
        }
    );
}

#[tokio::test]
async fn the_stream_starts_with_every_room_then_follows_memberships_and_read_marks() {
    let mut client = Harness::start(64);
    follow(&mut client).await;

    client.members.0.lock().unwrap().insert((ANA, OTHER));
    client.bus.publish(BusEvent::MembershipChanged {
        room: OTHER,
        user: ANA,
        member: true,
        through: Some(1),
    });
    assert_eq!(
        client.next().await,
        ServerFrame::RoomChanged {
            room: member_row(OTHER)
        }
    );

    client.members.0.lock().unwrap().remove(&(ANA, ROOM));
    client.bus.publish(BusEvent::MembershipChanged {
        room: ROOM,
        user: ANA,
        member: false,
        through: Some(2),
    });
    assert_eq!(
        client.next().await,
        ServerFrame::RoomRemoved { room_id: ROOM }
    );
    // A room that is no longer theirs is no longer watched: its messages change nothing.
    client.store(3);
    client.nothing_more().await;

    client.bus.publish(BusEvent::OwnRowChanged {
        room: OTHER,
        user: ANA,
    });
    assert_eq!(
        client.next().await,
        ServerFrame::RoomChanged {
            room: member_row(OTHER)
        }
    );

    client.send(json!({"type": "subscribe_user"})).await;
    match client.next().await {
        ServerFrame::Error(e) => assert_eq!(e.code, ErrorCode::Invalid),
        other => panic!("expected invalid, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn new_entries_send_a_room_s_row_at_most_once_per_period() {
    let mut client = Harness::start(64);
    follow(&mut client).await;

    client.store(5);
    let changed = ServerFrame::RoomChanged {
        room: member_row(ROOM),
    };
    assert_eq!(client.next().await, changed);
    let first = Instant::now();
    // Three more batches right away: one row, a period after the first.
    for _ in 0..3 {
        client.store(2);
    }
    assert_eq!(client.next().await, changed);
    assert!(Instant::now() - first >= COUNTS_PERIOD);
    client.nothing_more().await;
}

#[tokio::test]
async fn a_resync_sends_the_whole_list_again() {
    let mut client = Harness::start(64);
    follow(&mut client).await;
    client.members.0.lock().unwrap().insert((ANA, OTHER));
    // The join happened elsewhere and its bus event was lost.
    client.bus.publish(BusEvent::Resync);
    assert_eq!(
        client.next().await,
        ServerFrame::UserSubscribed {
            rooms: vec![member_row(ROOM), member_row(OTHER)]
        }
    );
}
