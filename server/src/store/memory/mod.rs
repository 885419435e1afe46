//! In-memory stores for unit tests: the same promises as the file store (`store::contract`
//! checks both), without a data directory. Nothing survives the value being dropped.
//!
//! The account and room stores are the file store's own (`store::accounts::kept`,
//! `store::rooms::kept`, over the documents and rules of `store::*::document`) with each
//! document in a [`MemoryTable`] instead of a journaled `Table`: what differs between the two
//! backends is only where a change is kept, so nothing is written twice.

pub mod messages;

pub use messages::MemoryMessageStore;

use crate::store::accounts::document::{SessionsDoc, UsersDoc};
use crate::store::accounts::kept::KeptAccounts;
use crate::store::keeper::Keeper;
use crate::store::rooms::document::RoomsDoc;
use crate::store::rooms::kept::KeptRooms;
use crate::store::{Document, StoreError};
use futures::future::{ready, BoxFuture, FutureExt};
use std::sync::{Mutex, MutexGuard};

/// [`AccountStore`](crate::store::accounts::AccountStore) in memory: for unit tests of the
/// `accounts` service.
pub type MemoryAccounts = KeptAccounts<MemoryTable<UsersDoc>, MemoryTable<SessionsDoc>>;

/// [`RoomStore`](crate::store::rooms::RoomStore) in memory: for unit tests of the `rooms`
/// service.
pub type MemoryRooms = KeptRooms<MemoryTable<RoomsDoc>>;

/// A document in a mutex, read and changed like a `store::Table` but written nowhere: `update`
/// asks for the change, then applies it, under one lock.
#[derive(Default)]
pub struct MemoryTable<T>(Mutex<T>);

impl<T: Document + Send + 'static> Keeper<T> for MemoryTable<T> {
    type Read<'a> = MutexGuard<'a, T>;

    fn read(&self) -> MutexGuard<'_, T> {
        self.0.lock().expect("memory store lock poisoned")
    }

    fn update<R, E>(
        &self,
        decide: impl FnOnce(&T) -> Result<(T::Change, R), E> + Send + 'static,
    ) -> BoxFuture<'static, Result<R, E>>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let mut doc = self.read();
        let kept = decide(&doc).map(|(change, result)| {
            doc.apply(change);
            result
        });
        ready(kept).boxed()
    }

    /// Memory keeps no past to forget.
    fn compact(&self) -> BoxFuture<'static, Result<(), StoreError>> {
        ready(Ok(())).boxed()
    }
}
