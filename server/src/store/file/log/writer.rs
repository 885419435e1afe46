//! Writing: one batch as one `write` and one `fdatasync`, rolling segments, failure injection.

use super::*;

impl MessageLog {
    /// Stores a batch with one write and one `fdatasync`, assigning each message its room's next
    /// seq and a new id. Returns the stored entries in batch order, each with its frame: the
    /// line the log holds for it (a line is the message's `message` frame and a newline), sliced
    /// out of the batch's write buffer without a copy. On error nothing of the batch is stored.
    pub fn append(&self, batch: Vec<NewEntry>) -> Result<Vec<StoredEntry>, StoreError> {
        let mut writer = self.writer.lock().expect("log writer lock poisoned");
        if let Some(reason) = &writer.poisoned {
            return Err(StoreError::Poisoned(reason.clone()));
        }
        if writer.len >= self.config.segment_bytes {
            self.roll(&mut writer)?;
        }

        let mut acks = Vec::with_capacity(batch.len());
        // Where each message's frame lies in the buffer (without its newline).
        let mut spans = Vec::with_capacity(batch.len());
        // Only `append` (serialized by the writer lock) grows the index, so each room's current
        // length can be read once and the lines serialized without holding the index lock.
        let mut next_seq: FastMap<RoomId, u64> = FastMap::default();
        {
            let index = self.index.lock().expect("log index lock poisoned");
            for new in &batch {
                next_seq.entry(new.room_id).or_insert_with(|| {
                    index
                        .rooms
                        .get(&new.room_id)
                        .map_or(0, |room| room.locs.len() as u64)
                });
            }
        }
        writer.buf.clear();
        // The rooms this batch deletes, with their deletions' seqs: erased once it is durable.
        let mut deleted = Vec::new();
        for (i, new) in batch.into_iter().enumerate() {
            let seq = next_seq
                .get_mut(&new.room_id)
                .expect("every room of the batch was looked up");
            *seq += 1;
            let entry = new.into_entry(*seq, writer.next_id + i as u64);
            let start = writer.buf.len();
            EntryFrame::write(&mut writer.buf, &entry);
            spans.push(start..writer.buf.len());
            writer.buf.push(b'\n');
            let mentioned = match &entry {
                Entry::Message(m) => mention_keys(&m.content),
                Entry::RoomDeleted(deletion) => {
                    deleted.push((deletion.room_id, deletion.seq));
                    Vec::new()
                }
                _ => Vec::new(),
            };
            let is_message = matches!(entry, Entry::Message(_));
            acks.push((into_ack(entry), is_message, mentioned));
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
        writer.next_id += acks.len() as u64;
        // The frames keep the written bytes alive; the next batch starts a buffer of its own,
        // sized like this one (one allocation per batch).
        let capacity = writer.buf.capacity();
        let written = Bytes::from(std::mem::replace(
            &mut writer.buf,
            Vec::with_capacity(capacity),
        ));

        let mut index = self.index.lock().expect("log index lock poisoned");
        let stored = acks
            .into_iter()
            .zip(spans)
            .map(|((ack, is_message, mentioned), span)| {
                let room = index.rooms.entry(ack.room_id).or_default();
                let loc = Loc {
                    segment: writer.segment,
                    offset: batch_start + span.start as u64,
                    // The line: the frame and its newline.
                    len: (span.len() + 1) as u32,
                };
                room.push(loc, is_message, ack.ts);
                room.note_mentions(ack.seq, mentioned);
                StoredEntry {
                    ack,
                    frame: EntryFrame::from_written(written.slice(span)),
                }
            })
            .collect();
        drop(index);
        // Only once the whole batch is indexed: the eraser reads the room's lines from the
        // index, and a message stored just before the deletion must be among them.
        for (room, seq) in deleted {
            self.owe_erasure(room, seq - 1);
        }
        Ok(stored)
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
