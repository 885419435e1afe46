//! The hub's unit tests, and a listener helper the processor's tests share.
use super::*;
use crate::bus::BusEvent;
use crate::store::StoredEntry;
use app::model::{ChatMessage, Username};
use app::timeline::Entry;
use std::collections::{BTreeMap, BTreeSet};

fn message(room: u64, seq: u64) -> StoredEntry {
    StoredEntry::of(&Entry::Message(ChatMessage {
        room_id: RoomId(room),
        seq,
        id: seq,
        sender: Username::parse("ana").unwrap(),
        content: "hi".into(),
        ts: 0,
        client_id: format!("c{seq}"),
        edited: None,
        reply_to: None,
        reactions: None,
    }))
}

pub struct Listener {
    pub registration: Registration,
    pub messages: mpsc::Receiver<Outbound>,
    pub events: mpsc::Receiver<Utf8Bytes>,
    pub queued_bytes: Arc<AtomicUsize>,
}

/// A connection of `user` listening to `room`, with a message queue of `capacity` frames.
pub fn listener(hub: &Hub, user: u64, room: u64, capacity: usize) -> Listener {
    let (tx, messages) = mpsc::channel(capacity);
    let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
    let registration = hub
        .connect(UserId(user), SessionKey(format!("s{user}").into()), None)
        .unwrap();
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    let sub = Subscriber {
        user: UserId(user),
        messages: tx,
        events: events_tx,
        signals: registration.signals.clone(),
        queued_bytes: queued_bytes.clone(),
    };
    hub.subscribe(RoomId(room), registration.conn, sub);
    Listener {
        registration,
        messages,
        events,
        queued_bytes,
    }
}

#[test]
fn messages_reach_only_their_rooms_listeners() {
    let hub = Hub::default();
    let mut one = listener(&hub, 1, 1, 8);
    let mut two = listener(&hub, 2, 2, 8);
    hub.publish(&[message(1, 1)]);
    assert!(matches!(
        one.messages.try_recv(),
        Ok(Outbound { seq: 1, .. })
    ));
    assert!(two.messages.try_recv().is_err());
}

#[test]
fn a_full_queue_flags_lag_instead_of_blocking_or_dropping_silently() {
    let hub = Hub::default();
    let mut slow = listener(&hub, 1, 1, 1);
    let mut fast = listener(&hub, 2, 1, 8);
    hub.publish(&[message(1, 1), message(1, 2)]);
    assert_eq!(
        slow.registration.signals.take_lagging(),
        BTreeSet::from([RoomId(1)])
    );
    assert!(slow.messages.try_recv().is_ok());
    assert!(slow.messages.try_recv().is_err());
    assert!(fast.messages.try_recv().is_ok() && fast.messages.try_recv().is_ok());
}

#[test]
fn the_byte_budget_flags_lag_before_the_frame_count_is_reached() {
    let frame_bytes = message(1, 1).frame.bytes().len();
    let hub = Hub::new(
        SocketLimits {
            per_user: 0,
            per_ip: 0,
        },
        frame_bytes * 2,
    );
    let mut reader = listener(&hub, 1, 1, 100);
    hub.publish(&[message(1, 1), message(1, 2), message(1, 3)]);
    assert_eq!(
        reader.registration.signals.take_lagging(),
        BTreeSet::from([RoomId(1)])
    );
    assert!(reader.messages.try_recv().is_ok() && reader.messages.try_recv().is_ok());
    assert!(reader.messages.try_recv().is_err());
    // Once the reader hands its bytes back, the queue takes messages again.
    let mut credit = Credit::new(reader.queued_bytes.clone());
    credit.took(2 * frame_bytes);
    credit.settle();
    hub.publish(&[message(1, 4)]);
    assert!(reader.messages.try_recv().is_ok());
}

#[test]
fn typing_and_presence_never_take_a_messages_place() {
    let hub = Hub::default();
    let mut reader = listener(&hub, 1, 1, 2);
    let typing = ServerFrame::Typing {
        room_id: RoomId(1),
        user: Username::parse("bob").unwrap(),
    };
    for _ in 0..1000 {
        hub.announce(RoomId(1), &typing, None);
    }
    hub.publish(&[message(1, 1), message(1, 2)]);
    assert!(reader.registration.signals.take_lagging().is_empty());
    assert!(reader.messages.try_recv().is_ok() && reader.messages.try_recv().is_ok());
    let mut events = 0;
    while reader.events.try_recv().is_ok() {
        events += 1;
    }
    assert_eq!(events, EVENT_QUEUE);
}

