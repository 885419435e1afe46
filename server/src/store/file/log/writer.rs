//! Writing: one batch as one `write` and one `fdatasync`, rolling segments, failure injection.

use super::eraser::Erasure;
use super::*;
use crate::store::{check_target, TargetRefusal};

/// What a stored entry changes in its room's index besides its line.
enum Effect {
    /// A message, mentioning these names.
    Message(Vec<String>),
    /// An edit of the message at this seq.
    Edit(u64),
    /// A deletion of the message at this seq.
    DeleteMessage(u64),
    /// A reaction to a message.
    React(ReactionEvent),
    /// The room's deletion.
    DeleteRoom,
    None,
}

/// An entry serialized into the batch: its ack, and what it changes in the index.
struct Done {
    ack: crate::store::Ack,
    effect: Effect,
}

impl Done {
    fn of(entry: Entry) -> Self {
        let effect = match &entry {
            Entry::Message(m) => Effect::Message(mention_keys(&m.content)),
            Entry::Edit(e) => Effect::Edit(e.target_seq),
            Entry::MessageDeleted(e) => Effect::DeleteMessage(e.target_seq),
            Entry::Reaction(e) => Effect::React(e.clone()),
            Entry::RoomDeleted(_) => Effect::DeleteRoom,
            _ => Effect::None,
        };
        Self {
            ack: into_ack(entry),
            effect,
        }
    }
}

/// The entries a batch's edits, deletions, replies and reactions act on, read before the
/// batch is decided.
///
/// Only what the log held before the batch can be a target (a client learns a seq from its
/// ack, after the batch), so each is read once; deletions earlier in the batch are kept aside
/// as the batch is decided, so that what follows a deletion finds no message.
struct Targets {
    /// (room, seq) → where its line is, and whether the message was deleted already.
    wanted: FastMap<(RoomId, u64), (Loc, bool)>,
    segments: Vec<Arc<File>>,
}

/// [`Targets`] read: the entry at each (`None`: its line could not be read; logged).
struct ReadTargets {
    found: FastMap<(RoomId, u64), (Option<Entry>, bool)>,
}

impl Targets {
    fn find(index: &Index, batch: &[NewEntry]) -> Self {
        let mut wanted = FastMap::default();
        for new in batch {
            let Some(seq) = new.body.target_seq() else {
                continue;
            };
            let Some(room) = index.rooms.get(&new.room_id) else {
                continue;
            };
            if let Some(loc) = seq.checked_sub(1).and_then(|i| room.locs.get(i as usize)) {
                wanted.insert((new.room_id, seq), (*loc, room.is_deleted(seq)));
            }
        }
        let segments = if wanted.is_empty() {
            Vec::new()
        } else {
            index.segments.clone()
        };
        Self { wanted, segments }
    }

    /// Reads each target. A line that does not read fails only the entries acting on it
    /// (a torn line a failed erasure left, until its retry makes it whole), not the batch.
    fn read(self, dir: &Path, erasing: &std::sync::RwLock<()>) -> ReadTargets {
        let mut found = FastMap::default();
        if !self.wanted.is_empty() {
            let _erasing = erasing.read().expect("erase lock poisoned");
            let mut buf = Vec::new();
            for (at, (loc, deleted)) in self.wanted {
                let entry = match reader::read_entry(dir, &self.segments, &loc, &mut buf) {
                    Ok(entry) => Some(entry),
                    Err(e) => {
                        tracing::error!("reading the message an edit or deletion names: {e}");
                        None
                    }
                };
                found.insert(at, (entry, deleted));
            }
        }
        ReadTargets { found }
    }
}

impl ReadTargets {
    /// Decides `new` (in batch order), noting a deletion it makes.
    fn check(&mut self, new: &NewEntry) -> Result<(), TargetRefusal> {
        let Some(seq) = new.body.target_seq() else {
            return Ok(());
        };
        let (target, deleted) = match self.found.get(&(new.room_id, seq)) {
            Some((None, _)) => return Err(TargetRefusal::Unreadable),
            Some((Some(entry), deleted)) => (Some(entry), *deleted),
            None => (None, false),
        };
        check_target(new, target, deleted)?;
        if matches!(new.body, crate::store::Body::DeleteMessage { .. }) {
            if let Some((_, deleted)) = self.found.get_mut(&(new.room_id, seq)) {
                *deleted = true;
            }
        }
        Ok(())
    }
}

