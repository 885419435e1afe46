//! In-memory stores for unit tests: the same promises as the file store (`store::contract`
//! checks both), without a data directory. Nothing survives the value being dropped.
//!
//! The account and room stores keep the very documents the file store journals, changed by the
//! same rules (`store::accounts::document`, `store::rooms::document`), in a [`MemoryTable`]
//! instead of a journaled `Table`: what differs between the two backends is only where a change
//! is kept, so no rule is written twice.

pub mod accounts;
pub mod messages;
pub mod rooms;

pub use accounts::MemoryAccounts;
pub use messages::MemoryMessageStore;
pub use rooms::MemoryRooms;

use crate::store::Document;
use std::sync::{Mutex, MutexGuard};

/// A document in a mutex, read and changed like a `store::Table` but written nowhere: `update`
/// asks for the change, then applies it, under one lock.
#[derive(Default)]
pub struct MemoryTable<T>(Mutex<T>);

impl<T: Document> MemoryTable<T> {
    /// The current document.
    pub fn read(&self) -> MutexGuard<'_, T> {
        self.0.lock().expect("memory store lock poisoned")
    }

    /// Asks `decide` for the change to make (or an error, and then nothing changes) and applies
    /// it, as `Table::update` does without the journal.
    pub fn update<R, E>(
        &self,
        decide: impl FnOnce(&T) -> Result<(T::Change, R), E>,
    ) -> Result<R, E> {
        let mut doc = self.read();
        let (change, result) = decide(&doc)?;
        doc.apply(change);
        Ok(result)
    }
}
