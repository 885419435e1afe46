//! The cross-node relay on PostgreSQL's LISTEN/NOTIFY: what one node stores and publishes
//! reaches the sockets of every other node on the same database.
//!
//! Two channels:
//!
//! - `minitalk_stored` ([`STORED_CHANNEL`]): every append announces, inside its transaction,
//!   the seqs it stored (`NODE ROOM:FROM:TO ...`). PostgreSQL delivers a notification only when
//!   its transaction commits, after it commits, and in commit order; so a node that hears one
//!   can read those entries from the store, and hands them to its hub once for all its
//!   listeners (the sender's own node published them already and passes over its notices).
//! - `minitalk_bus` ([`BUS_CHANNEL`]): the bus events this node publishes (memberships, ends
//!   of sessions, presence, typing, rows that changed), as JSON, for the other nodes to apply
//!   to their hubs and access state.
//!
//! Notifications can be lost: PostgreSQL drops what was sent while a listener was
//! disconnected. The bus contract allows that if loss is announced, and it is, three ways:
//! a listener that reconnects applies [`BusEvent::Resync`] (every connection re-checks its
//! session and memberships and catches up from the store, and the access state is read
//! again); this node's own outgoing queue, when it overflows, makes the other nodes resync; and
//! every [`HEAD_CHECK`] the heads of the rooms this node's sockets follow are compared with what
//! its hub handed out, so a lost notice of a room's last message is noticed without waiting
//! for the next message. Stored messages themselves never depend on this: the cursors catch up
//! from the store.
//!
//! Why LISTEN/NOTIFY and not another broker: it is already there, it is transactional (a notice
//! of a rolled-back append is never sent), and one listener connection per node is cheap. Where
//! it stops scaling (every NOTIFY takes a global lock at commit) is in `docs/scaling.md`.
//!
//! Longer than 400 lines only with its tests (about 415 without).

use super::{Bus, BusEvent};
use crate::access::Access;
use crate::fasthash::FastMap;
use crate::hub::Hub;
use crate::newest::NewestMessages;
use crate::store::postgres::{big, small, users_by_id, NodeId, STORED_CHANNEL};
use crate::store::MessageStore;
use app::model::{RoomId, UserId, Username};
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgListener, PgPool};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The channel bus events travel on.
pub const BUS_CHANNEL: &str = "minitalk_bus";
/// How often the heads of followed rooms are checked against what the hub handed out.
pub const HEAD_CHECK: Duration = Duration::from_secs(2);
/// Bus events sent in one round trip to the database.
const SEND_BATCH: usize = 256;
/// How long to wait before listening again after the database refused.
const RETRY: Duration = Duration::from_secs(1);
/// How often each node reads who is online on the others (and writes its own, changed or not,
/// to say it is still there).
pub const PRESENCE_EVERY: Duration = Duration::from_secs(15);
/// How soon a change of who is online on this node is written, at most (changes meanwhile are
/// written together: a reconnect storm costs one write a second).
pub const PRESENCE_WRITE: Duration = Duration::from_secs(1);
/// How long what another node's presence event said stands against its row: the row is
/// rewritten within [`PRESENCE_WRITE`] of the change (and a moment for the database), so a
/// snapshot read sooner may still say the opposite.
const PRESENCE_SETTLE: Duration = Duration::from_secs(5);
/// A node that has not written its presence for this long is taken to be gone (its row is
/// removed, and its people are offline as far as the others know).
pub const PRESENCE_FORGET: Duration = Duration::from_secs(45);

/// What the listener heard, waiting to be acted on; bounded: when the relay falls behind, the
/// listener waits and notifications wait in PostgreSQL's queue (`pg_notification_queue_usage`).
const HEARD_QUEUE: usize = 1024;

enum Heard {
    Notice {
        channel: String,
        payload: String,
    },
    /// The connection was lost and made again: notifications may be missing.
    Lost,
}

/// One bus event on the wire, with the node that published it.
#[derive(Debug, Serialize, Deserialize)]
struct Notice {
    node: String,
    event: BusEvent,
}

