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
//!
//! The store decides edits and deletions of messages, in batch order, from what it finds at
//! their target ([`check_target`]), and answers [`Appended::Refused`] for those it refuses.
//!
//! The store is also the authority on erasure: once a `message_deleted` entry is stored, the
//! message and its edits are erased the same way as, once a `room_deleted` entry is stored, the
//! room's earlier entries are erased (they read back as [`Entry::Erased`], their text gone
//! from wherever the backend keeps it) soon after, in the background, and a restart finishes
//! what a stop interrupted (`docs/storage.md` states how soon for each backend). Erasing is the
//! store's job because only it knows where the text lies (the file store's log lines, a
//! database's rows).
//!
//! Longer than 400 lines on purpose: this is the seam, the trait and every type that crosses it, so
//! whoever writes a backend reads one file.

use super::{Durability, StoreError};
use app::model::{
    ChatMessage, ClientId, MessageBody, Role, RoomId, RoomName, Topic, UserId, UserInfo, Username,
};
#[cfg(any(doc, test))]
use app::protocol::ServerFrame;
use app::reactions::Emoji;
use app::timeline::{
    EditEvent, Entry, ErasedEntry, MemberEvent, Membership, MessageDeletedEvent, ReactionEvent,
    RoomDeletedEvent, RoomEvent,
};
use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt};

/// A timeline entry to store: everything but the seq and id, which the store assigns.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub room_id: RoomId,
    /// Who sent the message or made the change.
    pub sender: Username,
    pub client_id: ClientId,
    pub body: Body,
    pub ts: i64,
}

/// What a [`NewEntry`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A message with this text.
    Text(MessageBody),
    /// A message with this text, replying to the message `target_seq` of the same room.
    Reply {
        content: MessageBody,
        target_seq: u64,
    },
    /// A change of membership.
    Member(MemberChange),
    /// The room's name and topic as they are to be (see [`RoomEvent`]).
    Settings(RoomSettings),
    /// The owner deletes the room: its last entry (see [`RoomDeletedEvent`]).
    DeleteRoom,
    /// The sender's message `target_seq` now says this (see [`EditEvent`]).
    Edit {
        target_seq: u64,
        content: MessageBody,
    },
    /// The message `target_seq` is deleted (see [`MessageDeletedEvent`]): by its author, or by
    /// anyone when `any_author` (an owner or moderator, as the room's rules decided).
    DeleteMessage { target_seq: u64, any_author: bool },
    /// The sender's reaction `emoji` to the message `target_seq` is on or off (see
    /// [`ReactionEvent`]).
    React {
        target_seq: u64,
        emoji: Emoji,
        on: bool,
    },
}

/// Why the store refused an edit, a deletion, a reply or a reaction: what it found at the target decides, and only
/// the store can see that where the batch is ordered (an edit after a deletion of the same
/// message in one batch finds it deleted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TargetRefusal {
    /// No message at that seq: none yet, a deleted one, or another kind of entry (a reply or
    /// a reaction to it as much as an edit or a deletion).
    #[error("no such message")]
    NoSuchMessage,
    /// An edit of someone else's message.
    #[error("you can only edit your own messages")]
    NotYourMessage,
    /// A deletion of someone else's message by someone who may not.
    #[error("only owners and moderators delete other people's messages")]
    NotYourMessageToDelete,
    /// The target could not be read (a failed disk read; logged): this entry alone fails,
    /// and a retry may succeed.
    #[error("the message could not be read")]
    Unreadable,
}

