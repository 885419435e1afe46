//! The `/ws` wire protocol: JSON text frames tagged by `"type"`, one serde enum per direction.
//!
//! Browser and server compile this same file, so a frame one side writes is a frame the other
//! side can read. `docs/protocol.md` describes every frame and error code for other clients;
//! a change here is a change to that contract.

use crate::model::{ChatMessage, RoomId, RoomSummary, Username};
use crate::timeline::{
    EditEvent, ErasedEntry, MemberEvent, MessageDeletedEvent, ReactionEvent, RoomDeletedEvent,
    RoomEvent,
};
use serde::{Deserialize, Serialize};

/// The WebSocket subprotocol of a client that reads several server frames from one message.
///
/// Why: a browser pays for every WebSocket message it receives (the message crosses from the
/// network process, becomes an event, enters the page's script), about 0.4 ms a message on our
/// benchmark machine at 100 messages a second with nothing drawn, more than drawing it. A
/// client that offers this subprotocol gets the frames of one moment in one message, one frame
/// per line ([`frames`] splits them), and while a room is busy the server gathers its messages
/// for a few milliseconds first (`server/src/ws/writer.rs`). A client that does not offer it
/// gets one frame per message, as before.
pub const LINES_PROTOCOL: &str = "minitalk.lines";

/// The frames of one server message on the [`LINES_PROTOCOL`]: one JSON object per line. A
/// frame never holds a newline of its own (JSON escapes them in strings), so the split is exact.
pub fn frames(message: &str) -> impl Iterator<Item = &str> {
    message.split('\n')
}

/// What a client may send.
///
/// `send` keeps its fields as plain strings so a frame with, say, an over-long body still
/// parses and can be answered with an error that names its `client_id`; the server parses them
/// into [`crate::model::MessageBody`] and [`crate::model::ClientId`] before anything else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Replay every message with seq > `after_seq` (none when `null`), then go live.
    Subscribe {
        room_id: RoomId,
        after_seq: Option<u64>,
    },
    Unsubscribe {
        room_id: RoomId,
    },
    Send {
        room_id: RoomId,
        client_id: String,
        content: String,
        /// The seq of the message (in the same room) this one replies to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<u64>,
    },
    Typing {
        room_id: RoomId,
    },
    /// Follow your own rooms: answered with `user_subscribed` (every room you are in or invited
    /// to), then `room_changed` and `room_removed` as they change. Once per connection.
    SubscribeUser,
    Ping,
}

/// Proof that a message is durably stored, as its sender is told: the one ack type from the
/// store's append through the processor to the wire (the `ack` frame is this, tagged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub client_id: String,
    pub room_id: RoomId,
    pub id: u64,
    pub seq: u64,
    pub ts: i64,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The replay for a `subscribe` is complete; live messages with seq > `last_seq` follow.
    /// `first_seq` is set when the client was further behind than one replay may go: the
    /// replay began there, and older messages are paged with the `history` server function.
    Subscribed {
        room_id: RoomId,
        last_seq: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        first_seq: Option<u64>,
    },
    Unsubscribed {
        room_id: RoomId,
    },
    /// A stored message. Each subscriber sees a room's messages once each, in seq order.
    Message(ChatMessage),
    /// Someone joined or left the room: a timeline entry with its own seq, delivered like a
    /// message (see [`crate::timeline`]). A client that does not know a frame with a seq must
    /// still move its cursor past it.
    Member(MemberEvent),
    /// The room's name or topic changed: a timeline entry like `member`.
    Room(RoomEvent),
    /// The owner deleted the room: its last timeline entry. The subscription ends after it
    /// (as after a kick), and the user stream sends `room_removed`.
    RoomDeleted(RoomDeletedEvent),
    /// A message's author changed its text: a timeline entry naming the message by
    /// `target_seq`.
    Edit(EditEvent),
    /// A message was deleted: a timeline entry naming it by `target_seq`.
    MessageDeleted(MessageDeletedEvent),
    /// Someone set a reaction to a message on or off: a timeline entry naming it by
    /// `target_seq`.
    Reaction(ReactionEvent),
    /// What a deleted message (or one of its edits) reads as when replayed: its seq, and
    /// nothing of what it said.
    Erased(ErasedEntry),
    /// The message the client called `client_id` is durably stored.
    Ack(Ack),
    Error(ErrorFrame),
    Presence {
        room_id: RoomId,
        user: Username,
        online: bool,
    },
    Typing {
        room_id: RoomId,
        user: Username,
    },
    /// The answer to `subscribe_user`: every room the user is in or invited to, as
    /// `list_rooms` shows them. It replaces whatever the client knew: after a reconnect (or a
    /// server-side resync, which sends it again) the client is exactly up to date.
    UserSubscribed {
        rooms: Vec<RoomSummary>,
    },
    /// A room of the user's was added (joined, invited, a DM opened, in any tab) or its row
    /// changed: new entries (unread counts; at most two of these a second per room), a read
    /// mark from another tab, a new role. The whole row, so a lost one is made good by the next.
    RoomChanged {
        room: RoomSummary,
    },
    /// The room is no longer the user's: they left, declined, were kicked or banned.
    RoomRemoved {
        room_id: RoomId,
    },
    Pong,
}

