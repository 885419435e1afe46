//! The browser's live connection: one WebSocket to `/ws` per tab, shared by every page through
//! the [`Chat`] context.
//!
//! Why one owner for the socket: a room's messages arrive on it, our own sends are answered on
//! it, and after a reconnect every open room must be resumed from exactly the seq it last saw
//! and every unanswered send must be repeated with its original `client_id`. The parts:
//!
//! - [`state`]: those rules as a pure state machine ([`ChatState`]), tested natively, and the
//!   [`command`]s it returns;
//! - [`feed`]: a room's bounded message [`Window`] and its resume cursor;
//! - [`outbox`]: a room's unacknowledged sends, bounded, with its policy;
//! - [`saved`]: what the browser keeps across reloads (drafts, the outboxes);
//! - [`notices`]: which new messages call for a desktop notification;
//! - `socket` (browser only): connect, keep alive, read, reconnect with backoff;
//! - this module: [`Chat`], the thin reactive adapter. It feeds every event to the state
//!   machine and carries out the [`Command`]s it returns: frames go to the socket, timers are
//!   set, and each room's [`RoomFeed`] (`room_feed`) triggers redraw only the part of the page
//!   that changed.
//!
//! Why redraws wait: a busy room delivers a frame every few milliseconds, each its own task.
//! The state takes each one at once (acks, cursors and resends never wait), but the page
//! redraws at the next animation frame, once for whatever arrived until then, and while frames
//! keep coming no more often than its [`pace`] allows: every 100 ms at a conversation's rate,
//! less often as the room gets busier. So the list's diff, style, layout and paint are paid per
//! redraw, not per message. A message after a quiet spell shows at the next frame. A hidden tab
//! gets no animation frames: it redraws when it is shown again.
//!
//! The server renders pages with an inert `Chat` (no socket); everything that touches the
//! browser is in the `hydrate`-only `socket` module and starts from an `Effect`, so the first
//! render is identical on both sides.
//!
//! Longer than 400 lines on purpose (about 520 without its tests): [`Chat`] is the one owner of the
//! socket, of the state machine's commands and of the redraw queue, each a few methods on it; the
//! rules themselves are in [`state`].

pub mod command;
pub mod feed;
pub mod notices;
pub mod outbox;
pub mod pace;
mod room_feed;
pub mod saved;
#[cfg(feature = "hydrate")]
mod socket;
pub mod state;

use crate::model::{RoomId, RoomSummary, Username};
use crate::protocol::{ClientFrame, ServerFrame};
use command::{Command, Part};
pub use feed::{Window, WINDOW};
use leptos::prelude::*;
use leptos::reactive::owner::WeakOwner;
use notices::Notice;
pub use outbox::{OutboxFull, Outgoing, SendState};
#[cfg(feature = "hydrate")]
use pace::Pace;
pub use room_feed::RoomFeed;
use state::ChatState;
use std::collections::{HashMap, VecDeque};

/// How long a "typing" hint stays on screen after its last frame.
pub const TYPING_SHOWN_MS: u64 = 3_000;
/// Send at most one typing frame per this many milliseconds.
pub const TYPING_THROTTLE_MS: f64 = 2_000.0;

/// Notifications waiting for the page to show them. Bounded: past it the oldest is dropped
/// (a burst of rooms at once shows the newest few, which is all a person reads anyway).
pub const NOTICES_WAITING: usize = 4;

/// A part of the page waiting for the next redraw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Redraw {
    Room(RoomId, Part),
    /// The sidebar and the tab title.
    RoomList,
}

/// The state of the tab's connection, as the header shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// Not started (signed out, or before hydration).
    Idle,
    /// The first attempt is under way.
    Connecting,
    Connected,
    /// The connection was lost; retrying with backoff.
    Reconnecting,
}

impl ConnState {
    pub fn label(self) -> &'static str {
        match self {
            Self::Idle | Self::Connecting => "connecting…",
            Self::Connected => "connected",
            Self::Reconnecting => "reconnecting…",
        }
    }
}

