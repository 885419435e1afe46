//! The room hub: which connection listens to which room, who is online, fan-out of stored
//! messages to listeners, and the signals that end a connection's access (leave, sign-out).
//!
//! Each connection has two bounded queues, and the hub never waits on either:
//! - **Messages** (stored, seq-numbered). A message that does not fit — the queue holds
//!   `--outbound-queue` frames and `--outbound-queue-bytes` bytes at most — is not queued, and
//!   the connection is flagged as lagging in that room ([`Signals`]). The connection then
//!   catches up from the message log, which holds every message the hub has ever been handed (the
//!   processor publishes only after the store made it durable). So a slow reader costs the others
//!   nothing, misses nothing, and pins a bounded amount of memory.
//! - **Events** (presence, typing): ephemeral, on their own small lane ([`EVENT_QUEUE`]); dropped
//!   when that lane is full. They can never push a stored message out of its queue, so a typing
//!   flood cannot send anybody into catch-up.
//!
//! Revocation: when a user leaves a room, the hub removes their connections from its listeners
//! and raises a signal on each, under the hub lock. A message stored after that can no longer be
//! queued for them (publishing takes the same lock), and a connection checks its signals after
//! reading the store's head and before sending anything read from the store, so catch-up cannot
//! deliver it either. The hub never reads the store: a connection registers first and reads the
//! head after (see [`Hub::subscribe`]). Sign-out and expiry end every connection of the session the same way.
//!
//! Revocations, presence and typing come in only as bus events, through [`Hub::apply`]
//! (`apply.rs`): the bus is the one way in for them, on this node and, later, from others.
//!
//! Longer than 400 lines on purpose: the hub's state and its one lock are here; what runs under the
//! lock is split out by job (`apply`, `credit`, `presence`, `signals`).

mod apply;
mod credit;
mod presence;
mod signals;

pub use credit::Credit;
pub use signals::{Revoked, Signals};

use crate::fasthash::{FastMap, FastSet};
use crate::store::StoredEntry;
use app::model::{RoomId, UserId};
use app::protocol::ServerFrame;
use axum::extract::ws::Utf8Bytes;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

pub type ConnId = u64;

/// Ephemeral frames (presence, typing) one connection may have waiting; more are dropped (a
/// typing hint is stale a second later, and the member list is fetched again anyway).
pub const EVENT_QUEUE: usize = 64;

/// A stored message's frame, as the store serialized it, shared by all of its receivers.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub room: RoomId,
    pub seq: u64,
    pub json: Utf8Bytes,
}

/// Which sign-in a connection belongs to (the stored hash of its session token).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(from = "String", into = "String")]
pub struct SessionKey(pub Arc<str>);

impl From<String> for SessionKey {
    fn from(key: String) -> Self {
        Self(key.into())
    }
}

impl From<SessionKey> for String {
    fn from(key: SessionKey) -> Self {
        key.0.to_string()
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
    /// Whether the connection follows its user's stream (see [`Hub::follow_user`]).
    follows_user: bool,
    /// Rooms whose activity it watches for that stream, so a disconnect forgets them.
    watching: FastSet<RoomId>,
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
    /// Connections following their user's stream, by the rooms whose counts they show.
    watchers: FastMap<RoomId, FastMap<ConnId, Arc<Signals>>>,
    conns: FastMap<ConnId, ConnEntry>,
    online: FastMap<UserId, usize>,
    /// The other nodes where each person is online, as they said (see `presence`).
    remote: FastMap<UserId, FastSet<Box<str>>>,
    /// When another node's presence event about each person last came (kept for a moment: a
    /// snapshot read meanwhile may be older than the event, see `presence`).
    remote_heard: FastMap<UserId, std::time::Instant>,
    /// Counts every change of who is online here (a first socket, a last one closed).
    presence_changes: u64,
    per_ip: FastMap<IpAddr, usize>,
    next_conn: ConnId,
    /// The newest seq handed to each room's listeners (see [`Hub::followed_rooms`]).
    published: FastMap<RoomId, u64>,
}

impl HubState {
    /// `room`'s listeners were handed entries up to `seq` (kept only for rooms someone here
    /// follows: only those are checked, see [`Hub::followed_rooms`]).
    fn note_published(&mut self, room: RoomId, seq: u64) {
        if self.rooms.contains_key(&room) || self.watchers.contains_key(&room) {
            let newest = self.published.entry(room).or_default();
            *newest = (*newest).max(seq);
        }
    }
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
        if of_user == 0 {
            state.presence_changes += 1;
        }
        let signals = Arc::new(Signals::default());
        state.conns.insert(
            conn,
            ConnEntry {
                user,
                session,
                ip,
                signals: signals.clone(),
                follows_user: false,
                watching: FastSet::default(),
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
        for room in &entry.watching {
            forget_watcher(&mut state.watchers, *room, registration.conn);
        }
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
            state.presence_changes += 1;
            true
        } else {
            false
        }
    }

