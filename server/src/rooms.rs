//! Rooms and who belongs to them: the service over a [`RoomStore`] and the room's timeline.
//!
//! **Every membership change is a timeline entry, decided where entries are ordered.** Join,
//! leave, invite, kick, ban, unban and role changes are recorded through the [`Timeline`] (the
//! processor). Its writer checks each against the room's rules in batch order
//! ([`crate::access`]), gives it the room's next seq, makes it durable with the messages around
//! it, updates the access state and then the room store (its projection), and delivers it to
//! every listener through their seq cursors. This service only turns a request into the entry
//! to record and the refusal into an error. A crash after recording and before the room store
//! caught up is repaired at the next start by [`Rooms::reconcile`].
//!
//! Rooms are created outside the timeline (a new room's creator is its owner and only member;
//! a direct conversation's people are its members), so a room's seq 1 is its first entry.
//!
//! The send path asks "may this user post here?" for every message, synchronously:
//! [`Rooms::check_member`] answers from the [`Access`] state. It is a fast refusal only; the
//! writer's check is the one that counts.
//!
//! **Single-node assumption.** The access state is exact because every change to this data is
//! decided by this process's one writer. A store shared by several nodes must decide in the
//! store's transaction instead (issue 14).
//!
//! A little over 400 lines: every operation of the rooms service (creating, joining and leaving,
//! moderation, settings, deletion, the reconciles at start, read marks) over one store and one
//! timeline; each is short.

use crate::access::{standing_after, Access, Refusal};
use crate::processor::SendError;
use crate::store::rooms::{
    DirectoryRows, MemberRow, RoomAccess, RoomError, RoomStore, RoomView, Standing, StandingUpdate,
};
use crate::store::{Ack, Body, Intent, MemberChange, RoomSettings};
use app::api::{ApiError, Moderation};
use app::model::{
    ClientId, NotifyLevel, Role, RoomId, RoomName, Topic, UserId, UserInfo, Visibility,
};
use app::timeline::{MemberEvent, Membership};
use futures::future::BoxFuture;
use std::sync::Arc;

/// Where membership changes are recorded: the room's timeline. The server's is the
/// [`MessageProcessor`](crate::processor::MessageProcessor).
pub trait Timeline: Send + Sync + 'static {
    /// Records `body` in `room` as done by `actor`; answers once it is durable, or with the
    /// writer's refusal.
    fn record(
        &self,
        room: RoomId,
        actor: &UserInfo,
        client_id: ClientId,
        body: Body,
    ) -> BoxFuture<'_, Result<Ack, SendError>>;
}

/// Why a membership change or a creation did not happen.
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
            MembershipError::Unrecorded(err) => err.into(),
        }
    }
}

impl From<SendError> for ApiError {
    fn from(err: SendError) -> Self {
        match err {
            SendError::Refused(refusal) => refusal.into(),
            SendError::Overloaded { retry_after_ms } => {
                ApiError::RateLimited(retry_after_ms.div_ceil(1000).max(1))
            }
            SendError::StorageFull => ApiError::StorageFull,
            SendError::ClientIdReused => ApiError::Invalid(err.to_string()),
            SendError::ShuttingDown | SendError::Storage => ApiError::Internal,
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NoSuchRoom => ApiError::NoSuchRoom,
            Refusal::NotMember => ApiError::NotMember,
            Refusal::NoChange => ApiError::Invalid("nothing to change".into()),
            Refusal::Forbidden(why) => ApiError::Forbidden(why.into()),
            Refusal::NoSuchMessage => ApiError::NoSuchMessage,
        }
    }
}

impl From<Refusal> for RoomError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NoSuchRoom => RoomError::NoSuchRoom,
            _ => RoomError::NotMember,
        }
    }
}

/// Most direct conversations one person may open (reopening one counts nothing): with the
/// room-creation rate, a bound on what one account can add to other people's lists and to the
/// rooms document.
pub const DIRECT_QUOTA: usize = 500;

