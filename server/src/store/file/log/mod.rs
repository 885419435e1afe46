//! The message log: every stored message of every room, appended as JSON Lines to segment files.
//!
//! Why this shape: the design Minitalk replaces rewrote the whole history for every write, so
//! each write cost more than the last. Here a batch costs one `write` and one `fdatasync` of just
//! its own bytes, whatever the history size and however many rooms it touches. Segments
//! (`messages/00000001.jsonl`, …) roll over at a configured size so no file grows without end.
//!
//! An in-memory index (per room: where each seq's line starts, 16 bytes an entry, and how many of
//! the entries up to it are messages, 4 bytes more, for unread counts; and its edits, deletions
//! mentions and reactions) is rebuilt at
//! start-up by reading the segments once. A history page then reads only its own lines, with
//! positional reads, instead of scanning the history.
//!
//! Promises:
//! - A message exists (has a seq, is indexed, can be read) only after the batch holding it was
//!   written and `fdatasync`ed. Seqs of a room are 1, 2, 3, … without gaps; ids grow across rooms.
//! - A failed write is cut back off the file (so nothing half-written becomes visible) and
//!   assigns no seq. If even that fails the log is poisoned: it refuses writes until a restart,
//!   whose recovery then cuts the torn tail.
//! - Recovery cuts a torn tail of the last segment (a crash mid-write: bad bytes that run to the
//!   end of the file) and says so; any other damage, including a bad line with a valid line
//!   after it, is reported as [`StoreError::Corrupt`] with its offset rather than guessed at.
//! - A failed segment roll leaves the writer on the old segment; the next batch retries the roll
//!   and reuses the empty segment the failed one may have left.
//!
//! A line is the message's `message` frame as the WebSocket sends it (`{"type":"message",…}`),
//! so a message is serialized once: the hub sends slices of the very buffer the log wrote. The
//! `type` tag also names what kind of timeline entry a line is; a line without one (written
//! before the tag) is a message.
//!
//! The log is the file store's own, synchronous machinery: the rest of the server reaches it
//! only through [`FileMessageStore`](super::FileMessageStore), which runs it off the async
//! threads. Its phases have a file each: [`recovery`] (open), `writer` (append, roll),
//! `reader` (head, ranges) and [`eraser`] (overwriting a deleted room's lines in place).

use crate::fasthash::FastMap;
use crate::store::{
    atomic, create_private_dir, into_ack, private_file, EntryFrame, NewEntry, StoreError,
    StoredEntry,
};
use app::model::{mention_keys, RoomId, Username};
use app::reactions::Reactions;
use app::timeline::{Entry, ReactionEvent};
use bytes::Bytes;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How the log is laid out on disk.
#[derive(Debug, Clone, Copy)]
pub struct LogConfig {
    /// A segment at or above this size is closed and a new one started before the next batch.
    pub segment_bytes: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Where one message's line is.
#[derive(Debug, Clone, Copy)]
struct Loc {
    segment: u32,
    offset: u64,
    len: u32,
}

#[derive(Debug, Default)]
struct RoomIndex {
    /// `locs[seq - 1]` is the line of entry `seq`.
    locs: Vec<Loc>,
    /// `messages[seq - 1]` is how many of entries `1..=seq` are messages (not joins or leaves):
    /// 4 bytes an entry, for unread counts in O(log d), d the deletions (see `deleted`).
    messages: Vec<u32>,
    last_ts: Option<i64>,
    /// The seqs of the messages that mention each name ([`Username::key`]), ascending: a
    /// mention count is one binary search. 8 bytes a mention, at most
    /// [`app::model::MENTIONS_PER_MESSAGE`] names a message. What a message first said counts
    /// (an edit mentions nobody new); a deleted message mentions nobody.
    mentions: FastMap<String, Vec<u64>>,
    /// The seqs of each edited message's edits, ascending (lines not erased): a read shows
    /// the newest in the message's place.
    edits: FastMap<u64, Vec<u64>>,
    /// The deleted messages `messages` counts (every deletion made while the log is open;
    /// at start, those whose line was not erased yet), ascending. Reads show them erased at
    /// once, unread counts leave them out (a binary search), and a second deletion or an edit
    /// finds no message.
    deleted: Vec<u64>,
    /// Each reacted-to message's reactions (see [`app::reactions`]): a read fills them in
    /// from here, without reading a line. At most six emoji times the room's members a
    /// message; a deleted message's are dropped.
    reactions: FastMap<u64, Reactions>,
    /// How many edits, deletions and reactions the room holds (see
    /// [`crate::store::RoomHead::revision`]).
    revision: u64,
}

impl RoomIndex {
    /// Indexes the next entry of the room.
    fn push(&mut self, loc: Loc, is_message: bool, ts: i64) {
        let before = self.messages.last().copied().unwrap_or(0);
        self.locs.push(loc);
        self.messages.push(before + u32::from(is_message));
        self.last_ts = Some(ts);
    }

