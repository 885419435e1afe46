//! A small JSON document kept whole in memory and written through to disk on every change.
//!
//! Readers get an `Arc` snapshot under a short lock and never wait for the disk. Writers are
//! serialized by a second lock: each change is made on a copy, written atomically, and only then
//! published, so memory never holds a change the disk refused, and no reader sees a change that
//! a crash could take back. Meant for metadata (users, sessions, rooms): every change rewrites
//! the document, which is fine for kilobytes and wrong for messages (those go to `log`).

use super::{atomic, StoreError};
use serde::{de::DeserializeOwned, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub struct Table<T> {
    path: PathBuf,
    current: Mutex<Arc<T>>,
    writer: Mutex<()>,
}

impl<T: Serialize + DeserializeOwned + Clone + Default> Table<T> {
    /// Loads the document at `path`, or starts empty when there is none.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let value = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                path: path.to_owned(),
                offset: 0,
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => T::default(),
            Err(e) => return Err(StoreError::io(path, e)),
        };
        Ok(Self {
            path: path.to_owned(),
            current: Mutex::new(Arc::new(value)),
            writer: Mutex::new(()),
        })
    }

    /// The current document.
    pub fn read(&self) -> Arc<T> {
        self.current.lock().expect("table lock poisoned").clone()
    }

    /// Applies `change` to a copy, makes the copy durable, then publishes it. When `change`
    /// fails nothing is written; when the write fails the old document stays current.
    pub fn update<R, E: From<StoreError>>(
        &self,
        change: impl FnOnce(&mut T) -> Result<R, E>,
    ) -> Result<R, E> {
        let _writer = self.writer.lock().expect("table writer lock poisoned");
        let mut next = T::clone(&self.read());
        let result = change(&mut next)?;
        let bytes = serde_json::to_vec(&next).expect("table documents always serialize");
        atomic::replace(&self.path, &bytes)?;
        *self.current.lock().expect("table lock poisoned") = Arc::new(next);
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    type Doc = BTreeMap<String, u32>;

    #[test]
    fn changes_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        let table = Table::<Doc>::open(&path).unwrap();
        table
            .update(|doc| {
                doc.insert("a".into(), 1);
                Ok::<_, StoreError>(())
            })
            .unwrap();
        drop(table);
        let table = Table::<Doc>::open(&path).unwrap();
        assert_eq!(table.read().get("a"), Some(&1));
    }

    #[test]
    fn a_failed_change_leaves_the_document_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let table = Table::<Doc>::open(&dir.path().join("t.json")).unwrap();
        let result: Result<(), StoreError> = table.update(|doc| {
            doc.insert("a".into(), 1);
            Err(StoreError::Poisoned("no".into()))
        });
        assert!(result.is_err());
        assert!(table.read().is_empty());
    }
}
