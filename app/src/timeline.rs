//! The room timeline: every durable change visible in a room takes the room's next seq.
//!
//! A room's seqs count **entries**, not messages. A message is one kind of entry; a change of
//! membership (someone joined, someone left) is another, a change of the room's name or
//! topic a third, and the room's deletion the last a room has. All go through the same path (the
//! processor's batch, the store's append, the hub, each connection's seq cursor), so both are
//! seen live and after a reconnect, once each and in order, and a resend of either is answered
//! with the original. A reader that meets a kind it does not know must still move its cursor past
//! that seq: that is what keeps resume gapless when kinds are added.
//!
//! On the wire and in the file store's log, an entry is one JSON object tagged by `"type"`
//! (`"message"`, `"member"`, `"room"`, `"room_deleted"`, `"edit"`, `"message_deleted"`,
//! `"reaction"`): the
//! same bytes as the `/ws` frame that carries it. One more kind, `"erased"`, is what an entry
//! whose text was erased reads as (every entry of a deleted room before its deletion, a deleted
//! message and its edits): it keeps the seq, so cursors and the log's seq checks still count
//! it, and nothing else anyone wrote.
//!
//! Edits, deletions and reactions name their message by `target_seq`, the seq it has in the
//! same room.
//!
//! Longer than 400 lines on purpose (about 420 without its tests): every kind of entry and its wire
//! form are defined together, because the client and the server match on them exhaustively.

