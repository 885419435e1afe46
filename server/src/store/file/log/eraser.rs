//! Erasing: overwriting entries' lines in place, so that a deleted room's or message's text
//! leaves the disk.
//!
//! Why in place, and not a rewrite of the segments without them: an erased line is written over
//! the old one at the same offset and with the same length (`{"type":"erased",…}` padded with
//! spaces, which JSON allows), so the index, every other line and every seq stay exactly where
//! they were; nothing is copied, and a segment holding one line of a deleted room costs one
//! positional write, not a rewrite of 64 MiB. The erased line keeps the room, seq, id and time
//! (recovery's seq checks and id counter need them) and nothing anyone wrote or who wrote it.
//!
//! Crash safety: an overwrite is not atomic (a crash can leave a line half old, half erased,
//! which no longer parses). So each chunk of overwrites is first written whole to an intent
//! file, `messages/erasing.json` (atomically: whole or absent), then applied and synced, then
//! the intent is removed. [`finish_interrupted`] runs before recovery reads the segments and
//! applies an intent it finds again (the same bytes at the same offsets: doing it twice is
//! doing it once), so recovery never meets a torn erasure. A room whose erasure a stop cut
//! short is found by recovery (a deletion with unerased lines before it) and owed again.
//!
//! Readers: a history read and an overwrite of the same line must not interleave (the reader
//! would see a torn line), so reads hold the log's erase lock for reading and each chunk's
//! overwrites hold it for writing, for the few milliseconds of one chunk.
//!
//! Copies: a backup copying the log (`copy`) holds the log's copy gate, and each chunk takes it
//! first, so an erasure waits for a copy to end instead of changing bytes being copied. (Not the
//! erase lock: a waiting writer there would make appends wait behind the whole copy.)
//!
//! What this cannot promise: the filesystem and the device below it may keep old copies of the
//! blocks (a copy-on-write filesystem, an SSD's remapped pages, a backup). `docs/storage.md`
//! says so; full-disk encryption is the answer to that threat, not this module.

use super::*;
use app::timeline::{ErasedEntry, ERASED_PREFIX};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Condvar;
use std::time::Duration;

/// The intent file of the chunk being erased, in the log's directory.
pub(super) const INTENT_FILE: &str = "erasing.json";

/// Lines overwritten per chunk: one intent file, one sync per segment touched, and the
/// readers' pause, per chunk. 4,096 lines of a chunk make an intent file of about 400 KB.
const CHUNK: usize = 4096;

/// One line's overwrite: where it is and what it becomes (without its newline, which stays).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Overwrite {
    /// Segment number − 1.
    pub(super) segment: u32,
    pub(super) offset: u64,
    pub(super) line: String,
}

/// What to erase of one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Erasure {
    /// A deleted room's entries `1..=through` (all before its deletion): nothing of who wrote
    /// them stays.
    Through(u64),
    /// Deleted messages' lines: each message's edits, then the message itself (newest first,
    /// so that a stop between chunks never leaves an edit behind its erased message). Who sent
    /// the message and its client_id stay (see [`ErasedEntry::deleted`]).
    Lines(Vec<u64>),
}

/// The erasures the log owes, first owed, first erased (a room whose erasure failed goes to
/// the back, so it never holds up the others).
///
/// Bounded: a room is owed at most one [`Erasure::Through`] (owing it again only moves its
/// bound; rooms are deleted once) and one [`Erasure::Lines`] (owing more lines adds them to
/// it), whose seqs are those of messages deleted and not erased yet: 8 bytes each, and the
/// eraser takes them at once (a chunk of 4,096 lines takes milliseconds).
#[derive(Default)]
pub(super) struct Owed {
    rooms: Mutex<VecDeque<(RoomId, Erasure)>>,
    wake: Condvar,
    stopping: AtomicBool,
}

impl MessageLog {
    /// Owes `erasure` of `room`: the eraser takes it after those owed before (also how an
    /// erasure that failed is given back, to be tried again).
    pub fn owe_erasure(&self, room: RoomId, erasure: Erasure) {
        if matches!(&erasure, Erasure::Through(0)) || erasure == Erasure::Lines(Vec::new()) {
            return;
        }
        let mut rooms = self.owed.rooms.lock().expect("erasure lock poisoned");
        let same_kind = rooms.iter_mut().find(|(owed, owing)| {
            *owed == room
                && matches!(
                    (owing, &erasure),
                    (Erasure::Through(_), Erasure::Through(_))
                        | (Erasure::Lines(_), Erasure::Lines(_))
                )
        });
        match (same_kind, erasure) {
            (Some((_, Erasure::Through(bound))), Erasure::Through(through)) => {
                *bound = (*bound).max(through);
            }
            (Some((_, Erasure::Lines(seqs))), Erasure::Lines(more)) => seqs.extend(more),
            (_, erasure) => rooms.push_back((room, erasure)),
        }
        self.owed.wake.notify_all();
    }