/// Whether `new`, an edit, a deletion, a reply or a reaction, may act on `target`: the entry
/// at its `target_seq` (`None`: there is none), `deleted` saying the message was deleted
/// already (earlier, or earlier in the same batch). Anyone's message may be replied or
/// reacted to; entries of other kinds act on nothing and pass. Both stores decide with this
/// one rule.
pub fn check_target(
    new: &NewEntry,
    target: Option<&Entry>,
    deleted: bool,
) -> Result<(), TargetRefusal> {
    let any_author = match new.body {
        Body::Edit { .. } => false,
        Body::DeleteMessage { any_author, .. } => any_author,
        Body::Reply { .. } | Body::React { .. } => true,
        _ => return Ok(()),
    };
    let Some(Entry::Message(message)) = target.filter(|_| !deleted) else {
        return Err(TargetRefusal::NoSuchMessage);
    };
    if any_author || message.sender.key() == new.sender.key() {
        return Ok(());
    }
    Err(match new.body {
        Body::Edit { .. } => TargetRefusal::NotYourMessage,
        _ => TargetRefusal::NotYourMessageToDelete,
    })
}

impl Body {
    /// The seq of the message an edit, a deletion, a reply or a reaction acts on.
    pub fn target_seq(&self) -> Option<u64> {
        match self {
            Body::Edit { target_seq, .. }
            | Body::DeleteMessage { target_seq, .. }
            | Body::Reply { target_seq, .. }
            | Body::React { target_seq, .. } => Some(*target_seq),
            _ => None,
        }
    }

    /// Whether it is a message (a reply is one).
    pub fn is_message(&self) -> bool {
        matches!(self, Body::Text(_) | Body::Reply { .. })
    }
}

/// A room's name and topic (also as the room store journals them).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RoomSettings {
    pub name: RoomName,
    pub topic: Topic,
}

/// Someone's membership of a room changed (by their own hand or a moderator's: the entry's
/// sender says whose).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberChange {
    pub user_id: UserId,
    pub user: Username,
    pub membership: Membership,
    /// Their role after a join (see [`MemberEvent::role`]).
    pub role: Role,
    /// What the change may act on, checked by the writer against the standing it finds (not
    /// stored: the entry says where the change left the user, not what it expected).
    pub intent: Intent,
}

impl MemberChange {
    /// `user`'s membership becomes `membership`, as a plain member, expecting nothing more.
    pub fn of(user: &UserInfo, membership: Membership) -> Self {
        Self {
            user_id: user.id,
            user: user.username.clone(),
            membership,
            role: Role::Member,
            intent: Intent::Plain,
        }
    }
}

/// The standing a change expects to find, where one kind of entry serves several actions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Intent {
    /// What the entry's membership says, and nothing more. A `leave` by someone else then
    /// removes a member or withdraws an invitation (a kick), never lifts a ban.
    #[default]
    Plain,
    /// A `leave` by someone else that lifts a ban, and nothing else.
    LiftBan,
    /// A `join` of a direct conversation by one of its people, who left it and opens it again.
    ReopenDirect,
}

impl NewEntry {
    /// The entry with its seq, id and client_id filled in, as it is stored and sent.
    pub fn into_entry(self, seq: u64, id: u64) -> Entry {
        let client_id = self.client_id.into();
        match self.body {
            body @ (Body::Text(_) | Body::Reply { .. }) => {
                let (content, reply_to) = match body {
                    Body::Reply {
                        content,
                        target_seq,
                    } => (content, Some(target_seq)),
                    Body::Text(content) => (content, None),
                    _ => unreachable!("matched above"),
                };
                Entry::Message(ChatMessage {
                    room_id: self.room_id,
                    seq,
                    id,
                    sender: self.sender,
                    content: content.into(),
                    ts: self.ts,
                    client_id,
                    edited: None,
                    reply_to,
                    reactions: None,
                })
            }
            Body::Member(change) => Entry::Member(MemberEvent {
                room_id: self.room_id,
                seq,
                id,
                sender: self.sender,
                ts: self.ts,
                client_id,
                user_id: change.user_id,
                user: change.user,
                membership: change.membership,
                role: change.role,
            }),
            Body::Settings(RoomSettings { name, topic }) => Entry::Room(RoomEvent {
                room_id: self.room_id,
                seq,
                id,
                sender: self.sender,
                ts: self.ts,
                client_id,
                name,
                topic,
            }),
            Body::DeleteRoom => Entry::RoomDeleted(RoomDeletedEvent {
                room_id: self.room_id,
                seq,
                id,
                sender: self.sender,
                ts: self.ts,
                client_id,
            }),
            Body::Edit {
                target_seq,
                content,
            } => Entry::Edit(EditEvent {
                room_id: self.room_id,
                seq,
                id,
                sender: self.sender,
                ts: self.ts,
                client_id,
                target_seq,
                content: content.into(),
            }),
            Body::DeleteMessage { target_seq, .. } => Entry::MessageDeleted(MessageDeletedEvent {
                room_id: self.room_id,
                seq,
                id,
                sender: self.sender,
                ts: self.ts,
                client_id,
                target_seq,
            }),
            Body::React {
                target_seq,
                emoji,
                on,
            } => Entry::Reaction(ReactionEvent {
                room_id: self.room_id,
                seq,
                id,
                sender: self.sender,
                ts: self.ts,
                client_id,
                target_seq,
                emoji,
                on,
            }),
        }
    }

