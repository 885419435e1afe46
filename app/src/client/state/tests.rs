//! The state machine's rules, each pinned by one behaviour (see the rules in [`super`]).
//!
//! Longer than 400 lines on purpose: one test a rule, and the rules are many.

use super::*;
use crate::client::outbox::SendState;
use crate::model::{NotifyLevel, Role, Visibility};
use crate::protocol::{Ack, ErrorCode, ErrorFrame};
use crate::timeline::Entry;
use std::time::Duration;

/// The `send` frame of a message that replies to nothing.
fn frame_of(room_id: RoomId, client_id: &str, content: &str) -> ClientFrame {
    ClientFrame::Send {
        room_id,
        client_id: client_id.into(),
        content: content.into(),
        reply_to: None,
    }
}

const ROOM: RoomId = RoomId(1);

fn signed_in(me: &str) -> ChatState {
    ChatState::new(Some(Username::parse(me).expect("valid test name")))
}

/// Signed in as ana, linked, with room 1 open.
fn listening() -> ChatState {
    let mut state = signed_in("ana");
    state.connected();
    state.open(ROOM);
    state
}

fn message(room: u64, seq: u64, sender: &str, client_id: &str) -> ChatMessage {
    ChatMessage {
        room_id: RoomId(room),
        seq,
        id: seq + 1000,
        sender: Username::parse(sender).expect("valid test name"),
        content: format!("message {seq}"),
        ts: 0,
        client_id: client_id.into(),
        edited: None,
        reply_to: None,
        reactions: None,
    }
}

fn room_error(code: ErrorCode) -> ServerFrame {
    ServerFrame::Error(ErrorFrame {
        client_id: None,
        room_id: Some(ROOM),
        code,
        message: "why".into(),
        retry_after_ms: None,
    })
}

fn transmitted(commands: &[Command]) -> Vec<ClientFrame> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Transmit(frame) => Some(frame.clone()),
            _ => None,
        })
        .collect()
}

fn held(state: &ChatState, room: RoomId) -> Vec<u64> {
    state
        .room(room)
        .map(|r| r.window.messages().map(|m| m.seq).collect())
        .unwrap_or_default()
}

#[test]
fn a_message_delivered_twice_is_shown_once_in_seq_order() {
    let mut state = listening();
    state.room_mut(ROOM).window.absorb_newest_page(vec![
        Entry::Message(message(1, 1, "ben", "b1")),
        Entry::Message(message(1, 2, "ben", "b2")),
    ]);
    state.apply(ServerFrame::Message(message(1, 2, "ben", "b2")));
    state.apply(ServerFrame::Message(message(1, 3, "ben", "b3")));
    assert_eq!(held(&state, ROOM), [1, 2, 3]);
}

#[test]
fn an_ack_turns_a_pending_send_into_a_stored_message_and_its_broadcast_adds_nothing() {
    let mut state = listening();
    let commands = state
        .send(ROOM, crate::client::outbox::tests::unsent("c1", "hello"))
        .expect("room");
    assert!(transmitted(&commands).contains(&frame_of(ROOM, "c1", "hello")));
    assert_eq!(
        state
            .room(ROOM)
            .map(|r| r.outbox.entries()[0].state.clone()),
        Some(SendState::Pending)
    );
    state.apply(ServerFrame::Ack(Ack {
        client_id: "c1".into(),
        room_id: ROOM,
        id: 7,
        seq: 1,
        ts: 5,
    }));
    assert!(state.room(ROOM).is_some_and(|r| r.outbox.is_empty()));
    state.apply(ServerFrame::Message(message(1, 1, "ana", "c1")));
    assert_eq!(held(&state, ROOM), [1]);
    let first = state
        .room(ROOM)
        .and_then(|r| r.window.messages().next().cloned());
    assert_eq!(first.map(|m| m.content.clone()), Some("hello".into()));
}

#[test]
fn a_replayed_own_message_clears_its_pending_copy_even_without_an_ack() {
    let mut state = listening();
    state
        .send(
            ROOM,
            crate::client::outbox::tests::unsent("c2", "sent before the drop"),
        )
        .expect("room");
    state.apply(ServerFrame::Message(message(1, 4, "ana", "c2")));
    assert!(state.room(ROOM).is_some_and(|r| r.outbox.is_empty()));
    assert_eq!(state.room(ROOM).map(|r| r.window.cursor()), Some(4));
}