impl MessageLog {
    /// Stores a batch with one write and one `fdatasync`, assigning each entry its room's next
    /// seq and a new id. Returns the stored entries in batch order, each with its frame: the
    /// line the log holds for it (a line is the entry's frame and a newline), sliced out of the
    /// batch's write buffer without a copy. An edit or deletion whose target the log refuses
    /// ([`check_target`], in batch order) is answered with its refusal and takes no seq. On
    /// error nothing of the batch is stored.
    pub fn append(
        &self,
        batch: Vec<NewEntry>,
    ) -> Result<Vec<Result<StoredEntry, TargetRefusal>>, StoreError> {
        let mut writer = self.writer.lock().expect("log writer lock poisoned");
        if let Some(reason) = &writer.poisoned {
            return Err(StoreError::Poisoned(reason.clone()));
        }
        if writer.len >= self.config.segment_bytes {
            self.roll(&mut writer)?;
        }

        // Only `append` (serialized by the writer lock) grows the index, so each room's current
        // length can be read once and the lines serialized without holding the index lock.
        let mut next_seq: FastMap<RoomId, u64> = FastMap::default();
        let targets = {
            let index = self.index.lock().expect("log index lock poisoned");
            for new in &batch {
                next_seq.entry(new.room_id).or_insert_with(|| {
                    index
                        .rooms
                        .get(&new.room_id)
                        .map_or(0, |room| room.locs.len() as u64)
                });
            }
            Targets::find(&index, &batch)
        };
        let mut targets = targets.read(&self.dir, &self.erasing);
        writer.buf.clear();
        let mut answers = Vec::with_capacity(batch.len());
        let mut done = Vec::with_capacity(batch.len());
        // Where each entry's frame lies in the buffer (without its newline).
        let mut spans = Vec::with_capacity(batch.len());
        let mut next_id = writer.next_id;
        for new in batch {
            if let Err(refusal) = targets.check(&new) {
                answers.push(Err(refusal));
                continue;
            }
            let seq = next_seq
                .get_mut(&new.room_id)
                .expect("every room of the batch was looked up");
            *seq += 1;
            let entry = new.into_entry(*seq, next_id);
            next_id += 1;
            let start = writer.buf.len();
            EntryFrame::write(&mut writer.buf, &entry);
            spans.push(start..writer.buf.len());
            writer.buf.push(b'\n');
            answers.push(Ok(()));
            done.push(Done::of(entry));
        }
        if done.is_empty() {
            // Everything was refused: nothing to write.
            return Ok(answers
                .into_iter()
                .map(|answer| Err(answer.expect_err("nothing was stored")))
                .collect());
        }

        let writer = &mut *writer;
        if let Err(source) = self.write_and_sync(&mut writer.file, &writer.buf) {
            let path = segment_path(&self.dir, writer.segment + 1);
            // Cut back whatever part of the batch reached the file, so that no reader and no
            // recovery ever sees it.
            if let Err(cut) = writer
                .file
                .set_len(writer.len)
                .and_then(|()| writer.file.sync_all())
            {
                writer.poisoned = Some(format!(
                    "write failed ({source}) and cutting it back failed ({cut})"
                ));
            }
            return Err(StoreError::io(&path, source));
        }
        let batch_start = writer.len;
        writer.len += writer.buf.len() as u64;
        writer.next_id = next_id;
        // The frames keep the written bytes alive; the next batch starts a buffer of its own,
        // sized like this one (one allocation per batch).
        let capacity = writer.buf.capacity();
        let written = Bytes::from(std::mem::replace(
            &mut writer.buf,
            Vec::with_capacity(capacity),
        ));

        // What to erase once the whole batch is indexed: the eraser reads lines from the index,
        // and a message stored just before a room's deletion must be among them.
        let mut erase = Vec::new();
        let mut index = self.index.lock().expect("log index lock poisoned");
        let mut stored = done.into_iter().zip(spans).map(|(done, span)| {
            let room = index.rooms.entry(done.ack.room_id).or_default();
            let loc = Loc {
                segment: writer.segment,
                offset: batch_start + span.start as u64,
                // The line: the frame and its newline.
                len: (span.len() + 1) as u32,
            };
            room.push(loc, matches!(done.effect, Effect::Message(_)), done.ack.ts);
            match done.effect {
                Effect::Message(mentioned) => room.note_mentions(done.ack.seq, mentioned),
                Effect::Edit(target) => room.note_edit(target, done.ack.seq),
                Effect::React(reaction) => room.note_reaction(&reaction),
                Effect::DeleteMessage(target) => {
                    erase.push((done.ack.room_id, Erasure::Lines(room.note_deletion(target))));
                }
                Effect::DeleteRoom => {
                    erase.push((done.ack.room_id, Erasure::Through(done.ack.seq - 1)));
                }
                Effect::None => {}
            }
            StoredEntry {
                ack: done.ack,
                frame: EntryFrame::from_written(written.slice(span)),
            }
        });
        let answers = answers
            .into_iter()
            .map(|answer| answer.map(|()| stored.next().expect("one stored entry per Ok")))
            .collect();
        drop(index);
        for (room, erasure) in erase {
            self.owe_erasure(room, erasure);
        }
        Ok(answers)
    }

