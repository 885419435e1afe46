//! [`KeptRooms`]: the [`RoomStore`] over the rooms document, wherever a [`Keeper`] keeps it:
//! the file store's journaled table (`store::file::rooms`) or memory, for unit tests
//! (`store::memory`). Written once, so both stores answer alike.
//!
//! Reads run where they are called (a read guard, a walk of one user's rooms or one directory
//! page). Writes go through [`Keeper::update`], which decides under the writer's lock, so the
//! quota and membership checks are decided in the same write that acts on them. Standings that
//! are already the case, a direct conversation opened before, or a read mark that would not
//! move (or a notification level already set) are answered from the document without a write.

use super::document::RoomsDoc;
use super::{DirectoryRows, MemberRow, RoomAccess, RoomError, RoomStore, RoomView, StandingUpdate};
use crate::store::keeper::Keeper;
use crate::store::{RoomSettings, StoreError};
use app::model::{NotifyLevel, RoomId, RoomName, UserId, UserInfo, Visibility};
use futures::future::{ready, BoxFuture, FutureExt};

/// Rooms and memberships, kept by `K`.
#[derive(Clone, Default)]
pub struct KeptRooms<K>(pub(crate) K);

impl<K: Keeper<RoomsDoc>> RoomStore for KeptRooms<K> {
    fn create(
        &self,
        by: UserInfo,
        name: RoomName,
        visibility: Visibility,
        created: i64,
        quota: usize,
    ) -> BoxFuture<'_, Result<RoomId, RoomError>> {
        self.0
            .update(move |doc| doc.create(by, name, visibility, created, quota))
    }

    fn open_direct(
        &self,
        by: UserInfo,
        with: Vec<UserInfo>,
        created: i64,
        quota: usize,
    ) -> BoxFuture<'_, Result<(RoomId, bool), RoomError>> {
        if let Some(room) = self.0.read().find_direct(&by, &with) {
            return ready(Ok((room, false))).boxed();
        }
        self.0
            .update(move |doc| doc.open_direct(by, with, created, quota))
    }

    fn set_standings(&self, updates: Vec<StandingUpdate>) -> BoxFuture<'_, Result<(), RoomError>> {
        if self.0.read().already(&updates) {
            return ready(Ok(())).boxed();
        }
        self.0.update(move |doc| doc.set_standings(updates))
    }

    fn set_settings(
        &self,
        changes: Vec<(RoomId, RoomSettings)>,
    ) -> BoxFuture<'_, Result<(), RoomError>> {
        if self.0.read().settings_already(&changes) {
            return ready(Ok(())).boxed();
        }
        self.0.update(move |doc| doc.set_settings(changes))
    }

    fn delete_rooms(&self, rooms: Vec<RoomId>) -> BoxFuture<'_, Result<(), RoomError>> {
        if rooms.is_empty() {
            return ready(Ok(())).boxed();
        }
        let present = self.0.read().delete_rooms(rooms.clone()).is_some();
        async move {
            if present {
                self.0
                    .update(move |doc| {
                        // Decided again under the writers' lock (an empty change if another
                        // write won).
                        let change = doc
                            .delete_rooms(rooms)
                            .unwrap_or(super::document::RoomChange::Delete(Vec::new()));
                        Ok::<_, RoomError>((change, ()))
                    })
                    .await?;
            }
            // The journal still holds the rooms' creation, names and members: fold it into a
            // snapshot without them now, rather than whenever it next grows large. Also when
            // the rooms were gone already: a start repairing a fold that failed comes here.
            Ok(self.0.compact().await?)
        }
        .boxed()
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

    fn set_notify(
        &self,
        room: RoomId,
        user: UserId,
        level: NotifyLevel,
    ) -> BoxFuture<'_, Result<(), RoomError>> {
        match self.0.read().membership(room, user) {
            Ok(member) if member.notify == Some(level) => return ready(Ok(())).boxed(),
            Ok(_) => {}
            Err(e) => return ready(Err(e)).boxed(),
        }
        self.0.update(move |doc| doc.set_notify(room, user, level))
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

    fn members(&self, room: RoomId) -> BoxFuture<'_, Result<Vec<MemberRow>, RoomError>> {
        ready(self.0.read().members(room)).boxed()
    }

    fn access(&self) -> BoxFuture<'_, Result<Vec<(RoomId, RoomAccess)>, StoreError>> {
        ready(Ok(self.0.read().access())).boxed()
    }

    fn access_of(
        &self,
        rooms: Vec<RoomId>,
    ) -> BoxFuture<'_, Result<Vec<(RoomId, RoomAccess)>, StoreError>> {
        ready(Ok(self.0.read().access_of(&rooms))).boxed()
    }
}
