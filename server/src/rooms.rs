//! Rooms and who belongs to them.
//!
//! The whole room list lives in memory (a [`Table`]) and every change is journaled before it is
//! applied, so the send path checks membership without touching the disk, and a change is
//! visible to this process only once it is durable: there is no cache to go stale.
//!
//! Beside the rooms, an index derived from them (never stored; rebuilt when the document is
//! read): which rooms each user is in, and how many each user created. "Your rooms", presence
//! announcements and the creation quota then cost the size of one user's rooms, not of every
//! room, so a stranger who creates rooms cannot slow down everyone else's pages. The directory
//! of all rooms is paged ([`RoomsDoc::directory`]).

use crate::store::{DataDir, Document, StoreError, Table};
use app::api::ApiError;
use app::model::{RoomId, RoomName, UserId, UserInfo, Username};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::RwLockReadGuard;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "StoredRooms")]
pub struct RoomsDoc {
    next_id: u64,
    /// By room id.
    pub rooms: BTreeMap<u64, RoomRecord>,
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
pub struct RoomRecord {
    pub id: RoomId,
    pub name: RoomName,
    pub created_by: UserId,
    pub created: i64,
    /// By user id.
    pub members: BTreeMap<u64, Membership>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Membership {
    pub username: Username,
    /// The highest seq this member marked read.
    pub last_read: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum RoomChange {
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
    pub fn get(&self, room: RoomId) -> Result<&RoomRecord, ApiError> {
        self.rooms.get(&room.0).ok_or(ApiError::NoSuchRoom)
    }

    /// The room, if `user` is one of its members.
    pub fn member_room(&self, user: UserId, room: RoomId) -> Result<&RoomRecord, ApiError> {
        let record = self.get(room)?;
        if record.members.contains_key(&user.0) {
            Ok(record)
        } else {
            Err(ApiError::NotMember)
        }
    }

    /// Rooms `user` belongs to, by id.
    pub fn rooms_of(&self, user: UserId) -> impl Iterator<Item = &RoomRecord> {
        self.index
            .member_of
            .get(&user.0)
            .into_iter()
            .flatten()
            .filter_map(|id| self.rooms.get(id))
    }

    /// How many rooms `user` has created.
    pub fn created_by(&self, user: UserId) -> usize {
        self.index.created.get(&user.0).copied().unwrap_or(0)
    }

    /// One page of the room directory, newest first: up to `limit` rooms with an id below
    /// `before` whose name contains `query` (ignoring case), and whether more may follow.
    /// Cost: the rooms passed over to fill the page, at most [`DIRECTORY_SCAN`].
    pub fn directory(
        &self,
        query: &str,
        before: Option<RoomId>,
        limit: usize,
    ) -> (Vec<&RoomRecord>, Option<RoomId>) {
        let query = query.trim().to_lowercase();
        let end = before.map_or(u64::MAX, |b| b.0);
        let mut page = Vec::new();
        let mut last_seen = None;
        for (scanned, room) in self.rooms.range(..end).rev().map(|(_, r)| r).enumerate() {
            if page.len() == limit || scanned == DIRECTORY_SCAN {
                return (page, last_seen);
            }
            last_seen = Some(room.id);
            if query.is_empty() || room.name.as_str().to_lowercase().contains(&query) {
                page.push(room);
            }
        }
        (page, None)
    }
}

/// Most rooms one directory call looks at; a search that matches little returns a short page
/// and a cursor to go on from, rather than scanning every room.
const DIRECTORY_SCAN: usize = 5_000;

pub struct Rooms {
    table: Table<RoomsDoc>,
}

impl Rooms {
    pub fn open(data: &DataDir) -> Result<Self, StoreError> {
        Ok(Self {
            table: Table::open(&data.file("rooms.json"))?,
        })
    }

    /// The current rooms; cheap, never touches the disk. Hold it briefly: changes wait for it.
    pub fn read(&self) -> RwLockReadGuard<'_, RoomsDoc> {
        self.table.read()
    }

    /// Whether `user` may read and post in `room`.
    pub fn check_member(&self, user: UserId, room: RoomId) -> Result<(), ApiError> {
        self.read().member_room(user, room).map(|_| ())
    }

    /// Creates a room owned by `user`, unless they created `quota` rooms already.
    pub fn create(
        &self,
        user: &UserInfo,
        name: RoomName,
        quota: usize,
    ) -> Result<RoomId, ApiError> {
        self.table.update(|doc| {
            let created = doc.created_by(user.id);
            if created >= quota {
                return Err(ApiError::Forbidden(format!(
                    "you have created {created} rooms, the most one person may"
                )));
            }
            let id = RoomId(doc.next_id + 1);
            let members = BTreeMap::from([(user.id.0, membership(user))]);
            let record = RoomRecord {
                id,
                name,
                created_by: user.id,
                created: crate::clock::now_ms(),
                members,
            };
            Ok((RoomChange::Create(record), id))
        })
    }

    pub fn join(&self, user: &UserInfo, room: RoomId) -> Result<(), ApiError> {
        if self.read().get(room)?.members.contains_key(&user.id.0) {
            return Ok(());
        }
        self.table.update(|doc| {
            doc.get(room)?;
            let change = RoomChange::Join {
                room,
                user: user.id,
                membership: membership(user),
            };
            Ok((change, ()))
        })
    }

    pub fn leave(&self, user: &UserInfo, room: RoomId) -> Result<(), ApiError> {
        self.table.update(|doc| {
            doc.member_room(user.id, room)?;
            Ok((
                RoomChange::Leave {
                    room,
                    user: user.id,
                },
                (),
            ))
        })
    }

    /// Records that `user` has read `room` up to `seq` (never moves backwards).
    pub fn mark_read(&self, user: &UserInfo, room: RoomId, seq: u64) -> Result<(), ApiError> {
        let current = self.read().member_room(user.id, room)?.members[&user.id.0].last_read;
        if seq <= current {
            return Ok(());
        }
        self.table.update(|doc| {
            doc.member_room(user.id, room)?;
            let change = RoomChange::Read {
                room,
                user: user.id,
                seq,
            };
            Ok((change, ()))
        })
    }
}

fn membership(user: &UserInfo) -> Membership {
    Membership {
        username: user.username.clone(),
        last_read: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: u64, name: &str) -> UserInfo {
        UserInfo {
            id: UserId(id),
            username: Username::parse(name).unwrap(),
        }
    }

    #[test]
    fn the_creator_is_a_member_and_others_join_and_leave() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        let rooms = Rooms::open(&data).unwrap();
        let (ana, bob) = (user(1, "ana"), user(2, "bob"));
        let room = rooms
            .create(&ana, RoomName::parse("general").unwrap(), 10)
            .unwrap();
        assert!(rooms.check_member(ana.id, room).is_ok());
        assert_eq!(rooms.check_member(bob.id, room), Err(ApiError::NotMember));
        assert_eq!(
            rooms.check_member(bob.id, RoomId(99)),
            Err(ApiError::NoSuchRoom)
        );
        rooms.join(&bob, room).unwrap();
        assert!(rooms.check_member(bob.id, room).is_ok());
        rooms.leave(&bob, room).unwrap();
        assert_eq!(rooms.check_member(bob.id, room), Err(ApiError::NotMember));
    }

