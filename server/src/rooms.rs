//! Rooms and who belongs to them.
//!
//! The whole room list lives in memory (a [`Table`]) and every change is journaled before it is
//! applied, so the send path checks membership without touching the disk, and a change is
//! visible to this process only once it is durable: there is no cache to go stale.

use crate::store::{DataDir, Document, StoreError, Table};
use app::api::ApiError;
use app::model::{RoomId, RoomName, UserId, UserInfo, Username};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::RwLockReadGuard;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RoomsDoc {
    next_id: u64,
    /// By room id.
    pub rooms: BTreeMap<u64, RoomRecord>,
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
                self.rooms.insert(record.id.0, record);
            }
            RoomChange::Join {
                room,
                user,
                membership,
            } => {
                if let Some(record) = self.rooms.get_mut(&room.0) {
                    record.members.entry(user.0).or_insert(membership);
                }
            }
            RoomChange::Leave { room, user } => {
                if let Some(record) = self.rooms.get_mut(&room.0) {
                    record.members.remove(&user.0);
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

    /// Rooms `user` belongs to.
    pub fn rooms_of(&self, user: UserId) -> impl Iterator<Item = &RoomRecord> {
        self.rooms
            .values()
            .filter(move |room| room.members.contains_key(&user.0))
    }
}

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

    pub fn create(&self, user: &UserInfo, name: RoomName) -> Result<RoomId, ApiError> {
        self.table.update(|doc| {
            let id = RoomId(doc.next_id + 1);
            let members = BTreeMap::from([(user.id.0, membership(user))]);
            let record = RoomRecord {
                id,
                name,
                created_by: user.id,
                created: crate::now_ms(),
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
            .create(&ana, RoomName::parse("general").unwrap())
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
            let room = rooms.create(&ana, RoomName::parse("r").unwrap()).unwrap();
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
            rooms.create(&bob, RoomName::parse("next").unwrap()),
            Ok(RoomId(2))
        );
    }
}
