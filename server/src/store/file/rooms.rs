//! [`RoomStore`] over one journaled document in the data directory, `rooms.json` (a snapshot
//! plus `rooms.journal`; see `store::table`).
//!
//! The whole room list lives in memory, so reads run inline (a read lock and a walk of one
//! user's rooms or one directory page); writes journal and `fdatasync` on the blocking pool.
//! Room ids come from `next_id`, and the quota and membership checks run inside the journal's
//! writer lock, so each is decided in the same write that acts on it.
//!
//! Beside the rooms, an index derived from them (never stored; rebuilt when the document is
//! read): which rooms each user is in, and how many each user created. "Your rooms", presence
//! announcements and the creation quota then cost the size of one user's rooms, not of every
//! room, so a stranger who creates rooms cannot slow down everyone else's pages. The directory
//! of all rooms is paged and scans at most [`DIRECTORY_SCAN`] rooms a call.

use super::blocking;
use crate::store::rooms::{DirectoryRows, Members, RoomError, RoomStore, RoomView};
use crate::store::{DataDir, Document, StoreError, Table};
use app::model::{RoomId, RoomName, UserId, UserInfo, Username};
use futures::future::{ready, BoxFuture, FutureExt};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Most rooms one directory call looks at; a search that matches little returns a short page
/// and a cursor to go on from, rather than scanning every room.
const DIRECTORY_SCAN: usize = 5_000;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "StoredRooms")]
struct RoomsDoc {
    next_id: u64,
    /// By room id.
    rooms: BTreeMap<u64, RoomRecord>,
    #[serde(skip)]
    index: RoomIndex,
}

/// The stored form of [`RoomsDoc`]: the same fields, without the index.
#[derive(Deserialize)]
struct StoredRooms {
    next_id: u64,
    rooms: BTreeMap<u64, RoomRecord>,
}

impl From<StoredRooms> for RoomsDoc {
    fn from(stored: StoredRooms) -> Self {
        let mut index = RoomIndex::default();
        for record in stored.rooms.values() {
            index.add_room(record);
        }
        Self {
            next_id: stored.next_id,
            rooms: stored.rooms,
            index,
        }
    }
}

/// Derived from the rooms, kept in step by [`RoomsDoc::apply`].
#[derive(Debug, Clone, Default)]
struct RoomIndex {
    /// Room ids by member (user id).
    member_of: HashMap<u64, BTreeSet<u64>>,
    /// Rooms created, by creator (user id).
    created: HashMap<u64, usize>,
}

impl RoomIndex {
    fn add_room(&mut self, record: &RoomRecord) {
        *self.created.entry(record.created_by.0).or_default() += 1;
        for user in record.members.keys() {
            self.member_of.entry(*user).or_default().insert(record.id.0);
        }
    }

    fn join(&mut self, room: RoomId, user: UserId) {
        self.member_of.entry(user.0).or_default().insert(room.0);
    }

