//! The browser's live connection: one WebSocket to `/ws` per tab, shared by every page through
//! the [`Chat`] context.
//!
//! Why one owner for the socket: a room's messages arrive on it, our own sends are answered on
//! it, and after a reconnect every open room must be resumed from exactly the seq it last saw and
//! every unanswered send must be repeated with its original `client_id`. Keeping that state in
//! one place ([`RoomFeed`]s inside [`Chat`]) is what lets the page promise *no gap and no
//! duplicate*:
//!
//! - a room's messages live in a map keyed by seq, so order is by seq and a message delivered
//!   twice (an ack, then its broadcast; a replay after a reconnect) is shown once;
//! - `subscribe` always names the newest seq the feed holds (0 when empty), never `null`, so the
//!   server replays everything after it;
//! - a send stays in the feed's outbox until its `ack` (or its own broadcast) arrives, and is
//!   resent with the same `client_id` on every reconnect; the server answers a repeat with the
//!   original ack, so nothing is stored twice.
//!
//! The server renders pages with an inert `Chat` (no socket); everything that touches the
//! browser is in the `hydrate`-only [`socket`] module and starts from an `Effect`, so the first
//! render is identical on both sides.

use crate::model::{ChatMessage, RoomId, Username};
use crate::protocol::{ClientFrame, ErrorCode, ServerFrame};
use leptos::prelude::*;
use leptos::reactive::owner::WeakOwner;
use std::collections::{BTreeMap, HashMap};

/// How long a "typing" hint stays on screen after its last frame.
pub const TYPING_SHOWN_MS: u64 = 3_000;
/// Send at most one typing frame per this many milliseconds.
pub const TYPING_THROTTLE_MS: f64 = 2_000.0;
/// How long to wait before resubscribing to a room the server dropped after a failed read.
const RESUBSCRIBE_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

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

/// Where one of our own messages is on its way to being stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendState {
    /// Sent (or waiting for a connection); no answer yet.
    Pending,
    /// The server refused it; the text says why. Retrying resends the same `client_id`.
    Failed(String),
}

/// A message we sent that has not been acknowledged yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub client_id: String,
    pub content: String,
    pub state: SendState,
}

/// Everything the tab knows about one room's live traffic. All fields are signals owned by the
/// [`Chat`], so a feed outlives the page that opened it (pending sends keep going while the
/// person looks at another page).
#[derive(Debug, Clone, Copy)]
pub struct RoomFeed {
    pub room_id: RoomId,
    /// Stored messages by seq.
    pub messages: RwSignal<BTreeMap<u64, ChatMessage>>,
    /// Our unacknowledged sends, oldest first.
    pub outbox: RwSignal<Vec<Outgoing>>,
    /// Who is typing now, each with the token of their latest hint.
    pub typing: RwSignal<Vec<(Username, u64)>>,
    /// Presence changes seen since the page loaded, by [`Username::key`].
    pub presence: RwSignal<HashMap<String, (Username, bool)>>,
    /// Why the server refused to let us listen (not a member, no such room).
    pub denied: RwSignal<Option<String>>,
    /// Whether the feed is subscribed (and must be resubscribed after a reconnect).
    open: RwSignal<bool>,
}

impl RoomFeed {
    /// The newest seq this feed holds (tracked).
    pub fn newest_seq(&self) -> Option<u64> {
        self.messages.with(|m| m.keys().next_back().copied())
    }

    /// The oldest seq this feed holds (tracked).
    pub fn oldest_seq(&self) -> Option<u64> {
        self.messages.with(|m| m.keys().next().copied())
    }

    /// Adds stored messages (from history or the socket); a seq already held is kept once.
    pub fn absorb(&self, batch: impl IntoIterator<Item = ChatMessage>) {
        let mut batch = batch.into_iter().peekable();
        if batch.peek().is_none() {
            return;
        }
        self.messages.update(|messages| {
            for message in batch {
                messages.insert(message.seq, message);
            }
        });
    }

    fn subscribe_frame(&self) -> ClientFrame {
        ClientFrame::Subscribe {
            room_id: self.room_id,
            after_seq: Some(
                self.messages
                    .with_untracked(|m| m.keys().next_back().copied())
                    .unwrap_or(0),
            ),
        }
    }
}

