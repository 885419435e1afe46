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
#[cfg(any(doc, test))]
use app::protocol::ServerFrame;
use bytes::Bytes;
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

/// What a sender is told of a stored message; the same type goes out as the `ack` frame.
pub use app::protocol::Ack;

/// A message an append stored: its sender's [`Ack`] and its `message` frame.
///
/// The frame is the message serialized once: a backend that writes the same bytes (the file
/// store's log lines *are* these frames) hands out a slice of what it wrote, and the hub passes
/// that slice to every listener. Nothing on the way from the store to the sockets serializes the
/// message again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub ack: Ack,
    pub frame: MessageFrame,
}

impl StoredMessage {
    /// Serializes `message`'s frame on its own (for stores that keep messages as values).
    pub fn of(message: &ChatMessage) -> Self {
        let mut json = Vec::new();
        MessageFrame::write(&mut json, message);
        Self {
            ack: Ack::of(message),
            frame: MessageFrame(Bytes::from(json)),
        }
    }
}

/// The `message` frame of one stored message: `{"type":"message",…}`, the same JSON as
/// [`ServerFrame::Message`], always UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageFrame(Bytes);

impl MessageFrame {
    /// Appends `message`'s frame to `out`, serialized from a borrow (building a
    /// [`ServerFrame::Message`] first would copy the message, text included).
    pub fn write(out: &mut Vec<u8>, message: &ChatMessage) {
        /// The same JSON as [`ServerFrame::Message`] (same tag, same fields), over a reference.
        #[derive(serde::Serialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        enum Borrowed<'a> {
            Message(&'a ChatMessage),
        }
        serde_json::to_writer(out, &Borrowed::Message(message)).expect("messages always serialize");
    }

    /// Wraps bytes that [`MessageFrame::write`] wrote (a slice of a larger buffer is fine).
    pub fn from_written(bytes: Bytes) -> Self {
        debug_assert!(std::str::from_utf8(&bytes).is_ok());
        Self(bytes)
    }

    pub fn bytes(&self) -> &Bytes {
        &self.0
    }
}

/// What became of one message of a batch, in batch order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Stored by this append, with its new seq and id.
    Stored(StoredMessage),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_frame_is_the_protocol_s_message_frame() {
        let message = ChatMessage {
            room_id: RoomId(3),
            seq: 7,
            id: 1007,
            sender: Username::parse("ana").unwrap(),
            content: "\"quoted\" <b>and</b> é\n".into(),
            ts: 42,
            client_id: "c-1".into(),
        };
        let stored = StoredMessage::of(&message);
        let owned = serde_json::to_vec(&ServerFrame::Message(message.clone())).unwrap();
        assert_eq!(&stored.frame.bytes()[..], &owned[..]);
        assert_eq!(stored.ack, Ack::of(&message));
    }
}
