//! What every connection test stands on: a server side built from in-memory parts (the memory
//! message store, a membership set, a processor that stores at once) and one client talking to
//! it through channels instead of a socket.

use crate::accounts::Session;
use crate::bus::{LocalBus, SUBSCRIBER_QUEUE};
use crate::hub::{Hub, SessionKey};
use crate::processor::{SendError, SendRequest};
use crate::ratelimit::{RateLimit, RateLimiter};
use crate::store::contract::new;
use crate::store::memory::MemoryMessageStore;
use crate::store::{Appended, MessageStore, NewEntry, StoredEntry};
use crate::ws::connection::Connection;
use crate::ws::writer::Framing;
use crate::ws::{Authority, ConnDeps, ConnLimits, Submit};
use app::api::ApiError;
use app::model::{NotifyLevel, Role, RoomId, RoomSummary, UserId, UserInfo, Username, Visibility};
use app::protocol::ServerFrame;
use axum::extract::ws::Message;
use futures::channel::mpsc;
use futures::future::BoxFuture;
use futures::{FutureExt, SinkExt, StreamExt};
use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub(super) const ROOM: RoomId = RoomId(1);
pub(super) const ANA: UserId = UserId(1);

/// The memory store, and a counter that numbers the client ids of [`Log::append`]'s messages.
#[derive(Default)]
pub(super) struct Log {
    pub(super) store: Arc<MemoryMessageStore>,
    sent: AtomicU64,
}

impl Log {
    /// Stores `count` messages from bob in `room`, at once.
    pub(super) fn append(&self, room: RoomId, count: usize) -> Vec<StoredEntry> {
        let batch = (0..count)
            .map(|_| {
                let n = self.sent.fetch_add(1, Ordering::Relaxed);
                NewEntry {
                    sender: Username::parse("bob").unwrap(),
                    ..new(room.0, &format!("c{n}"), &format!("message {n}"), 0)
                }
            })
            .collect();
        self.append_now(batch)
    }

    fn append_now(&self, batch: Vec<NewEntry>) -> Vec<StoredEntry> {
        let appended = self
            .store
            .append(batch)
            .now_or_never()
            .expect("the memory store answers at once")
            .unwrap();
        appended
            .into_iter()
            .map(|a| match a {
                Appended::Stored(m) => m,
                other => panic!("expected a stored message, got {other:?}"),
            })
            .collect()
    }
}

/// Memberships, and the sign-ins that are still valid.
#[derive(Default)]
pub(super) struct Members(
    pub(super) Mutex<BTreeSet<(UserId, RoomId)>>,
    pub(super) Mutex<HashSet<SessionKey>>,
);

impl Authority for Members {
    fn check_member(&self, user: UserId, room: RoomId) -> Result<(), ApiError> {
        match self.0.lock().unwrap().contains(&(user, room)) {
            true => Ok(()),
            false => Err(ApiError::NotMember),
        }
    }

    fn rooms_of(&self, user: UserId) -> Vec<RoomId> {
        let members = self.0.lock().unwrap();
        members
            .iter()
            .filter(|(u, _)| *u == user)
            .map(|(_, r)| *r)
            .collect()
    }

    fn room_list<'a>(
        &'a self,
        user: &'a UserInfo,
    ) -> BoxFuture<'a, Result<Vec<RoomSummary>, ApiError>> {
        let rows = self.rooms_of(user.id).into_iter().map(member_row).collect();
        futures::future::ready(Ok(rows)).boxed()
    }

    fn own_row<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
    ) -> BoxFuture<'a, Option<RoomSummary>> {
        let row = self
            .check_member(user.id, room)
            .ok()
            .map(|()| member_row(room));
        futures::future::ready(row).boxed()
    }

    fn session_active<'a>(&'a self, session: &'a SessionKey) -> BoxFuture<'a, bool> {
        futures::future::ready(self.1.lock().unwrap().contains(session)).boxed()
    }
}