    /// Waits `pause`, or less if asked to stop; answers whether to go on.
    pub fn rest(&self, pause: Duration) -> bool {
        let rooms = self.owed.rooms.lock().expect("erasure lock poisoned");
        let _rooms = self
            .owed
            .wake
            .wait_timeout_while(rooms, pause, |_| !self.owed.stopping.load(Ordering::SeqCst))
            .expect("erasure lock poisoned");
        !self.owed.stopping.load(Ordering::SeqCst)
    }

    /// Waits for an owed erasure and takes it; `None` once [`stop_erasing`](Self::stop_erasing)
    /// was called.
    pub fn next_erasure(&self) -> Option<(RoomId, Erasure)> {
        let rooms = self.owed.rooms.lock().expect("erasure lock poisoned");
        let mut rooms = self
            .owed
            .wake
            .wait_while(rooms, |rooms| {
                rooms.is_empty() && !self.owed.stopping.load(Ordering::SeqCst)
            })
            .expect("erasure lock poisoned");
        if self.owed.stopping.load(Ordering::SeqCst) {
            return None;
        }
        rooms.pop_front()
    }

    /// Ends [`next_erasure`](Self::next_erasure)'s waits, and any erasure between chunks.
    pub fn stop_erasing(&self) {
        self.owed.stopping.store(true, Ordering::SeqCst);
        let _rooms = self.owed.rooms.lock().expect("erasure lock poisoned");
        self.owed.wake.notify_all();
    }

    /// How many rooms' erasures are owed (not counting one being erased now).
    pub fn erasures_owed(&self) -> usize {
        self.owed.rooms.lock().expect("erasure lock poisoned").len()
    }

    /// Carries out `erasure` of `room` in place, chunk by chunk (seqs clamped to what exists);
    /// lines already erased are left alone. Returns how many lines it erased, or stops early
    /// (with what it did so far) once asked to stop.
    pub fn erase(&self, room: RoomId, erasure: &Erasure) -> Result<u64, StoreError> {
        // A chunk that failed part-way (a short write) may have left a torn line: its intent
        // is still on disk, and applying it first makes every line of it whole again.
        {
            let _not_copying = self.copying.lock().expect("log copy gate poisoned");
            let _readers = self.erasing.write().expect("erase lock poisoned");
            finish_interrupted(&self.dir)?;
        }
        let mut erased = 0;
        let mut chunk = |locs: Vec<Loc>, segments: Vec<Arc<File>>, keep: Keep| {
            let plan = plan(&self.dir, &locs, &segments, keep)?;
            erased += plan.len() as u64;
            self.apply(&plan)
        };
        let stopping = || self.owed.stopping.load(Ordering::SeqCst);
        match erasure {
            Erasure::Through(to) => {
                let mut next = 1;
                while next <= *to && !stopping() {
                    let last = (*to).min(next + CHUNK as u64 - 1);
                    let (locs, segments) = self.locs(room, next, last);
                    if locs.is_empty() {
                        break;
                    }
                    chunk(locs, segments, Keep::Nothing)?;
                    next = last + 1;
                }
            }
            Erasure::Lines(seqs) => {
                for seqs in seqs.chunks(CHUNK) {
                    if stopping() {
                        break;
                    }
                    let (locs, segments) = self.locs_of(room, seqs);
                    chunk(locs, segments, Keep::Sender)?;
                }
            }
        }
        Ok(erased)
    }

    /// Writes the intent, overwrites, syncs, and removes the intent; never while a copy of the
    /// log is being made.
    fn apply(&self, plan: &[Overwrite]) -> Result<(), StoreError> {
        if plan.is_empty() {
            return Ok(());
        }
        let _not_copying = self.copying.lock().expect("log copy gate poisoned");
        let intent = self.dir.join(INTENT_FILE);
        let bytes = serde_json::to_vec(plan).expect("overwrites always serialize");
        atomic::replace(&intent, &bytes)?;
        let written = {
            // Readers wait for the writes only, not for the syncs after them.
            let _readers = self.erasing.write().expect("erase lock poisoned");
            overwrite(&self.dir, plan)?
        };
        sync(&self.dir, written)?;
        fs::remove_file(&intent).map_err(|e| StoreError::io(&intent, e))
    }
}

/// What an erased line keeps of who wrote it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Keep {
    /// A deleted room's entry: nothing ([`ErasedEntry::of`]).
    Nothing,
    /// A deleted message's lines: the message keeps its sender and client_id, its edits
    /// nothing ([`ErasedEntry::deleted`]).
    Sender,
}

