//! [`RoomStore`] in a mutex-guarded map: for unit tests of the `rooms` service.

use crate::store::rooms::{DirectoryRows, Members, RoomError, RoomStore, RoomView};
use crate::store::StoreError;
use app::model::{RoomId, RoomName, UserId, UserInfo, Username};
use futures::future::{ready, BoxFuture, FutureExt};
use std::collections::BTreeMap;
use std::sync::Mutex;

struct Room {
    name: RoomName,
    created_by: UserId,
    /// By user id: name and read mark.
    members: BTreeMap<UserId, (Username, u64)>,
}

impl Room {
    fn view(&self, id: RoomId, viewer: UserId) -> RoomView {
        RoomView {
            id,
            name: self.name.clone(),
            member_count: self.members.len(),
            viewer_last_read: self.members.get(&viewer).map(|(_, read)| *read),
        }
    }
}

#[derive(Default)]
struct State {
    next_id: u64,
    rooms: BTreeMap<RoomId, Room>,
}

impl State {
    fn room(&mut self, room: RoomId) -> Result<&mut Room, RoomError> {
        self.rooms.get_mut(&room).ok_or(RoomError::NoSuchRoom)
    }
}

#[derive(Default)]
pub struct MemoryRooms(Mutex<State>);

impl MemoryRooms {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.0.lock().expect("memory store lock poisoned"))
    }
}

impl RoomStore for MemoryRooms {
    fn create(
        &self,
        by: UserInfo,
        name: RoomName,
        _created: i64,
        quota: usize,
    ) -> BoxFuture<'_, Result<RoomId, RoomError>> {
        let result = self.with(|state| {
            let made = state
                .rooms
                .values()
                .filter(|r| r.created_by == by.id)
                .count();
            if made >= quota {
                return Err(RoomError::QuotaReached { created: made });
            }
            state.next_id += 1;
            let id = RoomId(state.next_id);
            let members = BTreeMap::from([(by.id, (by.username, 0))]);
            let room = Room {
                name,
                created_by: by.id,
                members,
            };
            state.rooms.insert(id, room);
            Ok(id)
        });
        ready(result).boxed()
    }

    fn join(&self, room: RoomId, user: UserInfo) -> BoxFuture<'_, Result<bool, RoomError>> {
        let result = self.with(|state| {
            let members = &mut state.room(room)?.members;
            let new = !members.contains_key(&user.id);
            members.entry(user.id).or_insert((user.username, 0));
            Ok(new)
        });
        ready(result).boxed()
    }

    fn leave(&self, room: RoomId, user: UserId) -> BoxFuture<'_, Result<(), RoomError>> {
        let result = self.with(|state| {
            let removed = state.room(room)?.members.remove(&user);
            removed.map(|_| ()).ok_or(RoomError::NotMember)
        });
        ready(result).boxed()
    }

    fn mark_read(
        &self,
        room: RoomId,
        user: UserId,
        seq: u64,
    ) -> BoxFuture<'_, Result<(), RoomError>> {
        let result = self.with(|state| {
            let (_, read) = state
                .room(room)?
                .members
                .get_mut(&user)
                .ok_or(RoomError::NotMember)?;
            *read = (*read).max(seq);
            Ok(())
        });
        ready(result).boxed()
    }

    fn room(&self, room: RoomId, viewer: UserId) -> BoxFuture<'_, Result<RoomView, RoomError>> {
        let result = self.with(|state| Ok(state.room(room)?.view(room, viewer)));
        ready(result).boxed()
    }

    fn rooms_of(&self, user: UserId) -> BoxFuture<'_, Result<Vec<RoomView>, StoreError>> {
        let views = self.with(|state| {
            state
                .rooms
                .iter()
                .filter(|(_, r)| r.members.contains_key(&user))
                .map(|(id, r)| r.view(*id, user))
                .collect()
        });
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
        let rows = self.with(|state| {
            let end = before.unwrap_or(RoomId(u64::MAX));
            let mut matching = state
                .rooms
                .range(..end)
                .rev()
                .filter(|(_, r)| r.name.as_str().to_lowercase().contains(&query));
            let rooms: Vec<RoomView> = matching
                .by_ref()
                .take(limit)
                .map(|(id, r)| r.view(*id, viewer))
                .collect();
            let more = matching.next().is_some();
            let next = rooms.last().filter(|_| more).map(|r| r.id);
            DirectoryRows { rooms, next }
        });
        ready(Ok(rows)).boxed()
    }

    fn members(&self, room: RoomId) -> BoxFuture<'_, Result<Vec<(UserId, Username)>, RoomError>> {
        let result = self.with(|state| {
            let members = &state.room(room)?.members;
            Ok(members
                .iter()
                .map(|(id, (name, _))| (*id, name.clone()))
                .collect())
        });
        ready(result).boxed()
    }

    fn memberships(&self) -> BoxFuture<'_, Result<Vec<Members>, StoreError>> {
        let all = self.with(|state| {
            state
                .rooms
                .iter()
                .map(|(id, r)| (*id, r.members.keys().copied().collect()))
                .collect()
        });
        ready(Ok(all)).boxed()
    }
}
