//! The chat protocol's rules as a pure state machine: a frame from the server (or a person's
//! action, or the link going up or down) goes in, the state changes, and [`Command`]s come out
//! for the reactive layer ([`super::Chat`]) to carry out: frames to transmit, timers to set,
//! views to redraw.
//!
//! Why pure: these rules are what keeps a room gapless and free of duplicates across
//! reconnects (resubscribe from the cursor, repeat pending sends with their `client_id`, what
//! each error means), and they are tested natively here, without a browser, a socket, a timer
//! or a reactive owner.
//!
//! The rules:
//! - `subscribe` names the room's [`Window::cursor`] (0 when nothing was received), never
//!   `null`, so the server replays exactly what came after it;
//! - a send stays in the room's [`Outbox`] until its ack or its own broadcast, and every
//!   (re)connect repeats the pending ones with their original `client_id`;
//! - `overloaded` / `rate_limited` for a send: keep it pending and resend when the server says;
//!   any other error for a send: it failed, and the person may retry it;
//! - `not_member` / `no_such_room` for a room: stop listening and say why;
//! - `internal` for a room: the server could not read its history and dropped it, so ask again
//!   from the cursor after [`RESUBSCRIBE_AFTER`];
//! - `unauthorized` without a room: the session ended, sign in again.
//!
//! Frames are transmitted only while linked; while the link is down nothing is queued, because
//! everything that must be repeated is rebuilt from the state on the next connect.

use super::feed::Window;
use super::outbox::{Outbox, OutboxFull};
use crate::model::{ChatMessage, RoomId, Username};
use crate::protocol::{ClientFrame, ErrorCode, ErrorFrame, ServerFrame};
use std::collections::HashMap;
use std::time::Duration;

/// How long to wait before resubscribing to a room the server dropped after a failed read.
pub const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(1);
/// The shortest wait before resending after `overloaded` / `rate_limited`.
const RESEND_AFTER_MIN: Duration = Duration::from_millis(50);

/// What a part of the page shows, so only that part redraws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Messages,
    Outbox,
    /// Whether we may listen ([`RoomState::denied`]).
    Access,
}

/// What the reactive layer must do after a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Transmit(ClientFrame),
    /// Call [`ChatState::resend_due`] for this send after the wait.
    ResendAfter {
        after: Duration,
        room_id: RoomId,
        client_id: String,
    },
    /// Call [`ChatState::resubscribe_due`] for this room after the wait.
    ResubscribeAfter {
        after: Duration,
        room_id: RoomId,
    },
    Redraw(RoomId, Part),
    /// Someone is typing in a room (shown for a while by the page).
    ShowTyping {
        room_id: RoomId,
        user: Username,
    },
    Presence {
        room_id: RoomId,
        user: Username,
        online: bool,
    },
    /// The session ended: go to the sign-in page.
    SignIn,
}

/// One room as the tab knows it.
#[derive(Debug, Clone)]
pub struct RoomState {
    pub window: Window,
    pub outbox: Outbox,
    /// Why the server refused to let us listen (not a member, no such room).
    pub denied: Option<String>,
    /// Whether we listen (and must listen again after a reconnect).
    open: bool,
    /// Whether the reader is at the newest message (see [`Window::push_live`]).
    pub following: bool,
}

impl Default for RoomState {
    fn default() -> Self {
        Self {
            window: Window::default(),
            outbox: Outbox::default(),
            denied: None,
            open: false,
            following: true,
        }
    }
}

impl RoomState {
    pub fn is_open(&self) -> bool {
        self.open
    }