/// The tab's chat client, provided as context by [`crate::App`]. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Chat {
    pub state: RwSignal<ConnState>,
    /// Who this tab is signed in as, once the connection was started.
    me: StoredValue<Option<Username>>,
    feeds: StoredValue<HashMap<RoomId, RoomFeed>>,
    /// The live connection's outgoing queue; `None` while disconnected (frames are then not
    /// queued: subscriptions and pending sends are rebuilt from the feeds on reconnect).
    link: StoredValue<Option<futures::channel::mpsc::UnboundedSender<ClientFrame>>>,
    /// The App's owner, which the feeds' signals belong to. Weak: the chat is itself owned by
    /// it, and a strong reference would keep every server render's reactive graph alive.
    owner: StoredValue<WeakOwner>,
    started: StoredValue<bool>,
    /// Source of typing-hint tokens.
    tokens: StoredValue<u64>,
}

impl Chat {
    /// Creates the (not yet connected) client in the current owner and provides it as context.
    pub fn provide() -> Self {
        let chat = Self {
            state: RwSignal::new(ConnState::Idle),
            me: StoredValue::new(None),
            feeds: StoredValue::new(HashMap::new()),
            link: StoredValue::new(None),
            owner: StoredValue::new(Owner::current().unwrap_or_default().downgrade()),
            started: StoredValue::new(false),
            tokens: StoredValue::new(0),
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
        self.me.set_value(Some(me));
        #[cfg(feature = "hydrate")]
        {
            self.state.set(ConnState::Connecting);
            leptos::task::spawn_local(socket::run(*self));
        }
    }

    pub fn me(&self) -> Option<Username> {
        self.me.get_value()
    }

    /// The feed of `room_id`, made on first use. Its signals belong to the chat, not the page.
    pub fn feed(&self, room_id: RoomId) -> RoomFeed {
        if let Some(feed) = self.feeds.with_value(|f| f.get(&room_id).copied()) {
            return feed;
        }
        let owner = self
            .owner
            .with_value(WeakOwner::upgrade)
            .or_else(Owner::current)
            .unwrap_or_default();
        let feed = owner.with(|| RoomFeed {
            room_id,
            messages: RwSignal::new(BTreeMap::new()),
            outbox: RwSignal::new(Vec::new()),
            typing: RwSignal::new(Vec::new()),
            presence: RwSignal::new(HashMap::new()),
            denied: RwSignal::new(None),
            open: RwSignal::new(false),
        });
        self.feeds.update_value(|f| {
            f.insert(room_id, feed);
        });
        feed
    }

    /// Starts listening to a feed whose history is loaded: the server replays everything after
    /// the newest seq it holds, then goes live. Idempotent.
    pub fn open(&self, feed: RoomFeed) {
        if feed.open.get_untracked() {
            return;
        }
        feed.open.set(true);
        feed.denied.set(None);
        self.transmit(feed.subscribe_frame());
    }

    /// Stops listening to a room (after leaving it).
    pub fn close(&self, room_id: RoomId) {
        if let Some(feed) = self.feeds.with_value(|f| f.get(&room_id).copied()) {
            if feed.open.get_untracked() {
                feed.open.set(false);
                self.transmit(ClientFrame::Unsubscribe { room_id });
            }
        }
    }

    /// Queues a new message; it shows as pending until its ack.
    pub fn send(&self, feed: RoomFeed, content: String) {
        self.send_as(feed, new_client_id(), content);
    }

    fn send_as(&self, feed: RoomFeed, client_id: String, content: String) {
        feed.outbox.update(|outbox| {
            outbox.push(Outgoing {
                client_id: client_id.clone(),
                content: content.clone(),
                state: SendState::Pending,
            })
        });
        self.transmit(ClientFrame::Send {
            room_id: feed.room_id,
            client_id,
            content,
        });
    }

    /// Resends a failed message with its original `client_id`.
    pub fn retry(&self, feed: RoomFeed, client_id: &str) {
        let mut content = None;
        feed.outbox.update(|outbox| {
            if let Some(entry) = outbox.iter_mut().find(|o| o.client_id == client_id) {
                entry.state = SendState::Pending;
                content = Some(entry.content.clone());
            }
        });
        if let Some(content) = content {
            self.transmit(ClientFrame::Send {
                room_id: feed.room_id,
                client_id: client_id.to_owned(),
                content,
            });
        }
    }

    /// Tells the room we are typing (the caller throttles).
    pub fn typing(&self, room_id: RoomId) {
        self.transmit(ClientFrame::Typing { room_id });
    }

    /// Whether a connection is up right now.
    pub fn is_linked(&self) -> bool {
        self.link.with_value(Option::is_some)
    }

    fn transmit(&self, frame: ClientFrame) {
        self.link.with_value(|link| {
            if let Some(link) = link {
                // A closed channel means the connection is going down; the feeds keep what
                // must be repeated after the reconnect.
                let _gone = link.unbounded_send(frame);
            }
        });
    }

    /// A connection is up: listen again to every open room from the newest seq seen, and
    /// repeat every pending send with its original `client_id`.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn on_connected(&self, link: futures::channel::mpsc::UnboundedSender<ClientFrame>) {
        let feeds: Vec<RoomFeed> = self.feeds.with_value(|f| f.values().copied().collect());
        for feed in feeds {
            if !feed.open.get_untracked() {
                continue;
            }
            let _gone = link.unbounded_send(feed.subscribe_frame());
            feed.outbox.with_untracked(|outbox| {
                for entry in outbox.iter().filter(|o| o.state == SendState::Pending) {
                    let _gone = link.unbounded_send(ClientFrame::Send {
                        room_id: feed.room_id,
                        client_id: entry.client_id.clone(),
                        content: entry.content.clone(),
                    });
                }
            });
        }
        self.link.set_value(Some(link));
        self.state.set(ConnState::Connected);
    }

    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn on_disconnected(&self) {
        self.link.set_value(None);
        self.state.set(ConnState::Reconnecting);
    }

