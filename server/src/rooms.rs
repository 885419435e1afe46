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
//! **Joins and leaves are timeline entries.** Each one is first recorded in the room's timeline
//! through the [`Timeline`] (the processor: it takes the room's next seq, is made durable with
//! the messages around it, and is delivered to every listener through their seq cursors), and
//! only then written to the room store and the cache. The timeline is the commit point: a change
//! that could not be recorded changed nothing, and a crash after recording is repaired at the
//! next start by [`Rooms::reconcile`], which replays the last recorded change of each membership
//! onto the store.
//!
//! **Single-node assumption.** The cache is exact because every membership write on this data
//! goes through this one `Rooms` value in this one process: it writes the store, then the cache,
//! one membership write at a time (`writes`), so the cache never holds an answer the store has
//! refused or lost. A store shared by several nodes breaks that: another node's join or leave
//! would not reach this cache. Such a backend must invalidate it from a bus event (membership
//! changed), or the check must fall back to the store.

use crate::processor::SendError;
use crate::store::rooms::{DirectoryRows, RoomError, RoomStore, RoomView};
use crate::store::{Ack, Body, MemberChange};
use app::api::ApiError;
use app::model::{ClientId, RoomId, RoomName, UserId, UserInfo, Username};
use app::timeline::{MemberEvent, Membership};
use futures::future::BoxFuture;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Where membership changes are recorded: the room's timeline. The server's is the
/// [`MessageProcessor`](crate::processor::MessageProcessor).
pub trait Timeline: Send + Sync + 'static {
    /// Records `body` in `room` as sent by `sender`; answers once it is durable.
    fn record(
        &self,
        room: RoomId,
        sender: Username,
        client_id: ClientId,
        body: Body,
    ) -> BoxFuture<'_, Result<Ack, SendError>>;
}

/// Why a join, leave or creation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    #[error(transparent)]
    Room(#[from] RoomError),
    /// The change could not be recorded in the room's timeline, so nothing changed.
    #[error("the change could not be recorded: {0}")]
    Unrecorded(#[from] SendError),
}

impl From<MembershipError> for ApiError {
    fn from(err: MembershipError) -> Self {
        match err {
            MembershipError::Room(err) => err.into(),
            MembershipError::Unrecorded(SendError::Overloaded { retry_after_ms }) => {
                ApiError::RateLimited(retry_after_ms.div_ceil(1000).max(1))
            }
            MembershipError::Unrecorded(SendError::StorageFull) => ApiError::StorageFull,
            MembershipError::Unrecorded(_) => ApiError::Internal,
        }
    }
}

/// A fresh client_id for a change the server records: 128 random bits, so it never meets a
/// client's own (the dedupe key is the sender and the client_id).
fn event_client_id() -> ClientId {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    ClientId::parse(&format!("ev-{hex}")).expect("ev- and hex digits are a valid client_id")
}

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
    timeline: Arc<dyn Timeline>,
    cache: Mutex<MembershipCache>,
    /// One membership write at a time, from the store's answer to the cache's update, so two
    /// writes cannot land in the cache in another order than in the store.
    writes: tokio::sync::Mutex<()>,
}

impl Rooms {
    /// The service over `store`, its membership cache loaded from it.
    pub async fn open(
        store: Arc<dyn RoomStore>,
        timeline: Arc<dyn Timeline>,
    ) -> Result<Self, RoomError> {
        let mut cache = MembershipCache::default();
        for (room, members) in store.memberships().await? {
            cache.members.entry(room).or_default();
            for user in members {
                cache.join(room, user);
            }
        }
        Ok(Self {
            store,
            timeline,
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

    /// Records that `user` joined or left `room` in its timeline; nothing else changes.
    async fn record(
        &self,
        user: &UserInfo,
        room: RoomId,
        membership: Membership,
    ) -> Result<Ack, SendError> {
        let change = Body::Member(MemberChange {
            user_id: user.id,
            user: user.username.clone(),
            membership,
        });
        self.timeline
            .record(room, user.username.clone(), event_client_id(), change)
            .await
    }

    /// Creates a room owned by `user`, unless they created `quota` rooms already. The creator
    /// is its first member; that is implied by the room, not a timeline entry, so a new room's
    /// first seq is its first message or join.
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

    /// Makes `user` a member of `room` (nothing changes if they are one): recorded in the
    /// timeline first, then in the store and the cache.
    pub async fn join(&self, user: &UserInfo, room: RoomId) -> Result<(), MembershipError> {
        if self.check_member(user.id, room).is_ok() {
            return Ok(());
        }
        let _one_at_a_time = self.writes.lock().await;
        match self.check_member(user.id, room) {
            Ok(()) => return Ok(()),
            Err(RoomError::NotMember) => {}
            Err(other) => return Err(other.into()),
        }
        self.record(user, room, Membership::Join).await?;
        self.store.join(room, user.clone()).await?;
        self.cache().join(room, user.id);
        Ok(())
    }

    /// Ends `user`'s membership of `room`: recorded in the timeline first (the leaver's own
    /// connections see it before their access ends), then in the store and the cache.
    pub async fn leave(&self, user: &UserInfo, room: RoomId) -> Result<(), MembershipError> {
        let _one_at_a_time = self.writes.lock().await;
        self.check_member(user.id, room)?;
        self.record(user, room, Membership::Leave).await?;
        self.store.leave(room, user.id).await?;
        self.cache().leave(room, user.id);
        Ok(())
    }

    /// Brings the store and the cache in line with the newest recorded change of each
    /// membership (`last`: one per room and user, from the timeline), repairing a crash between
    /// recording a change and storing it. Returns how many memberships it changed.
    pub async fn reconcile(&self, last: Vec<MemberEvent>) -> Result<usize, RoomError> {
        let _one_at_a_time = self.writes.lock().await;
        let mut repaired = 0;
        for event in last {
            let user = UserInfo {
                id: event.user_id,
                username: event.user,
            };
            let is_member = match self.check_member(user.id, event.room_id) {
                Ok(()) => true,
                Err(RoomError::NotMember) => false,
                // A room the store does not have (it was never created there): nothing to do.
                Err(_) => continue,
            };
            match (event.membership, is_member) {
                (Membership::Join, false) => {
                    self.store.join(event.room_id, user.clone()).await?;
                    self.cache().join(event.room_id, user.id);
                }
                (Membership::Leave, true) => {
                    self.store.leave(event.room_id, user.id).await?;
                    self.cache().leave(event.room_id, user.id);
                }
                _ => continue,
            }
            repaired += 1;
        }
        Ok(repaired)
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