/// What the relay needs of this node.
pub struct Relay {
    pub pool: PgPool,
    pub node: NodeId,
    pub bus: Arc<dyn Bus>,
    pub hub: Hub,
    pub access: Access,
    pub messages: Arc<dyn MessageStore>,
    pub newest: NewestMessages,
    /// The heads the last [`Relay::check_heads`] found, by followed room.
    pub seen_heads: std::sync::Mutex<FastMap<RoomId, u64>>,
}

impl Relay {
    /// Listens to the other nodes, then starts relaying both ways; both directions end at
    /// `shutdown`. Returns once this node hears the others, so that a node that serves has
    /// missed nothing since.
    pub async fn start(self, shutdown: CancellationToken) -> Result<JoinHandle<()>, sqlx::Error> {
        let listener = self.connect().await?;
        let relay = Arc::new(self);
        let sending = tokio::spawn(relay.clone().send(shutdown.clone()));
        Ok(tokio::spawn(async move {
            relay.listen(listener, shutdown).await;
            let _ = sending.await;
        }))
    }

    /// Sends every event published on this node's bus to the others. A subscriber queue that
    /// overflowed turns into a `Resync` (see `bus::queue`), which is sent on too: the others
    /// re-read what this node's lost events would have told them.
    async fn send(self: Arc<Self>, shutdown: CancellationToken) {
        let mut events = self.bus.subscribe();
        // Events the others missed because a send failed: they resync with the next one.
        let mut owed_resync = false;
        loop {
            let first = tokio::select! {
                event = events.recv() => event,
                () = shutdown.cancelled() => return,
            };
            let Some(first) = first else { return };
            let mut notices = Vec::new();
            if owed_resync {
                notices.push(self.notice(BusEvent::Resync));
            }
            notices.push(self.notice(first));
            while notices.len() < SEND_BATCH {
                match events.try_recv() {
                    Some(Some(event)) => notices.push(self.notice(event)),
                    Some(None) | None => break,
                }
            }
            let sent = sqlx::query("SELECT pg_notify($1, n) FROM unnest($2::text[]) AS n")
                .bind(BUS_CHANNEL)
                .bind(&notices)
                .execute(&self.pool)
                .await;
            owed_resync = sent.is_err();
            if let Err(e) = sent {
                tracing::warn!("could not send bus events to the other nodes: {e}");
            }
        }
    }

    fn notice(&self, event: BusEvent) -> String {
        serde_json::to_string(&Notice {
            node: self.node.0.clone(),
            event,
        })
        .expect("bus events serialize")
    }

    /// Acts on what the listener hears, and checks the heads, until `shutdown`.
    async fn listen(self: Arc<Self>, listener: PgListener, shutdown: CancellationToken) {
        let (heard, mut hearing) = mpsc::channel(HEARD_QUEUE);
        let receiving = tokio::spawn(self.clone().receive(listener, heard, shutdown.clone()));
        let mut heads = tokio::time::interval(HEAD_CHECK);
        heads.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut presence = tokio::time::interval(PRESENCE_EVERY);
        presence.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut changes = tokio::time::interval(PRESENCE_WRITE);
        changes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The count of presence changes last written (none yet).
        let mut written = None;
        loop {
            tokio::select! {
                next = hearing.recv() => match next {
                    Some(Heard::Notice { channel, payload }) => self.heard(&channel, &payload).await,
                    Some(Heard::Lost) => self.resync().await,
                    None => break,
                },
                _ = heads.tick() => self.check_heads().await,
                _ = presence.tick() => {
                    written = self.write_presence().await.or(written);
                    self.read_presence().await;
                }
                _ = changes.tick() => {
                    if written != Some(self.hub.presence_changes()) {
                        written = self.write_presence().await.or(written);
                    }
                }
                () = shutdown.cancelled() => break,
            }
        }
        let _ = receiving.await;
        // Stopping: nobody is online here any more.
        let gone = sqlx::query("DELETE FROM node_presence WHERE node = $1")
            .bind(&self.node.0)
            .execute(&self.pool)
            .await;
        if let Err(e) = gone {
            tracing::warn!("could not remove this node's presence: {e}");
        }
    }