    pub fn connections(&self) -> usize {
        self.lock().conns.len()
    }

    /// Adds `conn` to `room`'s listeners. Every message published from now on is handed to it;
    /// so a head of the store read *after* this returns covers every message it will not be
    /// handed (the processor appends to the store before it publishes). The connection reads that
    /// head itself: the hub never calls into the store under its lock.
    pub fn subscribe(&self, room: RoomId, conn: ConnId, subscriber: Subscriber) {
        self.lock()
            .rooms
            .entry(room)
            .or_default()
            .insert(conn, subscriber);
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

    /// From now on, `conn` hears of every change to its user's rooms (see
    /// `ws::user_stream`): a membership or read mark changed ([`Signals::row_changed`]). Call
    /// before reading the rooms for the stream's snapshot, so no change falls between the two.
    pub fn follow_user(&self, conn: ConnId) {
        if let Some(entry) = self.lock().conns.get_mut(&conn) {
            entry.follows_user = true;
        }
    }

    /// `conn` hears of new entries in `room` ([`Signals::mark_active`]), to keep its counts.
    pub fn watch(&self, room: RoomId, conn: ConnId) {
        let mut state = self.lock();
        let Some(entry) = state.conns.get_mut(&conn) else {
            return;
        };
        entry.watching.insert(room);
        let signals = entry.signals.clone();
        state
            .watchers
            .entry(room)
            .or_default()
            .insert(conn, signals);
    }

    pub fn unwatch(&self, room: RoomId, conn: ConnId) {
        let mut state = self.lock();
        if let Some(entry) = state.conns.get_mut(&conn) {
            entry.watching.remove(&room);
        }
        forget_watcher(&mut state.watchers, room, conn);
    }

    /// `user`'s row of `room` changed (a membership or a read mark): every connection of theirs
    /// that follows the user stream sends it again.
    fn row_changed(&self, room: RoomId, user: UserId) {
        let state = self.lock();
        for entry in state.conns.values() {
            if entry.user == user && entry.follows_user {
                entry.signals.row_changed(room);
            }
        }
    }

    /// Every member's row of `room` changed (its name or topic): each connection watching the
    /// room for its user stream sends it again.
    fn room_row_changed(&self, room: RoomId) {
        let state = self.lock();
        for signals in state
            .watchers
            .get(&room)
            .into_iter()
            .flat_map(|w| w.values())
        {
            signals.row_changed(room);
        }
    }

    /// Ends `user`'s access to `room`, at the timeline entry `through` that ended it when
    /// known: each of their connections still sends what it has not sent up to that entry, and
    /// nothing after.
    fn revoke_room(&self, room: RoomId, user: UserId, through: Option<u64>) {
        let mut state = self.lock();
        if let Some(listeners) = state.rooms.get_mut(&room) {
            listeners.retain(|_, sub| sub.user != user);
        }
        // Every connection of the user is told, also one that is between registering for the
        // room and checking membership (it has no cursor for the room yet: a no-op for it).
        for entry in state.conns.values().filter(|e| e.user == user) {
            entry.signals.revoke(room, through);
        }
    }

    /// Ends every connection of one sign-in (sign-out in any tab, expiry).
    fn end_session(&self, session: &SessionKey) {
        self.end_where(|entry| &entry.session == session);
    }

    /// Ends every connection of `user` (sign out everywhere).
    fn end_user(&self, user: UserId) {
        self.end_where(|entry| entry.user == user);
    }

    /// Events were lost: every connection re-checks its session and memberships, then catches
    /// up every room it listens to from the log (as after a lag).
    fn resync(&self) {
        let state = self.lock();
        for (room, listeners) in &state.rooms {
            for sub in listeners.values() {
                sub.signals.mark_lagging(*room);
            }
        }
        for entry in state.conns.values() {
            entry.signals.resync();
        }
    }

    fn end_where(&self, which: impl Fn(&ConnEntry) -> bool) {
        let state = self.lock();
        for entry in state.conns.values().filter(|e| which(e)) {
            entry.signals.end_session();
        }
    }

    /// The rooms someone on this node listens to or watches, each with the newest seq this hub
    /// handed out for it (`None`: none since it started): what a cross-node relay checks
    /// against the store's heads, to catch a commit whose notice it never got.
    pub fn followed_rooms(&self) -> Vec<(RoomId, Option<u64>)> {
        let state = self.lock();
        let mut rooms: Vec<RoomId> = state
            .rooms
            .keys()
            .chain(state.watchers.keys())
            .copied()
            .collect();
        rooms.sort_unstable();
        rooms.dedup();
        rooms
            .into_iter()
            .map(|room| (room, state.published.get(&room).copied()))
            .collect()
    }

    /// Whether someone on this node listens to or watches `room`.
    pub fn is_followed(&self, room: RoomId) -> bool {
        let state = self.lock();
        state.rooms.contains_key(&room) || state.watchers.contains_key(&room)
    }

    /// `room` has entries this hub was not handed (another node stored them and their notice
    /// was lost): every listener catches up from the store, every watcher counts again.
    pub fn catch_up(&self, room: RoomId) {
        let state = self.lock();
        if let Some(listeners) = state.rooms.get(&room) {
            for sub in listeners.values() {
                sub.signals.mark_lagging(room);
            }
        }
        if let Some(watchers) = state.watchers.get(&room) {
            for signals in watchers.values() {
                signals.mark_active(room);
            }
        }
    }

    /// Hands stored messages to their rooms' listeners. Call only once they are durable.
    pub fn publish(&self, messages: &[StoredEntry]) {
        let frames: Vec<_> = messages
            .iter()
            .map(|m| Outbound {
                room: m.ack.room_id,
                seq: m.ack.seq,
                // The store's bytes, shared: a reference count, a UTF-8 check, no copy.
                json: Utf8Bytes::try_from(m.frame.bytes().clone())
                    .expect("message frames are JSON, so UTF-8"),
            })
            .collect();
        let mut state = self.lock();
        let mut last_room = None;
        // The run of the current room's frames, and its newest seq (noted once per run).
        let mut run: Option<(RoomId, u64)> = None;
        for frame in frames {
            let room = frame.room;
            let size = frame.json.len();
            if let Some((ran, seq)) = run.replace((room, frame.seq)).filter(|(r, _)| *r != room) {
                state.note_published(ran, seq);
            }
            if last_room != Some(room) {
                // Counts are coalesced by the connection; consecutive entries of one room (a
                // batch is mostly runs of rooms) mark it once.
                last_room = Some(room);
                if let Some(watchers) = state.watchers.get(&room) {
                    for signals in watchers.values() {
                        signals.mark_active(room);
                    }
                }
            }
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
        if let Some((room, seq)) = run {
            state.note_published(room, seq);
        }
    }

    /// Sends an ephemeral event (presence, typing) to `room`'s listeners, except `skip`.
    fn announce(&self, room: RoomId, frame: &ServerFrame, skip: Option<ConnId>) {
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

fn forget_watcher(
    watchers: &mut FastMap<RoomId, FastMap<ConnId, Arc<Signals>>>,
    room: RoomId,
    conn: ConnId,
) {
    if let Some(of_room) = watchers.get_mut(&room) {
        of_room.remove(&conn);
        if of_room.is_empty() {
            watchers.remove(&room);
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
pub mod tests;
