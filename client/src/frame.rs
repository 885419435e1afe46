//! Reading server frames fast enough not to become the thing measured.
//!
//! serde reads an internally tagged enum such as [`ServerFrame`] by first copying the whole frame
//! into a buffer of owned values, then choosing the variant. A burst run receives about a million
//! frames, nearly all `message` and `ack`, and that buffering was the generator's biggest own
//! cost. Those two are read here straight into borrowed fields (any field order, unknown fields
//! ignored); every other frame still goes through [`ServerFrame`], and the tests below check
//! both readings agree on frames the shared protocol types wrote. It lives beside the
//! [`crate::Socket`] rather than in `app`, because only native clients under load need it; the
//! browser and the server read whole frames.

use app::model::RoomId;
use app::protocol::ServerFrame;
use serde::Deserialize;
use std::borrow::Cow;

/// A server frame, with `message` and `ack` borrowed from the text they were read from.
#[derive(Debug)]
pub enum FrameRef<'a> {
    Message {
        room: RoomId,
        seq: u64,
        content: Cow<'a, str>,
    },
    Ack {
        room: RoomId,
        seq: u64,
        client_id: Cow<'a, str>,
    },
    Other(ServerFrame),
}

/// The fields of `message` and `ack` frames the load test uses.
#[derive(Deserialize)]
struct Hot<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    room_id: Option<RoomId>,
    seq: Option<u64>,
    #[serde(borrow)]
    client_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    content: Option<Cow<'a, str>>,
}

impl<'a> FrameRef<'a> {
    /// Reads one text frame from the server.
    pub fn parse(text: &'a str) -> serde_json::Result<Self> {
        let hot: Hot = serde_json::from_str(text)?;
        Ok(match (hot.kind.as_ref(), hot.room_id, hot.seq) {
            ("message", Some(room), Some(seq)) => Self::Message {
                room,
                seq,
                content: hot.content.unwrap_or_default(),
            },
            ("ack", Some(room), Some(seq)) => Self::Ack {
                room,
                seq,
                client_id: hot.client_id.unwrap_or_default(),
            },
            _ => Self::Other(serde_json::from_str(text)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::{ChatMessage, Username};
    use app::protocol::{Ack, ErrorCode, ErrorFrame};

    fn json(frame: &ServerFrame) -> String {
        serde_json::to_string(frame).unwrap()
    }

    #[test]
    fn messages_and_acks_read_as_the_protocol_wrote_them() {
        let message = ServerFrame::Message(ChatMessage {
            room_id: RoomId(7),
            seq: 42,
            id: 1042,
            sender: Username::parse("ana").unwrap(),
            content: "burst \"quoted\" from user 3 @99".into(),
            ts: 1,
            client_id: "c-1".into(),
            edited: None,
            reply_to: None,
            reactions: None,
        });
        let text = json(&message);
        let FrameRef::Message { room, seq, content } = FrameRef::parse(&text).unwrap() else {
            panic!("not read as a message");
        };
        assert_eq!(
            (room, seq, content.as_ref()),
            (RoomId(7), 42, "burst \"quoted\" from user 3 @99")
        );

        let ack = ServerFrame::Ack(Ack {
            client_id: "c-1".into(),
            room_id: RoomId(7),
            id: 1042,
            seq: 42,
            ts: 1,
        });
        let text = json(&ack);
        let FrameRef::Ack {
            room,
            seq,
            client_id,
        } = FrameRef::parse(&text).unwrap()
        else {
            panic!("not read as an ack");
        };
        assert_eq!((room, seq, client_id.as_ref()), (RoomId(7), 42, "c-1"));
    }

    #[test]
    fn every_other_frame_is_read_whole() {
        let error = ServerFrame::Error(ErrorFrame {
            client_id: Some("c-1".into()),
            room_id: Some(RoomId(7)),
            code: ErrorCode::Overloaded,
            message: "busy".into(),
            retry_after_ms: Some(10),
        });
        assert!(
            matches!(FrameRef::parse(&json(&error)).unwrap(), FrameRef::Other(frame) if frame == error)
        );
        let subscribed = ServerFrame::Subscribed {
            room_id: RoomId(7),
            last_seq: 3,
            first_seq: None,
        };
        assert!(
            matches!(FrameRef::parse(&json(&subscribed)).unwrap(), FrameRef::Other(frame) if frame == subscribed)
        );
        assert!(FrameRef::parse("{\"type\":\"message\"").is_err());
    }
}
