//! The room hub: which connection listens to which room, who is online, and fan-out of stored
//! messages to listeners.
//!
//! Each connection has its own bounded outbound queue. The hub never waits on one: a message
//! that does not fit is not queued, and the connection is flagged as lagging in that room
//! ([`Lag`]). The connection then catches up from the message log, which holds every message the
//! hub has ever been handed (the processor publishes only after the log is durable). So a slow
//! reader costs the others nothing and still misses nothing.
//!
//! Presence and typing events are ephemeral: when a queue is full they are dropped (a member list
//! can be fetched again; a typing hint is stale a second later anyway).

use crate::fasthash::FastMap;
use app::model::{ChatMessage, RoomId, UserId};
use app::protocol::ServerFrame;
use axum::extract::ws::Utf8Bytes;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, Notify};

pub type ConnId = u64;

/// What the hub hands a connection, already serialized once for all of its receivers.
#[derive(Debug, Clone)]
pub enum Outbound {
    Message {
        room: RoomId,
        seq: u64,
        json: Utf8Bytes,
    },
    Event(Utf8Bytes),
}

/// Rooms in which a connection missed messages because its queue was full.
#[derive(Debug, Default)]
pub struct Lag {
    rooms: Mutex<BTreeSet<RoomId>>,
    notify: Notify,
}

impl Lag {
    fn mark(&self, room: RoomId) {
        self.rooms.lock().expect("lag lock poisoned").insert(room);
        self.notify.notify_one();
    }

    /// Waits until some room was marked (returns at once if one was marked since the last take).
    pub async fn wait(&self) {
        self.notify.notified().await;
    }

    pub fn take(&self) -> BTreeSet<RoomId> {
        std::mem::take(&mut *self.rooms.lock().expect("lag lock poisoned"))
    }
}

/// A connection as the hub sees it.
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub user: UserId,
    pub tx: mpsc::Sender<Outbound>,
    pub lag: Arc<Lag>,
}

#[derive(Default)]
struct HubState {
    rooms: FastMap<RoomId, FastMap<ConnId, Subscriber>>,
    online: FastMap<UserId, usize>,
    next_conn: ConnId,
    connections: usize,
}

/// Cloneable handle to the hub.
#[derive(Clone, Default)]
pub struct Hub {
    state: Arc<Mutex<HubState>>,
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().expect("hub lock poisoned")
    }

    /// Registers a new connection of `user`; says whether the user just came online.
    pub fn connect(&self, user: UserId) -> (ConnId, bool) {
        let mut state = self.lock();
        state.next_conn += 1;
        state.connections += 1;
        let conn = state.next_conn;
        let count = state.online.entry(user).or_default();
        *count += 1;
        (conn, *count == 1)
    }

    /// Forgets a connection (after it unsubscribed its rooms); says whether the user went offline.
    pub fn disconnect(&self, user: UserId) -> bool {
        let mut state = self.lock();
        state.connections -= 1;
        let count = state.online.entry(user).or_default();
        *count = count.saturating_sub(1);
        if *count == 0 {
            state.online.remove(&user);
            true
        } else {
            false
        }
    }

    pub fn is_online(&self, user: UserId) -> bool {
        self.lock().online.contains_key(&user)
    }

    pub fn connections(&self) -> usize {
        self.lock().connections
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

    /// Stops every connection of `user` listening to `room` (the user left it).
    pub fn unsubscribe_user(&self, room: RoomId, user: UserId) {
        if let Some(listeners) = self.lock().rooms.get_mut(&room) {
            listeners.retain(|_, sub| sub.user != user);
        }
    }

    /// Hands stored messages to their rooms' listeners. Call only once they are durable.
    pub fn publish(&self, messages: &[ChatMessage]) {
        let frames: Vec<_> = messages
            .iter()
            .map(|m| {
                let frame = Outbound::Message {
                    room: m.room_id,
                    seq: m.seq,
                    json: to_json(&ServerFrame::Message(m.clone())),
                };
                (m.room_id, frame)
            })
            .collect();
        let mut state = self.lock();
        for (room, frame) in frames {
            if let Some(listeners) = state.rooms.get_mut(&room) {
                listeners.retain(|_, sub| match sub.tx.try_send(frame.clone()) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        sub.lag.mark(room);
                        true
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
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
                    let _dropped_when_full = sub.tx.try_send(Outbound::Event(json.clone()));
                }
            }
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
mod tests {
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

    fn listener(hub: &Hub, room: u64, capacity: usize) -> (mpsc::Receiver<Outbound>, Arc<Lag>) {
        let (tx, rx) = mpsc::channel(capacity);
        let lag = Arc::new(Lag::default());
        let (conn, _) = hub.connect(UserId(1));
        let sub = Subscriber {
            user: UserId(1),
            tx,
            lag: lag.clone(),
        };
        hub.subscribe(RoomId(room), conn, sub, || 0);
        (rx, lag)
    }

    #[test]
    fn messages_reach_only_their_rooms_listeners() {
        let hub = Hub::default();
        let (mut one, _) = listener(&hub, 1, 8);
        let (mut two, _) = listener(&hub, 2, 8);
        hub.publish(&[message(1, 1)]);
        assert!(matches!(
            one.try_recv(),
            Ok(Outbound::Message { seq: 1, .. })
        ));
        assert!(two.try_recv().is_err());
    }

    #[test]
    fn a_full_queue_flags_lag_instead_of_blocking_or_dropping_silently() {
        let hub = Hub::default();
        let (mut slow, lag) = listener(&hub, 1, 1);
        let (mut fast, _) = listener(&hub, 1, 8);
        hub.publish(&[message(1, 1), message(1, 2)]);
        assert_eq!(lag.take(), BTreeSet::from([RoomId(1)]));
        assert!(slow.try_recv().is_ok());
        assert!(slow.try_recv().is_err());
        assert!(fast.try_recv().is_ok() && fast.try_recv().is_ok());
    }

    #[test]
    fn presence_counts_connections_per_user() {
        let hub = Hub::default();
        let (_, first) = hub.connect(UserId(7));
        let (_, second) = hub.connect(UserId(7));
        assert!(first && !second);
        assert!(!hub.disconnect(UserId(7)));
        assert!(hub.is_online(UserId(7)));
        assert!(hub.disconnect(UserId(7)));
        assert!(!hub.is_online(UserId(7)));
    }
}
