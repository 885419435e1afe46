//! A consistent copy of the file store while it runs (`minitalk backup --to DIR`).
//!
//! Why it is consistent: the users, sessions and rooms tables and the message log are frozen at
//! one moment (the log's writer held, then every table's writers, in that order, for as long as
//! it takes to serialize the tables from memory), and the copy is what they held at that
//! moment: each table as a snapshot with no journal, the log up to its cut (see
//! `log::copy`, which copies while the writer goes on). A crash at that moment would have left
//! the same state, and the server starts from such states every day (its start-up reconciles the
//! rooms with the timeline); a node started on the copy is the community as of the moment.
//!
//! Why not a copy of the files by `cp`: the journals and the log's last segment are written
//! while `cp` reads them, and the eraser overwrites lines in place; a copy of a running data
//! directory could hold a torn line before the end of a segment, which recovery refuses as
//! corruption, or a table ahead of the log by an unknown margin.
//!
//! What a backup holds: everything the data directory holds but the search index (rebuilt from
//! the log at the first start on the copy) and the lock. It is written to `DIR.partial` and
//! renamed to `DIR` once every file is synced, so `DIR` is whole or absent. It is private
//! (0700/0600) like the data directory: it holds password hashes and session hashes.
//! Messages deleted after the moment of the backup stay in it until it is deleted.

use super::log::MessageLog;
use crate::store::table::Freeze;
use crate::store::{atomic, create_private_dir, private_file, StoreError};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The file store's parts a backup copies.
pub struct Backup {
    log: Arc<MessageLog>,
    /// Each table by the file name of its snapshot (`users.json`, …).
    tables: Vec<(&'static str, Arc<dyn Freeze>)>,
}

/// Why a backup was not written.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} exists already: a backup goes into a new directory")]
    Exists(PathBuf),
    #[error("{0} names no directory to create (it ends in `..` or is the root)")]
    NoName(PathBuf),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a backup wrote.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Written {
    pub dir: PathBuf,
    pub files: usize,
    pub bytes: u64,
    /// How long appends and table writes waited for the moment of the backup.
    pub held_ms: f64,
    /// How long the whole backup took.
    pub ms: f64,
}

impl Backup {
    pub fn new(log: Arc<MessageLog>, tables: Vec<(&'static str, Arc<dyn Freeze>)>) -> Self {
        Self { log, tables }
    }

    /// Writes the backup into `to`, which must not exist. Blocking.
    pub fn write(&self, to: &Path) -> Result<Written, BackupError> {
        let started = Instant::now();
        let name = to
            .file_name()
            .ok_or_else(|| BackupError::NoName(to.to_owned()))?
            .to_string_lossy();
        let partial = to.with_file_name(format!("{name}.partial"));
        for path in [to, &partial] {
            if path.exists() {
                return Err(BackupError::Exists(path.to_owned()));
            }
        }
        // Not recursive: one that appeared since the check is refused, and left alone.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&partial)
            .map_err(|e| StoreError::io(&partial, e))?;
        let written = self.write_into(&partial);
        let written = written.and_then(|(files, bytes, held_ms)| {
            std::fs::rename(&partial, to).map_err(|e| StoreError::io(to, e))?;
            if let Some(parent) = to.parent() {
                atomic::sync_dir(parent)?;
            }
            Ok(Written {
                dir: to.to_owned(),
                files,
                bytes,
                held_ms,
                ms: started.elapsed().as_secs_f64() * 1e3,
            })
        });
        if written.is_err() {
            // Nothing half-written is left to be mistaken for a backup.
            let _ = std::fs::remove_dir_all(&partial);
        }
        Ok(written?)
    }

    /// Files, bytes, and the ms writers were held.
    fn write_into(&self, dir: &Path) -> Result<(usize, u64, f64), StoreError> {
        let messages = dir.join("messages");
        create_private_dir(&messages)?;
        let copied = self.log.copy_to(&messages, || {
            // Every table held at once: their snapshots are of the same moment.
            let held: Vec<_> = self
                .tables
                .iter()
                .map(|(name, table)| (*name, table.freeze()))
                .collect();
            held.into_iter()
                .map(|(name, (bytes, _writers))| (name, bytes))
                .collect::<Vec<_>>()
        })?;
        let mut bytes = copied.bytes;
        for (name, snapshot) in &copied.made {
            let path = dir.join(name);
            let mut file = private_file()
                .create_new(true)
                .write(true)
                .open(&path)
                .map_err(|e| StoreError::io(&path, e))?;
            file.write_all(snapshot)
                .and_then(|()| file.sync_all())
                .map_err(|e| StoreError::io(&path, e))?;
            bytes += snapshot.len() as u64;
        }
        atomic::sync_dir(&messages)?;
        atomic::sync_dir(dir)?;
        let files = copied.files + copied.made.len();
        Ok((files, bytes, copied.held.as_secs_f64() * 1e3))
    }
}
