//! The room hub: which connection listens to which room, who is online, fan-out of stored
//! messages to listeners, and the signals that end a connection's access (leave, sign-out).
//!
//! Each connection has two bounded queues, and the hub never waits on either:
//! - **Messages** (stored, seq-numbered). A message that does not fit — the queue holds
//!   `--outbound-queue` frames and `--outbound-queue-bytes` bytes at most — is not queued, and
//!   the connection is flagged as lagging in that room ([`Signals`]). The connection then
//!   catches up from the message log, which holds every message the hub has ever been handed (the
//!   processor publishes only after the log is durable). So a slow reader costs the others
//!   nothing, misses nothing, and pins a bounded amount of memory.
//! - **Events** (presence, typing): ephemeral, on their own small lane ([`EVENT_QUEUE`]); dropped
//!   when that lane is full. They can never push a stored message out of its queue, so a typing
//!   flood cannot send anybody into catch-up.
//!
//! Revocation: when a user leaves a room, the hub removes their connections from its listeners
//! and raises a signal on each, under the hub lock. A message stored after that can no longer be
//! queued for them (publishing takes the same lock), and a connection checks its signals after
//! reading the log's head and before sending anything read from the log, so catch-up cannot
//! deliver it either. Sign-out and expiry end every connection of the session the same way.

use crate::fasthash::FastMap;
use app::model::{ChatMessage, RoomId, UserId};
use app::protocol::ServerFrame;
use axum::extract::ws::Utf8Bytes;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, Notify};

pub type ConnId = u64;

/// Ephemeral frames (presence, typing) one connection may have waiting; more are dropped (a
/// typing hint is stale a second later, and the member list is fetched again anyway).
pub const EVENT_QUEUE: usize = 64;

/// A stored message, serialized once for all of its receivers.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub room: RoomId,
    pub seq: u64,
    pub json: Utf8Bytes,
}

/// Which sign-in a connection belongs to (the stored hash of its session token).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey(pub Arc<str>);

/// What a connection must act on. Never lost: each is a set or a flag, bounded by the rooms the
/// connection listens to.
#[derive(Debug, Default)]
pub struct Signals {
    state: Mutex<Raised>,
    /// A revocation or the session's end is waiting; checked before every delivery.
    urgent: AtomicBool,
    notify: Notify,
}

#[derive(Debug, Default)]
struct Raised {
    lagging: BTreeSet<RoomId>,
    revoked: BTreeSet<RoomId>,
    session_ended: bool,
}

/// Revocations taken from [`Signals`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Revoked {
    pub rooms: BTreeSet<RoomId>,
    pub session_ended: bool,
}

impl Signals {
    fn raise(&self, change: impl FnOnce(&mut Raised), urgent: bool) {
        change(&mut self.state.lock().expect("signals lock poisoned"));
        if urgent {
            self.urgent.store(true, Ordering::SeqCst);
        }
        self.notify.notify_one();
    }

    fn mark_lagging(&self, room: RoomId) {
        self.raise(
            |s| {
                s.lagging.insert(room);
            },
            false,
        );
    }

    fn revoke(&self, room: RoomId) {
        self.raise(
            |s| {
                s.revoked.insert(room);
            },
            true,
        );
    }

    /// Waits until something was raised (returns at once if it was raised since the last wait).
    pub async fn wait(&self) {
        self.notify.notified().await;
    }

    /// Whether a revocation is waiting to be taken. Cheap: one atomic load.
    pub fn is_urgent(&self) -> bool {
        self.urgent.load(Ordering::SeqCst)
    }

    pub fn take_revoked(&self) -> Revoked {
        let mut state = self.state.lock().expect("signals lock poisoned");
        self.urgent.store(false, Ordering::SeqCst);
        Revoked {
            rooms: std::mem::take(&mut state.revoked),
            session_ended: state.session_ended,
        }
    }

    pub fn take_lagging(&self) -> BTreeSet<RoomId> {
        std::mem::take(&mut self.state.lock().expect("signals lock poisoned").lagging)
    }
}

/// A connection as the hub sees it.
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub user: UserId,
    pub messages: mpsc::Sender<Outbound>,
    pub events: mpsc::Sender<Utf8Bytes>,
    pub signals: Arc<Signals>,
    /// Bytes of message frames queued and not yet taken by the connection (see [`Credit`]).
    pub queued_bytes: Arc<AtomicUsize>,
}

struct ConnEntry {
    user: UserId,
    session: SessionKey,
    ip: Option<IpAddr>,
    signals: Arc<Signals>,
}

/// Per-user and per-address caps on open sockets; 0 means no cap.
#[derive(Debug, Clone, Copy)]
pub struct SocketLimits {
    pub per_user: usize,
    pub per_ip: usize,
}