    fn known_feed(&self, room_id: RoomId) -> Option<RoomFeed> {
        self.feeds.with_value(|f| f.get(&room_id).copied())
    }

    /// Applies one frame from the server to the feeds.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn on_frame(&self, frame: ServerFrame) {
        match frame {
            ServerFrame::Message(message) => {
                let Some(feed) = self.known_feed(message.room_id) else {
                    return;
                };
                let mine = self
                    .me
                    .with_value(|me| me.as_ref().map(Username::key))
                    .is_some_and(|me| me == message.sender.key());
                if mine {
                    // Our own message seen before (or instead of) its ack, e.g. in a replay.
                    remove_outgoing(feed, &message.client_id);
                }
                feed.absorb([message]);
            }
            ServerFrame::Ack {
                client_id,
                room_id,
                id,
                seq,
                ts,
            } => {
                let Some(feed) = self.known_feed(room_id) else {
                    return;
                };
                let Some(sent) = remove_outgoing(feed, &client_id) else {
                    return;
                };
                let Some(sender) = self.me() else {
                    return;
                };
                if feed.messages.with_untracked(|m| !m.contains_key(&seq)) {
                    feed.absorb([ChatMessage {
                        room_id,
                        seq,
                        id,
                        sender,
                        content: sent.content,
                        ts,
                        client_id,
                    }]);
                }
            }
            ServerFrame::Error(error) => self.on_error(error),
            ServerFrame::Presence {
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
            ServerFrame::Typing { room_id, user } => {
                if let Some(feed) = self.known_feed(room_id) {
                    self.show_typing(feed, user);
                }
            }
            ServerFrame::Subscribed {
                room_id,
                first_seq: Some(first),
                ..
            } => {
                // The server replayed only the newest messages: drop what we held from before
                // the hole, so the list stays gapless ("Load older" pages back from here).
                if let Some(feed) = self.known_feed(room_id) {
                    feed.messages.update(|m| m.retain(|seq, _| *seq >= first));
                }
            }
            ServerFrame::Subscribed { .. } | ServerFrame::Unsubscribed { .. } => {}
            ServerFrame::Pong => {}
        }
    }

