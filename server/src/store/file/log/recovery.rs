//! Recovery: reading every segment at start-up to rebuild the index, and cutting a torn tail.

use super::eraser::Erasure;
use super::*;

/// Whether a complete, parsable message line starts after the (bad) line at `offset`.
fn has_valid_line_after(bytes: &[u8], offset: usize) -> bool {
    let Some(end) = bytes[offset..].iter().position(|b| *b == b'\n') else {
        return false;
    };
    bytes[offset + end + 1..]
        .split_inclusive(|b| *b == b'\n')
        .any(|line| line.ends_with(b"\n") && Entry::from_json(&line[..line.len() - 1]).is_ok())
}

impl MessageLog {
    /// Opens (creating if needed) the log in `dir`, reading every segment to rebuild the index.
    pub fn open(dir: &Path, config: LogConfig) -> Result<Recovered, StoreError> {
        Self::open_visiting(dir, config, i64::MAX, |_| {})
    }

    /// [`open`](Self::open), showing `visit` each entry stored at or after `recent_since`, and
    /// every change of membership, name or topic and every deletion whatever its age, oldest
    /// first (start-up rebuilds the dedupe memory from the first, and repairs the room store
    /// from the second). Each entry is dropped once visited: start-up never holds more than one
    /// entry and one segment's bytes, however busy the last minutes were (audit M10).
    ///
    /// Erasure: an erasure a crash interrupted is finished before the segments are read, and a
    /// deleted room or message with lines not yet erased is owed again (see [`eraser`]).
    pub fn open_visiting(
        dir: &Path,
        config: LogConfig,
        recent_since: i64,
        mut visit: impl FnMut(&Entry),
    ) -> Result<Recovered, StoreError> {
        create_private_dir(dir)?;
        let mut numbers: Vec<u32> = fs::read_dir(dir)
            .map_err(|e| StoreError::io(dir, e))?
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".jsonl")?.parse().ok()
            })
            .collect();
        numbers.sort_unstable();
        eraser::finish_interrupted(dir)?;
        if numbers.is_empty() {
            private_file()
                .create_new(true)
                .append(true)
                .open(segment_path(dir, 1))
                .map_err(|e| StoreError::io(dir, e))?;
            atomic::sync_dir(dir)?;
            numbers.push(1);
        }
        if numbers
            .iter()
            .enumerate()
            .any(|(i, n)| *n as usize != i + 1)
        {
            return Err(StoreError::Corrupt {
                path: dir.to_owned(),
                offset: 0,
                reason: format!("segment numbers are not 1..N: {numbers:?}"),
            });
        }

        let mut index = Index::default();
        // Per room: how many lines are neither erased (keeping nothing) nor its deletion, and
        // where it was deleted. A deleted room with such lines owes an erasure.
        let mut unerased: FastMap<RoomId, u64> = FastMap::default();
        let mut deletions: Vec<(RoomId, u64)> = Vec::new();
        // Per room: the lines of deleted messages (and their edits) not erased yet.
        let mut deleted_lines: FastMap<RoomId, Vec<u64>> = FastMap::default();
        let mut messages = 0u64;
        let mut next_id = 1u64;
        let mut truncated_bytes = 0u64;
        let last = numbers.len() - 1;
        let mut last_len = 0u64;
        for (i, number) in numbers.iter().enumerate() {
            let path = segment_path(dir, *number);
            let bytes = fs::read(&path).map_err(|e| StoreError::io(&path, e))?;
            let mut offset = 0usize;
            while offset < bytes.len() {
                let torn = |reason: String| StoreError::Corrupt {
                    path: path.clone(),
                    offset: offset as u64,
                    reason,
                };
                let line_end = bytes[offset..].iter().position(|b| *b == b'\n');
                let parsed = line_end
                    .ok_or_else(|| "line has no end".to_owned())
                    .and_then(|end| {
                        Entry::from_json(&bytes[offset..offset + end]).map_err(|e| e.to_string())
                    });
                let entry = match parsed {
                    Ok(entry) => entry,
                    // Only the tail of the newest segment can be torn by a crash, and a torn
                    // tail runs to the end of the file. A bad line with a valid one after it is
                    // damage, and cutting there would delete acknowledged messages.
                    Err(_) if i == last && !has_valid_line_after(&bytes, offset) => break,
                    Err(reason) => return Err(torn(reason)),
                };
                let len = line_end.expect("parsed lines have an end") + 1;
                let room = index.rooms.entry(entry.room_id()).or_default();
                if entry.seq() != room.locs.len() as u64 + 1 {
                    return Err(torn(format!(
                        "room {} jumps from seq {} to {}",
                        entry.room_id(),
                        room.locs.len(),
                        entry.seq()
                    )));
                }
                room.push(
                    Loc {
                        segment: i as u32,
                        offset: offset as u64,
                        len: len as u32,
                    },
                    matches!(entry, Entry::Message(_)),
                    entry.ts(),
                );
                match &entry {
                    Entry::Message(m) => room.note_mentions(m.seq, mention_keys(&m.content)),
                    Entry::Edit(e) => room.note_edit(e.target_seq, e.seq),
                    Entry::Reaction(e) => room.note_reaction(e),
                    Entry::MessageDeleted(e) => {
                        let lines = room.note_deletion(e.target_seq);
                        if !lines.is_empty() {
                            deleted_lines.entry(e.room_id).or_default().extend(lines);
                        }
                    }
                    _ => {}
                }
                next_id = next_id.max(entry.id() + 1);
                messages += 1;
                match &entry {
                    // A deleted message's erased line still names its sender: not erased as
                    // far as its room's deletion goes.
                    Entry::Erased(e) if e.sender.is_none() && e.client_id.is_none() => {}
                    Entry::RoomDeleted(e) => deletions.push((e.room_id, e.seq)),
                    _ => *unerased.entry(entry.room_id()).or_default() += 1,
                }
                if entry.ts() >= recent_since
                    || matches!(
                        entry,
                        Entry::Member(_) | Entry::Room(_) | Entry::RoomDeleted(_)
                    )
                {
                    visit(&entry);
                }
                offset += len;
            }
            if i == last && offset < bytes.len() {
                truncated_bytes = (bytes.len() - offset) as u64;
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| StoreError::io(&path, e))?;
                file.set_len(offset as u64)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| StoreError::io(&path, e))?;
            }
            if i == last {
                last_len = offset as u64;
            }
            let reader = File::open(&path).map_err(|e| StoreError::io(&path, e))?;
            index.segments.push(Arc::new(reader));
        }

        let last_path = segment_path(dir, numbers[last]);
        let file = OpenOptions::new()
            .append(true)
            .open(&last_path)
            .map_err(|e| StoreError::io(&last_path, e))?;
        let log = MessageLog {
            dir: dir.to_owned(),
            config,
            index: Mutex::new(index),
            writer: Mutex::new(Writer {
                file,
                segment: last as u32,
                len: last_len,
                next_id,
                poisoned: None,
                buf: Vec::new(),
            }),
            erasing: Default::default(),
            copying: Default::default(),
            owed: Default::default(),
            #[cfg(test)]
            fail_next_writes: Default::default(),
            #[cfg(test)]
            fail_next_rolls: Default::default(),
        };
        for (room, seq) in deletions {
            if unerased.get(&room).is_some_and(|n| *n > 0) {
                log.owe_erasure(room, Erasure::Through(seq - 1));
            }
        }
        for (room, lines) in deleted_lines {
            log.owe_erasure(room, Erasure::Lines(lines));
        }
        Ok(Recovered {
            log,
            messages,
            truncated_bytes,
        })
    }
}
