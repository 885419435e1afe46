//! The embedded file store, Minitalk's default backend: everything in the data directory.
//!
//! Accounts ([`accounts`]) and rooms ([`rooms`]) are small journaled documents kept whole in
//! memory (`store::table`): reads are a map lookup under a read lock and run where they are
//! called; writes append and `fdatasync` a journal line, so they run on tokio's blocking pool
//! through [`blocking`], never on an async worker thread.

pub mod accounts;
pub mod rooms;

use crate::store::StoreError;
use std::future::Future;

/// Runs blocking store work (a journal write and its fdatasync) on the blocking pool.
///
/// A panic in `work` comes back as [`StoreError::Poisoned`]: the table's own locks are then
/// poisoned too and refuse later writes, so the error names the cause instead of hiding it.
pub(crate) fn blocking<T, E>(
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
