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

use super::{atomic, private_file, StoreError};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock, RwLockReadGuard};

/// The journal is folded into the snapshot once it is larger than this and than the snapshot.
const MIN_JOURNAL_BYTES: u64 = 64 * 1024;

/// A document that changes by typed, serializable changes.
pub trait Document: Default + Serialize + DeserializeOwned {
    type Change: Serialize + DeserializeOwned;

    /// Applies a change that was valid when it was made (and is therefore valid on replay).
    fn apply(&mut self, change: Self::Change);

    /// Drops what no longer matters (say, expired sessions) before a snapshot is written.
    fn prune(&mut self) {}
}

pub struct Table<T: Document> {
    snapshot: PathBuf,
    doc: RwLock<T>,
    /// Serializes writers; holds the open journal.
    journal: Mutex<Journal>,
}

struct Journal {
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
        let path = snapshot.with_extension("journal");
        let (bytes, last) = replay(&path, through, &mut doc)?;
        let file = private_file()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        Ok(Self {
            snapshot: snapshot.to_owned(),
            doc: RwLock::new(doc),
            journal: Mutex::new(Journal {
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
            }),
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
        let n = journal.last + 1;
        let mut line = serde_json::to_vec(&LineRef { n, change: &change })
            .expect("table changes always serialize");
        line.push(b'\n');
        journal.append(&line)?;
        journal.last = n;
        self.doc.write().expect("table lock poisoned").apply(change);
        if journal.bytes > MIN_JOURNAL_BYTES.max(journal.snapshot_bytes) {
            // The change is durable already; a failed fold only leaves a longer journal.
            if let Err(e) = self.fold(&mut journal) {
                tracing::warn!(
                    "could not fold {} into its snapshot: {e}",
                    journal.path.display()
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

    #[cfg(test)]
    fn fail_next_append(&self) {
        self.journal
            .lock()
            .expect("table journal lock poisoned")
            .fail_next = true;
    }

    /// Makes the next append fail half-written and its cut-back fail too.
    #[cfg(test)]
    fn fail_next_append_and_its_cut(&self) {
        let mut journal = self.journal.lock().expect("table journal lock poisoned");
        journal.fail_next = true;
        journal.fail_next_cut = true;
    }

    /// Writes the document as the new snapshot and empties the journal.
    fn fold(&self, journal: &mut Journal) -> Result<(), StoreError> {
        let bytes = {
            let mut doc = self.doc.write().expect("table lock poisoned");
            doc.prune();
            serde_json::to_vec(&SnapshotRef {
                through: journal.last,
                doc: &*doc,
            })
            .expect("table documents always serialize")
        };
        atomic::replace(&self.snapshot, &bytes)?;
        journal
            .file
            .set_len(0)
            .and_then(|()| journal.file.sync_data())
            .map_err(|e| StoreError::io(&journal.path, e))?;
        journal.bytes = 0;
        journal.snapshot_bytes = bytes.len() as u64;
        Ok(())
    }
}

impl Journal {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A map of counters; a change sets one.
    #[derive(Default, Serialize, Deserialize)]
    struct Doc(BTreeMap<String, u32>);

    impl Document for Doc {
        type Change = (String, u32);
        fn apply(&mut self, (key, value): Self::Change) {
            self.0.insert(key, value);
        }
    }

    fn set(table: &Table<Doc>, key: &str, value: u32) {
        table
            .update(|_| Ok::<_, StoreError>(((key.into(), value), ())))
            .unwrap();
    }

    fn get(table: &Table<Doc>, key: &str) -> Option<u32> {
        table.read().0.get(key).copied()
    }

    #[test]
    fn changes_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        let table = Table::<Doc>::open(&path).unwrap();
        set(&table, "a", 1);
        set(&table, "a", 2);
        drop(table);
        let table = Table::<Doc>::open(&path).unwrap();
        assert_eq!(get(&table, "a"), Some(2));
    }

    #[test]
    fn a_refused_change_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        let table = Table::<Doc>::open(&path).unwrap();
        let result: Result<(), StoreError> =
            table.update(|_| Err(StoreError::Poisoned("no".into())));
        assert!(result.is_err());
        assert!(table.read().0.is_empty());
        assert_eq!(
            std::fs::metadata(path.with_extension("journal"))
                .unwrap()
                .len(),
            0
        );
    }

    #[test]
    fn a_failed_append_changes_nothing_and_leaves_no_half_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        let table = Table::<Doc>::open(&path).unwrap();
        set(&table, "a", 1);
        let journal = std::fs::read(path.with_extension("journal")).unwrap();
        table.fail_next_append();
        let result = table.update(|_| Ok::<_, StoreError>((("a".into(), 2), ())));
        assert!(matches!(result, Err(StoreError::Io { .. })));
        assert_eq!(get(&table, "a"), Some(1));
        assert_eq!(
            std::fs::read(path.with_extension("journal")).unwrap(),
            journal
        );
        set(&table, "b", 3);
        drop(table);
        let table = Table::<Doc>::open(&path).unwrap();
        assert_eq!((get(&table, "a"), get(&table, "b")), (Some(1), Some(3)));
    }

    #[test]
    fn a_failed_append_whose_cut_back_fails_poisons_the_table_until_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        let table = Table::<Doc>::open(&path).unwrap();
        set(&table, "a", 1);
        table.fail_next_append_and_its_cut();
        let result = table.update(|_| Ok::<_, StoreError>((("a".into(), 2), ())));
        assert!(matches!(result, Err(StoreError::Io { .. })));
        let later = table.update(|_| Ok::<_, StoreError>((("b".into(), 3), ())));
        assert!(matches!(later, Err(StoreError::Poisoned(_))), "{later:?}");
        assert_eq!((get(&table, "a"), get(&table, "b")), (Some(1), None));
        drop(table);
        let table = Table::<Doc>::open(&path).unwrap();
        assert_eq!((get(&table, "a"), get(&table, "b")), (Some(1), None));
        set(&table, "b", 3);
        drop(table);
        let table = Table::<Doc>::open(&path).unwrap();
        assert_eq!((get(&table, "a"), get(&table, "b")), (Some(1), Some(3)));
    }

    #[test]
    fn the_journal_is_folded_into_the_snapshot_and_stays_small() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        let table = Table::<Doc>::open(&path).unwrap();
        for i in 0..5_000 {
            set(&table, &format!("key{}", i % 100), i);
        }
        let journal = std::fs::metadata(path.with_extension("journal"))
            .unwrap()
            .len();
        assert!(path.exists(), "a snapshot was written");
        assert!(
            journal <= MIN_JOURNAL_BYTES + 100,
            "journal is {journal} bytes"
        );
        drop(table);
        let table = Table::<Doc>::open(&path).unwrap();
        assert_eq!(table.read().0.len(), 100);
        assert_eq!(get(&table, "key99"), Some(4_999));
    }