/// A member's row of `room` (the harness keeps no names or counts).
pub(super) fn member_row(room: RoomId) -> RoomSummary {
    RoomSummary {
        id: room,
        name: format!("room {room}"),
        topic: String::new(),
        member_count: 1,
        is_member: true,
        last_read_seq: 0,
        last_seq: 0,
        last_activity: None,
        unread: 0,
        mentions: 0,
        visibility: Visibility::Public,
        role: Some(Role::Member),
        invited: false,
        direct_with: Vec::new(),
        notify: NotifyLevel::Mentions,
        newest_unread: None,
    }
}

/// Stores at once, publishes, and acks: the processor without its batching.
struct StoreAtOnce {
    log: Arc<Log>,
    hub: Hub,
}

impl Submit for StoreAtOnce {
    fn submit(&self, request: SendRequest) -> Result<(), SendError> {
        let stored = self.log.append_now(vec![NewEntry {
            room_id: request.room_id,
            sender: request.sender,
            client_id: request.client_id,
            body: request.body,
            ts: 0,
        }]);
        self.hub.publish(&stored);
        let _sent = request.reply.send(Ok(stored[0].ack.clone()));
        Ok(())
    }
}

/// Ana's one sign-in.
pub(super) fn ana_session() -> SessionKey {
    SessionKey("ana's session".into())
}

/// The server side of one connection: hub, log and members, and what the connection is given.
pub(super) struct Server {
    pub(super) hub: Hub,
    pub(super) bus: Arc<LocalBus>,
    pub(super) log: Arc<Log>,
    pub(super) members: Arc<Members>,
    pub(super) deps: ConnDeps,
    /// How Ana's connection writes (one frame per message unless a test says otherwise).
    pub(super) framing: Framing,
}

impl Server {
    /// A server where Ana is a member of [`ROOM`]; connections get a message queue of
    /// `outbound_queue` frames.
    pub(super) fn new(outbound_queue: usize) -> Self {
        let hub = Hub::default();
        let log = Arc::new(Log::default());
        let members = Arc::new(Members::default());
        members.0.lock().unwrap().insert((ANA, ROOM));
        members.1.lock().unwrap().insert(ana_session());
        let bus = Arc::new(LocalBus::new(hub.clone(), SUBSCRIBER_QUEUE));
        let deps = ConnDeps {
            hub: hub.clone(),
            bus: bus.clone(),
            processor: Arc::new(StoreAtOnce {
                log: log.clone(),
                hub: hub.clone(),
            }),
            authority: members.clone(),
            messages: log.store.clone(),
            limiter: unlimited(),
            typing: unlimited(),
            presence: unlimited(),
            shutdown: CancellationToken::new(),
            limits: ConnLimits {
                outbound_queue,
                ping_every: Duration::from_secs(30),
            },
        };
        Self {
            hub,
            bus,
            log,
            members,
            deps,
            framing: Framing::Single,
        }
    }

    /// Connects Ana through `sink` and `stream`; the connection runs on its own task.
    pub(super) fn connect_ana<W, R>(&self, sink: W, stream: R) -> tokio::task::JoinHandle<()>
    where
        W: futures::Sink<Message> + Unpin + Send + 'static,
        R: futures::Stream<Item = Result<Message, String>> + Unpin + Send + 'static,
    {
        let key = ana_session();
        let session = Session {
            user: UserInfo {
                id: ANA,
                username: Username::parse("ana").unwrap(),
            },
            key: key.clone(),
            expires: crate::clock::now_ms() + 3_600_000,
        };
        let registration = self.hub.connect(ANA, key, None).unwrap();
        let deps = self.deps.clone();
        tokio::spawn(Connection::run(
            deps,
            session,
            registration,
            sink,
            self.framing,
            stream,
        ))
    }
}

