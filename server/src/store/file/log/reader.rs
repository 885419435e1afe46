//! Reading: a room's head and ranges of it, by positional reads of the indexed lines.

use super::*;

impl MessageLog {
    /// The directory holding the segments.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The newest seq of `room` (0 when it has no messages).
    pub fn last_seq(&self, room: RoomId) -> u64 {
        self.room_head(room).0
    }

    /// The newest seq of `room` and when that message was stored.
    pub fn room_head(&self, room: RoomId) -> (u64, Option<i64>) {
        let index = self.index.lock().expect("log index lock poisoned");
        index
            .rooms
            .get(&room)
            .map_or((0, None), |r| (r.locs.len() as u64, r.last_ts))
    }

    /// How many of `room`'s entries above `seq` are messages (an unread count), in O(1).
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

    /// Entries `from..=to` of `room` (clamped to what exists), in seq order.
    pub fn read_range(&self, room: RoomId, from: u64, to: u64) -> Result<Vec<Entry>, StoreError> {
        let (locs, segments) = self.locs(room, from, to);
        // No line is half overwritten while this reads (see `eraser`).
        let _erasing = self.erasing.read().expect("erase lock poisoned");
        let mut buf = Vec::new();
        locs.iter()
            .map(|loc| read_entry(&self.dir, &segments, loc, &mut buf))
            .collect()
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
