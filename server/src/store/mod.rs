//! The data directory: everything Minitalk keeps on disk, and the one lock that says whose it is.
//!
//! ```text
//! data/
//!   LOCK                    held exclusively while a server runs (flock)
//!   users.json              accounts        } small JSON documents: a snapshot, and a
//!   sessions.json           sign-ins        } journal of changes since (`X.journal`),
//!   rooms.json              rooms, members  } folded into the snapshot now and then (`table`)
//!   messages/00000001.jsonl append-only message log, one JSON object a line (see `log`)
//! ```
//!
//! `docs/storage.md` describes the formats and what survives a crash.

mod atomic;
pub mod log;
pub mod space;
pub mod table;

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

pub use log::{LogConfig, MessageLog, NewMessage, Recovered};
pub use table::{Document, Table};

/// Errors of the storage layer. Callers show users a generic message; logs get the cause.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("data directory {0} is in use by another Minitalk server")]
    Locked(PathBuf),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("corrupt record in {path} at byte {offset}: {reason}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("a store file failed earlier and refuses writes until restart: {0}")]
    Poisoned(String),
}

impl StoreError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// The opened data directory. Holds the exclusive lock for as long as it lives.
pub struct DataDir {
    path: PathBuf,
    _lock: File,
}

impl DataDir {
    /// Creates the directory if needed and takes its lock, failing at once if another server
    /// holds it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        fs::create_dir_all(path).map_err(|e| StoreError::io(path, e))?;
        let lock_path = path.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(StoreError::Locked(path.to_owned())),
            Err(fs::TryLockError::Error(e)) => return Err(StoreError::io(&lock_path, e)),
        }
        Ok(Self {
            path: path.to_owned(),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_server_cannot_open_a_locked_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDir::open(dir.path()).unwrap();
        assert!(matches!(
            DataDir::open(dir.path()),
            Err(StoreError::Locked(_))
        ));
        drop(first);
        assert!(DataDir::open(dir.path()).is_ok());
    }
}