#[test]
fn a_refused_send_fails_and_retry_keeps_its_client_id() {
    let mut state = listening();
    state
        .send(ROOM, crate::client::outbox::tests::unsent("c3", "hi"))
        .expect("room");
    state.apply(ServerFrame::Error(ErrorFrame {
        client_id: Some("c3".into()),
        room_id: Some(ROOM),
        code: ErrorCode::NotMember,
        message: "you are not a member of this room".into(),
        retry_after_ms: None,
    }));
    assert_eq!(
        state
            .room(ROOM)
            .map(|r| r.outbox.entries()[0].state.clone()),
        Some(SendState::Failed(
            "you are not a member of this room".into()
        ))
    );
    let commands = state.retry(ROOM, "c3");
    assert_eq!(transmitted(&commands), [frame_of(ROOM, "c3", "hi")]);
    assert_eq!(
        state
            .room(ROOM)
            .map(|r| r.outbox.entries()[0].state.clone()),
        Some(SendState::Pending)
    );
}

#[test]
fn an_overloaded_send_stays_pending_and_is_resent_when_the_server_says() {
    let mut state = listening();
    state
        .send(ROOM, crate::client::outbox::tests::unsent("c5", "busy"))
        .expect("room");
    let commands = state.apply(ServerFrame::Error(ErrorFrame {
        client_id: Some("c5".into()),
        room_id: Some(ROOM),
        code: ErrorCode::Overloaded,
        message: "busy".into(),
        retry_after_ms: Some(200),
    }));
    assert_eq!(
        commands,
        [Command::ResendAfter {
            after: Duration::from_millis(200),
            room_id: ROOM,
            client_id: "c5".into(),
        }]
    );
    assert_eq!(
        transmitted(&state.resend_due(ROOM, "c5")),
        [frame_of(ROOM, "c5", "busy")]
    );
}

#[test]
fn a_reconnect_resubscribes_from_the_cursor_and_resends_pending_sends() {
    let mut state = signed_in("ana");
    state.open(RoomId(1));
    state.room_mut(RoomId(2)).window.absorb_newest_page(vec![
        Entry::Message(message(2, 41, "ben", "b41")),
        Entry::Message(message(2, 42, "ben", "b42")),
    ]);
    state.open(RoomId(2));
    // Not linked: nothing is transmitted, the send waits in the outbox.
    let offline = state
        .send(
            RoomId(2),
            crate::client::outbox::tests::unsent("c4", "pending"),
        )
        .expect("room");
    assert!(transmitted(&offline).is_empty());

    let sent = transmitted(&state.connected());
    assert!(sent.contains(&ClientFrame::Subscribe {
        room_id: RoomId(1),
        after_seq: Some(0),
    }));
    assert!(sent.contains(&ClientFrame::Subscribe {
        room_id: RoomId(2),
        after_seq: Some(42),
    }));
    assert!(sent.contains(&frame_of(RoomId(2), "c4", "pending")));
}

#[test]
fn a_reconnect_resumes_from_the_newest_seq_received_even_when_the_window_has_dropped_it() {
    let mut state = listening();
    for seq in 1..=2_000 {
        state.room_mut(ROOM).following = seq > 1_000;
        state.apply(ServerFrame::Message(message(1, seq, "ben", "b")));
    }
    state.disconnected();
    let sent = transmitted(&state.connected());
    assert_eq!(
        sent,
        [
            ClientFrame::SubscribeUser,
            ClientFrame::Subscribe {
                room_id: ROOM,
                after_seq: Some(2_000),
            }
        ]
    );
}