    /// The [`fingerprint`](super::dedupe::fingerprint) of what this entry asks to store.
    pub fn fingerprint(&self) -> u64 {
        match &self.body {
            Body::Text(content) => fingerprint_text(self.room_id, content.as_str()),
            Body::Reply {
                content,
                target_seq,
            } => fingerprint_reply(self.room_id, *target_seq, content.as_str()),
            Body::Member(change) => {
                fingerprint_member(self.room_id, change.user_id, change.membership, change.role)
            }
            Body::Settings(settings) => fingerprint_settings(
                self.room_id,
                settings.name.as_str(),
                settings.topic.as_str(),
            ),
            Body::DeleteRoom => fingerprint_deletion(self.room_id),
            Body::Edit {
                target_seq,
                content,
            } => fingerprint_edit(self.room_id, *target_seq, content.as_str()),
            Body::DeleteMessage { target_seq, .. } => {
                fingerprint_message_deletion(self.room_id, *target_seq)
            }
            Body::React {
                target_seq,
                emoji,
                on,
            } => fingerprint_reaction(self.room_id, *target_seq, emoji, *on),
        }
    }
}

/// The fingerprint of a stored entry (the start-up rebuild of the dedupe memory reads these).
pub fn fingerprint_of(entry: &Entry) -> u64 {
    match entry {
        Entry::Message(m) => match m.reply_to {
            None => fingerprint_text(m.room_id, &m.content),
            Some(target) => fingerprint_reply(m.room_id, target, &m.content),
        },
        Entry::Member(e) => fingerprint_member(e.room_id, e.user_id, e.membership, e.role),
        Entry::Room(e) => fingerprint_settings(e.room_id, e.name.as_str(), e.topic.as_str()),
        Entry::RoomDeleted(e) => fingerprint_deletion(e.room_id),
        Entry::Edit(e) => fingerprint_edit(e.room_id, e.target_seq, &e.content),
        Entry::MessageDeleted(e) => fingerprint_message_deletion(e.room_id, e.target_seq),
        Entry::Reaction(e) => fingerprint_reaction(e.room_id, e.target_seq, &e.emoji, e.on),
        // Remembered only when a message deletion kept its sender: what it said is gone, so
        // a resend of it to the same room matches whatever it says (see `dedupe::erased`).
        Entry::Erased(e) => super::dedupe::erased(e.room_id),
    }
}

fn fingerprint_text(room: RoomId, content: &str) -> u64 {
    super::dedupe::fingerprint(room, content)
}

fn fingerprint_reply(room: RoomId, target: u64, content: &str) -> u64 {
    super::dedupe::fingerprint(room, &format!("\0reply {target}\0{content}"))
}

fn fingerprint_reaction(room: RoomId, target: u64, emoji: &Emoji, on: bool) -> u64 {
    let emoji = emoji.index();
    super::dedupe::fingerprint(room, &format!("\0react {target} {emoji} {on}"))
}

