//! The nouns of Minitalk as both the browser and the server see them.
//!
//! User input is parsed once, at the edge, into newtypes that cannot hold an invalid value
//! ([`Username`], [`RoomName`], [`MessageBody`], [`ClientId`]); everything past the edge takes
//! those types instead of `String`, so no layer has to re-check them. The plain data structs
//! (`ChatMessage`, `RoomSummary`, …) are what server functions and WebSocket frames carry.
//!
//! One file on purpose (just over 400 lines with its tests): these are the
//! vocabulary every crate imports, and a reader checks one newtype's rules against the others.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest message body, in characters (Unicode scalar values).
pub const MAX_CONTENT_CHARS: usize = 4000;
/// Longest message body in bytes of UTF-8: with control characters refused, a stored line is
/// at most about twice this (JSON escapes a quote or a backslash as two bytes).
pub const MAX_CONTENT_BYTES: usize = 8 * 1024;
/// Longest client-chosen message id, in characters.
pub const MAX_CLIENT_ID_CHARS: usize = 64;
/// Longest room name, in characters.
pub const MAX_ROOM_NAME_CHARS: usize = 64;
/// The longest room topic, in characters.
pub const MAX_TOPIC_CHARS: usize = 250;
/// Shortest password accepted at registration.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted (argon2 is slow on purpose; do not let it hash megabytes).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Why a piece of user input was refused. The text is shown to the person as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid(text: impl Into<String>) -> Invalid {
    Invalid(text.into())
}

/// A room's id. Made by the server (never from user text), so it can name files safely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoomId(pub u64);

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A user's id, made by the server at registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub u64);

/// A user name: 3–32 of `[A-Za-z0-9_-]`. Unique case-insensitively (see [`Username::key`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

/// Whether `c` may be part of a [`Username`] (and so of an `@name` mention).
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

