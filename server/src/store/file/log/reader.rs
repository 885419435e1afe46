//! Reading: a room's head and ranges of it, by positional reads of the indexed lines, shown
//! with the room's edits and deletions.

use super::*;
use app::model::Edited;
use app::timeline::ErasedEntry;

impl MessageLog {
    /// The directory holding the segments.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The newest seq of `room` (0 when it has no messages).
    pub fn last_seq(&self, room: RoomId) -> u64 {
        self.room_head(room).last_seq
    }

    /// The head of `room`: its newest seq, when that entry was stored, and its revision.
    pub fn room_head(&self, room: RoomId) -> crate::store::RoomHead {
        let index = self.index.lock().expect("log index lock poisoned");
        index
            .rooms
            .get(&room)
            .map_or(Default::default(), |r| crate::store::RoomHead {
                last_seq: r.locs.len() as u64,
                last_ts: r.last_ts,
                revision: r.revision,
            })
    }

    /// How many of `room`'s entries above `seq` are messages (an unread count, deleted ones
    /// left out), in O(log d) for d deleted messages.
    pub fn messages_after(&self, room: RoomId, seq: u64) -> u64 {
        let index = self.index.lock().expect("log index lock poisoned");
        index
            .rooms
            .get(&room)
            .map_or(0, |room| room.messages_after(seq))
    }

    /// How many of `room`'s messages above `seq` mention `user`, in O(log n).
    pub fn mentions_after(&self, room: RoomId, user: &Username, seq: u64) -> u64 {
        let index = self.index.lock().expect("log index lock poisoned");
        index
            .rooms
            .get(&room)
            .map_or(0, |room| room.mentions_after(&user.key(), seq))
    }

    /// Where entries `from..=to` of `room` are (clamped to what exists), and the segments'
    /// read handles.
    pub(super) fn locs(&self, room: RoomId, from: u64, to: u64) -> (Vec<Loc>, Vec<Arc<File>>) {
        let index = self.index.lock().expect("log index lock poisoned");
        let Some(room) = index.rooms.get(&room) else {
            return (Vec::new(), Vec::new());
        };
        let to = to.min(room.locs.len() as u64);
        let from = from.max(1);
        if from > to {
            return (Vec::new(), Vec::new());
        }
        let locs = room.locs[(from - 1) as usize..to as usize].to_vec();
        (locs, index.segments.clone())
    }

    /// Where the entries `seqs` of `room` are (those that exist), and the segments' read
    /// handles.
    pub(super) fn locs_of(&self, room: RoomId, seqs: &[u64]) -> (Vec<Loc>, Vec<Arc<File>>) {
        let index = self.index.lock().expect("log index lock poisoned");
        let Some(room) = index.rooms.get(&room) else {
            return (Vec::new(), Vec::new());
        };
        let locs = seqs
            .iter()
            .filter_map(|seq| seq.checked_sub(1).and_then(|i| room.locs.get(i as usize)))
            .copied()
            .collect();
        (locs, index.segments.clone())
    }

    /// Entries `from..=to` of `room` (clamped to what exists), in seq order, as they are now
    /// (see [`MessageStore::read_range`](crate::store::MessageStore::read_range)).
    pub fn read_range(&self, room: RoomId, from: u64, to: u64) -> Result<Vec<Entry>, StoreError> {
        let (locs, segments) = self.locs(room, from, to);
        let mut entries = {
            // No line is half overwritten while this reads (see `eraser`).
            let _erasing = self.erasing.read().expect("erase lock poisoned");
            let mut buf = Vec::new();
            locs.iter()
                .map(|loc| read_entry(&self.dir, &segments, loc, &mut buf))
                .collect::<Result<Vec<_>, _>>()?
        };
        self.revise(room, &mut entries)?;
        Ok(entries)
    }

    /// Shows `entries` (read from their lines) as they are now: a deleted message and its
    /// edits erased (their lines may not be yet), an edited message with its newest edit, a
    /// message reacted to with its reactions.
    fn revise(&self, room: RoomId, entries: &mut [Entry]) -> Result<(), StoreError> {
        let (newest_edits, segments) = {
            let index = self.index.lock().expect("log index lock poisoned");
            let Some(revised) = index.rooms.get(&room).filter(|r| r.revision > 0) else {
                return Ok(());
            };
            let mut newest_edits = Vec::new();
            for (i, entry) in entries.iter_mut().enumerate() {
                let message = match entry {
                    Entry::Message(m) => m.seq,
                    Entry::Edit(e) => e.target_seq,
                    _ => continue,
                };
                if revised.is_deleted(message) {
                    *entry = Entry::Erased(ErasedEntry::deleted(entry));
                } else if let Entry::Message(m) = entry {
                    m.reactions = revised.reactions.get(&message).cloned();
                    let newest = revised.edits.get(&message).and_then(|edits| edits.last());
                    if let Some(loc) = newest.map(|seq| revised.locs[(seq - 1) as usize]) {
                        newest_edits.push((i, loc));
                    }
                }
            }
            (newest_edits, index.segments.clone())
        };
        if newest_edits.is_empty() {
            return Ok(());
        }
        let _erasing = self.erasing.read().expect("erase lock poisoned");
        let mut buf = Vec::new();
        for (i, loc) in newest_edits {
            // Erased meanwhile: the message was deleted since the index was asked, and shows so
            // (never its first text, which an edit may have been made to take back).
            let Entry::Edit(edit) = read_entry(&self.dir, &segments, &loc, &mut buf)? else {
                entries[i] = Entry::Erased(ErasedEntry::deleted(&entries[i]));
                continue;
            };
            if let Entry::Message(m) = &mut entries[i] {
                m.content = edit.content;
                m.edited = Some(Edited {
                    seq: edit.seq,
                    ts: edit.ts,
                });
            }
        }
        Ok(())
    }
}

/// The entry whose line is at `loc`, read into `buf` (reused from line to line): a history
/// page and the eraser's plan read lines this one way.
pub(super) fn read_entry(
    dir: &Path,
    segments: &[Arc<File>],
    loc: &Loc,
    buf: &mut Vec<u8>,
) -> Result<Entry, StoreError> {
    let path = || segment_path(dir, loc.segment + 1);
    buf.resize(loc.len as usize, 0);
    segments[loc.segment as usize]
        .read_exact_at(buf, loc.offset)
        .map_err(|e| StoreError::io(&path(), e))?;
    Entry::from_json(&buf[..buf.len() - 1]).map_err(|e| StoreError::Corrupt {
        path: path(),
        offset: loc.offset,
        reason: e.to_string(),
    })
}