/// What each of `locs` becomes: the lines not yet erased, read now. (A torn line does not
/// read: [`MessageLog::erase`] makes a chunk a failure left whole again before planning.)
pub(super) fn plan(
    dir: &Path,
    locs: &[Loc],
    segments: &[Arc<File>],
    keep: Keep,
) -> Result<Vec<Overwrite>, StoreError> {
    let mut plan = Vec::new();
    let mut buf = Vec::new();
    for loc in locs {
        let entry = reader::read_entry(dir, segments, loc, &mut buf)?;
        let erased = match (&entry, keep) {
            // Erased already, keeping nothing: done. A deleted message's erased line keeps its
            // sender and client_id, which a room's erasure takes too.
            (Entry::Erased(e), Keep::Nothing) if e.sender.is_none() && e.client_id.is_none() => {
                continue
            }
            (Entry::Erased(_), Keep::Sender) => continue,
            (_, Keep::Nothing) => ErasedEntry::of(&entry),
            (_, Keep::Sender) => ErasedEntry::deleted(&entry),
        };
        let text_len = loc.len as usize - 1;
        let serialize = |erased: ErasedEntry| {
            serde_json::to_string(&Entry::Erased(erased)).expect("entries always serialize")
        };
        let mut line = serialize(erased);
        if line.len() > text_len {
            // A very short line from before entries had kinds: what it keeps of its sender
            // does not fit, so it keeps nothing.
            line = serialize(ErasedEntry::of(&entry));
        }
        if line.len() > text_len {
            // Every kind of entry carries more than its bare erased form; one that does not is
            // not one this log wrote.
            return Err(StoreError::Corrupt {
                path: segment_path(dir, loc.segment + 1),
                offset: loc.offset,
                reason: "the line is shorter than its erased form".into(),
            });
        }
        line.extend(std::iter::repeat_n(' ', text_len - line.len()));
        plan.push(Overwrite {
            segment: loc.segment,
            offset: loc.offset,
            line,
        });
    }
    Ok(plan)
}

/// Overwrites the planned lines; answers the segments touched, for [`sync`].
fn overwrite(dir: &Path, plan: &[Overwrite]) -> Result<BTreeMap<u32, File>, StoreError> {
    let mut files: BTreeMap<u32, File> = BTreeMap::new();
    for write in plan {
        let path = segment_path(dir, write.segment + 1);
        let file = match files.entry(write.segment) {
            std::collections::btree_map::Entry::Occupied(file) => file.into_mut(),
            std::collections::btree_map::Entry::Vacant(slot) => slot.insert(
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| StoreError::io(&path, e))?,
            ),
        };
        file.write_all_at(write.line.as_bytes(), write.offset)
            .map_err(|e| StoreError::io(&path, e))?;
    }
    Ok(files)
}

/// Makes the overwrites of `files` durable.
fn sync(dir: &Path, files: BTreeMap<u32, File>) -> Result<(), StoreError> {
    for (segment, file) in files {
        file.sync_data()
            .map_err(|e| StoreError::io(&segment_path(dir, segment + 1), e))?;
    }
    Ok(())
}

/// Applies again the chunk of overwrites a crash interrupted, if any (at open, before the
/// segments are read). Each overwrite must land on a whole line of the same length; anything
/// else is not an intent this log wrote, and stops the start.
pub(super) fn finish_interrupted(dir: &Path) -> Result<(), StoreError> {
    let intent = dir.join(INTENT_FILE);
    let bytes = match fs::read(&intent) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io(&intent, e)),
    };
    let corrupt = |offset: u64, reason: String| StoreError::Corrupt {
        path: intent.clone(),
        offset,
        reason,
    };
    let plan: Vec<Overwrite> =
        serde_json::from_slice(&bytes).map_err(|e| corrupt(0, e.to_string()))?;
    for write in &plan {
        let path = segment_path(dir, write.segment + 1);
        let file = File::open(&path).map_err(|e| StoreError::io(&path, e))?;
        // A whole line: a newline (or the file's start) before it, and one right after it.
        let mut end = [0u8; 1];
        let newline_at = write.offset + write.line.len() as u64;
        let mut lands = file.read_exact_at(&mut end, newline_at).is_ok() && end[0] == b'\n';
        if write.offset > 0 {
            lands &= file.read_exact_at(&mut end, write.offset - 1).is_ok() && end[0] == b'\n';
        }
        if !lands || !write.line.as_bytes().starts_with(ERASED_PREFIX) {
            return Err(corrupt(
                0,
                format!(
                    "an interrupted erasure does not fit segment {} at byte {}",
                    write.segment + 1,
                    write.offset
                ),
            ));
        }
    }
    let written = overwrite(dir, &plan)?;
    sync(dir, written)?;
    tracing::warn!(
        lines = plan.len(),
        "finished erasing lines a stop interrupted"
    );
    fs::remove_file(&intent).map_err(|e| StoreError::io(&intent, e))
}