/// A fresh client_id for a change the server records: 128 random bits, so it never meets a
/// client's own (the dedupe key is the sender and the client_id).
fn event_client_id() -> ClientId {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    ClientId::parse(&format!("ev-{hex}")).expect("ev- and hex digits are a valid client_id")
}

pub struct Rooms {
    store: Arc<dyn RoomStore>,
    timeline: Arc<dyn Timeline>,
    access: Access,
}

impl Rooms {
    /// The service over `store`, deciding with `access` (loaded from the same store, and
    /// shared with the processor's writer).
    pub fn new(store: Arc<dyn RoomStore>, timeline: Arc<dyn Timeline>, access: Access) -> Self {
        Self {
            store,
            timeline,
            access,
        }
    }

    /// Whether `user` may read and post in `room`. Synchronous and cheap: the send path's check.
    pub fn check_member(&self, user: UserId, room: RoomId) -> Result<(), RoomError> {
        Ok(self.access.check_member(user, room)?)
    }

    /// [`Rooms::check_member`], a refusal confirmed against the room store when other nodes
    /// change the rooms too ([`Access::confirm`]).
    pub async fn confirm_member(&self, user: UserId, room: RoomId) -> Result<(), RoomError> {
        Ok(self.access.confirm(user, room).await?)
    }

    /// The seq of `user`'s newest message in `room` (0 if none): unread counts start after it.
    pub fn last_sent(&self, user: UserId, room: RoomId) -> u64 {
        self.access.last_sent(user, room)
    }

    /// The ids of the rooms `user` is in (presence announcements).
    pub fn room_ids_of(&self, user: UserId) -> Vec<RoomId> {
        self.access.rooms_of(user)
    }