    /// Writes who is online on this node (and that it is still there); answers the count of
    /// changes written, or `None` when the database refused.
    async fn write_presence(&self) -> Option<u64> {
        let (changes, here) = self.hub.online_here();
        let here: Vec<i64> = here.iter().map(|u| big(u.0)).collect();
        let written = sqlx::query(
            "INSERT INTO node_presence (node, online, seen) VALUES ($1, $2, now())
             ON CONFLICT (node) DO UPDATE SET online = EXCLUDED.online, seen = now()",
        )
        .bind(&self.node.0)
        .bind(&here)
        .execute(&self.pool)
        .await;
        match written {
            Ok(_) => Some(changes),
            Err(e) => {
                tracing::warn!("could not write this node's presence: {e}");
                None
            }
        }
    }

    /// Forgets nodes that stopped writing their presence, and takes what the others wrote as
    /// what this node knows of them (see `hub::presence`).
    async fn read_presence(&self) {
        let read = async {
            sqlx::query("DELETE FROM node_presence WHERE seen < now() - make_interval(secs => $1)")
                .bind(PRESENCE_FORGET.as_secs_f64())
                .execute(&self.pool)
                .await?;
            sqlx::query_as::<_, (String, Vec<i64>)>(
                "SELECT node, online FROM node_presence WHERE node <> $1",
            )
            .bind(&self.node.0)
            .fetch_all(&self.pool)
            .await
        };
        let nodes = match read.await {
            Ok(nodes) => nodes,
            Err(e) => return tracing::warn!("could not read the other nodes' presence: {e}"),
        };
        let flipped = self.hub.remote_snapshot(
            nodes
                .into_iter()
                .map(|(node, users)| (node, users.into_iter().map(|u| UserId(small(u))).collect()))
                .collect(),
            PRESENCE_SETTLE,
        );
        if !flipped.is_empty() {
            self.announce_presence(flipped).await;
        }
    }

    /// Tells the rooms of each person in `flipped` that they came online or went offline, as an
    /// event from their node would have (the hub checks each against what it knows now).
    async fn announce_presence(&self, flipped: Vec<(UserId, bool)>) {
        let ids: Vec<UserId> = flipped.iter().map(|(user, _)| *user).collect();
        let names: FastMap<UserId, Username> = match users_by_id(&self.pool, &ids).await {
            Ok(users) => users.into_iter().map(|u| (u.id, u.username)).collect(),
            Err(e) => return tracing::warn!("could not read who changed presence: {e}"),
        };
        for (user_id, online) in flipped {
            let Some(user) = names.get(&user_id) else {
                continue;
            };
            for room in self.access.rooms_of(user_id) {
                self.hub.apply(&BusEvent::Presence {
                    room,
                    user: user.clone(),
                    user_id,
                    online,
                });
            }
        }
    }

    /// Owns the listener connection: passes on what it hears, and `Lost` whenever it had to
    /// connect again (whatever was sent meanwhile is gone). Runs in a task of its own because
    /// a receive must never be dropped halfway (the loop above also waits for its timer).
    async fn receive(
        self: Arc<Self>,
        mut listener: PgListener,
        heard: mpsc::Sender<Heard>,
        shutdown: CancellationToken,
    ) {
        loop {
            let next = tokio::select! {
                next = listener.try_recv() => next,
                () = shutdown.cancelled() => return,
            };
            let passed = match next {
                Ok(Some(notice)) => Heard::Notice {
                    channel: notice.channel().to_owned(),
                    payload: notice.payload().to_owned(),
                },
                // The connection dropped (`None`) or failed. Listen again first: a resync
                // before the database answers again would find nothing to re-read.
                lost => {
                    if let Err(e) = lost {
                        tracing::warn!("the listener failed: {e}");
                    }
                    tracing::warn!("lost the listener connection: resyncing once it is back");
                    loop {
                        match self.connect().await {
                            Ok(connected) => break listener = connected,
                            Err(e) => tracing::warn!("cannot listen to the other nodes: {e}"),
                        }
                        tokio::select! {
                            () = tokio::time::sleep(RETRY) => {}
                            () = shutdown.cancelled() => return,
                        }
                    }
                    Heard::Lost
                }
            };
            if heard.send(passed).await.is_err() {
                return;
            }
        }
    }

