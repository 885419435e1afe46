//! The room timeline: every durable change visible in a room takes the room's next seq.
//!
//! A room's seqs count **entries**, not messages. A message is one kind of entry; a change of
//! membership (someone joined, someone left) is another. Both go through the same path (the
//! processor's batch, the store's append, the hub, each connection's seq cursor), so both are
//! seen live and after a reconnect, once each and in order, and a resend of either is answered
//! with the original. A reader that meets a kind it does not know must still move its cursor past
//! that seq: that is what keeps resume gapless when kinds are added.
//!
//! On the wire and in the file store's log, an entry is one JSON object tagged by `"type"`
//! (`"message"`, `"member"`): the same bytes as the `/ws` frame that carries it.

use crate::model::{ChatMessage, RoomId, UserId, Username};
use serde::{Deserialize, Serialize};

/// One entry of a room's timeline.
///
/// Written tagged (`{"type":"message",…}`); read tagged or, for what an older server or log
/// wrote before entries had kinds, as a plain message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Entry {
    Message(ChatMessage),
    Member(MemberEvent),
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// The tagged form, as written.
        #[derive(Deserialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        enum Tagged {
            Message(ChatMessage),
            Member(MemberEvent),
        }
        /// The form from before entries had kinds: a message with no `type` at all.
        #[derive(Deserialize)]
        struct Untagged {
            #[serde(rename = "type")]
            kind: Option<String>,
            #[serde(flatten)]
            message: ChatMessage,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Tagged(Tagged),
            Untagged(Untagged),
        }
        match Either::deserialize(deserializer)? {
            Either::Tagged(Tagged::Message(m)) => Ok(Entry::Message(m)),
            Either::Tagged(Tagged::Member(e)) => Ok(Entry::Member(e)),
            Either::Untagged(Untagged {
                kind: None,
                message,
            }) => Ok(Entry::Message(message)),
            // A kind this version does not know is never mistaken for a message.
            Either::Untagged(Untagged {
                kind: Some(kind), ..
            }) => Err(serde::de::Error::custom(format!(
                "unknown timeline entry type {kind:?}"
            ))),
        }
    }
}

impl Entry {
    pub fn room_id(&self) -> RoomId {
        match self {
            Entry::Message(m) => m.room_id,
            Entry::Member(e) => e.room_id,
        }
    }

    pub fn seq(&self) -> u64 {
        match self {
            Entry::Message(m) => m.seq,
            Entry::Member(e) => e.seq,
        }
    }

    pub fn id(&self) -> u64 {
        match self {
            Entry::Message(m) => m.id,
            Entry::Member(e) => e.id,
        }
    }

    pub fn ts(&self) -> i64 {
        match self {
            Entry::Message(m) => m.ts,
            Entry::Member(e) => e.ts,
        }
    }

    /// The message, if this entry is one.
    pub fn into_message(self) -> Option<ChatMessage> {
        match self {
            Entry::Message(m) => Some(m),
            Entry::Member(_) => None,
        }
    }

    /// Reads one line the store wrote (a line written before entries were tagged is a message).
    ///
    /// Faster than the general [`Deserialize`]: the tag is always the first field of what
    /// [`Serialize`] writes, so the kind is known from the first bytes and the line parses
    /// straight into its struct (which skips the `type` field), without serde first buffering
    /// it to try each form. Recovery reads every line this way, and history pages every entry.
    pub fn from_json(bytes: &[u8]) -> serde_json::Result<Self> {
        if bytes.starts_with(br#"{"type":"member","#) {
            serde_json::from_slice(bytes).map(Entry::Member)
        } else if bytes.starts_with(br#"{"type":"message","#) || !bytes.starts_with(br#"{"type""#) {
            serde_json::from_slice(bytes).map(Entry::Message)
        } else {
            // A kind this version does not know, or a layout it did not write.
            serde_json::from_slice(bytes)
        }
    }
}

/// Someone joined or left a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberEvent {
    pub room_id: RoomId,
    pub seq: u64,
    pub id: u64,
    /// Who made the change (today always the member themselves).
    pub sender: Username,
    pub ts: i64,
    /// Made by the server for the change; a resend of the same change carries the same one.
    pub client_id: String,
    /// Whose membership changed.
    pub user_id: UserId,
    pub user: Username,
    pub membership: Membership,
}

/// What a [`MemberEvent`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Membership {
    Join,
    Leave,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member() -> Entry {
        Entry::Member(MemberEvent {
            room_id: RoomId(2),
            seq: 5,
            id: 9,
            sender: Username::parse("ana").unwrap(),
            ts: 1,
            client_id: "ev-1".into(),
            user_id: UserId(3),
            user: Username::parse("ana").unwrap(),
            membership: Membership::Leave,
        })
    }

    #[test]
    fn an_entry_is_tagged_by_its_kind_and_reads_back() {
        let json = serde_json::to_string(&member()).unwrap();
        assert!(
            json.starts_with(r#"{"type":"member","room_id":2,"seq":5"#),
            "{json}"
        );
        assert!(json.contains(r#""membership":"leave""#), "{json}");
        assert_eq!(Entry::from_json(json.as_bytes()).unwrap(), member());
    }

    #[test]
    fn a_history_page_from_an_older_server_reads_as_messages() {
        let page = br#"[{"room_id":1,"seq":1,"id":1,"sender":"ana","content":"hi","ts":5,"client_id":"c"}]"#;
        let entries: Vec<Entry> = serde_json::from_slice(page).unwrap();
        assert!(matches!(&entries[..], [Entry::Message(m)] if m.content == "hi"));
    }

    #[test]
    fn an_untagged_line_is_a_message_and_garbage_is_an_error() {
        let old =
            br#"{"room_id":1,"seq":1,"id":1,"sender":"ana","content":"hi","ts":5,"client_id":"c"}"#;
        let entry = Entry::from_json(old).unwrap();
        assert!(matches!(&entry, Entry::Message(m) if m.content == "hi"));
        assert_eq!(entry.seq(), 1);
        assert!(Entry::from_json(br#"{"type":"member","room_id":1}"#).is_err());
        let tagged = br#"{"type":"message","room_id":1,"seq":2,"id":2,"sender":"ana","content":"yo","ts":5,"client_id":"d"}"#;
        assert!(matches!(Entry::from_json(tagged), Ok(Entry::Message(m)) if m.content == "yo"));
        let unknown = br#"{"type":"reaction","room_id":1,"seq":3,"id":3,"sender":"ana","content":"x","ts":5,"client_id":"e"}"#;
        assert!(
            Entry::from_json(unknown).is_err(),
            "an unknown kind is not read as a message"
        );
        assert!(Entry::from_json(b"{").is_err());
    }
}