    #[test]
    fn lines_already_in_the_snapshot_are_not_applied_again() {
        // A crash after the new snapshot was written and before the journal was emptied.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        std::fs::write(&path, r#"{"through":2,"doc":{"a":20}}"#).unwrap();
        std::fs::write(
            path.with_extension("journal"),
            "{\"n\":1,\"change\":[\"a\",1]}\n{\"n\":2,\"change\":[\"b\",2]}\n{\"n\":3,\"change\":[\"c\",3]}\n",
        )
        .unwrap();
        let table = Table::<Doc>::open(&path).unwrap();
        assert_eq!(
            (get(&table, "a"), get(&table, "b"), get(&table, "c")),
            (Some(20), None, Some(3))
        );
        set(&table, "d", 4);
        drop(table);
        let journal = std::fs::read_to_string(path.with_extension("journal")).unwrap();
        assert!(
            journal.ends_with("{\"n\":4,\"change\":[\"d\",4]}\n"),
            "{journal}"
        );
    }

    #[test]
    fn a_torn_last_line_is_cut_and_a_bad_middle_line_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        let journal = path.with_extension("journal");
        let good = "{\"n\":1,\"change\":[\"a\",1]}\n";
        std::fs::write(&journal, format!("{good}{{\"n\":2,\"cha")).unwrap();
        let table = Table::<Doc>::open(&path).unwrap();
        assert_eq!(get(&table, "a"), Some(1));
        assert_eq!(std::fs::read_to_string(&journal).unwrap(), good);
        set(&table, "b", 2);
        drop(table);
        assert_eq!(get(&Table::<Doc>::open(&path).unwrap(), "b"), Some(2));

        std::fs::write(&journal, format!("{good}garbage\n{good}")).unwrap();
        assert!(matches!(
            Table::<Doc>::open(&path),
            Err(StoreError::Corrupt { offset, .. }) if offset == good.len() as u64
        ));
    }

    #[test]
    fn a_snapshot_from_before_the_journal_still_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        std::fs::write(&path, r#"{"a":7}"#).unwrap();
        assert_eq!(get(&Table::<Doc>::open(&path).unwrap(), "a"), Some(7));
    }
}