    fn on_error(&self, error: crate::protocol::ErrorFrame) {
        if let Some(client_id) = &error.client_id {
            let feeds: Vec<RoomFeed> = match error.room_id.and_then(|r| self.known_feed(r)) {
                Some(feed) => vec![feed],
                None => self.feeds.with_value(|f| f.values().copied().collect()),
            };
            for feed in feeds {
                let held = feed
                    .outbox
                    .with_untracked(|o| o.iter().any(|e| &e.client_id == client_id));
                if !held {
                    continue;
                }
                match (error.code, error.retry_after_ms) {
                    // Busy, not broken: keep it pending and try again when the server says.
                    (ErrorCode::RateLimited | ErrorCode::Overloaded, Some(after)) => {
                        let chat = *self;
                        let client_id = client_id.clone();
                        set_timeout(
                            move || chat.resend_if_pending(feed, &client_id),
                            std::time::Duration::from_millis(after.max(50)),
                        );
                    }
                    _ => feed.outbox.update(|outbox| {
                        if let Some(entry) = outbox.iter_mut().find(|e| &e.client_id == client_id) {
                            entry.state = SendState::Failed(error.message.clone());
                        }
                    }),
                }
            }
        } else if let Some(feed) = error.room_id.and_then(|r| self.known_feed(r)) {
            match error.code {
                ErrorCode::NotMember | ErrorCode::NoSuchRoom => {
                    feed.open.set(false);
                    feed.denied.set(Some(error.message));
                }
                // The server could not read the room's history and dropped it: ask again from
                // the newest seq held, after a moment.
                ErrorCode::Internal if feed.open.get_untracked() => {
                    let chat = *self;
                    set_timeout(
                        move || {
                            if feed.open.get_untracked() {
                                chat.transmit(feed.subscribe_frame());
                            }
                        },
                        RESUBSCRIBE_AFTER,
                    );
                }
                _ => {}
            }
        } else if error.code == ErrorCode::Unauthorized {
            // The session ended (signed out in another tab, everywhere, or expired).
            #[cfg(feature = "hydrate")]
            {
                let _navigated = window().location().assign("/login");
            }
        }
    }

