//! The journal file of a [`Table`](super::Table): numbered change lines, appended and synced
//! one at a time, cut back when an append fails, and replayed at start.
//!
//! Its own module because its failure rules are the subtle part of the table (see the table's
//! docs, "Crash safety"): what a torn line means at start, and why a failed cut-back poisons.

use super::Document;
use crate::store::{private_file, StoreError};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// The journal is folded into the snapshot once it is larger than this and than the snapshot.
pub(super) const MIN_JOURNAL_BYTES: u64 = 64 * 1024;

pub(super) struct Journal {
    path: PathBuf,
    file: File,
    bytes: u64,
    snapshot_bytes: u64,
    /// Number of the last change written.
    last: u64,
    /// Set when a failed append could not be cut back: a half line may sit at the end of the
    /// file, so appending after it would make the journal unreadable. Every later change is
    /// refused until a restart, whose replay cuts the torn line.
    poisoned: Option<String>,
    /// Fault injection: the next append writes half its line, then fails.
    #[cfg(test)]
    fail_next: bool,
    /// Fault injection: the next cut-back after a failed append fails too.
    #[cfg(test)]
    fail_next_cut: bool,
}

#[derive(Serialize)]
struct LineRef<'a, C> {
    n: u64,
    change: &'a C,
}

#[derive(Deserialize)]
struct Line<C> {
    n: u64,
    change: C,
}

impl Journal {
    /// Replays `path` onto `doc` (the lines numbered after `through`, the snapshot's last) and
    /// opens it for appending.
    pub(super) fn open<T: Document>(
        path: PathBuf,
        through: u64,
        snapshot_bytes: u64,
        doc: &mut T,
    ) -> Result<Self, StoreError> {
        let (bytes, last) = replay(&path, through, doc)?;
        let file = private_file()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        Ok(Self {
            path,
            file,
            bytes,
            snapshot_bytes,
            last: last.max(through),
            poisoned: None,
            #[cfg(test)]
            fail_next: false,
            #[cfg(test)]
            fail_next_cut: false,
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Number of the last change written.
    pub(super) fn last(&self) -> u64 {
        self.last
    }

    /// Writes `change` as the next numbered line and syncs it.
    pub(super) fn record<C: Serialize>(&mut self, change: &C) -> Result<(), StoreError> {
        let n = self.last + 1;
        let mut line =
            serde_json::to_vec(&LineRef { n, change }).expect("table changes always serialize");
        line.push(b'\n');
        self.append(&line)?;
        self.last = n;
        Ok(())
    }

    /// Whether the journal has grown past [`MIN_JOURNAL_BYTES`] and the snapshot's size.
    pub(super) fn wants_fold(&self) -> bool {
        self.bytes > MIN_JOURNAL_BYTES.max(self.snapshot_bytes)
    }

    /// Empties the journal once a snapshot of `snapshot_bytes` holds everything in it.
    pub(super) fn empty(&mut self, snapshot_bytes: u64) -> Result<(), StoreError> {
        self.file
            .set_len(0)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| StoreError::io(&self.path, e))?;
        self.bytes = 0;
        self.snapshot_bytes = snapshot_bytes;
        Ok(())
    }

    /// Fault injection: the next append writes half its line, then fails; with `and_its_cut`,
    /// the cut-back after it fails too.
    #[cfg(test)]
    pub(super) fn fail_next_append(&mut self, and_its_cut: bool) {
        self.fail_next = true;
        self.fail_next_cut = and_its_cut;
    }

    /// Appends and syncs `line`; on failure cuts the file back so no half line stays behind.
    /// If the cut fails too, the journal is poisoned (see [`Journal::poisoned`]).
    fn append(&mut self, line: &[u8]) -> Result<(), StoreError> {
        if let Some(reason) = &self.poisoned {
            return Err(StoreError::Poisoned(reason.clone()));
        }
        if let Err(e) = self.write_and_sync(line) {
            if let Err(cut) = self.cut_back() {
                let reason = format!(
                    "{}: append failed ({e}) and cutting it back failed ({cut})",
                    self.path.display()
                );
                tracing::error!("{reason}; refusing every change until restart");
                self.poisoned = Some(reason);
            }
            return Err(StoreError::io(&self.path, e));
        }
        self.bytes += line.len() as u64;
        Ok(())
    }

    /// Cuts the file back to its last complete line.
    fn cut_back(&mut self) -> std::io::Result<()> {
        #[cfg(test)]
        if std::mem::take(&mut self.fail_next_cut) {
            return Err(std::io::Error::other("injected cut failure"));
        }
        self.file
            .set_len(self.bytes)
            .and_then(|()| self.file.sync_data())
    }

    fn write_and_sync(&mut self, line: &[u8]) -> std::io::Result<()> {
        #[cfg(test)]
        if std::mem::take(&mut self.fail_next) {
            // Reach the file with half the line, as a full disk would, then fail.
            self.file.write_all(&line[..line.len() / 2])?;
            return Err(std::io::Error::other("injected write failure"));
        }
        self.file.write_all(line)?;
        self.file.sync_data()
    }
}

/// Applies the journal's lines numbered after `through` to `doc`; cuts a torn last line.
/// Returns the journal's length and its last line number.
fn replay<T: Document>(path: &Path, through: u64, doc: &mut T) -> Result<(u64, u64), StoreError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(StoreError::io(path, e)),
    };
    let mut reader = BufReader::new(file);
    let (mut offset, mut last) = (0u64, 0u64);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let read = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| StoreError::io(path, e))?;
        if read == 0 {
            return Ok((offset, last));
        }
        let complete = buf.ends_with(b"\n");
        match serde_json::from_slice::<Line<T::Change>>(&buf) {
            Ok(line) if complete => {
                if line.n > through {
                    doc.apply(line.change);
                }
                last = line.n;
                offset += read as u64;
            }
            parsed => {
                let at_end = reader
                    .fill_buf()
                    .map_err(|e| StoreError::io(path, e))?
                    .is_empty();
                if !at_end {
                    return Err(StoreError::Corrupt {
                        path: path.to_owned(),
                        offset,
                        reason: parsed
                            .err()
                            .map_or("unterminated line".into(), |e| e.to_string()),
                    });
                }
                tracing::warn!(path = %path.display(), offset, "cutting a torn last journal line");
                OpenOptions::new()
                    .write(true)
                    .open(path)
                    .and_then(|f| f.set_len(offset).and_then(|()| f.sync_data()))
                    .map_err(|e| StoreError::io(path, e))?;
                return Ok((offset, last));
            }
        }
    }
}