    async fn connect(&self) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen_all([STORED_CHANNEL, BUS_CHANNEL]).await?;
        Ok(listener)
    }

    async fn heard(&self, channel: &str, payload: &str) {
        if channel == STORED_CHANNEL {
            self.stored(payload).await;
            return;
        }
        match serde_json::from_str::<Notice>(payload) {
            Ok(notice) if notice.node != self.node.0 => {
                self.apply(&notice.node, notice.event).await
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("an unreadable bus notice: {e}"),
        }
    }

    /// An event from `node`: applied to this node's hub, and to its access state when it
    /// changes who may do what, or to what this node knows of who is online there.
    async fn apply(&self, node: &str, event: BusEvent) {
        match &event {
            BusEvent::Resync => return self.resync().await,
            BusEvent::Presence {
                user_id, online, ..
            } => self.hub.remote_presence(node, *user_id, *online),
            BusEvent::MembershipChanged { room, .. } | BusEvent::RoomCreated { room, .. } => {
                if let Err(e) = self.access.reload(vec![*room]).await {
                    tracing::warn!("could not re-read room {room:?}'s access: {e}");
                }
            }
            _ => {}
        }
        self.hub.apply(&event);
    }

    /// Another node stored `ROOM:FROM:TO ...`: entries of rooms followed here are read in one
    /// query and handed to the hub; the others' cached newest messages are forgotten.
    async fn stored(&self, payload: &str) {
        let mut parts = payload.split(' ');
        if parts.next() == Some(self.node.0.as_str()) {
            return;
        }
        let mut ranges: FastMap<RoomId, (u64, u64)> = FastMap::default();
        for range in parts {
            let mut numbers = range.split(':').map(str::parse::<u64>);
            let (Some(Ok(room)), Some(Ok(from)), Some(Ok(to))) =
                (numbers.next(), numbers.next(), numbers.next())
            else {
                tracing::warn!("an unreadable stored notice: {range:?}");
                continue;
            };
            ranges.insert(RoomId(room), (from, to));
        }
        let mut wanted = Vec::with_capacity(ranges.len());
        for (room, (from, to)) in ranges {
            if self.hub.is_followed(room) {
                wanted.push((room, from, to));
            } else {
                self.newest.forget(room);
            }
        }
        if wanted.is_empty() {
            return;
        }
        let rooms: Vec<RoomId> = wanted.iter().map(|(room, ..)| *room).collect();
        match self.messages.read_stored(wanted).await {
            Ok(stored) => {
                self.newest.record(&stored);
                self.hub.publish(&stored);
            }
            Err(e) => {
                tracing::warn!("could not read what another node stored: {e}");
                for room in rooms {
                    self.hub.catch_up(room);
                }
            }
        }
    }

    /// Rooms followed here whose store head is past what the hub handed out (or, for a room
    /// it handed nothing yet, past the head the last check saw) catch up.
    async fn check_heads(&self) {
        let followed = self.hub.followed_rooms();
        let rooms = followed.iter().map(|(room, _)| *room).collect();
        let heads = match self.messages.last_seqs(rooms).await {
            Ok(heads) => heads,
            Err(e) => {
                tracing::warn!("head check failed: {e}");
                return;
            }
        };
        let mut checked = FastMap::default();
        for ((room, published), head) in followed.into_iter().zip(heads) {
            let seen = self
                .seen_heads
                .lock()
                .expect("seen heads lock")
                .get(&room)
                .copied();
            let known = published.max(seen);
            if known.is_none_or(|known| head > known) {
                self.newest.forget(room);
                self.hub.catch_up(room);
            }
            checked.insert(room, head);
        }
        // Only followed rooms are remembered.
        *self.seen_heads.lock().expect("seen heads lock") = checked;
    }

    /// Events were lost: the access state is read again, and every connection re-checks and
    /// catches up.
    async fn resync(&self) {
        if let Err(e) = self.access.reload_all().await {
            tracing::warn!("could not re-read the access state: {e}");
        }
        self.hub.apply(&BusEvent::Resync);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::LocalBus;
    use crate::hub::tests::listener;
    use crate::store::contract::new;
    use crate::store::postgres::{scratch, PgConfig, PgStores};

    /// A relay over a fresh database with one connection listening to room 1, and the message
    /// store it reads (appends through it are this node's own).
    async fn relay() -> (
        Arc<Relay>,
        Arc<crate::store::postgres::PgMessageStore>,
        crate::hub::tests::Listener,
    ) {
        let url = scratch::fresh_database().await;
        let stores = PgStores::open(&PgConfig { url, pool_size: 4 })
            .await
            .unwrap();
        let hub = Hub::default();
        let listening = listener(&hub, 1, 1, 16);
        let messages = Arc::new(stores.messages);
        let relay = Relay {
            pool: stores.pool.clone(),
            node: stores.node.clone(),
            bus: Arc::new(LocalBus::new(hub.clone(), 16)),
            hub,
            access: Access::new(
                Vec::new(),
                Arc::new(crate::store::memory::MemoryRooms::default()),
            ),
            messages: messages.clone(),
            newest: NewestMessages::default(),
            seen_heads: Default::default(),
        };
        (Arc::new(relay), messages, listening)
    }

    fn lagging(listening: &crate::hub::tests::Listener) -> bool {
        listening
            .registration
            .signals
            .take_lagging()
            .contains(&RoomId(1))
    }

    /// A message another node stored whose notice never came (the relay here hears nothing):
    /// the next head check has the room's listeners catch up, and only then.
    #[tokio::test]
    async fn a_lost_notice_is_caught_by_the_head_check() {
        let (relay, messages, listening) = relay().await;
        relay.check_heads().await;
        assert!(
            lagging(&listening),
            "a room first followed is caught up once"
        );
        relay.check_heads().await;
        assert!(!lagging(&listening), "and not again while nothing changed");
        messages
            .append(vec![new(1, "a", "unannounced", 1)])
            .await
            .unwrap();
        relay.check_heads().await;
        assert!(lagging(&listening), "a head past what the hub handed out");
        relay.check_heads().await;
        assert!(!lagging(&listening));
    }

    /// Another node's notice is read once and handed to the hub; this node's own are not.
    #[tokio::test]
    async fn another_node_s_notice_is_read_and_handed_out_once() {
        let (relay, messages, mut listening) = relay().await;
        messages
            .append(vec![new(1, "a", "hello", 1), new(1, "b", "there", 1)])
            .await
            .unwrap();
        relay.stored(&format!("{} 1:1:2", relay.node.0)).await;
        assert!(listening.messages.try_recv().is_err(), "its own notice");
        relay.stored("0123456789abcdef 1:1:2 7:1:1").await;
        let seqs: Vec<u64> = std::iter::from_fn(|| listening.messages.try_recv().ok())
            .map(|out| out.seq)
            .collect();
        assert_eq!(seqs, [1, 2]);
        relay.check_heads().await;
        assert!(!lagging(&listening), "what was handed out is known");
    }

    /// The next presence frame a listener was handed, as (who, online).
    fn presence_heard(listening: &mut crate::hub::tests::Listener) -> Option<(String, bool)> {
        while let Ok(frame) = listening.events.try_recv() {
            if let Ok(app::protocol::ServerFrame::Presence { user, online, .. }) =
                serde_json::from_str(frame.as_str())
            {
                return Some((user.to_string(), online));
            }
        }
        None
    }

    /// A node that stops without a word (its "offline" never sent) is forgotten by the presence
    /// snapshot, and its people's rooms hear that they went offline then; someone the snapshot
    /// shows first (their "online" lost) is announced the same way; a snapshot that changes
    /// nothing says nothing, and one older than an event does not undo it.
    #[tokio::test]
    async fn who_the_presence_snapshot_changes_is_announced_to_their_rooms() {
        let (relay, _messages, mut listening) = relay().await;
        let ana: i64 = sqlx::query_scalar(
            // Not user 1, who is online here (the listener's connection).
            "INSERT INTO users (id, username, name_key, password_hash, created)
             OVERRIDING SYSTEM VALUE VALUES (7, 'Ana', 'ana', 'x', 0) RETURNING id",
        )
        .fetch_one(&relay.pool)
        .await
        .unwrap();
        let mut room = crate::store::rooms::RoomAccess::new(app::model::Visibility::Public);
        room.set(
            UserId(small(ana)),
            crate::store::rooms::Standing::Member(app::model::Role::Member),
        );
        relay.access.add_room(RoomId(1), room);
        let other_node = |online: Vec<i64>, seen: &str| {
            let pool = relay.pool.clone();
            let seen = seen.to_owned();
            async move {
                sqlx::query(&format!(
                    "INSERT INTO node_presence (node, online, seen) VALUES ('elsewhere', $1, {seen})
                     ON CONFLICT (node) DO UPDATE SET online = $1, seen = {seen}"
                ))
                .bind(online)
                .execute(&pool)
                .await
                .unwrap();
            }
        };

        other_node(vec![ana], "now()").await;
        relay.read_presence().await;
        assert_eq!(presence_heard(&mut listening), Some(("Ana".into(), true)));
        relay.read_presence().await;
        assert_eq!(presence_heard(&mut listening), None, "nothing changed");

        // The other node stopped writing: forgotten, and Ana with it.
        other_node(vec![ana], "now() - interval '1 hour'").await;
        relay.read_presence().await;
        assert_eq!(presence_heard(&mut listening), Some(("Ana".into(), false)));
        assert!(!relay.hub.is_online(UserId(small(ana))));

        // An event newer than the row stands: Ana left there, and the row still has her (it is
        // rewritten a moment after). No frame from the snapshot, and she stays offline here.
        other_node(vec![ana], "now()").await;
        relay.read_presence().await;
        assert_eq!(presence_heard(&mut listening), Some(("Ana".into(), true)));
        relay
            .hub
            .remote_presence("elsewhere", UserId(small(ana)), false);
        relay.read_presence().await;
        assert_eq!(presence_heard(&mut listening), None, "the event stands");
        assert!(!relay.hub.is_online(UserId(small(ana))));
    }

    /// The listener connection ends and is made again: events sent meanwhile are lost, so the
    /// access state is read again (a room this node was never told of is known after) and every
    /// connection is told to re-check and catch up.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_listener_made_again_reads_access_again_and_resyncs() {
        let (relay, _messages, listening) = relay().await;
        let Ok(mut relay) = Arc::try_unwrap(relay) else {
            unreachable!("the only handle")
        };
        let rooms = Arc::new(crate::store::memory::MemoryRooms::default());
        relay.access = Access::new(Vec::new(), rooms.clone());
        let (access, pool) = (relay.access.clone(), relay.pool.clone());
        let shutdown = CancellationToken::new();
        let task = relay.start(shutdown.clone()).await.unwrap();
        // Created behind this node's back: no event says so.
        let owner = app::model::UserInfo {
            id: app::model::UserId(1),
            username: app::model::Username::parse("ana").unwrap(),
        };
        let name = app::model::RoomName::parse("quiet").unwrap();
        let room = crate::store::rooms::RoomStore::create(
            rooms.as_ref(),
            owner.clone(),
            name,
            app::model::Visibility::Public,
            0,
            10,
        )
        .await
        .unwrap();
        assert!(access.check_member(owner.id, room).is_err());
        assert!(!listening.registration.signals.take_revoked().resync);

        let ended: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(ended, [true]);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while access.check_member(owner.id, room).is_err() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(access.check_member(owner.id, room), Ok(()));
        assert!(listening.registration.signals.take_revoked().resync);
        shutdown.cancel();
        task.await.unwrap();
    }
}
