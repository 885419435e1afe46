//! The bus: events that are not messages (membership changes, the end of a session, presence,
//! typing) on their way to every node's hub, and to whoever relays them further.
//!
//! Why it exists: a leave, a sign-out or a typing hint must reach every socket of the user or
//! the room, and a later deployment spreads those sockets over several nodes. Publishing on the
//! bus is the one way such a change reaches sockets; [`crate::hub::Hub::apply`] is the one place
//! that turns an event into what the hub does (revoke a room, end sessions, announce), used by
//! [`LocalBus`] now and by a cross-node bus later.
//!
//! # Contract
//!
//! Every implementation must honour it, and nothing may assume more:
//!
//! - **Applied locally before `publish` returns.** The node that publishes a revocation has cut
//!   its own sockets off when `publish` returns, so a server function that answers "left" or
//!   "signed out" has kept its word on this node.
//! - **Elsewhere, events may be lost, duplicated, reordered or delayed** (a network bus loses
//!   what was sent while it reconnected). Every event is idempotent: applying one twice is
//!   applying it once.
//! - **Loss is announced, not silent.** A subscriber that could not keep up, or a bus that knows
//!   it missed events, gets [`BusEvent::Resync`]: "re-read the truth from the stores". On a hub
//!   that means every connection re-checks its session and memberships and catches up every
//!   room it follows from the message store (see `ws::connection`).
//! - **Messages never depend on the bus.** Stored messages reach connections through the hub and
//!   the per-connection seq cursors, which already absorb duplicates and loss by catching up
//!   from the store; presence and typing are best effort.

mod local;
pub mod postgres;
mod queue;

pub use local::LocalBus;
pub use queue::{channel, BusReceiver, BusSender, SUBSCRIBER_QUEUE};

use crate::hub::{ConnId, SessionKey};
use app::model::{RoomId, UserId, Username};

/// Something that happened outside the message log that sockets must hear about. Serialized
/// (snake_case, tagged by `type`) as a cross-node relay sends it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BusEvent {
    /// `user` is now a member of `room` (`member`) or not (left, kicked, banned). An end of
    /// membership ends the room's delivery on every socket of the user; a join needs nothing of
    /// the hub (a socket subscribes itself). Published by the processor's publisher for each
    /// member entry, in commit order, right after broadcasting it.
    MembershipChanged {
        room: RoomId,
        user: UserId,
        member: bool,
        /// The seq of the entry that made the change, when known: each socket still sends
        /// what it has not sent up to it (a removed person sees their removal), and nothing
        /// after.
        through: Option<u64>,
    },
    /// `room` was made with `people` in it (a room's creator, a new direct conversation's
    /// people): not a timeline entry, so the user stream hears of it here.
    RoomCreated { room: RoomId, people: Vec<UserId> },
    /// `user`'s own part of `room`'s row changed (they marked it read, or chose a notification
    /// level, in some tab): their other tabs' room lists follow.
    OwnRowChanged { room: RoomId, user: UserId },
    /// `room`'s name or topic changed (a `room` entry was stored): every following member's
    /// row of it is sent again. Published by the processor's publisher after the batch.
    RoomSettingsChanged { room: RoomId },
    /// One sign-in ended (sign-out in a tab, or evicted by a newer sign-in): its sockets close.
    SessionEnded { session: SessionKey },
    /// Every sign-in of `user` ended ("sign out everywhere"): all their sockets close.
    UserSignedOut { user: UserId },
    /// `user` came online or went offline on the publishing node (their first socket there
    /// opened, or their last one closed), as `room`'s listeners should hear it unless another
    /// node says otherwise (see `hub::presence`).
    Presence {
        room: RoomId,
        user: Username,
        user_id: UserId,
        online: bool,
    },
    /// `user` is typing in `room`. `from` is the typing connection on the publishing node, which
    /// does not hear its own hint; a relay to other nodes sends `None`.
    Typing {
        room: RoomId,
        user: Username,
        #[serde(skip)]
        from: Option<ConnId>,
    },
    /// Events were lost: everything must be re-read from the stores.
    Resync,
}

/// Where events are published, and how a relay subscribes to them. Object-safe, so the server
/// can choose the implementation at run time.
pub trait Bus: Send + Sync + 'static {
    /// Applies `event` to this node's hub before returning, then offers it to every subscriber.
    /// Never blocks on a subscriber.
    fn publish(&self, event: BusEvent);
    /// A bounded queue of every event published from now on; see [`BusReceiver`] for what
    /// happens when it is full.
    fn subscribe(&self) -> BusReceiver;
}