impl Username {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let len = raw.chars().count();
        if !(3..=32).contains(&len) {
            return Err(invalid("username must be 3 to 32 characters"));
        }
        if !raw.chars().all(is_name_char) {
            return Err(invalid(
                "username may only use letters, digits, '_' and '-'",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The form two names are compared in: `Ana` and `ana` are the same person.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }

    /// Whether `other` (a name or a [`Username::key`]) names the same person, without making
    /// a key: the message list compares every shown row on every new message.
    pub fn is_same_person(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Username {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<Username> for String {
    fn from(name: Username) -> String {
        name.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A room's display name: 1–64 printable characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomName(String);

impl RoomName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(invalid("room name must not be empty"));
        }
        if name.chars().count() > MAX_ROOM_NAME_CHARS {
            return Err(invalid(format!(
                "room name must be at most {MAX_ROOM_NAME_CHARS} characters"
            )));
        }
        if name.chars().any(char::is_control) {
            return Err(invalid("room name must not contain control characters"));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RoomName {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<RoomName> for String {
    fn from(name: RoomName) -> String {
        name.0
    }
}

/// What a room is about, shown under its name: at most [`MAX_TOPIC_CHARS`] characters on one
/// line (no control characters), trimmed; empty means no topic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Topic(String);

impl Topic {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let topic = raw.trim();
        if topic.chars().count() > MAX_TOPIC_CHARS {
            return Err(invalid(format!(
                "topic must be at most {MAX_TOPIC_CHARS} characters"
            )));
        }
        if topic.chars().any(char::is_control) {
            return Err(invalid(
                "topic must be one line, without control characters",
            ));
        }
        Ok(Self(topic.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Topic {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<Topic> for String {
    fn from(topic: Topic) -> String {
        topic.0
    }
}

/// A message's text: not blank, at most [`MAX_CONTENT_CHARS`] characters and
/// [`MAX_CONTENT_BYTES`] bytes, no control characters (C0 and DEL) but newline and tab. Stored and shown as
/// plain text, never as HTML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageBody(String);

impl MessageBody {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.trim().is_empty() {
            return Err(invalid("message must not be empty"));
        }
        if raw.chars().count() > MAX_CONTENT_CHARS {
            return Err(invalid(format!(
                "message must be at most {MAX_CONTENT_CHARS} characters"
            )));
        }
        if raw.len() > MAX_CONTENT_BYTES {
            return Err(invalid(format!(
                "message must be at most {MAX_CONTENT_BYTES} bytes of UTF-8"
            )));
        }
        // Each C0 control is stored as a six-byte JSON escape, and none is text anyone reads.
        if raw
            .chars()
            .any(|c| c.is_ascii_control() && c != '\n' && c != '\t')
        {
            return Err(invalid(
                "message must not contain control characters other than newline and tab",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MessageBody {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<MessageBody> for String {
    fn from(body: MessageBody) -> String {
        body.0
    }
}

/// The sender's own id for one message, used to make resends idempotent: 1–64 printable
/// ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() || raw.len() > MAX_CLIENT_ID_CHARS {
            return Err(invalid(format!(
                "client_id must be 1 to {MAX_CLIENT_ID_CHARS} characters"
            )));
        }
        if !raw.chars().all(|c| c.is_ascii_graphic()) {
            return Err(invalid("client_id must be printable ASCII"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ClientId {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<ClientId> for String {
    fn from(id: ClientId) -> String {
        id.0
    }
}

/// One stored chat message. `seq` is its place in its room (1, 2, 3, …), given when its batch
/// was made durable; `id` is unique across all rooms; `ts` is milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub room_id: RoomId,
    pub seq: u64,
    pub id: u64,
    pub sender: Username,
    pub content: String,
    pub ts: i64,
    pub client_id: String,
    /// The newest edit, when the message was edited. Never in the stored line or the live frame
    /// of the message itself (an edit is an entry of its own, see [`crate::timeline::EditEvent`]);
    /// a history page fills it in for the messages it holds, so an older page shows what they
    /// say now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited: Option<Edited>,
    /// The seq of the message (of the same room) this one replies to. Set when it is sent,
    /// checked by the store (a message there, not deleted), never changed after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<u64>,
    /// Who reacted with what. Like [`ChatMessage::edited`], never in the stored line or the
    /// live frame (a reaction is an entry of its own, see [`crate::timeline::ReactionEvent`]);
    /// a history page fills it in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reactions: Option<crate::reactions::Reactions>,
}

/// Which edit a message's `content` is, and when it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edited {
    /// The edit's seq: a live edit with a lower one is older than what the message shows.
    pub seq: u64,
    pub ts: i64,
}

/// The signed-in person, as the browser may see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub id: UserId,
    pub username: Username,
}

/// One page of the room directory, newest rooms first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryPage {
    pub rooms: Vec<RoomSummary>,
    /// Pass as `before` for the next page; `None` when this was the last.
    pub next: Option<RoomId>,
}

/// One room as a given user sees it in the room list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSummary {
    pub id: RoomId,
    pub name: String,
    /// What the room is about ("" when none).
    #[serde(default)]
    pub topic: String,
    pub member_count: usize,
    pub is_member: bool,
    /// Everything up to this seq counts as read (0 when nothing, or not a member): the read
    /// mark, or the person's own newest message when that is later (what you wrote, and what
    /// came before it, you have read). The "new messages" divider goes after it.
    pub last_read_seq: u64,
    /// The room's newest seq (0 for an empty room).
    pub last_seq: u64,
    /// When the newest entry was stored (ms since epoch), if any.
    pub last_activity: Option<i64>,
    /// Messages above the read mark (joins and leaves do not count); 0 when not a member (and
    /// from a server older than the field).
    #[serde(default)]
    pub unread: u64,
    /// How many of the `unread` messages mention the viewer (`@name`, see [`mentions`]).
    #[serde(default)]
    pub mentions: u64,
    #[serde(default)]
    pub visibility: Visibility,
    /// The viewer's role, when they are a member.
    #[serde(default)]
    pub role: Option<Role>,
    /// The viewer is invited and may accept (join) or decline (leave).
    #[serde(default)]
    pub invited: bool,
    /// For a direct conversation: the other people in it, shown instead of a name.
    #[serde(default)]
    pub direct_with: Vec<Username>,
    /// When to notify the viewer of new messages here (their choice, or the default for the
    /// kind of room: [`NotifyLevel::default_for`]).
    #[serde(default)]
    pub notify: NotifyLevel,
    /// The newest message above the read mark, when there is one (what a notification or a
    /// preview shows); `None` when nothing is unread.
    #[serde(default)]
    pub newest_unread: Option<Preview>,
}

impl RoomSummary {
    /// What people call the room: its name, or for a direct conversation the other people's
    /// names.
    pub fn title(&self) -> String {
        if self.visibility == Visibility::Direct {
            let names: Vec<&str> = self.direct_with.iter().map(Username::as_str).collect();
            if names.is_empty() {
                "Just you".to_owned()
            } else {
                names.join(", ")
            }
        } else {
            self.name.clone()
        }
    }
}

/// When someone wants a desktop notification for a room's new messages (after they allowed
/// notifications in the browser at all).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyLevel {
    /// Every message from someone else.
    All,
    /// Only a message that mentions you (`@yourname`).
    #[default]
    Mentions,
    /// Never.
    Nothing,
}

impl NotifyLevel {
    /// The level of someone who never chose one: every message of a direct conversation (it
    /// is written to you), only mentions in a room.
    pub fn default_for(visibility: Visibility) -> Self {
        match visibility {
            Visibility::Direct => NotifyLevel::All,
            Visibility::Public | Visibility::Private => NotifyLevel::Mentions,
        }
    }

    pub const ALL: [NotifyLevel; 3] = [
        NotifyLevel::All,
        NotifyLevel::Mentions,
        NotifyLevel::Nothing,
    ];

    /// The words shown to people.
    pub fn label(self) -> &'static str {
        match self {
            NotifyLevel::All => "All messages",
            NotifyLevel::Mentions => "Mentions",
            NotifyLevel::Nothing => "Nothing",
        }
    }

    /// The wire name (`"all"`, `"mentions"`, `"nothing"`).
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyLevel::All => "all",
            NotifyLevel::Mentions => "mentions",
            NotifyLevel::Nothing => "nothing",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|level| level.as_str() == raw)
    }

    /// Whether new messages from someone else, the newest previewed for its reader, call for a
    /// notification; `new_mentions` says whether the unread mentions of the reader grew with
    /// them (a mention can be followed by other messages before the row is sent).
    pub fn wants(self, newest: &Preview, new_mentions: bool) -> bool {
        match self {
            NotifyLevel::All => true,
            NotifyLevel::Mentions => newest.mentions_you || new_mentions,
            NotifyLevel::Nothing => false,
        }
    }
}

/// Whether `text` mentions `user`: `@name` (ignoring case), not inside a longer name or an
/// address (`@anna` does not mention `ann`; `x@ann.org` mentions no one).
pub fn mentions(text: &str, user: &Username) -> bool {
    mentioned_names(text).any(|name| user.is_same_person(name))
}

/// Most distinct names one message's mentions count for (the server indexes each; a message
/// naming hundreds of people should not cost hundreds of index entries).
pub const MENTIONS_PER_MESSAGE: usize = 16;

/// The distinct names (as [`Username::key`]s) `text`'s mentions count for: the first
/// [`MENTIONS_PER_MESSAGE`]. What the server counts a message as mentioning.
pub fn mention_keys(text: &str) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for name in mentioned_names(text) {
        if keys.len() == MENTIONS_PER_MESSAGE {
            break;
        }
        if !keys.iter().any(|k| k.eq_ignore_ascii_case(name)) {
            keys.push(name.to_ascii_lowercase());
        }
    }
    keys
}

/// The names `text` mentions, as written (`@name`: a run of name characters after an `@` that
/// does not follow one), in order, repeats included; runs that cannot be a username (too
/// short or too long) are left out.
pub fn mentioned_names(text: &str) -> impl Iterator<Item = &str> {
    mention_spans(text).map(move |span| &text[span.start + 1..span.end])
}

/// Where `text`'s mentions are: each `@name` of [`mentioned_names`], `@` included, as a byte
/// range (the browser highlights the reader's own).
pub fn mention_spans(text: &str) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    text.match_indices('@').filter_map(move |(at, _)| {
        let after_name_char = text[..at].chars().next_back().is_some_and(is_name_char);
        let rest = &text[at + 1..];
        let len = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        (!after_name_char && (3..=32).contains(&len)).then_some(at..at + 1 + len)
    })
}

/// The newest unread message of a room, shortened: what a notification shows and where
/// clicking it leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preview {
    pub seq: u64,
    pub sender: Username,
    /// The message's first [`PREVIEW_CHARS`] characters (with "…" when it was longer).
    pub excerpt: String,
    /// Whether the message mentions the viewer (see [`mentions`]).
    #[serde(default)]
    pub mentions_you: bool,
}

/// How much of a message a [`Preview`] keeps.
pub const PREVIEW_CHARS: usize = 140;

impl Preview {
    /// `message` as `viewer` previews it.
    pub fn of(message: &ChatMessage, viewer: &Username) -> Self {
        let mut chars = message.content.char_indices();
        let excerpt = match chars.nth(PREVIEW_CHARS) {
            Some((cut, _)) => format!("{}…", &message.content[..cut]),
            None => message.content.clone(),
        };
        Self {
            seq: message.seq,
            sender: message.sender.clone(),
            excerpt,
            mentions_you: mentions(&message.content, viewer),
        }
    }
}

/// A member of a room, with whether they have a live connection now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub username: Username,
    pub online: bool,
    /// Their role in the room (`member` from a server older than roles).
    #[serde(default)]
    pub role: Role,
}

/// What a member may do in a room. Ordered by rank: an owner outranks a moderator, who
/// outranks a member; moderation acts only on someone of lower rank.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads and posts.
    #[default]
    Member,
    /// Also invites, kicks, bans and unbans members.
    Moderator,
    /// Also promotes and demotes. The creator of a room is its first owner.
    Owner,
}

impl Role {
    /// The word shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Moderator => "moderator",
            Role::Owner => "owner",
        }
    }
}

/// Who can find and join a room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Listed in the directory; anyone signed in may join (unless banned).
    #[default]
    Public,
    /// Listed only for its members and invitees; joined only by invitation.
    Private,
    /// A direct conversation: never listed, its people fixed when it was opened.
    Direct,
}

/// The message processor's figures, for `GET /api/stats` and the stats page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    /// Messages stored since the server started.
    pub processed_total: u64,
    /// Messages waiting in the processor's queue now.
    pub queue_depth: usize,
    pub queue_capacity: usize,
    /// Messages stored in the last full second.
    pub rate_per_sec: u64,
    /// Messages stored per second, oldest first, for the last minute.
    pub rate_history: Vec<u64>,
    pub batches_total: u64,
    pub avg_batch_size: f64,
    /// 99th percentile of the last 1024 batch writes (append + fdatasync), in milliseconds.
    pub flush_p99_ms: f64,
    /// Batches whose write failed (every sender in them got an error).
    pub failed_batches: u64,
    /// Sends refused because the queue was full.
    pub overloaded_total: u64,
    /// Open WebSocket connections.
    pub connections: usize,
}

/// The `q` quantile (0..=1) of `samples` by nearest rank; 0 when there are none. The one
/// summary every figure uses: the server's flush p99 and the load test's latencies.
pub fn percentile(mut samples: Vec<f64>, q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(f64::total_cmp);
    let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_uses_nearest_rank() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(samples.clone(), 0.5), 50.0);
        assert_eq!(percentile(samples.clone(), 0.99), 99.0);
        assert_eq!(percentile(samples, 1.0), 100.0);
        assert_eq!(percentile(vec![3.0, 1.0, 2.0], 0.0), 1.0);
        assert_eq!(percentile(Vec::new(), 0.5), 0.0);
    }