use crate::model::{ChatMessage, Role, RoomId, RoomName, Topic, UserId, Username};
use crate::reactions::Emoji;
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
    Room(RoomEvent),
    RoomDeleted(RoomDeletedEvent),
    Erased(ErasedEntry),
    Edit(EditEvent),
    MessageDeleted(MessageDeletedEvent),
    Reaction(ReactionEvent),
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// The tagged form, as written.
        #[derive(Deserialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        enum Tagged {
            Message(ChatMessage),
            Member(MemberEvent),
            Room(RoomEvent),
            RoomDeleted(RoomDeletedEvent),
            Erased(ErasedEntry),
            Edit(EditEvent),
            MessageDeleted(MessageDeletedEvent),
            Reaction(ReactionEvent),
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
            Either::Tagged(Tagged::Room(e)) => Ok(Entry::Room(e)),
            Either::Tagged(Tagged::RoomDeleted(e)) => Ok(Entry::RoomDeleted(e)),
            Either::Tagged(Tagged::Erased(e)) => Ok(Entry::Erased(e)),
            Either::Tagged(Tagged::Edit(e)) => Ok(Entry::Edit(e)),
            Either::Tagged(Tagged::MessageDeleted(e)) => Ok(Entry::MessageDeleted(e)),
            Either::Tagged(Tagged::Reaction(e)) => Ok(Entry::Reaction(e)),
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
            Entry::Room(e) => e.room_id,
            Entry::RoomDeleted(e) => e.room_id,
            Entry::Erased(e) => e.room_id,
            Entry::Edit(e) => e.room_id,
            Entry::MessageDeleted(e) => e.room_id,
            Entry::Reaction(e) => e.room_id,
        }
    }

    pub fn seq(&self) -> u64 {
        match self {
            Entry::Message(m) => m.seq,
            Entry::Member(e) => e.seq,
            Entry::Room(e) => e.seq,
            Entry::RoomDeleted(e) => e.seq,
            Entry::Erased(e) => e.seq,
            Entry::Edit(e) => e.seq,
            Entry::MessageDeleted(e) => e.seq,
            Entry::Reaction(e) => e.seq,
        }
    }

    pub fn id(&self) -> u64 {
        match self {
            Entry::Message(m) => m.id,
            Entry::Member(e) => e.id,
            Entry::Room(e) => e.id,
            Entry::RoomDeleted(e) => e.id,
            Entry::Erased(e) => e.id,
            Entry::Edit(e) => e.id,
            Entry::MessageDeleted(e) => e.id,
            Entry::Reaction(e) => e.id,
        }
    }

    pub fn ts(&self) -> i64 {
        match self {
            Entry::Message(m) => m.ts,
            Entry::Member(e) => e.ts,
            Entry::Room(e) => e.ts,
            Entry::RoomDeleted(e) => e.ts,
            Entry::Erased(e) => e.ts,
            Entry::Edit(e) => e.ts,
            Entry::MessageDeleted(e) => e.ts,
            Entry::Reaction(e) => e.ts,
        }
    }

    /// Who sent the message or made the change (`None` once erased, unless a message deletion
    /// erased it: see [`ErasedEntry::sender`]).
    pub fn sender(&self) -> Option<&Username> {
        match self {
            Entry::Message(m) => Some(&m.sender),
            Entry::Member(e) => Some(&e.sender),
            Entry::Room(e) => Some(&e.sender),
            Entry::RoomDeleted(e) => Some(&e.sender),
            Entry::Erased(e) => e.sender.as_ref(),
            Entry::Edit(e) => Some(&e.sender),
            Entry::MessageDeleted(e) => Some(&e.sender),
            Entry::Reaction(e) => Some(&e.sender),
        }
    }

    /// The `client_id` it was stored under (empty once erased, unless a message deletion erased
    /// it).
    pub fn client_id(&self) -> &str {
        match self {
            Entry::Message(m) => &m.client_id,
            Entry::Member(e) => &e.client_id,
            Entry::Room(e) => &e.client_id,
            Entry::RoomDeleted(e) => &e.client_id,
            Entry::Erased(e) => e.client_id.as_deref().unwrap_or(""),
            Entry::Edit(e) => &e.client_id,
            Entry::MessageDeleted(e) => &e.client_id,
            Entry::Reaction(e) => &e.client_id,
        }
    }

    /// The message, if this entry is one.
    pub fn into_message(self) -> Option<ChatMessage> {
        match self {
            Entry::Message(m) => Some(m),
            _ => None,
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
        } else if bytes.starts_with(br#"{"type":"room","#) {
            serde_json::from_slice(bytes).map(Entry::Room)
        } else if bytes.starts_with(ERASED_PREFIX) {
            serde_json::from_slice(bytes).map(Entry::Erased)
        } else if bytes.starts_with(br#"{"type":"room_deleted","#) {
            serde_json::from_slice(bytes).map(Entry::RoomDeleted)
        } else if bytes.starts_with(br#"{"type":"edit","#) {
            serde_json::from_slice(bytes).map(Entry::Edit)
        } else if bytes.starts_with(br#"{"type":"message_deleted","#) {
            serde_json::from_slice(bytes).map(Entry::MessageDeleted)
        } else if bytes.starts_with(br#"{"type":"reaction","#) {
            serde_json::from_slice(bytes).map(Entry::Reaction)
        } else if bytes.starts_with(br#"{"type":"message","#) || !bytes.starts_with(br#"{"type""#) {
            serde_json::from_slice(bytes).map(Entry::Message)
        } else {
            // A kind this version does not know, or a layout it did not write.
            serde_json::from_slice(bytes)
        }
    }
}

/// Someone's membership of a room changed: they joined, left, were invited, kicked, banned or
/// unbanned, or their role changed. Who did it is `sender`; whose membership it is, `user`.
/// [`MemberEvent::change`] names the change as people say it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberEvent {
    pub room_id: RoomId,
    pub seq: u64,
    pub id: u64,
    /// Who made the change: the member themselves, or an owner or moderator.
    pub sender: Username,
    pub ts: i64,
    /// Made by the server for the change; a resend of the same change carries the same one.
    pub client_id: String,
    /// Whose membership changed.
    pub user_id: UserId,
    pub user: Username,
    /// Where the change left `user`. Leaving by oneself is also how an invitation is declined.
    pub membership: Membership,
    /// `user`'s role after a `join` (a join made by someone else is a change of role); `member`
    /// otherwise, and for entries from before roles.
    #[serde(default)]
    pub role: Role,
}