/// The tab's chat client, provided as context by [`crate::App`]. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Chat {
    pub state: RwSignal<ConnState>,
    core: StoredValue<ChatState>,
    feeds: StoredValue<HashMap<RoomId, RoomFeed>>,
    /// The live connection's outgoing queue; `None` while disconnected. Unbounded because its
    /// producers are: each frame comes from a bounded outbox, one subscription per room, or a
    /// throttled typing hint, and the socket loop drains it continuously.
    link: StoredValue<Option<futures::channel::mpsc::UnboundedSender<ClientFrame>>>,
    /// The App's owner, which the feeds' signals belong to. Weak: the chat is itself owned by
    /// it, and a strong reference would keep every server render's reactive graph alive.
    owner: StoredValue<WeakOwner>,
    started: StoredValue<bool>,
    /// Source of typing-hint tokens.
    tokens: StoredValue<u64>,
    /// Parts of the page to redraw at the next animation frame. Bounded: each (room, part)
    /// is queued once, so it holds at most three entries per room the tab has opened.
    redraws: StoredValue<Vec<Redraw>>,
    /// Notified when the user's room list changed (see [`Chat::room_list`]).
    list: Trigger,
    /// Notifications for the page to show (see [`Chat::take_notices`]); at most
    /// [`NOTICES_WAITING`].
    notices: RwSignal<VecDeque<Notice>>,
    /// How often the page redraws (only the browser spaces its redraws).
    #[cfg(feature = "hydrate")]
    pace: StoredValue<Pace>,
    /// When the queued redraw is due ([`now_ms`], `None` while none is queued) and the number
    /// of the timer set for it: a timer superseded by an earlier one (for the reader's own
    /// action) does nothing.
    #[cfg(feature = "hydrate")]
    due: StoredValue<(Option<f64>, u64)>,
}

impl Chat {
    /// Creates the (not yet connected) client in the current owner and provides it as context.
    pub fn provide() -> Self {
        let chat = Self {
            state: RwSignal::new(ConnState::Idle),
            core: StoredValue::new(ChatState::default()),
            feeds: StoredValue::new(HashMap::new()),
            link: StoredValue::new(None),
            owner: StoredValue::new(Owner::current().unwrap_or_default().downgrade()),
            started: StoredValue::new(false),
            tokens: StoredValue::new(0),
            redraws: StoredValue::new(Vec::new()),
            list: Trigger::new(),
            notices: RwSignal::new(VecDeque::new()),
            #[cfg(feature = "hydrate")]
            pace: StoredValue::new(Pace::default()),
            #[cfg(feature = "hydrate")]
            due: StoredValue::new((None, 0)),
        };
        provide_context(chat);
        chat
    }

    pub fn expect() -> Self {
        expect_context::<Self>()
    }

    /// Starts the connection for the signed-in `me`, once per tab. Only the browser connects;
    /// on the server this does nothing.
    pub fn start(&self, me: Username) {
        if self.started.get_value() {
            return;
        }
        self.started.set_value(true);
        self.core.update_value(|core| core.set_me(me));
        let known: Vec<RoomId> = self
            .feeds
            .with_value(|feeds| feeds.keys().copied().collect());
        for room_id in known {
            self.restore_kept(room_id);
        }
        #[cfg(feature = "hydrate")]
        {
            self.state.set(ConnState::Connecting);
            leptos::task::spawn_local(socket::run(*self));
        }
    }

    /// The user's rooms and invitations as the server's user stream keeps them (`None` until
    /// its first snapshot, and on the server). Tracked: a view reading it redraws with it.
    ///
    /// `None` too once the chat is disposed: a server render being torn down may still resolve
    /// a view that reads it, and a panic there would leave that response unanswered.
    pub fn room_list(&self) -> Option<Vec<RoomSummary>> {
        self.list.track();
        self.core
            .try_with_value(|core| {
                core.room_list()
                    .map(|list| list.values().cloned().collect())
            })
            .flatten()
    }

    /// The notifications waiting to be shown, taken (tracked: an effect reading it runs again
    /// when more arrive).
    pub fn take_notices(&self) -> Vec<Notice> {
        self.notices.track();
        self.notices
            .try_update_untracked(|waiting| waiting.drain(..).collect())
            .unwrap_or_default()
    }

    pub fn me(&self) -> Option<Username> {
        self.core
            .try_with_value(|core| core.me().cloned())
            .flatten()
    }