fn fingerprint_member(room: RoomId, user: UserId, membership: Membership, role: Role) -> u64 {
    // A NUL cannot start a message's text, so a change never hashes like a message.
    let change = format!("\0member {} {membership:?} {role:?}", user.0);
    super::dedupe::fingerprint(room, &change)
}

fn fingerprint_settings(room: RoomId, name: &str, topic: &str) -> u64 {
    super::dedupe::fingerprint(room, &format!("\0room {name}\0{topic}"))
}

fn fingerprint_deletion(room: RoomId) -> u64 {
    super::dedupe::fingerprint(room, "\0room deleted")
}

fn fingerprint_edit(room: RoomId, target: u64, content: &str) -> u64 {
    super::dedupe::fingerprint(room, &format!("\0edit {target}\0{content}"))
}

fn fingerprint_message_deletion(room: RoomId, target: u64) -> u64 {
    super::dedupe::fingerprint(room, &format!("\0delete {target}"))
}

/// What a sender is told of a stored entry; the same type goes out as the `ack` frame.
pub use app::protocol::Ack;

/// The ack of a stored entry.
pub fn ack_of(entry: &Entry) -> Ack {
    Ack {
        client_id: entry.client_id().to_owned(),
        room_id: entry.room_id(),
        id: entry.id(),
        seq: entry.seq(),
        ts: entry.ts(),
    }
}

/// The ack of a stored entry that is no longer needed: its client_id moves, not copied (the
/// log writer's per-entry path).
pub fn into_ack(entry: Entry) -> Ack {
    let (client_id, room_id, id, seq, ts) = match entry {
        Entry::Message(m) => (m.client_id, m.room_id, m.id, m.seq, m.ts),
        Entry::Member(e) => (e.client_id, e.room_id, e.id, e.seq, e.ts),
        Entry::Room(e) => (e.client_id, e.room_id, e.id, e.seq, e.ts),
        Entry::RoomDeleted(e) => (e.client_id, e.room_id, e.id, e.seq, e.ts),
        Entry::Edit(e) => (e.client_id, e.room_id, e.id, e.seq, e.ts),
        Entry::MessageDeleted(e) => (e.client_id, e.room_id, e.id, e.seq, e.ts),
        Entry::Reaction(e) => (e.client_id, e.room_id, e.id, e.seq, e.ts),
        Entry::Erased(ErasedEntry {
            room_id,
            id,
            seq,
            ts,
            client_id,
            ..
        }) => (client_id.unwrap_or_default(), room_id, id, seq, ts),
    };
    Ack {
        client_id,
        room_id,
        id,
        seq,
        ts,
    }
}

/// A message an append stored: its sender's [`Ack`] and its `message` frame.
///
/// The frame is the message serialized once: a backend that writes the same bytes (the file
/// store's log lines *are* these frames) hands out a slice of what it wrote, and the hub passes
/// that slice to every listener. Nothing on the way from the store to the sockets serializes the
/// message again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub ack: Ack,
    pub frame: EntryFrame,
}

impl StoredEntry {
    /// Serializes `entry`'s frame on its own (for stores that keep entries as values).
    pub fn of(entry: &Entry) -> Self {
        let mut json = Vec::new();
        EntryFrame::write(&mut json, entry);
        Self {
            ack: ack_of(entry),
            frame: EntryFrame(Bytes::from(json)),
        }
    }
}

/// The `message` frame of one stored message: `{"type":"message",…}`, the same JSON as
/// [`ServerFrame::Message`], always UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFrame(Bytes);

impl EntryFrame {
    /// Appends `entry`'s frame to `out`: an [`Entry`] is tagged like the frame that carries it.
    pub fn write(out: &mut Vec<u8>, entry: &Entry) {
        serde_json::to_writer(out, entry).expect("entries always serialize");
    }