    #[test]
    fn usernames_follow_the_rules() {
        assert!(Username::parse("ana").is_ok());
        assert!(Username::parse("a_b-C9").is_ok());
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse(&"x".repeat(33)).is_err());
        assert!(Username::parse("ana maria").is_err());
        assert!(Username::parse("../etc").is_err());
        assert_eq!(Username::parse("Ana").unwrap().key(), "ana");
    }

    #[test]
    fn a_name_is_the_same_person_as_its_key_in_any_case() {
        let ana = Username::parse("Ana").unwrap();
        assert!(ana.is_same_person("ana"));
        assert!(ana.is_same_person("ANA"));
        assert!(!ana.is_same_person("anna"));
    }

    #[test]
    fn a_topic_is_one_bounded_line_and_may_be_empty() {
        assert_eq!(Topic::parse("  ").unwrap().as_str(), "");
        assert_eq!(Topic::parse(" plans ").unwrap().as_str(), "plans");
        assert!(Topic::parse(&"é".repeat(MAX_TOPIC_CHARS)).is_ok());
        assert!(Topic::parse(&"é".repeat(MAX_TOPIC_CHARS + 1)).is_err());
        assert!(Topic::parse("two\nlines").is_err());
        assert!(serde_json::from_str::<Topic>("\"a\\u0007b\"").is_err());
    }

    #[test]
    fn a_mention_is_the_whole_name_after_an_at_sign() {
        let ann = Username::parse("Ann").unwrap();
        for text in [
            "@ann",
            "hi @Ann!",
            "(@ANN) look",
            "@bob,@ann.",
            "line\n@ann",
        ] {
            assert!(mentions(text, &ann), "{text:?} mentions ann");
        }
        for text in [
            "ann",
            "@anna",
            "@an",
            "x@ann.org",
            "@ann_b",
            "@-ann",
            "@ann-b",
            "a@",
        ] {
            assert!(!mentions(text, &ann), "{text:?} does not mention ann");
        }
        // A name cut inside a multi-byte character is no mention, and no panic.
        assert!(!mentions("@an\u{e9}", &ann));
    }

    #[test]
    fn a_preview_keeps_the_first_characters_and_says_whom_it_mentions() {
        let message = |content: &str| ChatMessage {
            room_id: RoomId(1),
            seq: 7,
            id: 70,
            sender: Username::parse("bob").unwrap(),
            content: content.to_owned(),
            ts: 0,
            client_id: "c".into(),
            edited: None,
            reply_to: None,
            reactions: None,
        };
        let ann = Username::parse("ann").unwrap();
        let short = Preview::of(&message("hi @ann"), &ann);
        assert_eq!(
            (short.seq, short.excerpt.as_str(), short.mentions_you),
            (7, "hi @ann", true)
        );
        let long = Preview::of(&message(&"é".repeat(PREVIEW_CHARS + 1)), &ann);
        assert_eq!(long.excerpt, format!("{}…", "é".repeat(PREVIEW_CHARS)));
        assert!(!long.mentions_you);
        let exact = "é".repeat(PREVIEW_CHARS);
        assert_eq!(Preview::of(&message(&exact), &ann).excerpt, exact);
    }

    #[test]
    fn mentioned_names_are_whole_names_after_an_at_that_starts_a_word() {
        let names = |text| mentioned_names(text).collect::<Vec<_>>();
        assert_eq!(
            names("hi @ana and @Bob_2, not x@cyd.org nor @@dan or @ab; @eve-x!"),
            ["ana", "Bob_2", "dan", "eve-x"]
        );
        assert_eq!(names("@ana @ana"), ["ana", "ana"]);
        assert_eq!(mention_keys("@Ana @ana @bob"), ["ana", "bob"]);
        let many: String = (0..40).map(|i| format!("@user{i} ")).collect();
        assert_eq!(mention_keys(&many).len(), MENTIONS_PER_MESSAGE);
        let too_long = format!("@{}", "a".repeat(33));
        assert!(names(&too_long).is_empty());
        assert_eq!(names("a lone @ and é@ana"), ["ana"]);
        let ana = Username::parse("ANA").unwrap();
        assert!(mentions("ping @ana.", &ana));
        assert!(!mentions("ping @anna", &ana));
        assert!(!mentions("mail x@ana.org", &ana));
    }

    #[test]
    fn the_notify_level_decides_by_kind_of_room_and_mention() {
        assert_eq!(
            NotifyLevel::default_for(Visibility::Direct),
            NotifyLevel::All
        );
        assert_eq!(
            NotifyLevel::default_for(Visibility::Public),
            NotifyLevel::Mentions
        );
        assert_eq!(
            NotifyLevel::default_for(Visibility::Private),
            NotifyLevel::Mentions
        );
        let preview = |mentions_you| Preview {
            seq: 1,
            sender: Username::parse("bob").unwrap(),
            excerpt: "x".into(),
            mentions_you,
        };
        // (newest mentions you, unread mentions grew)
        let wanted = |level: NotifyLevel| {
            [(false, false), (true, false), (false, true)]
                .map(|(you, grew)| level.wants(&preview(you), grew))
        };
        assert_eq!(wanted(NotifyLevel::All), [true, true, true]);
        assert_eq!(wanted(NotifyLevel::Mentions), [false, true, true]);
        assert_eq!(wanted(NotifyLevel::Nothing), [false, false, false]);
        for level in NotifyLevel::ALL {
            assert_eq!(NotifyLevel::parse(level.as_str()), Some(level));
            assert_eq!(
                serde_json::to_string(&level).unwrap(),
                format!("\"{}\"", level.as_str())
            );
        }
        assert_eq!(NotifyLevel::parse("loud"), None);
    }

    #[test]
    fn message_bodies_are_bounded_in_characters_not_bytes() {
        assert!(MessageBody::parse(&"é".repeat(MAX_CONTENT_CHARS)).is_ok());
        assert!(MessageBody::parse(&"a".repeat(MAX_CONTENT_CHARS + 1)).is_err());
        assert!(MessageBody::parse("   \n").is_err());
    }

    #[test]
    fn message_bodies_are_bounded_in_bytes_too() {
        // 2,048 four-byte characters are within the character limit but 8 KiB of UTF-8.
        assert!(MessageBody::parse(&"😀".repeat(MAX_CONTENT_BYTES / 4)).is_ok());
        assert!(MessageBody::parse(&"😀".repeat(MAX_CONTENT_BYTES / 4 + 1)).is_err());
    }

    #[test]
    fn message_bodies_refuse_control_characters_but_newline_and_tab() {
        assert!(MessageBody::parse("line one\n\tline two").is_ok());
        for control in ['\u{0}', '\u{1}', '\u{1b}', '\r', '\u{7f}'] {
            assert!(
                MessageBody::parse(&format!("a{control}b")).is_err(),
                "{control:?}"
            );
        }
    }

    #[test]
    fn room_names_are_trimmed_and_bounded() {
        assert_eq!(RoomName::parse("  general ").unwrap().as_str(), "general");
        assert!(RoomName::parse("").is_err());
        assert!(RoomName::parse("a\u{0}b").is_err());
        assert!(RoomName::parse(&"r".repeat(65)).is_err());
    }

    #[test]
    fn client_ids_are_short_printable_ascii() {
        assert!(ClientId::parse("c-1").is_ok());
        assert!(ClientId::parse("").is_err());
        assert!(ClientId::parse(&"c".repeat(65)).is_err());
        assert!(ClientId::parse("a b").is_err());
    }

    #[test]
    fn newtypes_refuse_invalid_json() {
        assert!(serde_json::from_str::<Username>("\"x\"").is_err());
        assert!(serde_json::from_str::<Username>("\"ana\"").is_ok());
    }
}