/// The room's name or topic changed (by an owner or moderator, `sender`). Both say what they
/// are after the change, so the newest such entry is the room's whole state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomEvent {
    pub room_id: RoomId,
    pub seq: u64,
    pub id: u64,
    pub sender: Username,
    pub ts: i64,
    /// Made by the server for the change; a resend of the same change carries the same one.
    pub client_id: String,
    pub name: RoomName,
    pub topic: Topic,
}

/// The owner deleted the room (`sender`): the room's last entry. Everyone loses access with
/// it, and every entry before it is erased (see [`ErasedEntry`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomDeletedEvent {
    pub room_id: RoomId,
    pub seq: u64,
    pub id: u64,
    pub sender: Username,
    pub ts: i64,
    /// Made by the server for the change.
    pub client_id: String,
}

/// Someone changed the text of their message `target_seq` (of the same room) to `content`.
/// The message's line keeps what it first said until the message is deleted; a history page
/// shows the newest edit in the message's place (see [`crate::model::ChatMessage::edited`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditEvent {
    pub room_id: RoomId,
    pub seq: u64,
    pub id: u64,
    /// The message's author: only they edit it.
    pub sender: Username,
    pub ts: i64,
    pub client_id: String,
    pub target_seq: u64,
    pub content: String,
}

/// The message `target_seq` (of the same room) was deleted, by its author or an owner or
/// moderator (`sender`). Its text and its edits' are erased from the store soon after; from
/// this entry on, it reads as [`ErasedEntry`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageDeletedEvent {
    pub room_id: RoomId,
    pub seq: u64,
    pub id: u64,
    /// Who deleted it.
    pub sender: Username,
    pub ts: i64,
    pub client_id: String,
    pub target_seq: u64,
}

/// `sender` set their reaction `emoji` to the message `target_seq` (of the same room) on or
/// off (see [`crate::reactions`]). It holds no text, so it is not erased with its message; a
/// deleted message shows no reactions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionEvent {
    pub room_id: RoomId,
    pub seq: u64,
    pub id: u64,
    pub sender: Username,
    pub ts: i64,
    pub client_id: String,
    pub target_seq: u64,
    pub emoji: Emoji,
    pub on: bool,
}

/// What a stored entry reads as once its text was erased: where it was (room, seq, id) and
/// when, nothing of what it said. A deleted room's entries keep nothing else, nor do a deleted
/// message's edits; a deleted message keeps who sent it and under which `client_id`, so that a
/// resend of it is still answered with its ack (and not stored again) after a restart, and a
/// reader can show "message deleted" where it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasedEntry {
    pub room_id: RoomId,
    pub seq: u64,
    pub id: u64,
    pub ts: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<Username>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// How every erased entry's JSON starts.
pub const ERASED_PREFIX: &[u8] = br#"{"type":"erased","#;

impl ErasedEntry {
    /// What `entry` reads as once its room is erased: nothing of who wrote it.
    pub fn of(entry: &Entry) -> Self {
        Self {
            room_id: entry.room_id(),
            seq: entry.seq(),
            id: entry.id(),
            ts: entry.ts(),
            sender: None,
            client_id: None,
        }
    }

    /// What `entry` reads as once erased by a message's deletion: a deleted message keeps
    /// who sent it and its `client_id` (so it is still known as that message, and shows as
    /// "message deleted" in its place); one of its edits keeps nothing, like a room's entries.
    pub fn deleted(entry: &Entry) -> Self {
        match entry {
            Entry::Message(m) => Self {
                sender: Some(m.sender.clone()),
                client_id: Some(m.client_id.clone()),
                ..Self::of(entry)
            },
            _ => Self::of(entry),
        }
    }
}

