//! The data directory: everything Minitalk keeps on disk, and the one lock that says whose it is.
//!
//! ```text
//! data/
//!   LOCK                    held exclusively while a server runs (flock)
//!   users.json              accounts        } small JSON documents: a snapshot, and a
//!   sessions.json           sign-ins        } journal of changes since (`X.journal`),
//!   rooms.json              rooms, members  } folded into the snapshot now and then (`table`)
//!   messages/00000001.jsonl append-only message log, one JSON object a line (see `file::log`)
//! ```
//!
//! The rest of the server reaches messages only through the [`MessageStore`] trait
//! ([`messages`]); [`file`] holds the default, embedded implementation, [`postgres`] the one for
//! several nodes on one PostgreSQL database (`--database-url`), `memory` an in-memory one for
//! unit tests, and `contract` the tests every implementation must pass.
//!
//! `docs/storage.md` describes the formats and what survives a crash.
//!
//! Private by default: the directory (and `messages/`) is created `0700` and every file in it
//! `0600`, since it holds password hashes, session tokens and every message. Opening an existing
//! data directory tightens whatever it finds to the same modes, so an upgrade from a build that
//! created them world-readable is fixed at the next start (audit M1).

pub mod accounts;
mod atomic;
#[cfg(test)]
pub(crate) mod contract;
mod dedupe;
mod durability;
pub mod file;
pub mod keeper;
#[cfg(test)]
pub mod memory;
pub mod messages;
pub mod postgres;
pub mod rooms;
pub mod space;
pub mod table;

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of the data directory and its subdirectories: owner only.
pub(crate) const DIR_MODE: u32 = 0o700;
/// Mode of every file in the data directory: owner read and write only.
pub(crate) const FILE_MODE: u32 = 0o600;

/// Creates `path` and any missing parents with [`DIR_MODE`].
pub(crate) fn create_private_dir(path: &Path) -> Result<(), StoreError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
        .map_err(|e| StoreError::io(path, e))
}

/// Options that create a missing file with [`FILE_MODE`].
pub(crate) fn private_file() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(FILE_MODE);
    options
}

/// Sets `dir` to [`DIR_MODE`] and, recursively, its subdirectories to [`DIR_MODE`] and its files
/// to [`FILE_MODE`]. Symbolic links are left alone (their targets are not ours to change).
fn make_private(dir: &Path) -> Result<(), StoreError> {
    let set = |path: &Path, mode: u32| {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|e| StoreError::io(path, e))
    };
    set(dir, DIR_MODE)?;
    for entry in fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
        let path = entry.map_err(|e| StoreError::io(dir, e))?.path();
        let kind = fs::symlink_metadata(&path)
            .map_err(|e| StoreError::io(&path, e))?
            .file_type();
        if kind.is_dir() {
            make_private(&path)?;
        } else if kind.is_file() {
            set(&path, FILE_MODE)?;
        }
    }
    Ok(())
}

pub use durability::Durability;
pub use file::{FileMessageStore, FileMessageStoreConfig};
pub use messages::{
    ack_of, check_target, fingerprint_of, into_ack, Ack, Appended, Body, EntryFrame, Intent,
    MemberChange, MessageStore, NewEntry, RoomHead, RoomSettings, StoredEntry, TargetRefusal,
    TimelineFacts,
};
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
    #[error("the disk is nearly full; writes are refused for now")]
    LowDisk,
    #[error("the store is not running: {0}")]
    Stopped(String),
    /// The database refused or could not be reached (`store::postgres`); nothing of the
    /// request is known to be stored.
    #[error("database: {0}")]
    Database(String),
    /// Another node changed who may do what in these rooms since the batch was decided
    /// ([`MessageStore::append_checked`]): nothing was stored; decide again.
    #[error("access changed in rooms {0:?} meanwhile")]
    AccessChanged(Vec<app::model::RoomId>),
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
    /// holds it. Then makes the directory and everything in it private (see the module docs).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        create_private_dir(path)?;
        let lock_path = path.join("LOCK");
        let lock = private_file()
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
        make_private(path)?;
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
    use crate::store::file::log::{LogConfig, MessageLog};
    use app::model::{ClientId, MessageBody, RoomId, Username};

    #[derive(Default, serde::Serialize, serde::Deserialize)]
    struct Counter(u32);

    impl Document for Counter {
        type Change = u32;
        fn apply(&mut self, change: u32) {
            self.0 += change;
        }
    }

    /// Every directory and file under `dir` (itself included) that is not `0700` / `0600`, and
    /// how many files were checked.
    fn not_private(dir: &Path) -> (Vec<(PathBuf, u32)>, usize) {
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let mut wrong = Vec::new();
        let mut files = 0;
        if mode(dir) != DIR_MODE {
            wrong.push((dir.to_owned(), mode(dir)));
        }
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                let (more, more_files) = not_private(&path);
                wrong.extend(more);
                files += more_files;
            } else {
                files += 1;
                if mode(&path) != FILE_MODE {
                    wrong.push((path.clone(), mode(&path)));
                }
            }
        }
        (wrong, files)
    }

    #[test]
    fn a_fresh_data_dir_and_every_file_in_it_are_private() {
        let parent = tempfile::tempdir().unwrap();
        let path = parent.path().join("data");
        let data = DataDir::open(&path).unwrap();
        let table = Table::<Counter>::open(&data.file("t.json")).unwrap();
        table.update(|_| Ok::<_, StoreError>((1, ()))).unwrap();
        atomic::replace(&data.file("snapshot.json"), b"{}").unwrap();
        let log = MessageLog::open(&data.file("messages"), LogConfig { segment_bytes: 10 })
            .unwrap()
            .log;
        for text in ["a", "b"] {
            log.append(vec![NewEntry {
                room_id: RoomId(1),
                sender: Username::parse("ana").unwrap(),
                client_id: ClientId::parse(text).unwrap(),
                body: Body::Text(MessageBody::parse(text).unwrap()),
                ts: 0,
            }])
            .unwrap();
        }
        assert!(
            data.file("messages/00000002.jsonl").exists(),
            "a rolled segment"
        );
        let (wrong, files) = not_private(&path);
        assert!(
            wrong.is_empty(),
            "not private: {wrong:?} (modes in decimal)"
        );
        assert_eq!(files, 5, "LOCK, t.journal, snapshot.json, 2 segments");
    }

    #[test]
    fn opening_an_existing_world_readable_data_dir_makes_it_private() {
        let parent = tempfile::tempdir().unwrap();
        let path = parent.path().join("data");
        fs::create_dir_all(path.join("messages")).unwrap();
        for file in [
            "LOCK",
            "users.json",
            "sessions.journal",
            "messages/00000001.jsonl",
        ] {
            fs::write(path.join(file), b"").unwrap();
            fs::set_permissions(path.join(file), fs::Permissions::from_mode(0o644)).unwrap();
        }
        for dir in [path.clone(), path.join("messages")] {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
        }
        assert!(!not_private(&path).0.is_empty());
        let _data = DataDir::open(&path).unwrap();
        let (wrong, files) = not_private(&path);
        assert!(
            wrong.is_empty(),
            "not private: {wrong:?} (modes in decimal)"
        );
        assert_eq!(files, 4);
    }

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