    /// Records `actor`'s `change` of someone's membership in `room`'s timeline. A change that
    /// is already the case is done.
    async fn record(
        &self,
        actor: &UserInfo,
        room: RoomId,
        change: MemberChange,
    ) -> Result<(), MembershipError> {
        let body = Body::Member(change);
        match self
            .timeline
            .record(room, actor, event_client_id(), body)
            .await
        {
            Ok(_) | Err(SendError::Refused(Refusal::NoChange)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates a public or private room owned by `user`, unless they created `quota` rooms
    /// already. The creator is its owner and first member; that is implied by the room, not a
    /// timeline entry.
    pub async fn create(
        &self,
        user: &UserInfo,
        name: RoomName,
        visibility: Visibility,
        quota: usize,
    ) -> Result<RoomId, RoomError> {
        let visibility = match visibility {
            Visibility::Direct => Visibility::Private,
            other => other,
        };
        let now = crate::clock::now_ms();
        let room = self
            .store
            .create(user.clone(), name, visibility, now, quota)
            .await?;
        let mut access = RoomAccess::new(visibility);
        access.set(user.id, Standing::Member(Role::Owner));
        self.access.add_room(room, access);
        Ok(room)
    }

    /// The direct conversation of `user` and `with`: the same people always get the same one;
    /// a new one only while `user` opened fewer than [`DIRECT_QUOTA`].
    pub async fn open_direct(
        &self,
        user: &UserInfo,
        with: Vec<UserInfo>,
    ) -> Result<(RoomId, bool), MembershipError> {
        let people: Vec<UserId> = with.iter().map(|u| u.id).chain([user.id]).collect();
        let now = crate::clock::now_ms();
        let (room, new) = self
            .store
            .open_direct(user.clone(), with, now, DIRECT_QUOTA)
            .await?;
        if new {
            let mut access = RoomAccess::new(Visibility::Direct);
            for person in people {
                access.set(person, Standing::Member(Role::Member));
            }
            self.access.add_room(room, access);
        } else if self.access.standing(user.id, room) == Some(Standing::Gone) {
            // One of its people who left opens it again: they rejoin, as a timeline entry.
            let rejoin = MemberChange {
                intent: Intent::ReopenDirect,
                ..MemberChange::of(user, Membership::Join)
            };
            self.record(user, room, rejoin).await?;
        }
        Ok((room, new))
    }

    /// Makes `user` a member of `room` (nothing changes if they are one); in a private room,
    /// only with an invitation (this is how an invitation is accepted).
    pub async fn join(&self, user: &UserInfo, room: RoomId) -> Result<(), MembershipError> {
        match self.confirm_member(user.id, room).await {
            Ok(()) => return Ok(()),
            // A room they may not see stays unseen: no "private" or "banned" answer.
            Err(RoomError::NoSuchRoom) => return Err(RoomError::NoSuchRoom.into()),
            Err(_) => {}
        }
        self.record(user, room, MemberChange::of(user, Membership::Join))
            .await
    }

    /// Ends `user`'s membership of `room`, or declines their invitation to it. The leaver's
    /// own connections see the entry before their access ends.
    pub async fn leave(&self, user: &UserInfo, room: RoomId) -> Result<(), MembershipError> {
        match self.access.standing_now(user.id, room).await {
            Some(Standing::Member(_) | Standing::Invited) => {}
            // Not in it: `not_member`, or `no_such_room` for a room they may not see.
            _ => return Err(self.hidden_or(user.id, room, RoomError::NotMember).into()),
        }
        self.record(user, room, MemberChange::of(user, Membership::Leave))
            .await
    }

    /// `actor` invites, kicks, bans, unbans or changes the role of `target` in `room`.
    pub async fn moderate(
        &self,
        actor: &UserInfo,
        room: RoomId,
        target: &UserInfo,
        action: Moderation,
    ) -> Result<(), MembershipError> {
        // The actor must be in the room before anything about its people is answered, so that
        // nobody learns from outside who is in a private room or a direct conversation.
        self.confirm_member(actor.id, room).await?;
        let standing = self
            .access
            .standing_now(target.id, room)
            .await
            .ok_or(RoomError::NoSuchRoom)?;
        let of = |membership| MemberChange::of(target, membership);
        let change = match action {
            Moderation::Invite => of(Membership::Invite),
            Moderation::Ban => of(Membership::Ban),
            Moderation::SetRole { role } => MemberChange {
                role,
                ..of(Membership::Join)
            },
            // A kick removes a member or withdraws an invitation; an unban lifts a ban. Each
            // is a `leave` made by someone else, so each checks what it acts on first.
            Moderation::Kick => match standing {
                Standing::Member(_) | Standing::Invited => of(Membership::Leave),
                _ => {
                    return Err(SendError::Refused(Refusal::Forbidden(
                        "they are not a member of this room",
                    ))
                    .into())
                }
            },
            Moderation::Unban => match standing {
                Standing::Banned => MemberChange {
                    intent: Intent::LiftBan,
                    ..of(Membership::Leave)
                },
                _ => {
                    return Err(SendError::Refused(Refusal::Forbidden(
                        "they are not banned from this room",
                    ))
                    .into())
                }
            },
        };
        self.record(actor, room, change).await
    }

    /// `actor` renames `room` and/or sets its topic (`None` keeps what it is): a `room` entry
    /// in its timeline, checked where entries are ordered (owners and moderators, not in a
    /// direct conversation). Setting what already is records nothing.
    pub async fn set_settings(
        &self,
        actor: &UserInfo,
        room: RoomId,
        name: Option<RoomName>,
        topic: Option<Topic>,
    ) -> Result<(), MembershipError> {
        self.confirm_member(actor.id, room).await?;
        let now = self.store.room(room, actor.id).await?;
        let settings = RoomSettings {
            name: name.unwrap_or(now.name.clone()),
            topic: topic.unwrap_or(now.topic.clone()),
        };
        if settings.name == now.name && settings.topic == now.topic {
            return Ok(());
        }
        self.timeline
            .record(room, actor, event_client_id(), Body::Settings(settings))
            .await
            .map(drop)
            .map_err(Into::into)
    }

    /// `actor` deletes `room`: a `room_deleted` entry, its last, checked where entries are
    /// ordered (the owner only, never a direct conversation). Once it is stored the room is
    /// gone for everyone at once and its earlier entries are erased (see
    /// `processor::publisher`, and `MessageStore` on erasure).
    pub async fn delete(&self, actor: &UserInfo, room: RoomId) -> Result<(), MembershipError> {
        self.confirm_member(actor.id, room).await?;
        self.timeline
            .record(room, actor, event_client_id(), Body::DeleteRoom)
            .await
            .map(drop)
            .map_err(Into::into)
    }

    /// Forgets the rooms whose deletion the timeline holds (`deleted`, from the log), repairing
    /// a crash between storing a deletion and projecting it, and a failed fold of the rooms
    /// journal after one (the store folds again). Answers how many rooms the store still had.
    pub async fn reconcile_deletions(&self, deleted: Vec<RoomId>) -> Result<usize, RoomError> {
        let repaired = deleted
            .iter()
            .filter(|room| self.access.has_room(**room))
            .count();
        self.access.settle_deletions(deleted).await.1?;
        Ok(repaired)
    }

    /// Brings the room store's names and topics in line with the newest `room` entry of each
    /// room (`newest`, from the timeline), repairing a crash between storing the entry and
    /// projecting it. Rooms already right cost nothing.
    pub async fn reconcile_settings(
        &self,
        newest: Vec<(RoomId, RoomSettings)>,
    ) -> Result<(), RoomError> {
        self.access.settle_settings(newest).await
    }

    /// `otherwise`, unless `user` may not see `room` at all: then [`RoomError::NoSuchRoom`].
    fn hidden_or(&self, user: UserId, room: RoomId, otherwise: RoomError) -> RoomError {
        match self.access.check_member(user, room) {
            Err(Refusal::NoSuchRoom) => RoomError::NoSuchRoom,
            _ => otherwise,
        }
    }

    /// Brings the room store and the access state in line with the newest recorded change of
    /// each membership (`last`: one per room and user, from the timeline), repairing a crash
    /// between recording a change and storing it. Returns how many memberships it changed.
    pub async fn reconcile(&self, last: Vec<MemberEvent>) -> Result<usize, RoomError> {
        let mut updates = Vec::new();
        for event in last {
            let want = standing_after(event.membership, event.role);
            // A room the store does not have (it was never created there): nothing to do.
            let Some(have) = self.access.standing(event.user_id, event.room_id) else {
                continue;
            };
            if have == want {
                continue;
            }
            updates.push(StandingUpdate {
                room: event.room_id,
                user: UserInfo {
                    id: event.user_id,
                    username: event.user,
                },
                standing: want,
            });
        }
        let repaired = updates.len();
        self.access.settle(updates).await?;
        Ok(repaired)
    }

    /// Records that `user` has read `room` up to `seq` (never moves backwards).
    pub async fn mark_read(
        &self,
        user: &UserInfo,
        room: RoomId,
        seq: u64,
    ) -> Result<(), RoomError> {
        self.confirm_member(user.id, room).await?;
        self.store.mark_read(room, user.id, seq).await
    }

    /// Sets how `user` wants to be notified of `room`'s messages (members only).
    pub async fn set_notify(
        &self,
        user: &UserInfo,
        room: RoomId,
        level: NotifyLevel,
    ) -> Result<(), RoomError> {
        self.confirm_member(user.id, room).await?;
        self.store.set_notify(room, user.id, level).await
    }

    /// One room as `viewer` sees it (members and non-members alike; a private room only for
    /// its members and invitees).
    pub async fn room(&self, room: RoomId, viewer: UserId) -> Result<RoomView, RoomError> {
        self.store.room(room, viewer).await
    }

    /// The rooms `user` is a member of or invited to, by id.
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
    pub async fn members(&self, user: UserId, room: RoomId) -> Result<Vec<MemberRow>, RoomError> {
        self.confirm_member(user, room).await?;
        self.store.members(room).await
    }
}

#[cfg(test)]
#[path = "rooms_tests.rs"]
mod tests;
