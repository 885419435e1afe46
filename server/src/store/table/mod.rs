//! A small document (users, sessions, rooms) kept whole in memory, made durable by a journal.
//!
//! Every change is one line appended to `X.journal` and synced before it touches memory, so a
//! change is visible only once a crash can no longer take it back, and a refused write changes
//! nothing. The journal is folded into the snapshot `X.json` once it has grown as large as the
//! snapshot, so the cost of a change stays the size of the change, amortised, however many
//! accounts or members there are. (The first design rewrote the whole document on every change:
//! with 10,000 sessions each sign-in wrote a megabyte, and signing in 10,000 users wrote
//! gigabytes.)
//!
//! Crash safety:
//! - A journal line is numbered; the snapshot records the last number folded into it. At start
//!   the snapshot is read and only the lines after its number are applied, so a crash between
//!   writing a new snapshot and emptying the journal applies nothing twice.
//! - A torn last line (a crash mid-append, never acknowledged) is cut off at start. A bad line
//!   before the last is corruption and stops the start with its byte offset.
//! - The snapshot is replaced atomically (see `atomic`).
//! - A failed append is cut back off the journal. If even the cut fails, the table is poisoned:
//!   it refuses every change with [`StoreError::Poisoned`] until a restart, rather than append
//!   after a half line (which would make the next start fail with `Corrupt`).
//!
//! The journal file itself (numbered lines, the cut-back, poisoning and replay) is
//! [`journal`]; this module keeps the document, its snapshot and when to fold.

mod journal;
#[cfg(test)]
mod tests;

use super::{atomic, StoreError};
use journal::Journal;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock, RwLockReadGuard};

/// A document that changes by typed, serializable changes.
pub trait Document: Default + Serialize + DeserializeOwned {
    type Change: Serialize + DeserializeOwned;

    /// Applies a change that was valid when it was made (and is therefore valid on replay).
    fn apply(&mut self, change: Self::Change);

    /// Drops what no longer matters (say, expired sessions) before a snapshot is written.
    fn prune(&mut self) {}
}

/// Keeps a table's writers out while it lives (see [`Table::freeze`]).
pub struct Frozen<'a> {
    _writers: std::sync::MutexGuard<'a, Journal>,
}

/// A table of any document, as a backup sees it.
pub trait Freeze: Send + Sync {
    fn freeze(&self) -> (Vec<u8>, Frozen<'_>);
}

impl<T: Document + Send + Sync> Freeze for Table<T>
where
    T::Change: Send,
{
    fn freeze(&self) -> (Vec<u8>, Frozen<'_>) {
        Table::freeze(self)
    }
}

pub struct Table<T: Document> {
    snapshot: PathBuf,
    doc: RwLock<T>,
    /// Serializes writers; holds the open journal.
    journal: Mutex<Journal>,
}

/// The snapshot file: the document and the last journal line folded into it.
#[derive(Serialize)]
struct SnapshotRef<'a, T> {
    through: u64,
    doc: &'a T,
}

#[derive(Deserialize)]
struct SnapshotFile<T> {
    through: u64,
    doc: T,
}

impl<T: Document> Table<T> {
    /// Opens `X.json` and `X.journal` beside it (either may be missing: an empty document).
    pub fn open(snapshot: &Path) -> Result<Self, StoreError> {
        let (mut doc, through, snapshot_bytes) = match std::fs::read(snapshot) {
            Ok(bytes) => {
                // Data directories from before the journal hold the bare document.
                let (doc, through) = match serde_json::from_slice::<SnapshotFile<T>>(&bytes) {
                    Ok(file) => (file.doc, file.through),
                    Err(e) => match serde_json::from_slice::<T>(&bytes) {
                        Ok(doc) => (doc, 0),
                        Err(_) => {
                            return Err(StoreError::Corrupt {
                                path: snapshot.to_owned(),
                                offset: 0,
                                reason: e.to_string(),
                            })
                        }
                    },
                };
                (doc, through, bytes.len() as u64)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (T::default(), 0, 0),
            Err(e) => return Err(StoreError::io(snapshot, e)),
        };
        let journal = Journal::open(
            snapshot.with_extension("journal"),
            through,
            snapshot_bytes,
            &mut doc,
        )?;
        Ok(Self {
            snapshot: snapshot.to_owned(),
            doc: RwLock::new(doc),
            journal: Mutex::new(journal),
        })
    }

    /// The current document. Hold the guard briefly: writers wait for it.
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.doc.read().expect("table lock poisoned")
    }

    /// Asks `decide` for the change to make (or an error, and then nothing is written), makes
    /// the change durable, then applies it. Writers are serialized, so what `decide` saw is
    /// still the document the change applies to.
    pub fn update<R, E: From<StoreError>>(
        &self,
        decide: impl FnOnce(&T) -> Result<(T::Change, R), E>,
    ) -> Result<R, E> {
        let mut journal = self.journal.lock().expect("table journal lock poisoned");
        let (change, result) = decide(&self.read())?;
        journal.record(&change)?;
        self.doc.write().expect("table lock poisoned").apply(change);
        if journal.wants_fold() {
            // The change is durable already; a failed fold only leaves a longer journal.
            if let Err(e) = self.fold(&mut journal) {
                tracing::warn!(
                    "could not fold {} into its snapshot: {e}",
                    journal.path().display()
                );
            }
        }
        Ok(result)
    }

    /// Writes the snapshot and empties the journal now: after a migration whose old lines must
    /// not stay on disk (raw session tokens, say).
    pub fn compact(&self) -> Result<(), StoreError> {
        let mut journal = self.journal.lock().expect("table journal lock poisoned");
        self.fold(&mut journal)
    }

    /// The snapshot file as the document stands now (everything journaled folded in), and a
    /// guard that keeps writers out until it drops: a backup freezes every table at once and
    /// copies the log while they are held, so that together they are one moment's state.
    pub fn freeze(&self) -> (Vec<u8>, Frozen<'_>) {
        let journal = self.journal.lock().expect("table journal lock poisoned");
        let bytes = serde_json::to_vec(&SnapshotRef {
            through: journal.last(),
            doc: &*self.read(),
        })
        .expect("table documents always serialize");
        (bytes, Frozen { _writers: journal })
    }

    /// Makes the next append fail half-written; with `and_its_cut`, its cut-back fails too.
    #[cfg(test)]
    fn fail_next_append(&self, and_its_cut: bool) {
        self.journal
            .lock()
            .expect("table journal lock poisoned")
            .fail_next_append(and_its_cut);
    }

    /// Writes the document as the new snapshot and empties the journal.
    fn fold(&self, journal: &mut Journal) -> Result<(), StoreError> {
        let bytes = {
            let mut doc = self.doc.write().expect("table lock poisoned");
            doc.prune();
            serde_json::to_vec(&SnapshotRef {
                through: journal.last(),
                doc: &*doc,
            })
            .expect("table documents always serialize")
        };
        atomic::replace(&self.snapshot, &bytes)?;
        journal.empty(bytes.len() as u64)
    }
}
