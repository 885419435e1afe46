//! [`RoomStore`] over one journaled document in the data directory, `rooms.json` (a snapshot
//! plus `rooms.journal`; see `store::table`).
//!
//! The document and its rules are `store::rooms::document` (shared with the in-memory store);
//! this module decides where they run. The whole room list lives in memory, so reads run inline
//! (a read lock and a walk of one user's rooms or one directory page); writes journal and
//! `fdatasync` on the blocking pool. The quota and membership checks run inside the journal's
//! writer lock ([`Table::update`]), so each is decided in the same write that acts on it. A join
//! by a member, or a read mark that would not move, is answered from memory without a write.

use super::blocking;
use crate::store::rooms::document::RoomsDoc;
use crate::store::rooms::{DirectoryRows, Members, RoomError, RoomStore, RoomView};
use crate::store::{DataDir, StoreError, Table};
use app::model::{RoomId, RoomName, UserId, UserInfo, Username};
use futures::future::{ready, BoxFuture, FutureExt};
use std::sync::Arc;

/// Rooms and memberships in the data directory.
#[derive(Clone)]
pub struct FileRooms {
    table: Arc<Table<RoomsDoc>>,
}

impl FileRooms {
    /// Opens (or creates) `rooms.json`. Blocking: call at start, or from the blocking pool.
    pub fn open(data: &DataDir) -> Result<Self, StoreError> {
        Ok(Self {
            table: Arc::new(Table::open(&data.file("rooms.json"))?),
        })
    }

    /// Folds the journal into the snapshot now (tests of recovery from a snapshot).
    #[cfg(test)]
    pub(crate) fn compact(&self) -> Result<(), StoreError> {
        self.table.compact()
    }
}

impl RoomStore for FileRooms {
    fn create(
        &self,
        by: UserInfo,
        name: RoomName,
        created: i64,
        quota: usize,
    ) -> BoxFuture<'_, Result<RoomId, RoomError>> {
        let table = self.table.clone();
        blocking(move || table.update(|doc| doc.create(by, name, created, quota))).boxed()
    }

    fn join(&self, room: RoomId, user: UserInfo) -> BoxFuture<'_, Result<bool, RoomError>> {
        match self.table.read().membership(room, user.id) {
            Ok(_) => return ready(Ok(false)).boxed(),
            Err(RoomError::NotMember) => {}
            Err(e) => return ready(Err(e)).boxed(),
        }
        let table = self.table.clone();
        blocking(move || table.update(|doc| doc.join(room, user))).boxed()
    }

    fn leave(&self, room: RoomId, user: UserId) -> BoxFuture<'_, Result<(), RoomError>> {
        let table = self.table.clone();
        blocking(move || table.update(|doc| doc.leave(room, user))).boxed()
    }

    fn mark_read(
        &self,
        room: RoomId,
        user: UserId,
        seq: u64,
    ) -> BoxFuture<'_, Result<(), RoomError>> {
        match self.table.read().membership(room, user) {
            Ok(member) if seq <= member.last_read => return ready(Ok(())).boxed(),
            Ok(_) => {}
            Err(e) => return ready(Err(e)).boxed(),
        }
        let table = self.table.clone();
        blocking(move || table.update(|doc| doc.mark_read(room, user, seq))).boxed()
    }

    fn room(&self, room: RoomId, viewer: UserId) -> BoxFuture<'_, Result<RoomView, RoomError>> {
        ready(self.table.read().room(room, viewer)).boxed()
    }

    fn rooms_of(&self, user: UserId) -> BoxFuture<'_, Result<Vec<RoomView>, StoreError>> {
        ready(Ok(self.table.read().rooms_of(user))).boxed()
    }

    fn directory(
        &self,
        viewer: UserId,
        query: String,
        before: Option<RoomId>,
        limit: usize,
    ) -> BoxFuture<'_, Result<DirectoryRows, StoreError>> {
        let rows = self.table.read().directory(viewer, &query, before, limit);
        ready(Ok(rows)).boxed()
    }

    fn members(&self, room: RoomId) -> BoxFuture<'_, Result<Vec<(UserId, Username)>, RoomError>> {
        ready(self.table.read().members(room)).boxed()
    }

    fn memberships(&self) -> BoxFuture<'_, Result<Vec<Members>, StoreError>> {
        ready(Ok(self.table.read().memberships())).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_rooms_file_from_before_the_journal_opens() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        std::fs::write(
            data.file("rooms.json"),
            r#"{"next_id":1,"rooms":{"1":{"id":1,"name":"general","created_by":1,"created":0,
                "members":{"1":{"username":"ana","last_read":4}}}}}"#,
        )
        .unwrap();
        let rooms = FileRooms::open(&data).unwrap();
        let view = rooms.room(RoomId(1), UserId(1)).await.unwrap();
        assert_eq!(view.viewer_last_read, Some(4));
        let bob = UserInfo {
            id: UserId(2),
            username: Username::parse("bob").unwrap(),
        };
        let next = rooms.create(bob, RoomName::parse("next").unwrap(), 0, 10);
        assert_eq!(next.await.unwrap(), RoomId(2));
    }
}