    /// The feed of `room_id`, made on first use. Its signals belong to the chat, not the page.
    pub fn feed(&self, room_id: RoomId) -> RoomFeed {
        if let Some(feed) = self.known_feed(room_id) {
            return feed;
        }
        let owner = self
            .owner
            .with_value(WeakOwner::upgrade)
            .or_else(Owner::current)
            .unwrap_or_default();
        let feed = owner.with(|| RoomFeed {
            room_id,
            core: self.core,
            messages: Trigger::new(),
            outbox: Trigger::new(),
            access: Trigger::new(),
            typing: RwSignal::new(Vec::new()),
            presence: RwSignal::new(HashMap::new()),
            membership: RwSignal::new(HashMap::new()),
            deleted_by: RwSignal::new(None),
            replying: RwSignal::new(None),
        });
        self.core.update_value(|core| {
            core.room_mut(room_id);
        });
        self.feeds.update_value(|f| {
            f.insert(room_id, feed);
        });
        feed
    }

    /// Starts listening to a feed whose history is loaded: the server replays everything after
    /// its cursor, then goes live. The sends the browser kept for the room (a reload, a closed
    /// tab) come back first. Idempotent.
    pub fn open(&self, feed: RoomFeed) {
        self.restore_kept(feed.room_id);
        self.step(|core| core.open(feed.room_id));
    }

    /// Takes back the sends the browser kept for `room_id` (nothing before the user is known:
    /// [`Chat::start`] does it then for the rooms already open).
    fn restore_kept(&self, room_id: RoomId) {
        if let Some(me) = self.me() {
            let kept = saved::unsent(&me, room_id);
            if !kept.is_empty() {
                self.step(|core| core.restore(room_id, kept, now_ms() as i64));
            }
        }
    }

    /// Drops a failed send the person gave up on.
    pub fn discard(&self, feed: RoomFeed, client_id: &str) {
        self.step(|core| core.discard(feed.room_id, client_id));
    }

    /// Stops listening to a room (after leaving it).
    pub fn close(&self, room_id: RoomId) {
        self.step(|core| core.close(room_id));
    }

    /// Queues a new message (a reply to the message `reply_to`, when given); it shows as
    /// pending until its ack. Refused when the room's outbox is full (see [`outbox`]).
    pub fn send(
        &self,
        feed: RoomFeed,
        content: String,
        reply_to: Option<u64>,
    ) -> Result<(), OutboxFull> {
        let new = outbox::Unsent {
            client_id: new_client_id(),
            content,
            reply_to,
            queued_at: now_ms() as i64,
        };
        let commands = self
            .core
            .try_update_value(|core| core.send(feed.room_id, new))
            .unwrap_or(Ok(Vec::new()))?;
        self.carry_out(commands);
        Ok(())
    }

    /// Resends a failed message with its original `client_id`.
    pub fn retry(&self, feed: RoomFeed, client_id: &str) {
        self.step(|core| core.retry(feed.room_id, client_id));
    }

    /// Tells the room we are typing (the caller throttles).
    pub fn typing(&self, room_id: RoomId) {
        self.step(|core| core.typing(room_id));
    }

    /// Whether a connection is up right now.
    pub fn is_linked(&self) -> bool {
        self.link.with_value(Option::is_some)
    }