#[test]
fn revoking_a_room_stops_delivery_and_raises_a_signal() {
    let hub = Hub::default();
    let mut leaver = listener(&hub, 1, 1, 8);
    let mut stayer = listener(&hub, 2, 1, 8);
    hub.revoke_room(RoomId(1), UserId(1), Some(4));
    // The same removal heard again from the bus: still through the entry that made it.
    hub.revoke_room(RoomId(1), UserId(1), None);
    assert!(leaver.registration.signals.is_urgent());
    hub.publish(&[message(1, 1)]);
    assert!(leaver.messages.try_recv().is_err());
    assert!(stayer.messages.try_recv().is_ok());
    let revoked = leaver.registration.signals.take_revoked();
    assert_eq!(revoked.rooms, BTreeMap::from([(RoomId(1), Some(4))]));
    assert!(!revoked.session_ended);
    assert!(!leaver.registration.signals.is_urgent());
    assert!(!stayer.registration.signals.is_urgent());
}

#[test]
fn ending_a_session_signals_only_its_connections() {
    let hub = Hub::default();
    let one = listener(&hub, 1, 1, 8);
    let other = listener(&hub, 2, 1, 8);
    hub.end_session(&SessionKey("s1".into()));
    assert!(one.registration.signals.take_revoked().session_ended);
    assert!(!other.registration.signals.is_urgent());
    hub.end_user(UserId(2));
    assert!(other.registration.signals.take_revoked().session_ended);
}

#[test]
fn a_resync_flags_every_subscription_as_lagging_and_every_connection_as_urgent() {
    let hub = Hub::default();
    let one = listener(&hub, 1, 1, 8);
    let two = listener(&hub, 2, 2, 8);
    let idle = hub
        .connect(UserId(3), SessionKey("s3".into()), None)
        .unwrap();
    hub.apply(&BusEvent::Resync);
    assert_eq!(
        one.registration.signals.take_lagging(),
        BTreeSet::from([RoomId(1)])
    );
    assert_eq!(
        two.registration.signals.take_lagging(),
        BTreeSet::from([RoomId(2)])
    );
    for signals in [
        &one.registration.signals,
        &two.registration.signals,
        &idle.signals,
    ] {
        let revoked = signals.take_revoked();
        assert!(revoked.resync && revoked.rooms.is_empty() && !revoked.session_ended);
    }
    assert!(!idle.signals.take_revoked().resync, "taken once");
}

#[test]
fn a_typing_hint_reaches_every_listener_but_the_typing_connection() {
    let hub = Hub::default();
    let mut typist = listener(&hub, 1, 1, 8);
    let mut reader = listener(&hub, 2, 1, 8);
    hub.apply(&BusEvent::Typing {
        room: RoomId(1),
        user: Username::parse("ana").unwrap(),
        from: Some(typist.registration.conn),
    });
    assert!(reader.events.try_recv().is_ok());
    assert!(typist.events.try_recv().is_err());
}

#[test]
fn socket_limits_count_per_user_and_per_address() {
    let hub = Hub::new(
        SocketLimits {
            per_user: 2,
            per_ip: 3,
        },
        usize::MAX,
    );
    let ip: IpAddr = [10, 0, 0, 1].into();
    let session = || SessionKey("s".into());
    let a1 = hub.connect(UserId(1), session(), Some(ip)).unwrap();
    let _a2 = hub.connect(UserId(1), session(), Some(ip)).unwrap();
    assert_eq!(
        hub.connect(UserId(1), session(), Some(ip)).err(),
        Some(Refused::TooManyForUser(2))
    );
    let _b1 = hub.connect(UserId(2), session(), Some(ip)).unwrap();
    assert_eq!(
        hub.connect(UserId(3), session(), Some(ip)).err(),
        Some(Refused::TooManyForAddress(3))
    );
    drop(a1);
    assert!(hub.connect(UserId(3), session(), Some(ip)).is_ok());
}

#[test]
fn presence_counts_connections_per_user() {
    let hub = Hub::default();
    let session = || SessionKey("s".into());
    let mut first = hub.connect(UserId(7), session(), None).unwrap();
    let mut second = hub.connect(UserId(7), session(), None).unwrap();
    assert!(first.came_online && !second.came_online);
    assert!(!hub.disconnect(&mut first));
    assert!(hub.is_online(UserId(7)));
    assert!(hub.disconnect(&mut second));
    assert!(!hub.is_online(UserId(7)));
}
