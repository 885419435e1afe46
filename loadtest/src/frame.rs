//! Reading server frames fast enough not to become the thing measured.
//!
//! serde reads an internally tagged enum such as [`ServerFrame`] by first copying the whole frame
//! into a buffer of owned values, then choosing the variant. A burst run receives about a million
//! frames, nearly all `message` and `ack`, and that buffering was the generator's biggest own
//! cost. Those two are read here straight into borrowed fields (any field order, unknown fields
//! ignored); every other frame still goes through [`ServerFrame`], and the tests below check
//! both readings agree on frames the shared protocol types wrote.

use app::protocol::ServerFrame;
use serde::Deserialize;
use std::borrow::Cow;

pub enum Frame<'a> {
    Message {
        room: u64,
        seq: u64,
        content: Cow<'a, str>,
    },
    Ack {
        room: u64,
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
    room_id: Option<u64>,
    seq: Option<u64>,
    #[serde(borrow)]
    client_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    content: Option<Cow<'a, str>>,
}

pub fn parse(text: &str) -> serde_json::Result<Frame<'_>> {
    let hot: Hot = serde_json::from_str(text)?;
    Ok(match (hot.kind.as_ref(), hot.room_id, hot.seq) {
        ("message", Some(room), Some(seq)) => Frame::Message {
            room,
            seq,
            content: hot.content.unwrap_or_default(),
        },
        ("ack", Some(room), Some(seq)) => Frame::Ack {
            room,
            seq,
            client_id: hot.client_id.unwrap_or_default(),
        },
        _ => Frame::Other(serde_json::from_str(text)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::{ChatMessage, RoomId, Username};
    use app::protocol::{ErrorCode, ErrorFrame};

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
        });
        let text = json(&message);
        let Frame::Message { room, seq, content } = parse(&text).unwrap() else {
            panic!("not read as a message");
        };
        assert_eq!(
            (room, seq, content.as_ref()),
            (7, 42, "burst \"quoted\" from user 3 @99")
        );

        let ack = ServerFrame::Ack {
            client_id: "c-1".into(),
            room_id: RoomId(7),
            id: 1042,
            seq: 42,
            ts: 1,
        };
        let text = json(&ack);
        let Frame::Ack {
            room,
            seq,
            client_id,
        } = parse(&text).unwrap()
        else {
            panic!("not read as an ack");
        };
        assert_eq!((room, seq, client_id.as_ref()), (7, 42, "c-1"));
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
        assert!(matches!(parse(&json(&error)).unwrap(), Frame::Other(frame) if frame == error));
        let subscribed = ServerFrame::Subscribed {
            room_id: RoomId(7),
            last_seq: 3,
            first_seq: None,
        };
        assert!(
            matches!(parse(&json(&subscribed)).unwrap(), Frame::Other(frame) if frame == subscribed)
        );
        assert!(parse("{\"type\":\"message\"").is_err());
    }
}
