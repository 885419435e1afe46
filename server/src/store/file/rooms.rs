//! The file store's [`RoomStore`]: the rooms document (`store::rooms::document`) journaled in
//! the data directory as `rooms.json` (a snapshot plus `rooms.journal`; see `store::table`),
//! answered by [`KeptRooms`] (written once for every backend).
//!
//! The whole room list lives in memory, so reads run inline; writes journal and `fdatasync` on
//! the blocking pool (see the `Keeper` impl in `store::file`).

use crate::store::rooms::document::RoomsDoc;
use crate::store::rooms::kept::KeptRooms;
use crate::store::{DataDir, StoreError, Table};
use std::sync::Arc;

/// Rooms and memberships in the data directory.
pub type FileRooms = KeptRooms<Arc<Table<RoomsDoc>>>;

impl FileRooms {
    /// Opens (or creates) `rooms.json`. Blocking: call at start, or from the blocking pool.
    pub fn open(data: &DataDir) -> Result<Self, StoreError> {
        Ok(KeptRooms(Arc::new(Table::open(&data.file("rooms.json"))?)))
    }

    /// Folds the journal into the snapshot now (tests of recovery from a snapshot).
    #[cfg(test)]
    pub(crate) fn compact(&self) -> Result<(), StoreError> {
        self.0.compact()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::rooms::RoomStore;
    use app::model::{RoomId, RoomName, UserId, UserInfo, Username, Visibility};

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
        // And a journal from before roles, with its joins and leaves.
        std::fs::write(
            data.file("rooms.journal"),
            concat!(
                r#"{"n":1,"change":{"Join":{"room":1,"user":2,"membership":{"username":"bob","last_read":0}}}}"#,
                "\n",
                r#"{"n":2,"change":{"Join":{"room":1,"user":3,"membership":{"username":"cyd","last_read":0}}}}"#,
                "\n",
                r#"{"n":3,"change":{"Leave":{"room":1,"user":3}}}"#,
                "\n",
            ),
        )
        .unwrap();
        let rooms = FileRooms::open(&data).unwrap();
        let members = rooms.members(RoomId(1)).await.unwrap();
        let names: Vec<&str> = members.iter().map(|(_, name, _)| name.as_str()).collect();
        assert_eq!(names, ["ana", "bob"]);
        assert_eq!(rooms.rooms_of(UserId(2)).await.unwrap().len(), 1);
        let view = rooms.room(RoomId(1), UserId(1)).await.unwrap();
        assert_eq!(view.viewer_last_read, Some(4));
        // From before roles: the creator owns the room.
        assert_eq!(
            view.viewer,
            crate::store::rooms::Standing::Member(app::model::Role::Owner)
        );
        let bob = UserInfo {
            id: UserId(2),
            username: Username::parse("bob").unwrap(),
        };
        let next = rooms.create(
            bob,
            RoomName::parse("next").unwrap(),
            Visibility::Public,
            0,
            10,
        );
        assert_eq!(next.await.unwrap(), RoomId(2));
    }
}
