//! The room store: rooms, who belongs to them, and how far each member has read.
//!
//! Why a trait: see `store::accounts`; the same split holds here. The `rooms` service keeps the
//! rules and the send path's membership cache; a store keeps the rows and makes writes durable.
//!
//! Promises every implementation keeps (`store::contract` checks them):
//! - room ids are assigned by the store, unique and increasing;
//! - [`RoomStore::create`] counts the creator's rooms and refuses past `quota` in the same write,
//!   so concurrent creations cannot overshoot it; the creator is the first member;
//! - joining is idempotent (a member who joins again keeps their read mark);
//! - leaving a room one is not in is [`RoomError::NotMember`]; a room that does not exist is
//!   [`RoomError::NoSuchRoom`] everywhere;
//! - a read mark only moves forward;
//! - an `Ok` write is durable as the backend defines it and visible to every later read.
//!
//! Reads return owned rows shaped for one viewer ([`RoomView`]), never a lock guard.
//!
//! The rules themselves (ids, quota, membership checks, read marks, the directory's scan bound)
//! are written once, in [`document`], for the stores that keep the rooms whole in memory.

pub mod document;
pub mod kept;

use super::StoreError;
use app::api::ApiError;
use app::model::{RoomId, RoomName, UserId, UserInfo, Username};
use futures::future::BoxFuture;

/// A room as one viewer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomView {
    pub id: RoomId,
    pub name: RoomName,
    pub member_count: usize,
    /// The viewer's read mark, if they are a member.
    pub viewer_last_read: Option<u64>,
}

/// One page of the room directory and the cursor for the next (`None`: no more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryRows {
    pub rooms: Vec<RoomView>,
    pub next: Option<RoomId>,
}

/// A room's id and its members' ids.
pub type Members = (RoomId, Vec<UserId>);

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
            RoomError::Store(err) => err.into(),
        }
    }
}

pub trait RoomStore: Send + Sync + 'static {
    /// Creates a room with the next id, `by` its only member, unless `by` created `quota`
    /// rooms already ([`RoomError::QuotaReached`]).
    fn create(
        &self,
        by: UserInfo,
        name: RoomName,
        created: i64,
        quota: usize,
    ) -> BoxFuture<'_, Result<RoomId, RoomError>>;

    /// Makes `user` a member (no change if they are one); returns whether they were new.
    fn join(&self, room: RoomId, user: UserInfo) -> BoxFuture<'_, Result<bool, RoomError>>;

    /// Ends `user`'s membership.
    fn leave(&self, room: RoomId, user: UserId) -> BoxFuture<'_, Result<(), RoomError>>;

    /// Moves `user`'s read mark in `room` up to `seq` (never back).
    fn mark_read(
        &self,
        room: RoomId,
        user: UserId,
        seq: u64,
    ) -> BoxFuture<'_, Result<(), RoomError>>;

    /// One room as `viewer` sees it.
    fn room(&self, room: RoomId, viewer: UserId) -> BoxFuture<'_, Result<RoomView, RoomError>>;

    /// The rooms `user` is a member of, by id.
    fn rooms_of(&self, user: UserId) -> BoxFuture<'_, Result<Vec<RoomView>, StoreError>>;

    /// Up to `limit` rooms with an id below `before`, newest first, whose name contains `query`
    /// ignoring case. A store may return a short page with a `next` cursor rather than scan
    /// without bound.
    fn directory(
        &self,
        viewer: UserId,
        query: String,
        before: Option<RoomId>,
        limit: usize,
    ) -> BoxFuture<'_, Result<DirectoryRows, StoreError>>;

    /// The members of `room`, by user id.
    fn members(&self, room: RoomId) -> BoxFuture<'_, Result<Vec<(UserId, Username)>, RoomError>>;

    /// Every room with its members' ids, by room id: what the `rooms` service's membership
    /// cache starts from.
    fn memberships(&self) -> BoxFuture<'_, Result<Vec<Members>, StoreError>>;
}