    fn resend_if_pending(&self, feed: RoomFeed, client_id: &str) {
        let entry = feed.outbox.with_untracked(|o| {
            o.iter()
                .find(|e| e.client_id == client_id && e.state == SendState::Pending)
                .cloned()
        });
        if let Some(entry) = entry {
            self.transmit(ClientFrame::Send {
                room_id: feed.room_id,
                client_id: entry.client_id,
                content: entry.content,
            });
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

/// Takes a send out of the outbox; returns it when it was there.
fn remove_outgoing(feed: RoomFeed, client_id: &str) -> Option<Outgoing> {
    let index = feed
        .outbox
        .with_untracked(|o| o.iter().position(|e| e.client_id == client_id))?;
    let mut removed = None;
    feed.outbox.update(|o| removed = Some(o.remove(index)));
    removed
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

#[cfg(feature = "hydrate")]
mod socket {
    //! The connection loop: connect, keep alive, read, and reconnect with backoff.

    use super::{Chat, ConnState};
    use crate::protocol::{ClientFrame, ServerFrame};
    use futures::channel::mpsc;
    use futures::stream::{self, LocalBoxStream};
    use futures::{SinkExt, StreamExt};
    use gloo_net::websocket::{futures::WebSocket, Message};
    use gloo_timers::future::{IntervalStream, TimeoutFuture};
    use leptos::prelude::*;

    /// First retry delay; doubles up to [`BACKOFF_MAX_MS`].
    const BACKOFF_START_MS: f64 = 500.0;
    const BACKOFF_MAX_MS: f64 = 10_000.0;
    /// A ping goes out after this long without one.
    const PING_EVERY_MS: f64 = 15_000.0;
    /// A connection whose pong (or first frame) is this late is treated as dead.
    const PONG_DEADLINE_MS: f64 = 10_000.0;

    /// What the browser tells us about the network.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Network {
        Online,
        Offline,
    }

    enum Event {
        Frame(String),
        Closed,
        Out(ClientFrame),
        Tick,
        Network(Network),
        Ignore,
    }

    fn is_online() -> bool {
        window().navigator().on_line()
    }

    fn socket_url() -> String {
        let location = window().location();
        let scheme = if location.protocol().as_deref() == Ok("https:") {
            "wss"
        } else {
            "ws"
        };
        let host = location.host().unwrap_or_default();
        format!("{scheme}://{host}/ws")
    }

    fn encode(frame: &ClientFrame) -> Message {
        Message::Text(serde_json::to_string(frame).expect("client frames always serialize"))
    }

    /// Runs for the life of the tab.
    pub async fn run(chat: Chat) {
        let (network_tx, mut network) = mpsc::unbounded::<Network>();
        for (kind, online) in [("online", true), ("offline", false)] {
            let tx = network_tx.clone();
            let handle = window_event_listener_untyped(kind, move |_| {
                let _closed = tx.unbounded_send(if online {
                    Network::Online
                } else {
                    Network::Offline
                });
            });
            // The listeners live as long as the tab, like the loop.
            std::mem::forget(handle);
        }
        let mut backoff = BACKOFF_START_MS;
        loop {
            if !is_online() {
                chat.state.set(ConnState::Reconnecting);
                while let Some(event) = network.next().await {
                    if event == Network::Online {
                        break;
                    }
                }
                backoff = BACKOFF_START_MS;
            }
            if connect_once(chat, &mut network).await {
                backoff = BACKOFF_START_MS;
            }
            chat.on_disconnected();
            // Full jitter on the upper half: spreads a crowd of tabs after a server restart.
            let delay = backoff * (0.5 + js_sys::Math::random() * 0.5);
            backoff = (backoff * 2.0).min(BACKOFF_MAX_MS);
            let wait = TimeoutFuture::new(delay as u32);
            let woken = async {
                while let Some(event) = network.next().await {
                    if event == Network::Online {
                        break;
                    }
                }
            };
            futures::pin_mut!(wait, woken);
            futures::future::select(wait, woken).await;
        }
    }

    /// One connection, from open to its end. Returns whether it ever got through.
    async fn connect_once(chat: Chat, network: &mut mpsc::UnboundedReceiver<Network>) -> bool {
        let Ok(socket) = WebSocket::open(&socket_url()) else {
            return false;
        };
        let (mut sink, incoming) = socket.split();
        let (out_tx, out_rx) = mpsc::unbounded::<ClientFrame>();
        let incoming = incoming
            .map(|item| match item {
                Ok(Message::Text(text)) => Event::Frame(text),
                Ok(Message::Bytes(_)) => Event::Ignore,
                Err(_) => Event::Closed,
            })
            .chain(stream::once(async { Event::Closed }));
        let streams: Vec<LocalBoxStream<'_, Event>> = vec![
            incoming.boxed_local(),
            out_rx.map(Event::Out).boxed_local(),
            IntervalStream::new(1_000)
                .map(|()| Event::Tick)
                .boxed_local(),
            network.map(Event::Network).boxed_local(),
        ];
        let mut events = stream::select_all(streams);

        // The first ping waits for the socket to open; its pong proves the connection works.
        let mut pong_due = Some(super::now_ms() + PONG_DEADLINE_MS);
        let mut last_ping = super::now_ms();
        if sink.send(encode(&ClientFrame::Ping)).await.is_err() {
            return false;
        }
        let mut connected = false;
        while let Some(event) = events.next().await {
            match event {
                Event::Frame(text) => {
                    let Ok(frame) = serde_json::from_str::<ServerFrame>(&text) else {
                        continue;
                    };
                    if !connected {
                        connected = true;
                        chat.on_connected(out_tx.clone());
                    }
                    if frame == ServerFrame::Pong {
                        pong_due = None;
                    }
                    chat.on_frame(frame);
                }
                Event::Out(frame) => {
                    if sink.send(encode(&frame)).await.is_err() {
                        break;
                    }
                }
                Event::Tick => {
                    let now = super::now_ms();
                    match pong_due {
                        Some(due) if now > due => break,
                        Some(_) => {}
                        None if now - last_ping >= PING_EVERY_MS => {
                            if sink.send(encode(&ClientFrame::Ping)).await.is_err() {
                                break;
                            }
                            last_ping = now;
                            pong_due = Some(now + PONG_DEADLINE_MS);
                        }
                        None => {}
                    }
                }
                Event::Network(Network::Offline) | Event::Closed => break,
                Event::Network(Network::Online) | Event::Ignore => {}
            }
        }
        connected
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorFrame;

    /// A chat signed in as `me`; keep the owner alive as long as the chat is used.
    fn chat_for(me: &str) -> (Owner, Chat) {
        let owner = Owner::new();
        owner.set();
        let chat = Chat::provide();
        chat.start(Username::parse(me).expect("valid test name"));
        (owner, chat)
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

    #[test]
    fn a_message_delivered_twice_is_shown_once_in_seq_order() {
        let (_owner, chat) = chat_for("ana");
        let feed = chat.feed(RoomId(1));
        feed.absorb([message(1, 2, "ben", "b2"), message(1, 1, "ben", "b1")]);
        chat.on_frame(ServerFrame::Message(message(1, 2, "ben", "b2")));
        chat.on_frame(ServerFrame::Message(message(1, 3, "ben", "b3")));
        let seqs: Vec<u64> = feed
            .messages
            .with_untracked(|m| m.keys().copied().collect());
        assert_eq!(seqs, [1, 2, 3]);
    }

    #[test]
    fn an_ack_turns_a_pending_send_into_a_stored_message_and_its_broadcast_adds_nothing() {
        let (_owner, chat) = chat_for("ana");
        let feed = chat.feed(RoomId(1));
        chat.send_as(feed, "c1".into(), "hello".into());
        let client_id = feed.outbox.with_untracked(|o| o[0].client_id.clone());
        assert_eq!(
            feed.outbox.with_untracked(|o| o[0].state.clone()),
            SendState::Pending
        );
        chat.on_frame(ServerFrame::Ack {
            client_id: client_id.clone(),
            room_id: RoomId(1),
            id: 7,
            seq: 1,
            ts: 5,
        });
        assert!(feed.outbox.with_untracked(Vec::is_empty));
        chat.on_frame(ServerFrame::Message(message(1, 1, "ana", &client_id)));
        assert_eq!(feed.messages.with_untracked(BTreeMap::len), 1);
        assert_eq!(
            feed.messages.with_untracked(|m| m[&1].client_id.clone()),
            client_id
        );
    }

    #[test]
    fn a_replayed_own_message_clears_its_pending_copy_even_without_an_ack() {
        let (_owner, chat) = chat_for("ana");
        let feed = chat.feed(RoomId(1));
        chat.send_as(
            feed,
            "c2".into(),
            "sent before the connection dropped".into(),
        );
        let client_id = feed.outbox.with_untracked(|o| o[0].client_id.clone());
        chat.on_frame(ServerFrame::Message(message(1, 4, "ana", &client_id)));
        assert!(feed.outbox.with_untracked(Vec::is_empty));
        assert_eq!(feed.newest_seq(), Some(4));
    }

    #[test]
    fn a_refused_send_fails_and_retry_keeps_its_client_id() {
        let (_owner, chat) = chat_for("ana");
        let feed = chat.feed(RoomId(1));
        chat.send_as(feed, "c3".into(), "hi".into());
        let client_id = feed.outbox.with_untracked(|o| o[0].client_id.clone());
        chat.on_frame(ServerFrame::Error(ErrorFrame {
            client_id: Some(client_id.clone()),
            room_id: Some(RoomId(1)),
            code: ErrorCode::NotMember,
            message: "you are not a member of this room".into(),
            retry_after_ms: None,
        }));
        assert_eq!(
            feed.outbox.with_untracked(|o| o[0].state.clone()),
            SendState::Failed("you are not a member of this room".into())
        );
        chat.retry(feed, &client_id);
        let entry = feed.outbox.with_untracked(|o| o[0].clone());
        assert_eq!(entry.state, SendState::Pending);
        assert_eq!(entry.client_id, client_id);
    }

    #[test]
    fn a_reconnect_resubscribes_from_the_newest_seq_and_resends_pending_sends() {
        let (_owner, chat) = chat_for("ana");
        let empty = chat.feed(RoomId(1));
        let busy = chat.feed(RoomId(2));
        chat.open(empty);
        busy.absorb([message(2, 41, "ben", "b41"), message(2, 42, "ben", "b42")]);
        chat.open(busy);
        chat.send_as(busy, "c4".into(), "pending".into());
        let pending_id = busy.outbox.with_untracked(|o| o[0].client_id.clone());

        let (link, mut frames) = futures::channel::mpsc::unbounded();
        chat.on_connected(link);
        let mut sent = Vec::new();
        while let Ok(frame) = frames.try_recv() {
            sent.push(frame);
        }
        assert!(sent.contains(&ClientFrame::Subscribe {
            room_id: RoomId(1),
            after_seq: Some(0),
        }));
        assert!(sent.contains(&ClientFrame::Subscribe {
            room_id: RoomId(2),
            after_seq: Some(42),
        }));
        assert!(sent.contains(&ClientFrame::Send {
            room_id: RoomId(2),
            client_id: pending_id,
            content: "pending".into(),
        }));
        assert_eq!(chat.state.get_untracked(), ConnState::Connected);
    }

    #[test]
    fn client_ids_are_valid_protocol_ids() {
        for (a, b) in [(0.0, 0.0), (0.5, 0.25), (0.999_999_999_9, 0.999_999_999_9)] {
            let id = client_id_from(a, b);
            assert!(crate::model::ClientId::parse(&id).is_ok(), "{id}");
        }
    }
}
