//! Rooms and who belongs to them: the service that keeps the rules over a [`RoomStore`].
//!
//! The rules: a creator may own at most `--rooms-per-user` rooms (enforced by the store in the
//! same write, so concurrent creations cannot overshoot); the creator is the first member;
//! joining twice changes nothing; only members read, post, list members and mark read; a read
//! mark only moves forward.
//!
//! The send path asks "may this user post here?" for every message, synchronously and without
//! touching the store: [`Rooms::check_member`] answers from a [`MembershipCache`] loaded once at
//! start and kept exact by this service.
//!
//! **Single-node assumption.** The cache is exact because every membership write on this data
//! goes through this one `Rooms` value in this one process: it writes the store, then the cache,
//! one membership write at a time (`writes`), so the cache never holds an answer the store has
//! refused or lost. A store shared by several nodes breaks that: another node's join or leave
//! would not reach this cache. Such a backend must invalidate it from a bus event (membership
//! changed), or the check must fall back to the store.

use crate::store::rooms::{DirectoryRows, RoomError, RoomStore, RoomView};
use app::model::{RoomId, RoomName, UserId, UserInfo, Username};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Who is in which room, as the store last said: what the send path checks.
#[derive(Debug, Default)]
struct MembershipCache {
    /// Members by room; every room the store has is a key, even with no members.
    members: HashMap<RoomId, HashSet<UserId>>,
    /// Rooms by member, for presence announcements.
    member_of: HashMap<UserId, BTreeSet<RoomId>>,
}

impl MembershipCache {
    fn check(&self, user: UserId, room: RoomId) -> Result<(), RoomError> {
        let members = self.members.get(&room).ok_or(RoomError::NoSuchRoom)?;
        if members.contains(&user) {
            Ok(())
        } else {
            Err(RoomError::NotMember)
        }
    }

    fn join(&mut self, room: RoomId, user: UserId) {
        self.members.entry(room).or_default().insert(user);
        self.member_of.entry(user).or_default().insert(room);
    }

    fn leave(&mut self, room: RoomId, user: UserId) {
        if let Some(members) = self.members.get_mut(&room) {
            members.remove(&user);
        }
        if let Some(rooms) = self.member_of.get_mut(&user) {
            rooms.remove(&room);
            if rooms.is_empty() {
                self.member_of.remove(&user);
            }
        }
    }
}

pub struct Rooms {
    store: Arc<dyn RoomStore>,
    cache: Mutex<MembershipCache>,
    /// One membership write at a time, from the store's answer to the cache's update, so two
    /// writes cannot land in the cache in another order than in the store.
    writes: tokio::sync::Mutex<()>,
}

impl Rooms {
    /// The service over `store`, its membership cache loaded from it.
    pub async fn open(store: Arc<dyn RoomStore>) -> Result<Self, RoomError> {
        let mut cache = MembershipCache::default();
        for (room, members) in store.memberships().await? {
            cache.members.entry(room).or_default();
            for user in members {
                cache.join(room, user);
            }
        }
        Ok(Self {
            store,
            cache: Mutex::new(cache),
            writes: tokio::sync::Mutex::new(()),
        })
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, MembershipCache> {
        self.cache.lock().expect("membership cache lock poisoned")
    }

    /// Whether `user` may read and post in `room`. Synchronous and cheap: the send path's check.
    pub fn check_member(&self, user: UserId, room: RoomId) -> Result<(), RoomError> {
        self.cache().check(user, room)
    }

    /// The ids of the rooms `user` is in, from the cache (presence announcements).
    pub fn room_ids_of(&self, user: UserId) -> Vec<RoomId> {
        let cache = self.cache();
        cache
            .member_of
            .get(&user)
            .map_or_else(Vec::new, |rooms| rooms.iter().copied().collect())
    }

    /// Creates a room owned by `user`, unless they created `quota` rooms already.
    pub async fn create(
        &self,
        user: &UserInfo,
        name: RoomName,
        quota: usize,
    ) -> Result<RoomId, RoomError> {
        let _one_at_a_time = self.writes.lock().await;
        let now = crate::clock::now_ms();
        let room = self.store.create(user.clone(), name, now, quota).await?;
        self.cache().join(room, user.id);
        Ok(room)
    }

    pub async fn join(&self, user: &UserInfo, room: RoomId) -> Result<(), RoomError> {
        if self.check_member(user.id, room).is_ok() {
            return Ok(());
        }
        let _one_at_a_time = self.writes.lock().await;
        self.store.join(room, user.clone()).await?;
        self.cache().join(room, user.id);
        Ok(())
    }

    pub async fn leave(&self, user: &UserInfo, room: RoomId) -> Result<(), RoomError> {
        let _one_at_a_time = self.writes.lock().await;
        self.store.leave(room, user.id).await?;
        self.cache().leave(room, user.id);
        Ok(())
    }

    /// Records that `user` has read `room` up to `seq` (never moves backwards).
    pub async fn mark_read(
        &self,
        user: &UserInfo,
        room: RoomId,
        seq: u64,
    ) -> Result<(), RoomError> {
        self.check_member(user.id, room)?;
        self.store.mark_read(room, user.id, seq).await
    }

    /// One room as `viewer` sees it (members and non-members alike).
    pub async fn room(&self, room: RoomId, viewer: UserId) -> Result<RoomView, RoomError> {
        self.store.room(room, viewer).await
    }

    /// The rooms `user` is a member of, by id.
    pub async fn rooms_of(&self, user: UserId) -> Result<Vec<RoomView>, RoomError> {
        Ok(self.store.rooms_of(user).await?)
    }

    /// One page of the room directory, newest first (see [`RoomStore::directory`]).
    pub async fn directory(
        &self,
        viewer: UserId,
        query: &str,
        before: Option<RoomId>,
        limit: usize,
    ) -> Result<DirectoryRows, RoomError> {
        let rows = self
            .store
            .directory(viewer, query.to_owned(), before, limit);
        Ok(rows.await?)
    }

    /// The members of `room`, for one of them.
    pub async fn members(
        &self,
        user: UserId,
        room: RoomId,
    ) -> Result<Vec<(UserId, Username)>, RoomError> {
        self.check_member(user, room)?;
        self.store.members(room).await
    }
}

#[cfg(test)]
#[path = "rooms_tests.rs"]
mod tests;