    /// Notes the names the message `seq` mentions.
    fn note_mentions(&mut self, seq: u64, keys: Vec<String>) {
        for key in keys {
            self.mentions.entry(key).or_default().push(seq);
        }
    }

    /// How many messages with a seq above `seq` mention the name `key`.
    fn mentions_after(&self, key: &str, seq: u64) -> u64 {
        self.mentions.get(key).map_or(0, |seqs| {
            (seqs.len() - seqs.partition_point(|mentioned| *mentioned <= seq)) as u64
        })
    }

    /// How many messages have a seq above `seq` (deleted ones left out).
    fn messages_after(&self, seq: u64) -> u64 {
        let upto = |seq: u64| match seq.min(self.messages.len() as u64) {
            0 => 0,
            seq => u64::from(self.messages[(seq - 1) as usize]),
        };
        let deleted = self.deleted.len() - self.deleted.partition_point(|d| *d <= seq);
        upto(u64::MAX) - upto(seq) - deleted as u64
    }

    /// Whether the line of entry `seq` was a message when it was indexed.
    fn is_message(&self, seq: u64) -> bool {
        let upto = |seq: u64| match seq {
            0 => 0,
            seq => self.messages.get((seq - 1) as usize).copied().unwrap_or(0),
        };
        seq >= 1 && upto(seq) > upto(seq - 1)
    }

    /// Notes the edit `seq` of message `target`.
    fn note_edit(&mut self, target: u64, seq: u64) {
        self.edits.entry(target).or_default().push(seq);
        self.revision += 1;
    }

    /// Notes the reaction entry `reaction`.
    fn note_reaction(&mut self, reaction: &ReactionEvent) {
        self.reactions
            .entry(reaction.target_seq)
            .or_default()
            .apply(reaction.seq, &reaction.emoji, &reaction.sender, reaction.on);
        self.revision += 1;
    }

    /// Whether message `seq` was deleted (while its line may still hold its text).
    fn is_deleted(&self, seq: u64) -> bool {
        self.deleted.binary_search(&seq).is_ok()
    }

    /// Notes the deletion of message `target`; answers the seqs whose lines to erase (its
    /// edits', then its own when it is still a message), newest first, so that an erasure cut
    /// short never leaves an edit's text behind an erased message.
    fn note_deletion(&mut self, target: u64) -> Vec<u64> {
        self.revision += 1;
        self.reactions.remove(&target);
        let mut seqs = self.edits.remove(&target).unwrap_or_default();
        seqs.reverse();
        if let (true, Err(at)) = (self.is_message(target), self.deleted.binary_search(&target)) {
            self.deleted.insert(at, target);
            seqs.push(target);
            for mentioning in self.mentions.values_mut() {
                if let Ok(at) = mentioning.binary_search(&target) {
                    mentioning.remove(at);
                }
            }
        }
        seqs
    }
}

#[derive(Default)]
struct Index {
    rooms: FastMap<RoomId, RoomIndex>,
    /// Read handles, by segment number − 1.
    segments: Vec<Arc<File>>,
}

struct Writer {
    file: File,
    /// Segment number − 1 of `file`.
    segment: u32,
    len: u64,
    next_id: u64,
    poisoned: Option<String>,
    buf: Vec<u8>,
}

pub struct MessageLog {
    dir: PathBuf,
    config: LogConfig,
    index: Mutex<Index>,
    writer: Mutex<Writer>,
    /// Read while lines are read, written while a chunk of them is overwritten (see [`eraser`]).
    erasing: std::sync::RwLock<()>,
    /// Held by each erasure chunk, and by a copy for as long as it copies (see [`copy`]): the
    /// bytes a copy reads do not change under it, and appends never wait for it.
    copying: Mutex<()>,
    owed: eraser::Owed,
    #[cfg(test)]
    fail_next_writes: std::sync::atomic::AtomicUsize,
    #[cfg(test)]
    fail_next_rolls: std::sync::atomic::AtomicUsize,
}

/// What [`MessageLog::open`] found.
pub struct Recovered {
    pub log: MessageLog,
    /// Messages in the log.
    pub messages: u64,
    /// Bytes of torn tail cut off the last segment (0 after a clean stop).
    pub truncated_bytes: u64,
}

fn segment_path(dir: &Path, number: u32) -> PathBuf {
    dir.join(format!("{number:08}.jsonl"))
}

mod copy;
pub use copy::Copied;
pub mod eraser;
mod reader;
pub mod recovery;
#[cfg(test)]
mod tests;
mod writer;