/// Why a socket was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("you have {0} connections open already; close a tab")]
    TooManyForUser(usize),
    #[error("{0} connections are open from your address already")]
    TooManyForAddress(usize),
}

#[derive(Default)]
struct HubState {
    rooms: FastMap<RoomId, FastMap<ConnId, Subscriber>>,
    conns: FastMap<ConnId, ConnEntry>,
    online: FastMap<UserId, usize>,
    per_ip: FastMap<IpAddr, usize>,
    next_conn: ConnId,
}

/// Cloneable handle to the hub.
#[derive(Clone)]
pub struct Hub {
    state: Arc<Mutex<HubState>>,
    limits: SocketLimits,
    /// Most bytes of message frames queued for one connection.
    outbound_bytes: usize,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new(
            SocketLimits {
                per_user: 0,
                per_ip: 0,
            },
            usize::MAX,
        )
    }
}

/// A registered connection; unregisters on drop if [`Hub::disconnect`] was not called.
pub struct Registration {
    hub: Hub,
    pub conn: ConnId,
    pub user: UserId,
    pub came_online: bool,
    pub signals: Arc<Signals>,
    done: bool,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if !self.done {
            let hub = self.hub.clone();
            hub.disconnect(self);
        }
    }
}

impl Hub {
    pub fn new(limits: SocketLimits, outbound_bytes: usize) -> Self {
        Self {
            state: Arc::default(),
            limits,
            outbound_bytes: outbound_bytes.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().expect("hub lock poisoned")
    }

    /// Registers a new connection of `user` from `ip`, unless that would exceed a socket limit.
    pub fn connect(
        &self,
        user: UserId,
        session: SessionKey,
        ip: Option<IpAddr>,
    ) -> Result<Registration, Refused> {
        let mut state = self.lock();
        let of_user = state.online.get(&user).copied().unwrap_or(0);
        if self.limits.per_user > 0 && of_user >= self.limits.per_user {
            return Err(Refused::TooManyForUser(of_user));
        }
        if let Some(ip) = ip {
            let of_ip = state.per_ip.get(&ip).copied().unwrap_or(0);
            if self.limits.per_ip > 0 && of_ip >= self.limits.per_ip {
                return Err(Refused::TooManyForAddress(of_ip));
            }
            *state.per_ip.entry(ip).or_default() += 1;
        }
        state.next_conn += 1;
        let conn = state.next_conn;
        *state.online.entry(user).or_default() += 1;
        let signals = Arc::new(Signals::default());
        state.conns.insert(
            conn,
            ConnEntry {
                user,
                session,
                ip,
                signals: signals.clone(),
            },
        );
        Ok(Registration {
            hub: self.clone(),
            conn,
            user,
            came_online: of_user == 0,
            signals,
            done: false,
        })
    }

    /// Forgets a connection (after it unsubscribed its rooms); says whether its user went
    /// offline.
    pub fn disconnect(&self, registration: &mut Registration) -> bool {
        registration.done = true;
        let mut state = self.lock();
        let Some(entry) = state.conns.remove(&registration.conn) else {
            return false;
        };
        if let Some(ip) = entry.ip {
            if let Some(count) = state.per_ip.get_mut(&ip) {
                *count -= 1;
                if *count == 0 {
                    state.per_ip.remove(&ip);
                }
            }
        }
        let count = state.online.entry(entry.user).or_default();
        *count = count.saturating_sub(1);
        if *count == 0 {
            state.online.remove(&entry.user);
            true
        } else {
            false
        }
    }

    pub fn is_online(&self, user: UserId) -> bool {
        self.lock().online.contains_key(&user)
    }

    pub fn connections(&self) -> usize {
        self.lock().conns.len()
    }

    /// Adds `conn` to `room`'s listeners and returns the room's newest stored seq, read by
    /// `last_seq` while no message can be published: every message with a higher seq will be
    /// handed to the connection, every message up to it is in the log.
    pub fn subscribe(
        &self,
        room: RoomId,
        conn: ConnId,
        subscriber: Subscriber,
        last_seq: impl FnOnce() -> u64,
    ) -> u64 {
        let mut state = self.lock();
        state
            .rooms
            .entry(room)
            .or_default()
            .insert(conn, subscriber);
        last_seq()
    }

    pub fn unsubscribe(&self, room: RoomId, conn: ConnId) {
        let mut state = self.lock();
        if let Some(listeners) = state.rooms.get_mut(&room) {
            listeners.remove(&conn);
            if listeners.is_empty() {
                state.rooms.remove(&room);
            }
        }
    }

    /// Ends `user`'s access to `room` on every connection (they left, or were removed). Call
    /// after the membership change is applied: from the moment this returns, nothing stored in
    /// `room` reaches those connections.
    pub fn revoke_room(&self, room: RoomId, user: UserId) {
        let mut state = self.lock();
        if let Some(listeners) = state.rooms.get_mut(&room) {
            listeners.retain(|_, sub| sub.user != user);
        }
        // Every connection of the user is told, also one that is between registering for the
        // room and checking membership (it has no cursor for the room yet: a no-op for it).
        for entry in state.conns.values().filter(|e| e.user == user) {
            entry.signals.revoke(room);
        }
    }

    /// Ends every connection of one sign-in (sign-out in any tab, expiry).
    pub fn end_session(&self, session: &SessionKey) {
        self.end_where(|entry| &entry.session == session);
    }

    /// Ends every connection of `user` (sign out everywhere).
    pub fn end_user(&self, user: UserId) {
        self.end_where(|entry| entry.user == user);
    }

    fn end_where(&self, which: impl Fn(&ConnEntry) -> bool) {
        let state = self.lock();
        for entry in state.conns.values().filter(|e| which(e)) {
            entry.signals.raise(|s| s.session_ended = true, true);
        }
    }

    /// Hands stored messages to their rooms' listeners. Call only once they are durable.
    pub fn publish(&self, messages: &[ChatMessage]) {
        let frames: Vec<_> = messages
            .iter()
            .map(|m| Outbound {
                room: m.room_id,
                seq: m.seq,
                json: to_json(&ServerFrame::Message(m.clone())),
            })
            .collect();
        let mut state = self.lock();
        for frame in frames {
            let room = frame.room;
            let size = frame.json.len();
            if let Some(listeners) = state.rooms.get_mut(&room) {
                listeners.retain(|_, sub| {
                    if sub.queued_bytes.load(Ordering::Relaxed) + size > self.outbound_bytes {
                        sub.signals.mark_lagging(room);
                        return true;
                    }
                    match sub.messages.try_send(frame.clone()) {
                        Ok(()) => {
                            sub.queued_bytes.fetch_add(size, Ordering::Relaxed);
                            true
                        }
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            sub.signals.mark_lagging(room);
                            true
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => false,
                    }
                });
            }
        }
    }

    /// Sends an ephemeral event (presence, typing) to `room`'s listeners, except `skip`.
    pub fn announce(&self, room: RoomId, frame: &ServerFrame, skip: Option<ConnId>) {
        let json = to_json(frame);
        if let Some(listeners) = self.lock().rooms.get(&room) {
            for (conn, sub) in listeners {
                if Some(*conn) != skip {
                    let _dropped_when_full = sub.events.try_send(json.clone());
                }
            }
        }
    }
}

/// A connection's running count of message bytes it has taken off its queue, handed back to
/// the hub's [`Subscriber::queued_bytes`] in lumps so the hot path costs one uncontended atomic
/// add per message on the hub's side.
pub struct Credit {
    queued_bytes: Arc<AtomicUsize>,
    taken: usize,
}

impl Credit {
    /// Hand back at least this many bytes at a time.
    const LUMP: usize = 64 * 1024;

