//! [`KeptRooms`]: the [`RoomStore`] over the rooms document, wherever a [`Keeper`] keeps it:
//! the file store's journaled table (`store::file::rooms`) or memory, for unit tests
//! (`store::memory`). Written once, so both stores answer alike.
//!
//! Reads run where they are called (a read guard, a walk of one user's rooms or one directory
//! page). Writes go through [`Keeper::update`], which decides under the writer's lock, so the
//! quota and membership checks are decided in the same write that acts on them. A join by a
//! member, or a read mark that would not move, is answered from the document without a write.

use super::document::RoomsDoc;
use super::{DirectoryRows, Members, RoomError, RoomStore, RoomView};
use crate::store::keeper::Keeper;
use crate::store::StoreError;
use app::model::{RoomId, RoomName, UserId, UserInfo, Username};
use futures::future::{ready, BoxFuture, FutureExt};

/// Rooms and memberships, kept by `K`.
#[derive(Clone, Default)]
pub struct KeptRooms<K>(pub(crate) K);

impl<K: Keeper<RoomsDoc>> RoomStore for KeptRooms<K> {
    fn create(
        &self,
        by: UserInfo,
        name: RoomName,
        created: i64,
        quota: usize,
    ) -> BoxFuture<'_, Result<RoomId, RoomError>> {
        self.0
            .update(move |doc| doc.create(by, name, created, quota))
    }

    fn join(&self, room: RoomId, user: UserInfo) -> BoxFuture<'_, Result<bool, RoomError>> {
        match self.0.read().membership(room, user.id) {
            Ok(_) => return ready(Ok(false)).boxed(),
            Err(RoomError::NotMember) => {}
            Err(e) => return ready(Err(e)).boxed(),
        }
        self.0.update(move |doc| doc.join(room, user))
    }

    fn leave(&self, room: RoomId, user: UserId) -> BoxFuture<'_, Result<(), RoomError>> {
        self.0.update(move |doc| doc.leave(room, user))
    }

    fn mark_read(
        &self,
        room: RoomId,
        user: UserId,
        seq: u64,
    ) -> BoxFuture<'_, Result<(), RoomError>> {
        match self.0.read().membership(room, user) {
            Ok(member) if seq <= member.last_read => return ready(Ok(())).boxed(),
            Ok(_) => {}
            Err(e) => return ready(Err(e)).boxed(),
        }
        self.0.update(move |doc| doc.mark_read(room, user, seq))
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
        let rows = self.0.read().directory(viewer, &query, before, limit);
        ready(Ok(rows)).boxed()
    }

    fn members(&self, room: RoomId) -> BoxFuture<'_, Result<Vec<(UserId, Username)>, RoomError>> {
        ready(self.0.read().members(room)).boxed()
    }

    fn memberships(&self) -> BoxFuture<'_, Result<Vec<Members>, StoreError>> {
        ready(Ok(self.0.read().memberships())).boxed()
    }
}
