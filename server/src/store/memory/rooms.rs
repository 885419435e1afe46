//! [`RoomStore`] over the rooms document in memory: for unit tests of the `rooms` service. The
//! rules are the file store's (`store::rooms::document`); only the journal is missing.

use super::MemoryTable;
use crate::store::rooms::document::RoomsDoc;
use crate::store::rooms::{DirectoryRows, Members, RoomError, RoomStore, RoomView};
use crate::store::StoreError;
use app::model::{RoomId, RoomName, UserId, UserInfo, Username};
use futures::future::{ready, BoxFuture, FutureExt};

#[derive(Default)]
pub struct MemoryRooms(MemoryTable<RoomsDoc>);

impl RoomStore for MemoryRooms {
    fn create(
        &self,
        by: UserInfo,
        name: RoomName,
        created: i64,
        quota: usize,
    ) -> BoxFuture<'_, Result<RoomId, RoomError>> {
        ready(self.0.update(|doc| doc.create(by, name, created, quota))).boxed()
    }

    fn join(&self, room: RoomId, user: UserInfo) -> BoxFuture<'_, Result<bool, RoomError>> {
        ready(self.0.update(|doc| doc.join(room, user))).boxed()
    }

    fn leave(&self, room: RoomId, user: UserId) -> BoxFuture<'_, Result<(), RoomError>> {
        ready(self.0.update(|doc| doc.leave(room, user))).boxed()
    }

    fn mark_read(
        &self,
        room: RoomId,
        user: UserId,
        seq: u64,
    ) -> BoxFuture<'_, Result<(), RoomError>> {
        ready(self.0.update(|doc| doc.mark_read(room, user, seq))).boxed()
    }

    fn room(&self, room: RoomId, viewer: UserId) -> BoxFuture<'_, Result<RoomView, RoomError>> {
        ready(self.0.read().room(room, viewer)).boxed()
    }

    fn rooms_of(&self, user: UserId) -> BoxFuture<'_, Result<Vec<RoomView>, StoreError>> {
        ready(Ok(self.0.read().rooms_of(user))).boxed()
    }

    fn directory(
        &self,
        viewer: UserId,
        query: String,
        before: Option<RoomId>,
        limit: usize,
    ) -> BoxFuture<'_, Result<DirectoryRows, StoreError>> {
        ready(Ok(self.0.read().directory(viewer, &query, before, limit))).boxed()
    }

    fn members(&self, room: RoomId) -> BoxFuture<'_, Result<Vec<(UserId, Username)>, RoomError>> {
        ready(self.0.read().members(room)).boxed()
    }

    fn memberships(&self) -> BoxFuture<'_, Result<Vec<Members>, StoreError>> {
        ready(Ok(self.0.read().memberships())).boxed()
    }
}
