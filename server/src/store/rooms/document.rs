//! The rooms document: every room, its members and their read marks, and the rules that change
//! and read it, written once for every store that keeps the document whole in memory.
//!
//! Why here and not in one backend: the file store (`store::file::rooms`, which journals each
//! change through `store::table`) and the in-memory store for unit tests (`store::memory`)
//! keep the same document, and a rule written twice drifts. So each write is a pure decision
//! over the current document that returns a [`RoomChange`] (or a refusal) and its answer; the
//! backend only decides where the change is kept before [`Document::apply`] runs it. Reads are
//! methods over the document, so both stores answer them alike.
//!
//! Beside the rooms, an index derived from them (never stored; rebuilt when the document is
//! read): which rooms each user is in, and how many each user created. "Your rooms", presence
//! announcements and the creation quota then cost the size of one user's rooms, not of every
//! room, so a stranger who creates rooms cannot slow down everyone else's pages. The directory
//! of all rooms is paged and scans at most [`DIRECTORY_SCAN`] rooms a call.

use super::{DirectoryRows, Members, RoomError, RoomView};
use crate::store::Document;
use app::model::{RoomId, RoomName, UserId, UserInfo, Username};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Most rooms one directory call looks at; a search that matches little returns a short page
/// and a cursor to go on from, rather than scanning every room.
pub(crate) const DIRECTORY_SCAN: usize = 5_000;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "StoredRooms")]
pub struct RoomsDoc {
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
pub struct RoomRecord {
    id: RoomId,
    name: RoomName,
    created_by: UserId,
    created: i64,
    /// By user id.
    members: BTreeMap<u64, Membership>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Membership {
    username: Username,
    /// The highest seq this member marked read.
    pub(crate) last_read: u64,
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

/// The writes: each decides, over the current document, the change to make and its answer.
impl RoomsDoc {
    /// A room with the next id, `by` its only member, unless `by` created `quota` already.
    pub(crate) fn create(
        &self,
        by: UserInfo,
        name: RoomName,
        created: i64,
        quota: usize,
    ) -> Result<(RoomChange, RoomId), RoomError> {
        let made = self.index.created.get(&by.id.0).copied().unwrap_or(0);
        if made >= quota {
            return Err(RoomError::QuotaReached { created: made });
        }
        let id = RoomId(self.next_id + 1);
        let record = RoomRecord {
            id,
            name,
            created_by: by.id,
            created,
            members: BTreeMap::from([(by.id.0, membership(&by))]),
        };
        Ok((RoomChange::Create(record), id))
    }

    /// `user` joins `room`; the answer is whether they are new (a member keeps their mark).
    pub(crate) fn join(
        &self,
        room: RoomId,
        user: UserInfo,
    ) -> Result<(RoomChange, bool), RoomError> {
        let new = match self.membership(room, user.id) {
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
    }

    /// `user` leaves `room`, which they must be in.
    pub(crate) fn leave(&self, room: RoomId, user: UserId) -> Result<(RoomChange, ()), RoomError> {
        self.membership(room, user)?;
        Ok((RoomChange::Leave { room, user }, ()))
    }

    /// `user`'s read mark in `room` moves up to `seq` (applying never moves it back).
    pub(crate) fn mark_read(
        &self,
        room: RoomId,
        user: UserId,
        seq: u64,
    ) -> Result<(RoomChange, ()), RoomError> {
        self.membership(room, user)?;
        Ok((RoomChange::Read { room, user, seq }, ()))
    }
}

/// The reads, as [`RoomStore`](super::RoomStore) answers them.
impl RoomsDoc {
    /// `user`'s membership of `room`.
    pub(crate) fn membership(&self, room: RoomId, user: UserId) -> Result<&Membership, RoomError> {
        self.get(room)?
            .members
            .get(&user.0)
            .ok_or(RoomError::NotMember)
    }

    /// One room as `viewer` sees it.
    pub(crate) fn room(&self, room: RoomId, viewer: UserId) -> Result<RoomView, RoomError> {
        self.get(room).map(|r| r.view(viewer))
    }

    /// The rooms `user` is in, by id, from the index.
    pub(crate) fn rooms_of(&self, user: UserId) -> Vec<RoomView> {
        self.index
            .member_of
            .get(&user.0)
            .into_iter()
            .flatten()
            .filter_map(|id| self.rooms.get(id))
            .map(|r| r.view(user))
            .collect()
    }

    /// Up to `limit` rooms below `before` whose name contains `query` (ignoring case), newest
    /// first, looking at no more than [`DIRECTORY_SCAN`] rooms.
    pub(crate) fn directory(
        &self,
        viewer: UserId,
        query: &str,
        before: Option<RoomId>,
        limit: usize,
    ) -> DirectoryRows {
        let query = query.trim().to_lowercase();
        let end = before.map_or(u64::MAX, |b| b.0);
        let mut rooms = Vec::new();
        let mut last_seen = None;
        let mut next = None;
        for (scanned, room) in self.rooms.range(..end).rev().map(|(_, r)| r).enumerate() {
            if rooms.len() == limit || scanned == DIRECTORY_SCAN {
                next = last_seen;
                break;
            }
            last_seen = Some(room.id);
            if query.is_empty() || room.name.as_str().to_lowercase().contains(&query) {
                rooms.push(room.view(viewer));
            }
        }
        DirectoryRows { rooms, next }
    }

    /// The members of `room`, by user id.
    pub(crate) fn members(&self, room: RoomId) -> Result<Vec<(UserId, Username)>, RoomError> {
        self.get(room).map(|r| {
            r.members
                .iter()
                .map(|(id, m)| (UserId(*id), m.username.clone()))
                .collect()
        })
    }

    /// Every room with its members' ids, by room id.
    pub(crate) fn memberships(&self) -> Vec<Members> {
        self.rooms
            .values()
            .map(|r| (r.id, r.members.keys().map(|id| UserId(*id)).collect()))
            .collect()
    }

    fn get(&self, room: RoomId) -> Result<&RoomRecord, RoomError> {
        self.rooms.get(&room.0).ok_or(RoomError::NoSuchRoom)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_directory_call_scans_at_most_the_bound_and_hands_back_a_cursor() {
        let mut doc = RoomsDoc::default();
        let ana = UserInfo {
            id: UserId(1),
            username: Username::parse("ana").unwrap(),
        };
        let total = DIRECTORY_SCAN + 10;
        for i in 0..total {
            let name = if i == 0 { "needle" } else { "hay" };
            let (change, _) = doc
                .create(ana.clone(), RoomName::parse(name).unwrap(), 0, usize::MAX)
                .unwrap();
            doc.apply(change);
        }
        // Newest first, nothing matches among the first DIRECTORY_SCAN rooms: a short (empty)
        // page and a cursor at the last room looked at, not a scan of every room.
        let first = doc.directory(UserId(1), "needle", None, 50);
        let last_scanned = RoomId((total - DIRECTORY_SCAN + 1) as u64);
        assert_eq!((first.rooms.len(), first.next), (0, Some(last_scanned)));
        let rest = doc.directory(UserId(1), "needle", first.next, 50);
        let found: Vec<RoomId> = rest.rooms.iter().map(|r| r.id).collect();
        assert_eq!((found, rest.next), (vec![RoomId(1)], None));
    }
}