/// Where a [`MemberEvent`] left its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Membership {
    /// A member (with the event's role).
    Join,
    /// Not a member, not invited, not banned.
    Leave,
    /// Invited: may join (accept) or leave (decline).
    Invite,
    /// Banned: may not join until unbanned.
    Ban,
}

/// A [`MemberEvent`] as people say it: what the sender did to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    Joined,
    Left,
    /// The sender changed the user's role to this.
    RoleChanged(Role),
    Invited,
    /// The sender removed the user: a kick, or withdrawing an invitation or a ban.
    Removed,
    Banned,
}

impl MemberEvent {
    /// What happened, from who did it to whom.
    pub fn change(&self) -> MemberChange {
        let by_self = self.sender == self.user;
        match (self.membership, by_self) {
            (Membership::Join, true) => MemberChange::Joined,
            (Membership::Join, false) => MemberChange::RoleChanged(self.role),
            (Membership::Leave, true) => MemberChange::Left,
            (Membership::Leave, false) => MemberChange::Removed,
            (Membership::Invite, _) => MemberChange::Invited,
            (Membership::Ban, _) => MemberChange::Banned,
        }
    }

    /// One line for the room's timeline: "ana joined", "bob banned eve", …
    pub fn describe(&self) -> String {
        let (by, user) = (&self.sender, &self.user);
        match self.change() {
            MemberChange::Joined => format!("{user} joined"),
            MemberChange::Left => format!("{user} left"),
            MemberChange::RoleChanged(role) => format!("{by} made {user} {}", role.label()),
            MemberChange::Invited => format!("{by} invited {user}"),
            MemberChange::Removed => format!("{by} removed {user}"),
            MemberChange::Banned => format!("{by} banned {user}"),
        }
    }
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
            role: Role::Member,
        })
    }

    #[test]
    fn a_member_event_says_who_did_what_to_whom() {
        let Entry::Member(left) = member() else {
            unreachable!()
        };
        let by_bob = |membership, role| MemberEvent {
            sender: Username::parse("bob").unwrap(),
            membership,
            role,
            ..left.clone()
        };
        let said: Vec<String> = [
            MemberEvent {
                membership: Membership::Join,
                ..left.clone()
            },
            left.clone(),
            by_bob(Membership::Join, Role::Moderator),
            by_bob(Membership::Invite, Role::Member),
            by_bob(Membership::Leave, Role::Member),
            by_bob(Membership::Ban, Role::Member),
        ]
        .iter()
        .map(MemberEvent::describe)
        .collect();
        assert_eq!(
            said,
            [
                "ana joined",
                "ana left",
                "bob made ana moderator",
                "bob invited ana",
                "bob removed ana",
                "bob banned ana",
            ]
        );
        // An entry from before roles reads as a plain member.
        let old = r#"{"type":"member","room_id":2,"seq":5,"id":9,"sender":"ana","ts":1,"client_id":"e","user_id":3,"user":"ana","membership":"join"}"#;
        assert!(matches!(
            Entry::from_json(old.as_bytes()),
            Ok(Entry::Member(MemberEvent {
                role: Role::Member,
                ..
            }))
        ));
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

    #[test]
    fn a_room_event_is_its_own_kind_both_ways() {
        let event = Entry::Room(RoomEvent {
            room_id: RoomId(1),
            seq: 4,
            id: 8,
            sender: Username::parse("ana").unwrap(),
            ts: 5,
            client_id: "ev-2".into(),
            name: RoomName::parse("Hall").unwrap(),
            topic: Topic::parse("plans for friday").unwrap(),
        });
        let json = serde_json::to_vec(&event).unwrap();
        assert!(json.starts_with(br#"{"type":"room","#));
        assert_eq!(Entry::from_json(&json).unwrap(), event);
        assert_eq!(serde_json::from_slice::<Entry>(&json).unwrap(), event);
        assert_eq!((event.seq(), event.client_id()), (4, "ev-2"));
        assert_eq!(event.into_message(), None);
        // A name the rules refuse is refused in a stored entry too.
        let bad = br#"{"type":"room","room_id":1,"seq":4,"id":8,"sender":"ana","ts":5,"client_id":"e","name":"","topic":""}"#;
        assert!(Entry::from_json(bad).is_err());
    }

    #[test]
    fn a_deletion_and_an_erased_entry_are_kinds_of_their_own() {
        let deleted = Entry::RoomDeleted(RoomDeletedEvent {
            room_id: RoomId(1),
            seq: 9,
            id: 20,
            sender: Username::parse("ana").unwrap(),
            ts: 5,
            client_id: "ev-3".into(),
        });
        let json = serde_json::to_vec(&deleted).unwrap();
        assert!(json.starts_with(br#"{"type":"room_deleted","#));
        assert_eq!(Entry::from_json(&json).unwrap(), deleted);
        assert_eq!(serde_json::from_slice::<Entry>(&json).unwrap(), deleted);

        let erased = Entry::Erased(ErasedEntry::of(&member()));
        let json = serde_json::to_vec(&erased).unwrap();
        assert!(json.starts_with(ERASED_PREFIX));
        assert_eq!(
            String::from_utf8(json.clone()).unwrap(),
            r#"{"type":"erased","room_id":2,"seq":5,"id":9,"ts":1}"#
        );
        // Erased lines are padded to the length of what they replace.
        let mut padded = json.clone();
        padded.extend_from_slice(b"      ");
        assert_eq!(Entry::from_json(&padded).unwrap(), erased);
        assert_eq!(serde_json::from_slice::<Entry>(&padded).unwrap(), erased);
        assert_eq!(
            (erased.seq(), erased.sender(), erased.client_id()),
            (5, None, "")
        );
        assert_eq!(erased.into_message(), None);
    }

    #[test]
    fn an_edit_and_a_message_deletion_are_kinds_of_their_own() {
        let ana = Username::parse("ana").unwrap();
        let edit = Entry::Edit(EditEvent {
            room_id: RoomId(1),
            seq: 7,
            id: 30,
            sender: ana.clone(),
            ts: 5,
            client_id: "c-e".into(),
            target_seq: 3,
            content: "fixed".into(),
        });
        let deleted = Entry::MessageDeleted(MessageDeletedEvent {
            room_id: RoomId(1),
            seq: 8,
            id: 31,
            sender: ana.clone(),
            ts: 6,
            client_id: "c-d".into(),
            target_seq: 3,
        });
        for (entry, prefix) in [
            (&edit, &br#"{"type":"edit","#[..]),
            (&deleted, &br#"{"type":"message_deleted","#[..]),
        ] {
            let json = serde_json::to_vec(entry).unwrap();
            assert!(json.starts_with(prefix));
            assert_eq!(&Entry::from_json(&json).unwrap(), entry);
            assert_eq!(&serde_json::from_slice::<Entry>(&json).unwrap(), entry);
            assert_eq!(entry.sender(), Some(&ana));
        }
        // Erased by a deletion, a message keeps who sent it; its edit keeps nothing.
        let message = Entry::Message(ChatMessage {
            room_id: RoomId(1),
            seq: 3,
            id: 20,
            sender: ana.clone(),
            content: "typo".into(),
            ts: 4,
            client_id: "c-m".into(),
            edited: None,
            reply_to: None,
            reactions: None,
        });
        let erased = Entry::Erased(ErasedEntry::deleted(&message));
        assert_eq!((erased.sender(), erased.client_id()), (Some(&ana), "c-m"));
        let json = serde_json::to_vec(&erased).unwrap();
        assert_eq!(Entry::from_json(&json).unwrap(), erased);
        assert!(!String::from_utf8(json).unwrap().contains("typo"));
        let erased_edit = Entry::Erased(ErasedEntry::deleted(&edit));
        assert_eq!((erased_edit.sender(), erased_edit.client_id()), (None, ""));
    }
}