#[test]
fn an_internal_error_for_a_room_resubscribes_from_the_cursor_after_a_moment() {
    let mut state = listening();
    state.apply(ServerFrame::Message(message(1, 7, "ben", "b7")));
    let commands = state.apply(room_error(ErrorCode::Internal));
    assert_eq!(
        commands,
        [Command::ResubscribeAfter {
            after: RESUBSCRIBE_AFTER,
            room_id: ROOM,
        }]
    );
    assert_eq!(
        transmitted(&state.resubscribe_due(ROOM)),
        [ClientFrame::Subscribe {
            room_id: ROOM,
            after_seq: Some(7),
        }]
    );
}

#[test]
fn an_internal_error_for_a_room_left_meanwhile_does_not_resubscribe() {
    let mut state = listening();
    state.apply(room_error(ErrorCode::Internal));
    state.close(ROOM);
    assert!(transmitted(&state.resubscribe_due(ROOM)).is_empty());
}

#[test]
fn not_member_for_a_room_stops_listening_and_says_why() {
    let mut state = listening();
    state.apply(room_error(ErrorCode::NotMember));
    let room = state.room(ROOM).expect("room");
    assert!(!room.is_open());
    assert_eq!(room.denied.as_deref(), Some("why"));
    assert_eq!(
        transmitted(&state.connected()),
        [ClientFrame::SubscribeUser]
    );
}

fn row(id: u64, unread: u64) -> RoomSummary {
    RoomSummary {
        id: RoomId(id),
        name: format!("room {id}"),
        topic: String::new(),
        member_count: 2,
        is_member: true,
        last_read_seq: 0,
        last_seq: unread,
        last_activity: None,
        unread,
        mentions: 0,
        visibility: Visibility::Public,
        role: Some(Role::Member),
        invited: false,
        direct_with: Vec::new(),
        notify: NotifyLevel::Mentions,
        newest_unread: None,
    }
}

#[test]
fn the_room_list_is_the_newest_snapshot_with_every_change_after_it() {
    let mut state = listening();
    assert!(state.room_list().is_none());
    // A change before any snapshot is dropped: the snapshot that follows has it.
    assert!(state
        .apply(ServerFrame::RoomChanged { room: row(3, 1) })
        .is_empty());
    let redraw = [Command::RedrawRoomList];
    let snapshot = ServerFrame::UserSubscribed {
        rooms: vec![row(1, 0), row(2, 0)],
    };
    assert_eq!(state.apply(snapshot), redraw);
    assert_eq!(
        state.apply(ServerFrame::RoomChanged { room: row(2, 5) }),
        redraw
    );
    assert_eq!(
        state.apply(ServerFrame::RoomChanged { room: row(3, 1) }),
        redraw
    );
    assert_eq!(
        state.apply(ServerFrame::RoomRemoved { room_id: RoomId(1) }),
        redraw
    );
    assert!(state
        .apply(ServerFrame::RoomRemoved { room_id: RoomId(9) })
        .is_empty());
    let list = state.room_list().expect("a list");
    assert_eq!(
        list.values()
            .map(|r| (r.id.0, r.unread))
            .collect::<Vec<_>>(),
        [(2, 5), (3, 1)]
    );
    // A reconnect's snapshot replaces everything.
    state.disconnected();
    state.connected();
    let snapshot = ServerFrame::UserSubscribed {
        rooms: vec![row(4, 0)],
    };
    state.apply(snapshot);
    let ids: Vec<u64> = state.room_list().unwrap().keys().map(|id| id.0).collect();
    assert_eq!(ids, [4]);
}

#[test]
fn unauthorized_without_a_room_sends_the_person_to_sign_in() {
    let mut state = listening();
    let commands = state.apply(ServerFrame::Error(ErrorFrame {
        client_id: None,
        room_id: None,
        code: ErrorCode::Unauthorized,
        message: "signed out".into(),
        retry_after_ms: None,
    }));
    assert_eq!(commands, [Command::SignIn]);
}

