//! Copying the log as it stands at one moment while it goes on being written (a backup).
//!
//! Why this is consistent without stopping the writer for the copy: the log only ever *appends*
//! to its last segment, and only the eraser changes bytes already written (overwriting a deleted
//! entry's line in place). So a copy takes, under the writer's lock (at most one batch's wait),
//! the number of the last segment and its length: the *cut*. Then it lets the writer go on and
//! copies each segment up to the cut, while holding the copy gate that every erasure chunk takes
//! ([`MessageLog::copying`]): no byte before the cut changes during the copy. Batches appended
//! meanwhile land past the cut and are not copied; a segment rolled meanwhile is past the cut too.
//!
//! The copy is then exactly the log as it was at the cut, which is a state the log passes
//! through anyway (every batch is whole and synced when the lock is free). An erasure's intent
//! file left by a failed chunk is copied too, so recovery of the copy finishes it.

use super::eraser::INTENT_FILE;
use super::{segment_path, MessageLog};
use crate::store::{private_file, StoreError};
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

impl MessageLog {
    /// Copies the log into `to` (an existing, empty directory) as it stands at one moment, and
    /// runs `at_cut` at that moment, with the writer held (the backup freezes the tables there).
    /// Blocking.
    pub fn copy_to<R>(
        &self,
        to: &Path,
        at_cut: impl FnOnce() -> R,
    ) -> Result<Copied<R>, StoreError> {
        let _no_erasing = self.copying.lock().expect("log copy gate poisoned");
        // Only the last segment grows; the closed ones change only by erasure, which the gate
        // keeps out, so their lengths are read after the writer is let go.
        let (last, last_len, made, held) = {
            let writer = self.writer.lock().expect("log writer lock poisoned");
            let held = Instant::now();
            let made = at_cut();
            (writer.segment + 1, writer.len, made, held.elapsed())
        };
        let mut bytes = 0;
        for number in 1..=last {
            let from = segment_path(&self.dir, number);
            let len = if number == last {
                last_len
            } else {
                std::fs::metadata(&from)
                    .map_err(|e| StoreError::io(&from, e))?
                    .len()
            };
            bytes += copy_prefix(&from, &segment_path(to, number), len)?;
        }
        let mut files = last as usize;
        let intent = self.dir.join(INTENT_FILE);
        if intent.exists() {
            let len = std::fs::metadata(&intent)
                .map_err(|e| StoreError::io(&intent, e))?
                .len();
            bytes += copy_prefix(&intent, &to.join(INTENT_FILE), len)?;
            files += 1;
        }
        Ok(Copied {
            made,
            files,
            bytes,
            held,
        })
    }
}

/// What [`MessageLog::copy_to`] did.
pub struct Copied<R> {
    /// What `at_cut` made.
    pub made: R,
    /// Files copied.
    pub files: usize,
    /// Bytes copied.
    pub bytes: u64,
    /// How long appends waited for the cut (not for the copy).
    pub held: Duration,
}

/// Copies the first `len` bytes of `from` into a new private file `to`, synced.
fn copy_prefix(from: &Path, to: &Path, len: u64) -> Result<u64, StoreError> {
    let source = File::open(from).map_err(|e| StoreError::io(from, e))?;
    let mut target = private_file()
        .create_new(true)
        .write(true)
        .open(to)
        .map_err(|e| StoreError::io(to, e))?;
    let copied =
        std::io::copy(&mut source.take(len), &mut target).map_err(|e| StoreError::io(to, e))?;
    if copied != len {
        return Err(StoreError::io(
            from,
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the segment ended at {copied} bytes, before its cut at {len}"),
            ),
        ));
    }
    target.flush().map_err(|e| StoreError::io(to, e))?;
    target.sync_all().map_err(|e| StoreError::io(to, e))?;
    Ok(copied)
}