    /// Wraps bytes that [`EntryFrame::write`] wrote (a slice of a larger buffer is fine).
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
    Stored(StoredEntry),
    /// A resend of a message stored earlier (or earlier in the same batch): its original ack.
    /// Nothing new was stored for it.
    Duplicate(Ack),
    /// The sender used this client_id for a different message (another room or other content)
    /// within the dedupe window. Nothing was stored; the sender must pick a new client_id.
    ClientIdReused,
    /// An edit or deletion the store refused for what it found at its target. Nothing was
    /// stored.
    Refused(TargetRefusal),
}

/// The newest message of a room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomHead {
    /// The newest seq (0 when the room has no messages).
    pub last_seq: u64,
    /// When the newest message was stored.
    pub last_ts: Option<i64>,
    /// Grows with every edit, message deletion and reaction the room holds: a range read
    /// before and
    /// after one may differ (it shows messages as they are now), so a cache of ranges keys
    /// them by it. Only ever compared within one process.
    pub revision: u64,
}

/// What the timeline says that the rooms service and the access state start from, read once at
/// start: the room store is a projection of the timeline written after it, so a crash between
/// the two leaves the projection behind, and these repair it
/// ([`crate::rooms::Rooms::reconcile`] and its siblings).
#[derive(Debug, Default)]
pub struct TimelineFacts {
    /// The newest change of each membership (room, user).
    pub memberships: Vec<MemberEvent>,
    /// The newest name and topic of each room not deleted.
    pub settings: Vec<(RoomId, RoomSettings)>,
    /// The rooms whose deletion the timeline holds.
    pub deleted: Vec<RoomId>,
    /// The newest message of each (room, sender) in rooms not deleted: unread counts start
    /// after it ([`crate::access::Access::note_sent`]).
    pub last_sent: Vec<(RoomId, Username, u64)>,
}