    /// A connection is up: the state machine resubscribes and resends.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn on_connected(&self, link: futures::channel::mpsc::UnboundedSender<ClientFrame>) {
        self.link.set_value(Some(link));
        self.step(ChatState::connected);
        self.state.set(ConnState::Connected);
    }

    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn on_disconnected(&self) {
        self.link.set_value(None);
        self.core.update_value(ChatState::disconnected);
        self.state.set(ConnState::Reconnecting);
    }

    /// Applies one frame from the server.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn on_frame(&self, frame: ServerFrame) {
        self.step(|core| core.apply(frame));
    }

    /// Writes `room_id`'s outbox to the browser's storage: every change of it comes with a
    /// redraw of it, so this runs at each.
    fn keep_outbox(&self, room_id: RoomId) {
        let kept = self
            .core
            .try_with_value(|core| core.me().cloned().map(|me| (me, core.unsent(room_id))))
            .flatten();
        if let Some((me, sends)) = kept {
            saved::keep_unsent(&me, room_id, &sends);
        }
    }

    fn known_feed(&self, room_id: RoomId) -> Option<RoomFeed> {
        self.feeds.with_value(|f| f.get(&room_id).copied())
    }

    /// One step of the state machine, then its commands.
    fn step(&self, f: impl FnOnce(&mut ChatState) -> Vec<Command>) {
        if let Some(commands) = self.core.try_update_value(f) {
            self.carry_out(commands);
        }
    }

    fn carry_out(&self, commands: Vec<Command>) {
        for command in commands {
            match command {
                Command::Transmit(frame) => self.link.with_value(|link| {
                    if let Some(link) = link {
                        // A closed channel means the connection is going down; the state
                        // keeps what must be repeated after the reconnect.
                        let _gone = link.unbounded_send(frame);
                    }
                }),
                Command::ResendAfter {
                    after,
                    room_id,
                    client_id,
                } => {
                    let chat = *self;
                    set_timeout(
                        move || chat.step(|core| core.resend_due(room_id, &client_id)),
                        after,
                    );
                }
                Command::ResubscribeAfter { after, room_id } => {
                    let chat = *self;
                    set_timeout(
                        move || chat.step(|core| core.resubscribe_due(room_id)),
                        after,
                    );
                }
                Command::Redraw(room_id, part) => {
                    match part {
                        Part::Outbox => self.keep_outbox(room_id),
                        #[cfg(feature = "hydrate")]
                        Part::Messages => self.pace.update_value(Pace::arrived),
                        _ => {}
                    }
                    self.redraw(Redraw::Room(room_id, part));
                }
                Command::RedrawRoomList => self.redraw(Redraw::RoomList),
                Command::ShowTyping { room_id, user } => {
                    if let Some(feed) = self.known_feed(room_id) {
                        self.show_typing(feed, user);
                    }
                }
                Command::Presence {
                    room_id,
                    user,
                    online,
                } => {
                    if let Some(feed) = self.known_feed(room_id) {
                        feed.presence.update(|p| {
                            p.insert(user.key(), (user, online));
                        });
                    }
                }
                Command::Membership(event) => {
                    if let Some(feed) = self.known_feed(event.room_id) {
                        feed.membership.update(|changes| {
                            changes.insert(event.user.key(), event);
                        });
                    }
                }
                Command::RoomDeleted(event) => {
                    if let Some(feed) = self.known_feed(event.room_id) {
                        feed.deleted_by.set(Some(event.sender));
                    }
                }
                Command::Notify(notice) => self.notices.update(|waiting| {
                    if waiting.len() == NOTICES_WAITING {
                        waiting.pop_front();
                    }
                    waiting.push_back(notice);
                }),
                Command::SignIn => {
                    // The session ended (signed out in another tab, everywhere, or expired).
                    #[cfg(feature = "hydrate")]
                    {
                        let _navigated = window().location().assign("/login");
                    }
                }
            }
        }
    }

    /// Queues a part of the page for the next redraw (see the module docs). The server has no
    /// frames and the native tests no browser: they redraw at once.
    fn redraw(&self, what: Redraw) {
        let queued = self
            .redraws
            .try_update_value(|queued| {
                if !queued.contains(&what) {
                    queued.push(what);
                }
            })
            .is_some();
        if !queued {
            return;
        }
        let chat = *self;
        #[cfg(feature = "hydrate")]
        {
            // The reader's own actions wait less than the room's messages: an earlier redraw
            // is set for them when the one queued is further off.
            // A room's message finds its redraw already set (the pace's gap cannot shrink before
            // it): one lookup a message, no clock.
            let own = matches!(what, Redraw::Room(_, Part::Outbox | Part::Access));
            let (due, last_timer) = self.due.get_value();
            if due.is_some() && !own {
                return;
            }
            let now = now_ms();
            let wait = self.pace.with_value(|pace| pace.wait(now, own));
            if due.is_some_and(|at| at <= now + wait) {
                return;
            }
            let timer = last_timer.wrapping_add(1);
            self.due.set_value((Some(now + wait), timer));
            let at_frame = move || {
                request_animation_frame(move || {
                    if chat
                        .due
                        .try_get_value()
                        .is_some_and(|(due, t)| due.is_some() && t == timer)
                    {
                        chat.redraw_queued();
                    }
                })
            };
            if wait > 0.0 {
                set_timeout(at_frame, std::time::Duration::from_secs_f64(wait / 1000.0));
            } else {
                at_frame();
            }
        }
        #[cfg(not(feature = "hydrate"))]
        chat.redraw_queued();
    }

    /// Redraws every queued part once.
    fn redraw_queued(&self) {
        let Some(queued) = self.redraws.try_update_value(std::mem::take) else {
            return;
        };
        #[cfg(feature = "hydrate")]
        {
            let now = now_ms();
            self.due.update_value(|(due, _)| *due = None);
            self.pace.update_value(|pace| pace.redrawn(now));
        }
        for what in queued {
            let Redraw::Room(room_id, part) = what else {
                self.list.notify();
                continue;
            };
            if let Some(feed) = self.known_feed(room_id) {
                match part {
                    Part::Messages => {
                        feed.skip_unseen();
                        feed.messages.notify();
                    }
                    Part::Outbox => feed.outbox.notify(),
                    Part::Access => feed.access.notify(),
                }
            }
        }
    }

    fn show_typing(&self, feed: RoomFeed, user: Username) {
        let token = self.tokens.with_value(|t| *t + 1);
        self.tokens.set_value(token);
        let key = user.key();
        feed.typing.update(|typing| {
            typing.retain(|(u, _)| u.key() != key);
            typing.push((user, token));
        });
        set_timeout(
            move || {
                feed.typing
                    .update(|typing| typing.retain(|(_, t)| *t != token));
            },
            std::time::Duration::from_millis(TYPING_SHOWN_MS),
        );
    }
}

