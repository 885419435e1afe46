//! The message store seam: what the rest of the server may ask of wherever messages are kept.
//!
//! [`MessageStore`] is async and object-safe, so the server holds an `Arc<dyn MessageStore>`
//! and a backend can be chosen at run time. Its futures are [`BoxFuture`]s from `futures` (a
//! dependency already) rather than `#[async_trait]`: the same boxing, no macro, and the
//! signatures say exactly what is borrowed. The box costs one allocation per batch or per read,
//! never per message.
//!
//! What "stored" means is the backend's [`Durability`]; the file store's is
//! [`Durability::Fdatasync`]: the batch was written and `fdatasync`ed before `append` returns.
//!
//! The store is the authority on resends: a message whose (sender, client_id) it stored within
//! its dedupe window comes back as [`Appended::Duplicate`] with the original seq and ts, whether
//! the original is in an earlier batch, in the same batch, or was stored before a restart.

use super::{Durability, StoreError};
use app::model::{ChatMessage, ClientId, MessageBody, RoomId, Username};
use futures::future::BoxFuture;

/// A message to store: everything but the seq and id, which the store assigns.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub room_id: RoomId,
    pub sender: Username,
    pub client_id: ClientId,
    pub content: MessageBody,
    pub ts: i64,
}

/// Proof that a message is durably stored: what its sender is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub client_id: String,
    pub room_id: RoomId,
    pub id: u64,
    pub seq: u64,
    pub ts: i64,
}

impl Ack {
    pub fn of(message: &ChatMessage) -> Self {
        Self {
            client_id: message.client_id.clone(),
            room_id: message.room_id,
            id: message.id,
            seq: message.seq,
            ts: message.ts,
        }
    }
}

/// What became of one message of a batch, in batch order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Stored by this append, with its new seq and id.
    Stored(ChatMessage),
    /// A resend of a message stored earlier (or earlier in the same batch): its original ack.
    /// Nothing new was stored for it.
    Duplicate(Ack),
    /// The sender used this client_id for a different message (another room or other content)
    /// within the dedupe window. Nothing was stored; the sender must pick a new client_id.
    ClientIdReused,
}

/// The newest message of a room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomHead {
    /// The newest seq (0 when the room has no messages).
    pub last_seq: u64,
    /// When the newest message was stored.
    pub last_ts: Option<i64>,
}

/// Where messages are kept. See the module docs for what "stored" and "duplicate" mean.
pub trait MessageStore: Send + Sync + 'static {
    /// Stores a batch, all or nothing. On `Ok` every [`Appended::Stored`] is durable per
    /// [`durability`](Self::durability), and each room's seqs continue densely (1, 2, 3, …) in
    /// batch order. On `Err` nothing of the batch was stored and no seq was used.
    fn append(&self, batch: Vec<NewMessage>) -> BoxFuture<'_, Result<Vec<Appended>, StoreError>>;

    /// The newest seq of `room` (0 for a room with no messages, or one never heard of).
    fn head(&self, room: RoomId) -> BoxFuture<'_, Result<RoomHead, StoreError>>;

    /// Messages `from..=to` of `room`, clamped to what exists, in seq order (empty when
    /// `from > to` or the room has none).
    fn read_range(
        &self,
        room: RoomId,
        from: u64,
        to: u64,
    ) -> BoxFuture<'_, Result<Vec<ChatMessage>, StoreError>>;

    /// What "stored" means for this backend; logged at start.
    fn durability(&self) -> Durability;
}