    fn subscribe_frame(&self, room_id: RoomId) -> ClientFrame {
        ClientFrame::Subscribe {
            room_id,
            after_seq: Some(self.window.cursor()),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ChatState {
    me: Option<Username>,
    rooms: HashMap<RoomId, RoomState>,
    linked: bool,
}

impl ChatState {
    pub fn new(me: Option<Username>) -> Self {
        Self {
            me,
            ..Self::default()
        }
    }

    pub fn set_me(&mut self, me: Username) {
        self.me = Some(me);
    }

    pub fn me(&self) -> Option<&Username> {
        self.me.as_ref()
    }

    pub fn is_linked(&self) -> bool {
        self.linked
    }

    pub fn room(&self, room_id: RoomId) -> Option<&RoomState> {
        self.rooms.get(&room_id)
    }

    /// The room's state, made on first use.
    pub fn room_mut(&mut self, room_id: RoomId) -> &mut RoomState {
        self.rooms.entry(room_id).or_default()
    }

    /// A connection is up: listen again to every open room from its cursor, and repeat every
    /// pending send with its original `client_id`.
    pub fn connected(&mut self) -> Vec<Command> {
        self.linked = true;
        let mut commands = Vec::new();
        for (&room_id, room) in self.rooms.iter().filter(|(_, r)| r.open) {
            commands.push(Command::Transmit(room.subscribe_frame(room_id)));
            commands.extend(room.outbox.all_pending().map(|entry| {
                Command::Transmit(send_frame(room_id, &entry.client_id, &entry.content))
            }));
        }
        commands
    }

    pub fn disconnected(&mut self) {
        self.linked = false;
    }

    /// Starts listening to a room whose newest history page is in its window. Idempotent.
    pub fn open(&mut self, room_id: RoomId) -> Vec<Command> {
        let room = self.room_mut(room_id);
        if room.open {
            return Vec::new();
        }
        room.open = true;
        room.denied = None;
        let frame = room.subscribe_frame(room_id);
        let mut commands = vec![Command::Redraw(room_id, Part::Access)];
        commands.extend(self.transmit(frame));
        commands
    }

    /// Stops listening to a room (after leaving it).
    pub fn close(&mut self, room_id: RoomId) -> Vec<Command> {
        match self.rooms.get_mut(&room_id) {
            Some(room) if room.open => {
                room.open = false;
                self.transmit(ClientFrame::Unsubscribe { room_id })
            }
            _ => Vec::new(),
        }
    }

    /// Queues a new message; it shows as pending until its ack.
    pub fn send(
        &mut self,
        room_id: RoomId,
        client_id: String,
        content: String,
    ) -> Result<Vec<Command>, OutboxFull> {
        let frame = send_frame(room_id, &client_id, &content);
        self.room_mut(room_id).outbox.push(client_id, content)?;
        let mut commands = vec![Command::Redraw(room_id, Part::Outbox)];
        commands.extend(self.transmit(frame));
        Ok(commands)
    }

    /// Resends a failed message with its original `client_id`.
    pub fn retry(&mut self, room_id: RoomId, client_id: &str) -> Vec<Command> {
        let Some(content) = self.room_mut(room_id).outbox.retry(client_id) else {
            return Vec::new();
        };
        let mut commands = vec![Command::Redraw(room_id, Part::Outbox)];
        commands.extend(self.transmit(send_frame(room_id, client_id, &content)));
        commands
    }

    /// Tells the room we are typing (the caller throttles).
    pub fn typing(&mut self, room_id: RoomId) -> Vec<Command> {
        self.transmit(ClientFrame::Typing { room_id })
    }

    /// The wait of a [`Command::ResendAfter`] is over: resend if it is still pending.
    pub fn resend_due(&mut self, room_id: RoomId, client_id: &str) -> Vec<Command> {
        let frame = self
            .room(room_id)
            .and_then(|room| room.outbox.pending(client_id))
            .map(|entry| send_frame(room_id, &entry.client_id, &entry.content));
        frame.map(|f| self.transmit(f)).unwrap_or_default()
    }

    /// The wait of a [`Command::ResubscribeAfter`] is over: listen again from the cursor if
    /// the room is still open.
    pub fn resubscribe_due(&mut self, room_id: RoomId) -> Vec<Command> {
        let frame = self
            .room(room_id)
            .filter(|room| room.open)
            .map(|room| room.subscribe_frame(room_id));
        frame.map(|f| self.transmit(f)).unwrap_or_default()
    }

    /// Applies one frame from the server.
    pub fn apply(&mut self, frame: ServerFrame) -> Vec<Command> {
        match frame {
            ServerFrame::Message(message) => self.on_message(message),
            ServerFrame::Ack {
                client_id,
                room_id,
                id,
                seq,
                ts,
            } => {
                let Some(sender) = self.me.clone() else {
                    return Vec::new();
                };
                let Some(room) = self.rooms.get_mut(&room_id) else {
                    return Vec::new();
                };
                let Some(sent) = room.outbox.remove(&client_id) else {
                    return Vec::new();
                };
                let following = room.following;
                room.window.push_live(
                    ChatMessage {
                        room_id,
                        seq,
                        id,
                        sender,
                        content: sent.content,
                        ts,
                        client_id,
                    },
                    following,
                );
                vec![
                    Command::Redraw(room_id, Part::Outbox),
                    Command::Redraw(room_id, Part::Messages),
                ]
            }
            ServerFrame::Error(error) => self.on_error(error),
            ServerFrame::Presence {
                room_id,
                user,
                online,
            } if self.rooms.contains_key(&room_id) => vec![Command::Presence {
                room_id,
                user,
                online,
            }],
            ServerFrame::Typing { room_id, user } if self.rooms.contains_key(&room_id) => {
                vec![Command::ShowTyping { room_id, user }]
            }
            ServerFrame::Subscribed {
                room_id,
                first_seq: Some(first),
                ..
            } => match self.rooms.get_mut(&room_id) {
                // The server replayed only the newest messages: drop what we held from
                // before the hole, so the window stays gapless (scrolling up pages back).
                Some(room) => {
                    room.window.forget_before(first);
                    vec![Command::Redraw(room_id, Part::Messages)]
                }
                None => Vec::new(),
            },
            ServerFrame::Presence { .. }
            | ServerFrame::Typing { .. }
            | ServerFrame::Subscribed { .. }
            | ServerFrame::Unsubscribed { .. }
            | ServerFrame::Pong => Vec::new(),
        }
    }

    fn on_message(&mut self, message: ChatMessage) -> Vec<Command> {
        let mine = self
            .me
            .as_ref()
            .is_some_and(|me| me.key() == message.sender.key());
        let room_id = message.room_id;
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return Vec::new();
        };
        let mut commands = Vec::with_capacity(2);
        // Our own message seen before (or instead of) its ack, e.g. in a replay.
        if mine && room.outbox.remove(&message.client_id).is_some() {
            commands.push(Command::Redraw(room_id, Part::Outbox));
        }
        let following = room.following;
        room.window.push_live(message, following);
        commands.push(Command::Redraw(room_id, Part::Messages));
        commands
    }

    fn on_error(&mut self, error: ErrorFrame) -> Vec<Command> {
        if let Some(client_id) = &error.client_id {
            return self.on_send_error(client_id, &error);
        }
        let Some(room_id) = error.room_id else {
            return match error.code {
                ErrorCode::Unauthorized => vec![Command::SignIn],
                _ => Vec::new(),
            };
        };
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return Vec::new();
        };
        match error.code {
            ErrorCode::NotMember | ErrorCode::NoSuchRoom => {
                room.open = false;
                room.denied = Some(error.message);
                vec![Command::Redraw(room_id, Part::Access)]
            }
            // The server could not read the room's history and dropped it: ask again from the
            // cursor, after a moment.
            ErrorCode::Internal if room.open => vec![Command::ResubscribeAfter {
                after: RESUBSCRIBE_AFTER,
                room_id,
            }],
            _ => Vec::new(),
        }
    }

    /// An error answering one of our sends: in its room, or (without a room) wherever the
    /// `client_id` is held.
    fn on_send_error(&mut self, client_id: &str, error: &ErrorFrame) -> Vec<Command> {
        let mut commands = Vec::new();
        for (&room_id, room) in self.rooms.iter_mut() {
            if error.room_id.is_some_and(|r| r != room_id) || !room.outbox.holds(client_id) {
                continue;
            }
            match (error.code, error.retry_after_ms) {
                // Busy, not broken: keep it pending and try again when the server says.
                (ErrorCode::RateLimited | ErrorCode::Overloaded, Some(after)) => {
                    commands.push(Command::ResendAfter {
                        after: Duration::from_millis(after).max(RESEND_AFTER_MIN),
                        room_id,
                        client_id: client_id.to_owned(),
                    });
                }
                _ => {
                    room.outbox.fail(client_id, error.message.clone());
                    commands.push(Command::Redraw(room_id, Part::Outbox));
                }
            }
        }
        commands
    }

    fn transmit(&self, frame: ClientFrame) -> Vec<Command> {
        if self.linked {
            vec![Command::Transmit(frame)]
        } else {
            Vec::new()
        }
    }
}

fn send_frame(room_id: RoomId, client_id: &str, content: &str) -> ClientFrame {
    ClientFrame::Send {
        room_id,
        client_id: client_id.to_owned(),
        content: content.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::outbox::SendState;

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
        state
            .room_mut(ROOM)
            .window
            .absorb_newest_page(vec![message(1, 1, "ben", "b1"), message(1, 2, "ben", "b2")]);
        state.apply(ServerFrame::Message(message(1, 2, "ben", "b2")));
        state.apply(ServerFrame::Message(message(1, 3, "ben", "b3")));
        assert_eq!(held(&state, ROOM), [1, 2, 3]);
    }

    #[test]
    fn an_ack_turns_a_pending_send_into_a_stored_message_and_its_broadcast_adds_nothing() {
        let mut state = listening();
        let commands = state.send(ROOM, "c1".into(), "hello".into()).expect("room");
        assert!(transmitted(&commands).contains(&send_frame(ROOM, "c1", "hello")));
        assert_eq!(
            state
                .room(ROOM)
                .map(|r| r.outbox.entries()[0].state.clone()),
            Some(SendState::Pending)
        );
        state.apply(ServerFrame::Ack {
            client_id: "c1".into(),
            room_id: ROOM,
            id: 7,
            seq: 1,
            ts: 5,
        });
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
            .send(ROOM, "c2".into(), "sent before the drop".into())
            .expect("room");
        state.apply(ServerFrame::Message(message(1, 4, "ana", "c2")));
        assert!(state.room(ROOM).is_some_and(|r| r.outbox.is_empty()));
        assert_eq!(state.room(ROOM).map(|r| r.window.cursor()), Some(4));
    }

    #[test]
    fn a_refused_send_fails_and_retry_keeps_its_client_id() {
        let mut state = listening();
        state.send(ROOM, "c3".into(), "hi".into()).expect("room");
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
        assert_eq!(transmitted(&commands), [send_frame(ROOM, "c3", "hi")]);
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
        state.send(ROOM, "c5".into(), "busy".into()).expect("room");
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
            [send_frame(ROOM, "c5", "busy")]
        );
    }

    #[test]
    fn a_reconnect_resubscribes_from_the_cursor_and_resends_pending_sends() {
        let mut state = signed_in("ana");
        state.open(RoomId(1));
        state.room_mut(RoomId(2)).window.absorb_newest_page(vec![
            message(2, 41, "ben", "b41"),
            message(2, 42, "ben", "b42"),
        ]);
        state.open(RoomId(2));
        // Not linked: nothing is transmitted, the send waits in the outbox.
        let offline = state
            .send(RoomId(2), "c4".into(), "pending".into())
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
        assert!(sent.contains(&send_frame(RoomId(2), "c4", "pending")));
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
            [ClientFrame::Subscribe {
                room_id: ROOM,
                after_seq: Some(2_000),
            }]
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
        assert!(state.connected().is_empty());
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
}
