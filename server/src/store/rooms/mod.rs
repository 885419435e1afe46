//! The room store: rooms, who belongs to them, and how far each member has read.
//!
//! Why a trait: see `store::accounts`; the same split holds here. The `rooms` service keeps the
//! rules and the send path's membership cache; a store keeps the rows and makes writes durable.
//!
//! Promises every implementation keeps (`store::contract` checks them):
//! - room ids are assigned by the store, unique and increasing;
//! - [`RoomStore::create`] counts the creator's rooms and refuses past `quota` in the same write,
//!   so concurrent creations cannot overshoot it; the creator is the first member;
//! - a standing set again changes nothing (a member who is made a member again keeps their
//!   read mark; a role change keeps it too); a room that does not exist is
//!   [`RoomError::NoSuchRoom`] everywhere;
//! - direct conversations are one per set of people: opening one again answers the first;
//! - private rooms are seen only by their members and invitees, direct ones only by members;
//! - a read mark only moves forward; a notification level is a member's own and goes when they
//!   leave;
//! - an `Ok` write is durable as the backend defines it and visible to every later read.
//!
//! Reads return owned rows shaped for one viewer ([`RoomView`]), never a lock guard.
//!
//! The rules themselves (ids, quota, membership checks, read marks, the directory's scan bound)
//! are written once, in [`document`], for the stores that keep the rooms whole in memory.

pub mod document;
pub mod kept;

use super::RoomSettings;
use super::StoreError;
use crate::fasthash::{FastMap, FastSet};
use app::api::ApiError;
use app::model::{
    NotifyLevel, Role, RoomId, RoomName, Topic, UserId, UserInfo, Username, Visibility,
};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

/// A room as one viewer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomView {
    pub id: RoomId,
    pub name: RoomName,
    pub topic: Topic,
    pub member_count: usize,
    /// The viewer's read mark, if they are a member.
    pub viewer_last_read: Option<u64>,
    /// When the viewer wants notifications (their choice, or the default for the room's kind).
    pub viewer_notify: NotifyLevel,
    pub visibility: Visibility,
    /// The viewer's standing in the room.
    pub viewer: Standing,
    /// For a direct conversation, its members other than the viewer.
    pub direct_with: Vec<Username>,
}

/// Where someone stands in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    Member(Role),
    /// May join (accept) or leave (decline).
    Invited,
    /// May not join.
    Banned,
    /// None of these.
    Gone,
}

/// One change of someone's standing, as the writer decided it (see `crate::access`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandingUpdate {
    pub room: RoomId,
    pub user: UserInfo,
    pub standing: Standing,
}

/// What deciding access in one room needs: who is in it with which role, who is invited, who
/// is banned, and who can find it. See `crate::access`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomAccess {
    pub visibility: Visibility,
    /// The seq of the newest timeline entry that changed it (a member entry), as a store
    /// shared by several nodes read it; 0 from the others. An append on such a store is
    /// refused when the room's is newer than the one its entries were decided with
    /// ([`crate::store::MessageStore::append_checked`]).
    pub version: u64,
    members: FastMap<UserId, Role>,
    invited: FastSet<UserId>,
    banned: FastSet<UserId>,
}

impl RoomAccess {
    pub fn new(visibility: Visibility) -> Self {
        Self {
            visibility,
            ..Self::default()
        }
    }

    pub fn standing(&self, user: UserId) -> Standing {
        if let Some(role) = self.members.get(&user) {
            Standing::Member(*role)
        } else if self.invited.contains(&user) {
            Standing::Invited
        } else if self.banned.contains(&user) {
            Standing::Banned
        } else {
            Standing::Gone
        }
    }

    pub fn set(&mut self, user: UserId, standing: Standing) {
        self.members.remove(&user);
        self.invited.remove(&user);
        self.banned.remove(&user);
        match standing {
            Standing::Member(role) => {
                self.members.insert(user, role);
            }
            Standing::Invited => {
                self.invited.insert(user);
            }
            Standing::Banned => {
                self.banned.insert(user);
            }
            Standing::Gone => {}
        }
    }

    pub fn members(&self) -> impl Iterator<Item = (UserId, Role)> + '_ {
        self.members.iter().map(|(user, role)| (*user, *role))
    }

    /// Its members and invitees: whoever has it in their rooms list.
    pub fn people(&self) -> impl Iterator<Item = UserId> + '_ {
        self.members.keys().chain(&self.invited).copied()
    }
}

/// One page of the room directory and the cursor for the next (`None`: no more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryRows {
    pub rooms: Vec<RoomView>,
    pub next: Option<RoomId>,
}

/// A member of a room: their id, name and role.
pub type MemberRow = (UserId, Username, Role);

