//! [`Keeper`]: where a store document kept whole in memory lives, and how a change to it is
//! kept. The one seam between the account and room stores (`store::accounts::kept`,
//! `store::rooms::kept`, written once) and their backends: the file store's journaled
//! [`Table`](super::Table), whose writes `fdatasync` on the blocking pool, or the unit tests'
//! `MemoryTable`, which keeps nothing.
//!
//! Why a seam and not two stores: the rules are the documents' (`store::*::document`), and the
//! store methods around them (which reads skip a write, how an answer is shaped) are the same
//! whatever keeps the document, so each is written once.

use super::{Document, StoreError};
use futures::future::BoxFuture;
use std::ops::Deref;

pub trait Keeper<T: Document>: Send + Sync + 'static {
    /// A read guard: hold it briefly, writers wait for it.
    type Read<'a>: Deref<Target = T>
    where
        Self: 'a;

    /// The current document.
    fn read(&self) -> Self::Read<'_>;

    /// Asks `decide` for the change to make (or an error, and then nothing changes), keeps the
    /// change as the backend defines it, then applies it; writers are serialized, so what
    /// `decide` saw is still the document the change applies to.
    fn update<R, E>(
        &self,
        decide: impl FnOnce(&T) -> Result<(T::Change, R), E> + Send + 'static,
    ) -> BoxFuture<'static, Result<R, E>>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static;

    /// Keeps the document as it is now and nothing of its past changes (the file store writes
    /// its snapshot and empties its journal): after a change whose old records must not stay
    /// on disk.
    fn compact(&self) -> BoxFuture<'static, Result<(), StoreError>>;
}