    pub fn new(queued_bytes: Arc<AtomicUsize>) -> Self {
        Self {
            queued_bytes,
            taken: 0,
        }
    }

    pub fn took(&mut self, bytes: usize) {
        self.taken += bytes;
        if self.taken >= Self::LUMP {
            self.settle();
        }
    }

    /// Hands back everything taken so far (call when the queue is empty).
    pub fn settle(&mut self) {
        if self.taken > 0 {
            self.queued_bytes.fetch_sub(self.taken, Ordering::Relaxed);
            self.taken = 0;
        }
    }
}

/// A frame as WebSocket text; cloning it is a reference count, not a copy.
pub fn to_json(frame: &ServerFrame) -> Utf8Bytes {
    serde_json::to_string(frame)
        .expect("server frames always serialize")
        .into()
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use app::model::Username;

    fn message(room: u64, seq: u64) -> ChatMessage {
        ChatMessage {
            room_id: RoomId(room),
            seq,
            id: seq,
            sender: Username::parse("ana").unwrap(),
            content: "hi".into(),
            ts: 0,
            client_id: format!("c{seq}"),
        }
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
        hub.subscribe(RoomId(room), registration.conn, sub, || 0);
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
        let frame_bytes = to_json(&ServerFrame::Message(message(1, 1))).len();
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
        hub.revoke_room(RoomId(1), UserId(1));
        assert!(leaver.registration.signals.is_urgent());
        hub.publish(&[message(1, 1)]);
        assert!(leaver.messages.try_recv().is_err());
        assert!(stayer.messages.try_recv().is_ok());
        let revoked = leaver.registration.signals.take_revoked();
        assert_eq!(revoked.rooms, BTreeSet::from([RoomId(1)]));
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
}
