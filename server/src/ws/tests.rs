//! The connection loop driven through channels instead of a socket, over the in-memory store and
//! membership: subscribe + replay + live, catch-up after a lag, revocation, the session's end,
//! shutdown grace and pings. The processor is replaced by one that stores at once.

use super::connection::Connection;
use super::{Authority, ConnDeps, ConnLimits, Submit};
use crate::accounts::Session;
use crate::bus::{Bus, BusEvent, LocalBus, SUBSCRIBER_QUEUE};
use crate::hub::{Hub, SessionKey};
use crate::processor::{Ack, SendError, SendRequest};
use crate::ratelimit::{RateLimit, RateLimiter};
use crate::store::memory::MemoryMessageStore;
use crate::store::{
    Appended, Durability, MessageStore, NewEntry, RoomHead, StoreError, StoredEntry,
};
use app::api::ApiError;
use app::model::{ClientId, MessageBody, RoomId, UserId, UserInfo, Username};
use app::protocol::{ErrorCode, ServerFrame};
use app::timeline::Entry;
use axum::extract::ws::Message;
use futures::channel::mpsc;
use futures::future::BoxFuture;
use futures::{FutureExt, SinkExt, StreamExt};
use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const ROOM: RoomId = RoomId(1);
const ANA: UserId = UserId(1);

/// Runs once, inside the next `head` read (after the connection registered with the hub).
type HeadHook = Box<dyn FnOnce() + Send>;

/// The memory store, with a hook into its next `head` read.
#[derive(Default)]
struct Store {
    inner: MemoryMessageStore,
    on_head: Mutex<Option<HeadHook>>,
    /// Numbers the client ids of [`Store::append`]'s messages.
    sent: AtomicU64,
}

impl Store {
    /// Stores `count` messages from bob in `room`, at once.
    fn append(&self, room: RoomId, count: usize) -> Vec<StoredEntry> {
        let batch = (0..count)
            .map(|_| {
                let n = self.sent.fetch_add(1, Ordering::Relaxed);
                new_message(room, "bob", &format!("c{n}"), &format!("message {n}"))
            })
            .collect();
        self.append_now(batch)
    }

    fn append_now(&self, batch: Vec<NewEntry>) -> Vec<StoredEntry> {
        let appended = self
            .inner
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

fn new_message(room: RoomId, sender: &str, client_id: &str, content: &str) -> NewEntry {
    NewEntry {
        room_id: room,
        sender: Username::parse(sender).unwrap(),
        client_id: ClientId::parse(client_id).unwrap(),
        body: crate::store::Body::Text(MessageBody::parse(content).unwrap()),
        ts: 0,
    }
}

impl MessageStore for Store {
    fn append(&self, batch: Vec<NewEntry>) -> BoxFuture<'_, Result<Vec<Appended>, StoreError>> {
        self.inner.append(batch)
    }

    fn head(&self, room: RoomId) -> BoxFuture<'_, Result<RoomHead, StoreError>> {
        if let Some(hook) = self.on_head.lock().unwrap().take() {
            hook();
        }
        self.inner.head(room)
    }

    fn read_range(
        &self,
        room: RoomId,
        from: u64,
        to: u64,
    ) -> BoxFuture<'_, Result<Vec<Entry>, StoreError>> {
        self.inner.read_range(room, from, to)
    }

    fn durability(&self) -> Durability {
        self.inner.durability()
    }
}

/// Memberships, and the sign-ins that are still valid.
#[derive(Default)]
struct Members(
    Mutex<BTreeSet<(UserId, RoomId)>>,
    Mutex<HashSet<SessionKey>>,
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

    fn session_active<'a>(&'a self, session: &'a SessionKey) -> BoxFuture<'a, bool> {
        futures::future::ready(self.1.lock().unwrap().contains(session)).boxed()
    }
}

/// Stores at once, publishes, and acks: the processor without its batching.
struct StoreAtOnce {
    log: Arc<Store>,
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
fn ana_session() -> SessionKey {
    SessionKey("ana's session".into())
}

/// The server side of one connection: hub, log and members, and what the connection is given.
struct Server {
    hub: Hub,
    bus: Arc<LocalBus>,
    log: Arc<Store>,
    members: Arc<Members>,
    deps: ConnDeps,
}

impl Server {
    /// A server where Ana is a member of [`ROOM`]; connections get a message queue of
    /// `outbound_queue` frames.
    fn new(outbound_queue: usize) -> Self {
        let hub = Hub::default();
        let log = Arc::new(Store::default());
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
            messages: log.clone(),
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
        }
    }

    /// Connects Ana through `sink` and `stream`; the connection runs on its own task.
    fn connect_ana<W, R>(&self, sink: W, stream: R) -> tokio::task::JoinHandle<()>
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
        tokio::spawn(Connection::run(deps, session, registration, sink, stream))
    }
}

/// A server side (hub, log, members) and one client connected to it through channels.
struct Harness {
    hub: Hub,
    bus: Arc<LocalBus>,
    log: Arc<Store>,
    members: Arc<Members>,
    shutdown: CancellationToken,
    to_server: mpsc::UnboundedSender<Result<Message, String>>,
    from_server: mpsc::UnboundedReceiver<Message>,
    task: tokio::task::JoinHandle<()>,
}

fn unlimited<K: std::hash::Hash + Eq + Clone>() -> RateLimiter<K> {
    RateLimiter::new(RateLimit {
        per_sec: 0.0,
        burst: 0.0,
    })
}