/// An error answer. `client_id` names the `send` it answers, when it answers one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorFrame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_id: Option<RoomId>,
    pub code: ErrorCode,
    pub message: String,
    /// For `overloaded` and `rate_limited`: when a retry may succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

/// The stable error codes of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame could not be parsed, or a field broke a rule (empty or too long content, …).
    Invalid,
    NotMember,
    NoSuchRoom,
    RateLimited,
    /// The server's queue is full; retry after `retry_after_ms`.
    Overloaded,
    Unauthorized,
    /// The server is low on disk space and refuses new messages for now.
    StorageFull,
    /// This `client_id` was already used for a different message (another room or other
    /// content) within the dedupe window; pick a new one.
    ClientIdReused,
    /// The message a reply names is not there (never was, or was deleted).
    NoSuchMessage,
    /// The server failed (for example, a disk write); the message was not stored.
    Internal,
}

impl ErrorCode {
    /// The code's name on the wire (`"overloaded"`, …), for logs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invalid => "invalid",
            Self::NotMember => "not_member",
            Self::NoSuchRoom => "no_such_room",
            Self::RateLimited => "rate_limited",
            Self::Overloaded => "overloaded",
            Self::Unauthorized => "unauthorized",
            Self::StorageFull => "storage_full",
            Self::ClientIdReused => "client_id_reused",
            Self::NoSuchMessage => "no_such_message",
            Self::Internal => "internal",
        }
    }

    /// Whether resending the same frame later may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::RateLimited | Self::Overloaded | Self::Internal | Self::StorageFull
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn client_frames_match_the_documented_json() {
        let frame: ClientFrame = serde_json::from_value(json!({
            "type": "subscribe", "room_id": 7, "after_seq": null
        }))
        .unwrap();
        assert_eq!(
            frame,
            ClientFrame::Subscribe {
                room_id: RoomId(7),
                after_seq: None
            }
        );
        let frame: ClientFrame = serde_json::from_value(json!({
            "type": "send", "room_id": 1, "client_id": "c1", "content": "hi"
        }))
        .unwrap();
        assert!(matches!(frame, ClientFrame::Send { .. }));
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"ping"}"#).is_ok());
    }

    #[test]
    fn error_code_names_are_their_wire_names() {
        for code in [
            ErrorCode::Invalid,
            ErrorCode::NotMember,
            ErrorCode::NoSuchRoom,
            ErrorCode::RateLimited,
            ErrorCode::Overloaded,
            ErrorCode::Unauthorized,
            ErrorCode::StorageFull,
            ErrorCode::ClientIdReused,
            ErrorCode::Internal,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), json!(code.as_str()));
        }
    }

    #[test]
    fn unknown_frames_and_path_like_room_ids_are_refused() {
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"shout"}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(
            r#"{"type":"subscribe","room_id":"../../etc/passwd","after_seq":null}"#
        )
        .is_err());
    }

    /// Message 2 of room 1, by ana, saying `content`.
    fn message(content: &str) -> ChatMessage {
        ChatMessage {
            room_id: RoomId(1),
            seq: 2,
            id: 3,
            sender: Username::parse("ana").unwrap(),
            content: content.into(),
            ts: 4,
            client_id: "c".into(),
            edited: None,
            reply_to: None,
            reactions: None,
        }
    }

    #[test]
    fn frames_joined_by_lines_split_back_whatever_their_text() {
        let text = ServerFrame::Message(message("two\nlines\r\n and \u{2028}"));
        let sent = [text, ServerFrame::Pong];
        let joined = sent
            .iter()
            .map(|f| serde_json::to_string(f).unwrap())
            .collect::<Vec<_>>()
            .join("\n");
        let read: Vec<ServerFrame> = frames(&joined)
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(read, sent);
    }

    #[test]
    fn server_message_frames_are_flat() {
        let frame = ServerFrame::Message(message("<b>hi</b>"));
        assert_eq!(
            serde_json::to_value(&frame).unwrap(),
            json!({"type":"message","room_id":1,"seq":2,"id":3,"sender":"ana",
                   "content":"<b>hi</b>","ts":4,"client_id":"c"})
        );
        let err = ServerFrame::Error(ErrorFrame {
            client_id: Some("c".into()),
            room_id: None,
            code: ErrorCode::NotMember,
            message: "x".into(),
            retry_after_ms: None,
        });
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            json!({"type":"error","client_id":"c","code":"not_member","message":"x"})
        );
    }
}
