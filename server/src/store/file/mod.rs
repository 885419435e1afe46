//! The embedded file store, Minitalk's default backend: everything lives in the data directory
//! (see [`crate::store`]), written by this process alone.
//!
//! - [`log`]: the append-only, segmented message log, a folder because it has phases
//!   (recovery, writer, reader);
//! - [`FileMessageStore`]: the [`MessageStore`](super::MessageStore) over that log. It owns the
//!   log's writer thread and the dedupe memory, so no caller blocks on file I/O or keeps its
//!   own idea of what was already stored.
//! - [`accounts`] and [`rooms`]: small journaled documents kept whole in memory
//!   (`store::table`), answered by the stores written once for every backend
//!   (`store::accounts::kept`, `store::rooms::kept`). This module is their [`Keeper`]: reads
//!   are a map lookup under a read lock and run where they are called; writes append and
//!   `fdatasync` a journal line, so they run on tokio's blocking pool through [`blocking`],
//!   never on an async worker thread.
//! - [`backup`]: a consistent copy of all of them while the server runs.

pub mod accounts;
pub mod backup;
pub mod log;
mod messages;
pub mod rooms;

pub use log::LogConfig;
pub use messages::{FileMessageStore, FileMessageStoreConfig};

use crate::store::DataDir;
use accounts::FileAccounts;
use backup::Backup;
use rooms::FileRooms;

/// The file store of one data directory: its three stores, and a backup of them together.
pub struct FileStores {
    pub messages: FileMessageStore,
    pub accounts: FileAccounts,
    pub rooms: FileRooms,
    pub backup: Backup,
}

impl FileStores {
    /// Opens the log (`messages/`, recovering it) and the tables in `data`. Blocking.
    pub fn open(
        data: &DataDir,
        config: FileMessageStoreConfig,
        now_ms: i64,
    ) -> Result<Self, StoreError> {
        let messages = FileMessageStore::open(&data.file("messages"), config, now_ms)?;
        let accounts = FileAccounts::open(data)?;
        let rooms = FileRooms::open(data)?;
        let backup = Backup::new(
            messages.log(),
            vec![
                ("users.json", accounts.users.clone()),
                ("sessions.json", accounts.sessions.clone()),
                ("rooms.json", rooms.0.clone()),
            ],
        );
        Ok(Self {
            messages,
            accounts,
            rooms,
            backup,
        })
    }
}

use crate::store::keeper::Keeper;
use crate::store::{Document, StoreError, Table};
use futures::future::{BoxFuture, FutureExt};
use std::future::Future;
use std::sync::{Arc, RwLockReadGuard};

/// The file store keeps a document in a journaled [`Table`]: a write is durable (journaled and
/// `fdatasync`'ed) before it is applied, and runs on the blocking pool.
impl<T> Keeper<T> for Arc<Table<T>>
where
    T: Document + Send + Sync + 'static,
    T::Change: Send,
{
    type Read<'a> = RwLockReadGuard<'a, T>;

    fn read(&self) -> RwLockReadGuard<'_, T> {
        Table::read(self)
    }

    fn update<R, E>(
        &self,
        decide: impl FnOnce(&T) -> Result<(T::Change, R), E> + Send + 'static,
    ) -> BoxFuture<'static, Result<R, E>>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let table = self.clone();
        blocking(move || Table::update(&table, decide)).boxed()
    }

    fn compact(&self) -> BoxFuture<'static, Result<(), StoreError>> {
        let table = self.clone();
        blocking(move || Table::compact(&table)).boxed()
    }
}

/// Runs blocking store work (a journal write and its fdatasync) on the blocking pool.
///
/// A panic in `work` comes back as [`StoreError::Poisoned`]: the table's own locks are then
/// poisoned too and refuse later writes, so the error names the cause instead of hiding it.
fn blocking<T, E>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> impl Future<Output = Result<T, E>> + Send + 'static
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    let task = tokio::task::spawn_blocking(work);
    async move {
        task.await.unwrap_or_else(|join| {
            Err(StoreError::Poisoned(format!("a store write did not finish: {join}")).into())
        })
    }
}