/// What can go wrong with rooms.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    #[error("no such room")]
    NoSuchRoom,
    #[error("not a member of this room")]
    NotMember,
    /// The creator has made `created` rooms, the most one person may.
    #[error("room quota reached ({created} rooms)")]
    QuotaReached { created: usize },
    /// `by` has opened `opened` direct conversations, the most one person may.
    #[error("direct conversation quota reached ({opened})")]
    DirectQuotaReached { opened: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<RoomError> for ApiError {
    fn from(err: RoomError) -> Self {
        match err {
            RoomError::NoSuchRoom => ApiError::NoSuchRoom,
            RoomError::NotMember => ApiError::NotMember,
            RoomError::QuotaReached { created } => ApiError::Forbidden(format!(
                "you have created {created} rooms, the most one person may"
            )),
            RoomError::DirectQuotaReached { opened } => ApiError::Forbidden(format!(
                "you have opened {opened} direct conversations, the most one person may"
            )),
            RoomError::Store(err) => err.into(),
        }
    }
}

pub trait RoomStore: Send + Sync + 'static {
    /// Creates a public or private room with the next id, `by` its only member and owner,
    /// unless `by` created `quota` rooms already ([`RoomError::QuotaReached`]).
    fn create(
        &self,
        by: UserInfo,
        name: RoomName,
        visibility: Visibility,
        created: i64,
        quota: usize,
    ) -> BoxFuture<'_, Result<RoomId, RoomError>>;

    /// The direct conversation of `by` and `with` (all of them members, none of them owners):
    /// the one opened before for exactly these people, or a new one unless `by` opened `quota`
    /// already ([`RoomError::DirectQuotaReached`], decided in the same write). Answers whether
    /// it is new.
    fn open_direct(
        &self,
        by: UserInfo,
        with: Vec<UserInfo>,
        created: i64,
        quota: usize,
    ) -> BoxFuture<'_, Result<(RoomId, bool), RoomError>>;

    /// Sets standings, in order, in one write: all of them or none
    /// ([`RoomError::NoSuchRoom`] if a room is missing). A member made a member again keeps
    /// their read mark.
    fn set_standings(&self, updates: Vec<StandingUpdate>) -> BoxFuture<'_, Result<(), RoomError>>;

    /// Sets rooms' names and topics, in one write (rooms it does not have are left out).
    fn set_settings(
        &self,
        changes: Vec<(RoomId, RoomSettings)>,
    ) -> BoxFuture<'_, Result<(), RoomError>>;

    /// Deletes rooms whose deletion the timeline holds (rooms it does not have are left out),
    /// in one write, and leaves nothing of them on disk once it returns: their names, members
    /// and marks go from the store's files too, not only from its answers (also when the rooms
    /// were deleted already, so that asking again finishes what a failure left).
    fn delete_rooms(&self, rooms: Vec<RoomId>) -> BoxFuture<'_, Result<(), RoomError>>;

    /// Moves `user`'s read mark in `room` up to `seq` (never back).
    fn mark_read(
        &self,
        room: RoomId,
        user: UserId,
        seq: u64,
    ) -> BoxFuture<'_, Result<(), RoomError>>;

    /// Sets `user`'s notification level in `room` ([`RoomError::NotMember`] unless a member).
    fn set_notify(
        &self,
        room: RoomId,
        user: UserId,
        level: NotifyLevel,
    ) -> BoxFuture<'_, Result<(), RoomError>>;

    /// One room as `viewer` sees it; [`RoomError::NoSuchRoom`] for a private room they are
    /// neither in nor invited to, and a direct one they are not in.
    fn room(&self, room: RoomId, viewer: UserId) -> BoxFuture<'_, Result<RoomView, RoomError>>;

    /// The rooms `user` is a member of or invited to, by id.
    fn rooms_of(&self, user: UserId) -> BoxFuture<'_, Result<Vec<RoomView>, StoreError>>;

    /// Up to `limit` rooms with an id below `before`, newest first, whose name contains `query`
    /// ignoring case: public rooms, and private ones `viewer` is in or invited to (never direct
    /// ones). A store may return a short page with a `next` cursor rather than scan without
    /// bound.
    fn directory(
        &self,
        viewer: UserId,
        query: String,
        before: Option<RoomId>,
        limit: usize,
    ) -> BoxFuture<'_, Result<DirectoryRows, StoreError>>;

    /// The members of `room`, by user id.
    fn members(&self, room: RoomId) -> BoxFuture<'_, Result<Vec<MemberRow>, RoomError>>;

    /// Every room's [`RoomAccess`], by room id: what `crate::access` starts from.
    fn access(&self) -> BoxFuture<'_, Result<Vec<(RoomId, RoomAccess)>, StoreError>>;

    /// The [`RoomAccess`] of those of `rooms` that exist: what `crate::access` reads again
    /// when another node changed them.
    fn access_of(
        &self,
        rooms: Vec<RoomId>,
    ) -> BoxFuture<'_, Result<Vec<(RoomId, RoomAccess)>, StoreError>>;
}