#[test]
fn a_deleted_room_is_passed_closed_and_not_listened_to_again_after_a_reconnect() {
    let mut state = listening();
    state.apply(ServerFrame::Message(message(1, 1, "ben", "b1")));
    let deletion = crate::timeline::RoomDeletedEvent {
        room_id: ROOM,
        seq: 2,
        id: 1002,
        sender: Username::parse("ben").unwrap(),
        ts: 0,
        client_id: "ev".into(),
    };
    assert_eq!(
        state.apply(ServerFrame::RoomDeleted(deletion.clone())),
        [Command::RoomDeleted(deletion)]
    );
    assert_eq!(held(&state, ROOM), [1]);
    // The socket comes back: nothing asks for the deleted room again.
    state.disconnected();
    let commands = state.connected();
    assert!(
        transmitted(&commands).iter().all(
            |frame| !matches!(frame, ClientFrame::Subscribe { room_id, .. } if *room_id == ROOM)
        ),
        "{commands:?}"
    );
}

#[test]
fn an_edit_or_deletion_redraws_a_held_message_and_every_revision_moves_the_cursor() {
    use crate::timeline::{EditEvent, ErasedEntry, MessageDeletedEvent};
    let mut state = listening();
    state
        .room_mut(ROOM)
        .window
        .absorb_newest_page(vec![Entry::Message(message(1, 1, "ana", "a1"))]);
    let edit = |target, seq| {
        ServerFrame::Edit(EditEvent {
            room_id: ROOM,
            seq,
            id: seq,
            sender: Username::parse("ana").unwrap(),
            ts: 1,
            client_id: format!("e{seq}"),
            target_seq: target,
            content: "hello, edited".into(),
        })
    };
    let redraws = |commands: Vec<Command>| {
        commands
            .iter()
            .any(|c| matches!(c, Command::Redraw(ROOM, Part::Messages)))
    };
    assert!(redraws(state.apply(edit(1, 2))));
    assert!(!redraws(state.apply(edit(99, 3))), "nothing held changed");
    let content = |state: &ChatState| {
        state
            .room(ROOM)
            .unwrap()
            .window
            .messages()
            .next()
            .unwrap()
            .content
            .clone()
    };
    assert_eq!(content(&state), "hello, edited");
    assert!(redraws(state.apply(ServerFrame::MessageDeleted(
        MessageDeletedEvent {
            room_id: ROOM,
            seq: 4,
            id: 4,
            sender: Username::parse("ana").unwrap(),
            ts: 1,
            client_id: "d".into(),
            target_seq: 1,
        }
    ))));
    assert_eq!(content(&state), "");
    state.apply(ServerFrame::Erased(ErasedEntry {
        room_id: ROOM,
        seq: 5,
        id: 5,
        ts: 1,
        sender: None,
        client_id: None,
    }));
    assert_eq!(state.room(ROOM).unwrap().window.cursor(), 5);
}

#[test]
fn kept_sends_come_back_pending_within_the_window_and_are_sent_again_once() {
    use crate::client::outbox::{Unsent, RESEND_WINDOW_MS};
    let mut state = listening();
    // Seq 1 is one of ours the server stored before the reload: its copy is dropped.
    state
        .room_mut(ROOM)
        .window
        .absorb_newest_page(vec![Entry::Message(message(1, 1, "ana", "stored"))]);
    let now = 60 * 60_000;
    let kept = |id: &str, at| Unsent {
        client_id: id.into(),
        content: format!("{id} text"),
        reply_to: None,
        queued_at: at,
    };
    let commands = state.restore(
        ROOM,
        vec![
            kept("stored", now - 1_000),
            kept("fresh", now - 1_000),
            kept("old", now - RESEND_WINDOW_MS - 1),
        ],
        now,
    );
    assert_eq!(
        transmitted(&commands),
        [frame_of(ROOM, "fresh", "fresh text")]
    );
    let outbox: Vec<(String, bool)> = state
        .unsent(ROOM)
        .into_iter()
        .zip(state.room(ROOM).unwrap().outbox.entries())
        .map(|(u, e)| (u.client_id, e.state == SendState::Pending))
        .collect();
    assert_eq!(
        outbox,
        [("fresh".to_owned(), true), ("old".to_owned(), false)]
    );
    // Restoring again (the room opened twice) sends nothing twice.
    assert!(state
        .restore(ROOM, vec![kept("fresh", now)], now)
        .is_empty());
    // The person gives up on the old one.
    assert!(!state.discard(ROOM, "old").is_empty());
    assert_eq!(state.unsent(ROOM).len(), 1);
}