/// A server side (hub, log, members) and one client connected to it through channels.
pub(super) struct Harness {
    pub(super) hub: Hub,
    pub(super) bus: Arc<LocalBus>,
    pub(super) log: Arc<Log>,
    pub(super) members: Arc<Members>,
    pub(super) shutdown: CancellationToken,
    to_server: mpsc::UnboundedSender<Result<Message, String>>,
    from_server: mpsc::UnboundedReceiver<Message>,
    pub(super) task: tokio::task::JoinHandle<()>,
}

fn unlimited<K: std::hash::Hash + Eq + Clone>() -> RateLimiter<K> {
    RateLimiter::new(RateLimit {
        per_sec: 0.0,
        burst: 0.0,
    })
}

impl Harness {
    /// Ana, a member of [`ROOM`], connected, with a message queue of `outbound_queue` frames.
    pub(super) fn start(outbound_queue: usize) -> Self {
        Self::connect(Server::new(outbound_queue))
    }

    /// Ana connected to `server`.
    pub(super) fn connect(server: Server) -> Self {
        let (to_server, stream) = mpsc::unbounded();
        let (sink, from_server) = mpsc::unbounded();
        let task = server.connect_ana(sink, stream);
        Self {
            hub: server.hub,
            bus: server.bus,
            log: server.log,
            members: server.members,
            shutdown: server.deps.shutdown.clone(),
            to_server,
            from_server,
            task,
        }
    }

    pub(super) async fn send(&mut self, json: serde_json::Value) {
        let text = json.to_string().into();
        self.to_server.send(Ok(Message::Text(text))).await.unwrap();
    }

    pub(super) async fn next_message(&mut self) -> Message {
        tokio::time::timeout(Duration::from_secs(60), self.from_server.next())
            .await
            .expect("the connection answers")
            .expect("the connection is open")
    }

    pub(super) async fn next(&mut self) -> ServerFrame {
        match self.next_message().await {
            Message::Text(text) => serde_json::from_str(&text).unwrap(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The frames of the next message, on the lines protocol: one per line.
    pub(super) async fn next_lines(&mut self) -> Vec<ServerFrame> {
        match self.next_message().await {
            Message::Text(text) => app::protocol::frames(&text)
                .map(|line| serde_json::from_str(line).unwrap())
                .collect(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The seqs of the next `count` frames, which must all be messages.
    pub(super) async fn seqs(&mut self, count: usize) -> Vec<u64> {
        let mut seqs = Vec::new();
        for _ in 0..count {
            match self.next().await {
                ServerFrame::Message(m) => seqs.push(m.seq),
                other => panic!("expected a message, got {other:?}"),
            }
        }
        seqs
    }

    pub(super) async fn subscribe(&mut self, after_seq: Option<u64>) {
        self.send(
            serde_json::json!({"type": "subscribe", "room_id": ROOM, "after_seq": after_seq}),
        )
        .await;
    }

    /// Stores `count` messages in `ROOM` and hands them to the hub, as the processor does.
    pub(super) fn store(&self, count: usize) {
        self.hub.publish(&self.log.append(ROOM, count));
    }

    /// Pings and expects the pong: everything sent before it has been seen.
    pub(super) async fn nothing_more(&mut self) {
        self.send(serde_json::json!({"type": "ping"})).await;
        assert_eq!(self.next().await, ServerFrame::Pong);
    }

    /// [`Harness::nothing_more`] on the lines protocol.
    pub(super) async fn nothing_more_on_lines(&mut self) {
        self.send(serde_json::json!({"type": "ping"})).await;
        assert_eq!(self.next_lines().await, [ServerFrame::Pong]);
    }

    pub(super) async fn expect_close(&mut self, code: u16) {
        match self.next_message().await {
            Message::Close(Some(frame)) => assert_eq!(frame.code, code),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

pub(super) fn subscribed(last_seq: u64) -> ServerFrame {
    ServerFrame::Subscribed {
        room_id: ROOM,
        last_seq,
        first_seq: None,
    }
}