    fn write_and_sync(&self, file: &mut File, bytes: &[u8]) -> std::io::Result<()> {
        #[cfg(test)]
        if self
            .fail_next_writes
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| n.checked_sub(1),
            )
            .is_ok()
        {
            // Reach the file with half the batch, as a full disk would, then fail.
            file.write_all(&bytes[..bytes.len() / 2])?;
            return Err(std::io::Error::other("injected write failure"));
        }
        file.write_all(bytes)?;
        file.sync_data()
    }

    /// Closes the current segment and starts the next one.
    ///
    /// Retryable: the writer switches to the new segment only after every step succeeded, and a
    /// next segment that an earlier, failed roll left behind empty is reused rather than refused
    /// (a `create_new` here once wedged the log: every later batch failed with `AlreadyExists`).
    fn roll(&self, writer: &mut Writer) -> Result<(), StoreError> {
        let number = writer.segment + 2;
        let path = segment_path(&self.dir, number);
        let file = private_file()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        let len = file.metadata().map_err(|e| StoreError::io(&path, e))?.len();
        if len != 0 {
            // Only this writer creates segments, and it never writes to one it has not switched
            // to; bytes here were put by someone else.
            return Err(StoreError::Corrupt {
                path,
                offset: 0,
                reason: format!("the next segment already holds {len} bytes"),
            });
        }
        #[cfg(test)]
        if self
            .fail_next_rolls
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| n.checked_sub(1),
            )
            .is_ok()
        {
            // Fail after the file exists, as a failed directory sync or open would.
            return Err(StoreError::io(
                &path,
                std::io::Error::other("injected roll failure"),
            ));
        }
        atomic::sync_dir(&self.dir)?;
        let reader = File::open(&path).map_err(|e| StoreError::io(&path, e))?;
        self.index
            .lock()
            .expect("log index lock poisoned")
            .segments
            .push(Arc::new(reader));
        writer.file = file;
        writer.segment = number - 1;
        writer.len = 0;
        Ok(())
    }

    /// Makes the next `n` batch writes fail after writing half their bytes.
    #[cfg(test)]
    pub fn fail_next_writes(&self, n: usize) {
        self.fail_next_writes
            .store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Makes the next `n` segment rolls fail after creating the new (empty) segment file.
    #[cfg(test)]
    pub fn fail_next_rolls(&self, n: usize) {
        self.fail_next_rolls
            .store(n, std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(test)]
impl MessageLog {
    /// Poisons the log, as a write whose cut-back also failed does.
    pub fn poison(&self, reason: &str) {
        self.writer
            .lock()
            .expect("log writer lock poisoned")
            .poisoned = Some(reason.to_owned());
    }
}