/// Where messages are kept. See the module docs for what "stored" and "duplicate" mean.
pub trait MessageStore: Send + Sync + 'static {
    /// Stores a batch, all or nothing. On `Ok` every [`Appended::Stored`] is durable per
    /// [`durability`](Self::durability), and each room's seqs continue densely (1, 2, 3, …) in
    /// batch order. On `Err` nothing of the batch was stored and no seq was used.
    fn append(&self, batch: Vec<NewEntry>) -> BoxFuture<'_, Result<Vec<Appended>, StoreError>>;

    /// [`append`](Self::append), for entries decided with each room's access at `versions`
    /// ([`RoomAccess::version`](super::rooms::RoomAccess::version)). A store several nodes
    /// write to checks them under the rooms' locks and refuses the whole batch with
    /// [`StoreError::AccessChanged`] (nothing stored) when another node changed who may do
    /// what in one of them since; a store only one process writes has nothing to check.
    fn append_checked(
        &self,
        batch: Vec<NewEntry>,
        versions: Vec<(RoomId, u64)>,
    ) -> BoxFuture<'_, Result<Vec<Appended>, StoreError>> {
        let _ = versions;
        self.append(batch)
    }

    /// The newest seq of `room` (0 for a room with no messages, or one never heard of).
    fn head(&self, room: RoomId) -> BoxFuture<'_, Result<RoomHead, StoreError>>;

    /// The newest seq of each of `rooms`, in the order asked (0 as for [`head`](Self::head)): a
    /// relay's periodic check of every room its sockets follow. One read each by default; a
    /// database answers in one query.
    fn last_seqs(&self, rooms: Vec<RoomId>) -> BoxFuture<'_, Result<Vec<u64>, StoreError>> {
        async move {
            let mut seqs = Vec::with_capacity(rooms.len());
            for room in rooms {
                seqs.push(self.head(room).await?.last_seq);
            }
            Ok(seqs)
        }
        .boxed()
    }

    /// How many of `room`'s entries with a seq above `seq` are messages (not joins or leaves):
    /// the unread count of a reader whose mark is `seq`. Cheap (the file store answers from
    /// its index in O(log d), d its deleted messages); 0 for a room never heard of.
    fn messages_after(&self, room: RoomId, seq: u64) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// How many of `room`'s messages with a seq above `seq` mention `user` (`@name`; the first
    /// [`app::model::MENTIONS_PER_MESSAGE`] names of a message count): the mention count beside
    /// an unread count. Cheap (the file store keeps each name's mention seqs: a binary search);
    /// 0 for a room never heard of.
    fn mentions_after<'a>(
        &'a self,
        room: RoomId,
        user: &'a Username,
        seq: u64,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Entries `from..=to` of `room`, clamped to what exists, in seq order (empty when
    /// `from > to` or the room has none), as they are now: a deleted message and its edits
    /// read as [`Entry::Erased`] from the moment the deletion is stored (whether or not its
    /// text has left the disk yet), an edited message reads with its newest edit's text and
    /// [`ChatMessage::edited`] set, and a message reacted to with its
    /// [`ChatMessage::reactions`].
    fn read_range(
        &self,
        room: RoomId,
        from: u64,
        to: u64,
    ) -> BoxFuture<'_, Result<Vec<Entry>, StoreError>>;

    /// The entries of several ranges (room, first seq, last seq), in the order asked, each
    /// as [`read_range`](Self::read_range) reads it: what search reads its hits back with.
    /// One read each by default (the embedded stores read from memory or their cache); a
    /// database answers in one query instead of one round trip a range.
    fn read_ranges(
        &self,
        ranges: Vec<(RoomId, u64, u64)>,
    ) -> BoxFuture<'_, Result<Vec<Entry>, StoreError>> {
        async move {
            let mut entries = Vec::new();
            for (room, from, to) in ranges {
                entries.extend(self.read_range(room, from, to).await?);
            }
            Ok(entries)
        }
        .boxed()
    }

    /// [`read_ranges`](Self::read_ranges) as [`StoredEntry`]s (their frames ready to send):
    /// what a relay hands its hub after another node stored them. A database hands out the
    /// stored frame text as it is when the entry has not changed since.
    fn read_stored(
        &self,
        ranges: Vec<(RoomId, u64, u64)>,
    ) -> BoxFuture<'_, Result<Vec<StoredEntry>, StoreError>> {
        async move {
            let entries = self.read_ranges(ranges).await?;
            Ok(entries.iter().map(StoredEntry::of).collect())
        }
        .boxed()
    }

    /// What "stored" means for this backend; logged at start.
    fn durability(&self) -> Durability;

    /// Figures of the backend's own for `/metrics` (name, value), read when scraped; none by
    /// default.
    fn gauges(&self) -> BoxFuture<'_, Vec<(&'static str, f64)>> {
        futures::future::ready(Vec::new()).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_frame_is_the_protocol_s_frame() {
        let message = ChatMessage {
            room_id: RoomId(3),
            seq: 7,
            id: 1007,
            sender: Username::parse("ana").unwrap(),
            content: "\"quoted\" <b>and</b> é\n".into(),
            ts: 42,
            client_id: "c-1".into(),
            edited: None,
            reply_to: None,
            reactions: None,
        };
        let member = MemberEvent {
            room_id: RoomId(3),
            seq: 8,
            id: 1008,
            sender: Username::parse("bob").unwrap(),
            ts: 43,
            client_id: "ev-1".into(),
            user_id: UserId(2),
            user: Username::parse("bob").unwrap(),
            membership: Membership::Join,
            role: Role::Member,
        };
        for (entry, frame) in [
            (
                Entry::Message(message.clone()),
                ServerFrame::Message(message.clone()),
            ),
            (Entry::Member(member.clone()), ServerFrame::Member(member)),
        ] {
            let stored = StoredEntry::of(&entry);
            let owned = serde_json::to_vec(&frame).unwrap();
            assert_eq!(&stored.frame.bytes()[..], &owned[..]);
            assert_eq!(stored.ack, ack_of(&entry));
        }
        let ack = ack_of(&Entry::Message(message.clone()));
        assert_eq!(
            (ack.client_id.as_str(), ack.room_id, ack.id, ack.seq, ack.ts),
            (
                message.client_id.as_str(),
                message.room_id,
                message.id,
                message.seq,
                message.ts
            )
        );
    }
}