/// A fresh id for one send: random, printable ASCII, well under 64 characters.
pub fn new_client_id() -> String {
    client_id_from(js_sys::Math::random(), js_sys::Math::random())
}

/// `c` and two random numbers in `[0, 1)` as 53-bit hex: at most 29 characters.
fn client_id_from(a: f64, b: f64) -> String {
    const TWO_POW_53: f64 = 9_007_199_254_740_992.0;
    format!(
        "c{:x}-{:x}",
        (a * TWO_POW_53) as u64,
        (b * TWO_POW_53) as u64
    )
}

/// Milliseconds since the epoch, in the browser.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ChatMessage;

    #[test]
    fn client_ids_are_valid_protocol_ids() {
        for (a, b) in [(0.0, 0.0), (0.5, 0.25), (0.999_999_999_9, 0.999_999_999_9)] {
            let id = client_id_from(a, b);
            assert!(crate::model::ClientId::parse(&id).is_ok(), "{id}");
        }
    }

    #[test]
    fn a_frame_redraws_the_feed_and_the_reconnect_frames_reach_the_link() {
        let owner = Owner::new();
        owner.set();
        let chat = Chat::provide();
        chat.start(Username::parse("ana").expect("valid test name"));
        let feed = chat.feed(RoomId(1));
        chat.open(feed);
        let (link, mut frames) = futures::channel::mpsc::unbounded();
        chat.on_connected(link);
        chat.on_frame(ServerFrame::Message(ChatMessage {
            room_id: RoomId(1),
            seq: 3,
            id: 9,
            sender: Username::parse("ben").expect("valid test name"),
            content: "hi".into(),
            ts: 0,
            client_id: "b3".into(),
            edited: None,
            reply_to: None,
            reactions: None,
        }));
        assert_eq!(feed.with_window_untracked(Window::newest_seq), Some(3));
        assert_eq!(frames.try_recv().ok(), Some(ClientFrame::SubscribeUser));
        assert_eq!(
            frames.try_recv().ok(),
            Some(ClientFrame::Subscribe {
                room_id: RoomId(1),
                after_seq: Some(0),
            })
        );
        assert_eq!(chat.state.get_untracked(), ConnState::Connected);
    }

    #[test]
    fn notices_wait_for_the_page_bounded_newest_kept() {
        let owner = Owner::new();
        owner.set();
        let chat = Chat::provide();
        let notice = |seq| Notice {
            room_id: RoomId(1),
            seq,
            title: "ben".into(),
            body: format!("m{seq}"),
        };
        chat.carry_out((1..=6).map(|seq| Command::Notify(notice(seq))).collect());
        let seqs: Vec<u64> = chat.take_notices().iter().map(|n| n.seq).collect();
        assert_eq!(seqs, [3, 4, 5, 6]);
        assert_eq!(NOTICES_WAITING, 4);
        assert_eq!(chat.take_notices(), [], "taken once");
    }

    #[test]
    fn a_disposed_chat_reads_as_empty_instead_of_panicking() {
        let root = Owner::new();
        root.set();
        let page = root.child();
        let chat = page.with(Chat::provide);
        page.cleanup();
        assert_eq!(chat.room_list(), None);
        assert_eq!(chat.me(), None);
    }
}