    fn leave(&mut self, room: RoomId, user: UserId) {
        if let Some(rooms) = self.member_of.get_mut(&user.0) {
            rooms.remove(&room.0);
            if rooms.is_empty() {
                self.member_of.remove(&user.0);
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RoomRecord {
    id: RoomId,
    name: RoomName,
    created_by: UserId,
    created: i64,
    /// By user id.
    members: BTreeMap<u64, Membership>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Membership {
    username: Username,
    /// The highest seq this member marked read.
    last_read: u64,
}

#[derive(Debug, Serialize, Deserialize)]
enum RoomChange {
    Create(RoomRecord),
    Join {
        room: RoomId,
        user: UserId,
        membership: Membership,
    },
    Leave {
        room: RoomId,
        user: UserId,
    },
    Read {
        room: RoomId,
        user: UserId,
        seq: u64,
    },
}

impl Document for RoomsDoc {
    type Change = RoomChange;

    fn apply(&mut self, change: RoomChange) {
        match change {
            RoomChange::Create(record) => {
                self.next_id = self.next_id.max(record.id.0);
                self.index.add_room(&record);
                self.rooms.insert(record.id.0, record);
            }
            RoomChange::Join {
                room,
                user,
                membership,
            } => {
                if let Some(record) = self.rooms.get_mut(&room.0) {
                    record.members.entry(user.0).or_insert(membership);
                    self.index.join(room, user);
                }
            }
            RoomChange::Leave { room, user } => {
                if let Some(record) = self.rooms.get_mut(&room.0) {
                    record.members.remove(&user.0);
                    self.index.leave(room, user);
                }
            }
            RoomChange::Read { room, user, seq } => {
                let member = self
                    .rooms
                    .get_mut(&room.0)
                    .and_then(|record| record.members.get_mut(&user.0));
                if let Some(member) = member {
                    member.last_read = member.last_read.max(seq);
                }
            }
        }
    }
}

impl RoomsDoc {
    fn get(&self, room: RoomId) -> Result<&RoomRecord, RoomError> {
        self.rooms.get(&room.0).ok_or(RoomError::NoSuchRoom)
    }

    /// `user`'s membership of `room`.
    fn membership(&self, room: RoomId, user: UserId) -> Result<&Membership, RoomError> {
        self.get(room)?
            .members
            .get(&user.0)
            .ok_or(RoomError::NotMember)
    }
}

impl RoomRecord {
    fn view(&self, viewer: UserId) -> RoomView {
        RoomView {
            id: self.id,
            name: self.name.clone(),
            member_count: self.members.len(),
            viewer_last_read: self.members.get(&viewer.0).map(|m| m.last_read),
        }
    }
}

fn membership(user: &UserInfo) -> Membership {
    Membership {
        username: user.username.clone(),
        last_read: 0,
    }
}

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
        blocking(move || {
            table.update(|doc| {
                let made = doc.index.created.get(&by.id.0).copied().unwrap_or(0);
                if made >= quota {
                    return Err(RoomError::QuotaReached { created: made });
                }
                let id = RoomId(doc.next_id + 1);
                let record = RoomRecord {
                    id,
                    name,
                    created_by: by.id,
                    created,
                    members: BTreeMap::from([(by.id.0, membership(&by))]),
                };
                Ok((RoomChange::Create(record), id))
            })
        })
        .boxed()
    }

    fn join(&self, room: RoomId, user: UserInfo) -> BoxFuture<'_, Result<bool, RoomError>> {
        match self.table.read().membership(room, user.id) {
            Ok(_) => return ready(Ok(false)).boxed(),
            Err(RoomError::NotMember) => {}
            Err(e) => return ready(Err(e)).boxed(),
        }
        let table = self.table.clone();
        blocking(move || {
            table.update(|doc| {
                let new = match doc.membership(room, user.id) {
                    Ok(_) => false,
                    Err(RoomError::NotMember) => true,
                    Err(e) => return Err(e),
                };
                let change = RoomChange::Join {
                    room,
                    user: user.id,
                    membership: membership(&user),
                };
                Ok((change, new))
            })
        })
        .boxed()
    }

    fn leave(&self, room: RoomId, user: UserId) -> BoxFuture<'_, Result<(), RoomError>> {
        let table = self.table.clone();
        blocking(move || {
            table.update(|doc| {
                doc.membership(room, user)?;
                Ok((RoomChange::Leave { room, user }, ()))
            })
        })
        .boxed()
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
        blocking(move || {
            table.update(|doc| {
                doc.membership(room, user)?;
                Ok((RoomChange::Read { room, user, seq }, ()))
            })
        })
        .boxed()
    }

    fn room(&self, room: RoomId, viewer: UserId) -> BoxFuture<'_, Result<RoomView, RoomError>> {
        let view = self.table.read().get(room).map(|r| r.view(viewer));
        ready(view).boxed()
    }

    fn rooms_of(&self, user: UserId) -> BoxFuture<'_, Result<Vec<RoomView>, StoreError>> {
        let doc = self.table.read();
        let views = doc
            .index
            .member_of
            .get(&user.0)
            .into_iter()
            .flatten()
            .filter_map(|id| doc.rooms.get(id))
            .map(|r| r.view(user))
            .collect();
        ready(Ok(views)).boxed()
    }

    fn directory(
        &self,
        viewer: UserId,
        query: String,
        before: Option<RoomId>,
        limit: usize,
    ) -> BoxFuture<'_, Result<DirectoryRows, StoreError>> {
        let query = query.trim().to_lowercase();
        let end = before.map_or(u64::MAX, |b| b.0);
        let doc = self.table.read();
        let mut rooms = Vec::new();
        let mut last_seen = None;
        let mut next = None;
        for (scanned, room) in doc.rooms.range(..end).rev().map(|(_, r)| r).enumerate() {
            if rooms.len() == limit || scanned == DIRECTORY_SCAN {
                next = last_seen;
                break;
            }
            last_seen = Some(room.id);
            if query.is_empty() || room.name.as_str().to_lowercase().contains(&query) {
                rooms.push(room.view(viewer));
            }
        }
        ready(Ok(DirectoryRows { rooms, next })).boxed()
    }

    fn members(&self, room: RoomId) -> BoxFuture<'_, Result<Vec<(UserId, Username)>, RoomError>> {
        let members = self.table.read().get(room).map(|r| {
            r.members
                .iter()
                .map(|(id, m)| (UserId(*id), m.username.clone()))
                .collect()
        });
        ready(members).boxed()
    }

    fn memberships(&self) -> BoxFuture<'_, Result<Vec<Members>, StoreError>> {
        let all = self
            .table
            .read()
            .rooms
            .values()
            .map(|r| (r.id, r.members.keys().map(|id| UserId(*id)).collect()))
            .collect();
        ready(Ok(all)).boxed()
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