impl Harness {
    /// Ana, a member of [`ROOM`], connected, with a message queue of `outbound_queue` frames.
    fn start(outbound_queue: usize) -> Self {
        let server = Server::new(outbound_queue);
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

    async fn send(&mut self, json: serde_json::Value) {
        let text = json.to_string().into();
        self.to_server.send(Ok(Message::Text(text))).await.unwrap();
    }

    async fn next_message(&mut self) -> Message {
        tokio::time::timeout(Duration::from_secs(60), self.from_server.next())
            .await
            .expect("the connection answers")
            .expect("the connection is open")
    }

    async fn next(&mut self) -> ServerFrame {
        match self.next_message().await {
            Message::Text(text) => serde_json::from_str(&text).unwrap(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The seqs of the next `count` frames, which must all be messages.
    async fn seqs(&mut self, count: usize) -> Vec<u64> {
        let mut seqs = Vec::new();
        for _ in 0..count {
            match self.next().await {
                ServerFrame::Message(m) => seqs.push(m.seq),
                other => panic!("expected a message, got {other:?}"),
            }
        }
        seqs
    }

    async fn subscribe(&mut self, after_seq: Option<u64>) {
        self.send(
            serde_json::json!({"type": "subscribe", "room_id": ROOM, "after_seq": after_seq}),
        )
        .await;
    }

    /// Stores `count` messages in `ROOM` and hands them to the hub, as the processor does.
    fn store(&self, count: usize) {
        self.hub.publish(&self.log.append(ROOM, count));
    }

    /// Pings and expects the pong: everything sent before it has been seen.
    async fn nothing_more(&mut self) {
        self.send(serde_json::json!({"type": "ping"})).await;
        assert_eq!(self.next().await, ServerFrame::Pong);
    }

    async fn expect_close(&mut self, code: u16) {
        match self.next_message().await {
            Message::Close(Some(frame)) => assert_eq!(frame.code, code),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

fn subscribed(last_seq: u64) -> ServerFrame {
    ServerFrame::Subscribed {
        room_id: ROOM,
        last_seq,
        first_seq: None,
    }
}

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
    *client.log.on_head.lock().unwrap() = Some(Box::new(move || hub.publish(&log.append(ROOM, 1))));
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

#[tokio::test]
async fn a_revoked_room_delivers_nothing_more_not_even_through_catch_up() {
    let mut client = Harness::start(1);
    client.subscribe(None).await;
    assert_eq!(client.next().await, subscribed(0));
    client.members.0.lock().unwrap().remove(&(ANA, ROOM));
    client.bus.publish(BusEvent::MembershipChanged {
        room: ROOM,
        user: ANA,
        member: false,
    });
    client.store(5);
    match client.next().await {
        ServerFrame::Error(e) => {
            assert_eq!((e.code, e.room_id), (ErrorCode::NotMember, Some(ROOM)));
        }
        other => panic!("expected not_member, got {other:?}"),
    }
    client.nothing_more().await;
}

#[tokio::test]
async fn a_resync_revokes_a_room_left_without_its_event() {
    let mut client = Harness::start(64);
    client.subscribe(None).await;
    assert_eq!(client.next().await, subscribed(0));
    // The leave happened (on another node, say) and its bus event was lost.
    client.members.0.lock().unwrap().remove(&(ANA, ROOM));
    client.store(1);
    assert_eq!(client.seqs(1).await, [1]);
    client.bus.publish(BusEvent::Resync);
    client.store(1);
    match client.next().await {
        ServerFrame::Error(e) => {
            assert_eq!((e.code, e.room_id), (ErrorCode::NotMember, Some(ROOM)));
        }
        other => panic!("expected not_member, got {other:?}"),
    }
    client.nothing_more().await;
}

#[tokio::test]
async fn a_resync_closes_a_socket_whose_session_ended_without_its_event() {
    let mut client = Harness::start(64);
    client.members.1.lock().unwrap().clear();
    client.nothing_more().await;
    client.bus.publish(BusEvent::Resync);
    assert!(
        matches!(client.next().await, ServerFrame::Error(e) if e.code == ErrorCode::Unauthorized)
    );
    client.expect_close(4001).await;
}

#[tokio::test]
async fn a_resync_keeps_a_member_subscribed_and_catches_up_what_it_lacks() {
    let mut client = Harness::start(64);
    client.subscribe(None).await;
    assert_eq!(client.next().await, subscribed(0));
    // Stored, but its hand-off to the hub was lost.
    client.log.append(ROOM, 2);
    client.bus.publish(BusEvent::Resync);
    assert_eq!(client.seqs(2).await, [1, 2]);
    client.store(1);
    assert_eq!(client.seqs(1).await, [3]);
    client.nothing_more().await;
}

#[tokio::test]
async fn a_non_member_cannot_subscribe() {
    let mut client = Harness::start(64);
    client.members.0.lock().unwrap().clear();
    client.subscribe(Some(0)).await;
    assert!(matches!(client.next().await, ServerFrame::Error(e) if e.code == ErrorCode::NotMember));
    client.store(1);
    client.nothing_more().await;
}

#[tokio::test]
async fn an_ended_session_is_told_and_closed_with_4001() {
    let mut client = Harness::start(64);
    client.bus.publish(BusEvent::UserSignedOut { user: ANA });
    assert!(
        matches!(client.next().await, ServerFrame::Error(e) if e.code == ErrorCode::Unauthorized)
    );
    client.expect_close(4001).await;
}

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
        waited >= super::connection::WRITE_TIMEOUT,
        "gave up after {waited:?}, before the write timeout"
    );
    assert_eq!(server.hub.connections(), 0, "the hub forgot the connection");
}