    #[test]
    fn membership_and_read_marks_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        let ana = user(1, "ana");
        let room = {
            let rooms = Rooms::open(&data).unwrap();
            let room = rooms
                .create(&ana, RoomName::parse("r").unwrap(), 10)
                .unwrap();
            rooms.mark_read(&ana, room, 5).unwrap();
            rooms.mark_read(&ana, room, 3).unwrap();
            room
        };
        let rooms = Rooms::open(&data).unwrap();
        assert_eq!(rooms.read().get(room).unwrap().members[&1].last_read, 5);
    }

    #[test]
    fn a_rooms_file_from_before_the_journal_opens() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        std::fs::write(
            data.file("rooms.json"),
            r#"{"next_id":1,"rooms":{"1":{"id":1,"name":"general","created_by":1,"created":0,
                "members":{"1":{"username":"ana","last_read":4}}}}}"#,
        )
        .unwrap();
        let rooms = Rooms::open(&data).unwrap();
        assert_eq!(
            rooms.read().get(RoomId(1)).unwrap().members[&1].last_read,
            4
        );
        let bob = user(2, "bob");
        assert_eq!(
            rooms.create(&bob, RoomName::parse("next").unwrap(), 10),
            Ok(RoomId(2))
        );
    }

    #[test]
    fn the_index_follows_joins_and_leaves_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        let (ana, bob) = (user(1, "ana"), user(2, "bob"));
        {
            let rooms = Rooms::open(&data).unwrap();
            for name in ["a", "b", "c"] {
                let room = rooms
                    .create(&ana, RoomName::parse(name).unwrap(), 10)
                    .unwrap();
                rooms.join(&bob, room).unwrap();
            }
            rooms.leave(&bob, RoomId(2)).unwrap();
            rooms.table.compact().unwrap();
            rooms.join(&bob, RoomId(2)).unwrap();
            rooms.leave(&bob, RoomId(3)).unwrap();
        }
        let rooms = Rooms::open(&data).unwrap();
        let ids =
            |user: UserId| -> Vec<u64> { rooms.read().rooms_of(user).map(|r| r.id.0).collect() };
        assert_eq!(ids(ana.id), [1, 2, 3]);
        assert_eq!(ids(bob.id), [1, 2]);
        assert_eq!(rooms.read().created_by(ana.id), 3);
        assert_eq!(rooms.read().created_by(bob.id), 0);
    }

    #[test]
    fn a_user_past_the_room_quota_is_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let rooms = Rooms::open(&DataDir::open(dir.path()).unwrap()).unwrap();
        let ana = user(1, "ana");
        for name in ["a", "b"] {
            rooms
                .create(&ana, RoomName::parse(name).unwrap(), 2)
                .unwrap();
        }
        assert!(matches!(
            rooms.create(&ana, RoomName::parse("c").unwrap(), 2),
            Err(ApiError::Forbidden(_))
        ));
        assert_eq!(rooms.read().rooms.len(), 2);
        let bob = user(2, "bob");
        assert!(rooms.create(&bob, RoomName::parse("c").unwrap(), 2).is_ok());
    }

    #[test]
    fn the_directory_pages_newest_first_and_searches_names() {
        let dir = tempfile::tempdir().unwrap();
        let rooms = Rooms::open(&DataDir::open(dir.path()).unwrap()).unwrap();
        let ana = user(1, "ana");
        for name in ["Alpha", "beta", "ALPHABET", "gamma", "alphorn"] {
            rooms
                .create(&ana, RoomName::parse(name).unwrap(), 10)
                .unwrap();
        }
        let doc = rooms.read();
        let names = |page: &[&RoomRecord]| -> Vec<String> {
            page.iter().map(|r| r.name.as_str().to_owned()).collect()
        };
        let (first, next) = doc.directory("", None, 2);
        assert_eq!(names(&first), ["alphorn", "gamma"]);
        assert_eq!(next, Some(RoomId(4)));
        let (second, next) = doc.directory("", next, 2);
        assert_eq!(names(&second), ["ALPHABET", "beta"]);
        let (last, next) = doc.directory("", next, 2);
        assert_eq!((names(&last), next), (vec!["Alpha".to_owned()], None));
        let (found, next) = doc.directory(" alpha ", None, 10);
        assert_eq!(
            (names(&found), next),
            (vec!["ALPHABET".to_owned(), "Alpha".to_owned()], None)
        );
    }
}
