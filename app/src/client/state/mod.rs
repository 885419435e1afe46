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
//! - an error frame keeps a send pending, fails it, stops listening to a room, resubscribes
//!   from the cursor, or signs the person out: which one is written in [`errors`].
//!
//! Frames are transmitted only while linked; while the link is down nothing is queued, because
//! everything that must be repeated is rebuilt from the state on the next connect.
//!
//! A little over 400 lines: the pure state machine whole, the rules in one place; its tests are in
//! `state/tests.rs`.

mod errors;
#[cfg(test)]
mod tests;

use super::command::{Command, Part};
use super::feed::Window;
use super::notices::Notices;
use super::outbox::{Outbox, OutboxFull, Outgoing, Unsent};
use crate::model::{ChatMessage, RoomId, RoomSummary, Username};
use crate::protocol::{Ack, ClientFrame, ServerFrame};
use crate::timeline::Entry;
pub use errors::RESUBSCRIBE_AFTER;
use std::collections::{BTreeMap, HashMap};

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
    /// How many rows the page's view shows at most, once measured (see
    /// [`Window::skip_unseen`]).
    pub view_rows: Option<usize>,
}

impl Default for RoomState {
    fn default() -> Self {
        Self {
            window: Window::default(),
            outbox: Outbox::default(),
            denied: None,
            open: false,
            following: true,
            view_rows: None,
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
    /// The user's rooms as the server's user stream last said (`None` before its first
    /// snapshot): what the sidebar and the tab title show.
    list: Option<BTreeMap<RoomId, RoomSummary>>,
    /// Which of the list's new messages call for a desktop notification.
    notices: Notices,
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

    /// The user's rooms, once the server has sent them.
    pub fn room_list(&self) -> Option<&BTreeMap<RoomId, RoomSummary>> {
        self.list.as_ref()
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
        // The user stream's snapshot replaces the list, so it is asked for on every connect.
        let mut commands = vec![Command::Transmit(ClientFrame::SubscribeUser)];
        for (&room_id, room) in self.rooms.iter().filter(|(_, r)| r.open) {
            commands.push(Command::Transmit(room.subscribe_frame(room_id)));
            commands.extend(
                room.outbox
                    .all_pending()
                    .map(|entry| Command::Transmit(send_frame(room_id, entry))),
            );
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

    /// Queues a new message (`queued_at` is now); it shows as pending until its ack.
    pub fn send(&mut self, room_id: RoomId, new: Unsent) -> Result<Vec<Command>, OutboxFull> {
        let outbox = &mut self.room_mut(room_id).outbox;
        outbox.push(new)?;
        let frame = send_frame(room_id, outbox.entries().last().expect("just pushed"));
        let mut commands = vec![Command::Redraw(room_id, Part::Outbox)];
        commands.extend(self.transmit(frame));
        Ok(commands)
    }

    /// Resends a failed message with its original `client_id`.
    pub fn retry(&mut self, room_id: RoomId, client_id: &str) -> Vec<Command> {
        let Some(frame) = (self.room_mut(room_id).outbox.retry(client_id))
            .map(|entry| send_frame(room_id, entry))
        else {
            return Vec::new();
        };
        let mut commands = vec![Command::Redraw(room_id, Part::Outbox)];
        commands.extend(self.transmit(frame));
        commands
    }

    /// Takes back the sends the browser kept for `room_id` (see [`super::outbox`]), as of
    /// `now`: one the window shows already was stored, and is dropped; the pending ones are sent
    /// again at once when connected (else at the next connect, with the rest).
    pub fn restore(&mut self, room_id: RoomId, kept: Vec<Unsent>, now: i64) -> Vec<Command> {
        let room = self.room_mut(room_id);
        let stored: Vec<String> = room
            .window
            .messages()
            .map(|m| m.client_id.clone())
            .collect();
        let before = room.outbox.len();
        let kept = kept
            .into_iter()
            .filter(|unsent| !stored.contains(&unsent.client_id))
            .collect();
        room.outbox.restore(kept, now);
        if room.outbox.len() == before {
            return Vec::new();
        }
        let frames: Vec<ClientFrame> = room
            .outbox
            .all_pending()
            .map(|entry| send_frame(room_id, entry))
            .collect();
        let mut commands = vec![Command::Redraw(room_id, Part::Outbox)];
        for frame in frames {
            commands.extend(self.transmit(frame));
        }
        commands
    }

    /// Drops a failed send the person gave up on.
    pub fn discard(&mut self, room_id: RoomId, client_id: &str) -> Vec<Command> {
        if self.room_mut(room_id).outbox.discard(client_id) {
            vec![Command::Redraw(room_id, Part::Outbox)]
        } else {
            Vec::new()
        }
    }

    /// What the browser keeps of `room_id`'s outbox.
    pub fn unsent(&self, room_id: RoomId) -> Vec<Unsent> {
        self.room(room_id)
            .map(|room| room.outbox.unsent())
            .unwrap_or_default()
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
            .map(|entry| send_frame(room_id, entry));
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

    /// An edit, a deletion or a reaction arrived: the cursor moves past it, and the message it names
    /// changes if it is held.
    fn on_revision(&mut self, entry: Entry) -> Vec<Command> {
        let Some(room) = self.rooms.get_mut(&entry.room_id()) else {
            return Vec::new();
        };
        room.window.pass(entry.seq());
        if room.window.revise(&entry) {
            vec![Command::Redraw(entry.room_id(), Part::Messages)]
        } else {
            Vec::new()
        }
    }

    /// Applies one frame from the server.
    pub fn apply(&mut self, frame: ServerFrame) -> Vec<Command> {
        match frame {
            ServerFrame::Message(message) => self.on_message(message),
            // Not a message either: the cursor moves past it; the room's name and topic
            // follow from its row on the user stream.
            ServerFrame::Room(event) => {
                if let Some(room) = self.rooms.get_mut(&event.room_id) {
                    room.window.pass(event.seq);
                }
                Vec::new()
            }
            ServerFrame::RoomDeleted(event) => match self.rooms.get_mut(&event.room_id) {
                // The room's last entry: nothing follows it, and the page says why.
                Some(room) => {
                    room.window.pass(event.seq);
                    room.open = false;
                    vec![Command::RoomDeleted(event)]
                }
                None => Vec::new(),
            },
            ServerFrame::Edit(edit) => self.on_revision(Entry::Edit(edit)),
            ServerFrame::MessageDeleted(deletion) => {
                self.on_revision(Entry::MessageDeleted(deletion))
            }
            ServerFrame::Reaction(reaction) => self.on_revision(Entry::Reaction(reaction)),
            // A deleted message replayed after a reconnect: "message deleted" in its place.
            ServerFrame::Erased(erased) => match self.rooms.get_mut(&erased.room_id) {
                Some(room) => {
                    let room_id = erased.room_id;
                    let following = room.following;
                    room.window.push_erased(erased, following);
                    vec![Command::Redraw(room_id, Part::Messages)]
                }
                None => Vec::new(),
            },
            ServerFrame::Member(event) => match self.rooms.get_mut(&event.room_id) {
                // Not a message: the cursor moves past it, and the member list changes.
                Some(room) => {
                    room.window.pass(event.seq);
                    vec![Command::Membership(event)]
                }
                None => Vec::new(),
            },
            ServerFrame::Ack(Ack {
                client_id,
                room_id,
                id,
                seq,
                ts,
            }) => {
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
                        edited: None,
                        reply_to: sent.reply_to,
                        reactions: None,
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
            ServerFrame::UserSubscribed { rooms } => {
                let mut commands: Vec<Command> = self
                    .notices
                    .on_snapshot(&rooms)
                    .into_iter()
                    .map(Command::Notify)
                    .collect();
                self.list = Some(rooms.into_iter().map(|room| (room.id, room)).collect());
                commands.push(Command::RedrawRoomList);
                commands
            }
            ServerFrame::RoomChanged { room } => match &mut self.list {
                Some(list) => {
                    let notice = self.notices.on_row(&room);
                    list.insert(room.id, room);
                    let mut commands = vec![Command::RedrawRoomList];
                    commands.extend(notice.map(Command::Notify));
                    commands
                }
                None => Vec::new(),
            },
            ServerFrame::RoomRemoved { room_id } => {
                match self.list.as_mut().and_then(|list| list.remove(&room_id)) {
                    Some(_) => vec![Command::RedrawRoomList],
                    None => Vec::new(),
                }
            }
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

    fn transmit(&self, frame: ClientFrame) -> Vec<Command> {
        if self.linked {
            vec![Command::Transmit(frame)]
        } else {
            Vec::new()
        }
    }
}

fn send_frame(room_id: RoomId, entry: &Outgoing) -> ClientFrame {
    ClientFrame::Send {
        room_id,
        client_id: entry.client_id.clone(),
        content: entry.content.clone(),
        reply_to: entry.reply_to,
    }
}
