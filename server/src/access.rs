//! Access: who may do what in which room, decided where the room's changes are ordered.
//!
//! Why here and not in the rooms service: two conflicting actions (a kick and the victim's next
//! message, two moderators acting on each other) must resolve the same way on every replay, and
//! only the component that gives entries their seqs sees them in their final order. So the
//! processor's writer asks [`Access::admit`] about every entry of a batch **in batch order**,
//! each decision seeing the effects of the ones before it; an entry refused takes no seq. The
//! effects of what was stored are applied by [`Access::settle`] after the batch is durable
//! (nothing of a failed batch changes anyone's standing).
//!
//! The rules are one pure function, [`decide`], over a room's state; the table of cases in the
//! tests below is their specification. The send path also asks [`Access::check_member`] before
//! queueing a message: a fast refusal for the common case, advisory only, since the writer's
//! answer is the one that counts.
//!
//! State lives in one map behind a mutex: the writer takes it once per batch (a lookup per
//! entry); sockets take it once per send. It is loaded from the room store at start, and the
//! store is kept as its projection by the writer after each batch (see `processor::writer`).
//!
//! Longer than 400 lines on purpose (about 600 without its tests): the rules ([`decide`]) and the
//! cached standings they read are one lock's worth of state, and the tests beside them play each
//! rule against that cache.

use crate::fasthash::FastMap;
use crate::ratelimit::{RateLimit, RateLimiter};
use crate::store::rooms::{RoomAccess, RoomError, RoomStore, Standing, StandingUpdate};
use crate::store::StoreError;
use crate::store::{Body, Intent, MemberChange, RoomSettings};
use app::model::{Role, RoomId, UserId, UserInfo, Visibility};
use app::timeline::Membership;
use std::collections::BTreeSet;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Why an entry was refused. Each has a stable wire code (see `ws::errors` and `api::error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no such room")]
    NoSuchRoom,
    #[error("you are not a member of this room")]
    NotMember,
    /// The change asked for is already the case (joining twice, inviting a member): nothing
    /// to record, and the caller answers as if it had been done.
    #[error("nothing to change")]
    NoChange,
    #[error("{0}")]
    Forbidden(&'static str),
    /// An edit or deletion found no message at its target (the store decides; see
    /// [`crate::store::check_target`]).
    #[error("no such message")]
    NoSuchMessage,
}

/// A user's standing in a room as a batch sees it: the shared state, overlaid with the changes
/// earlier entries of the same batch made.
struct RoomNow<'a> {
    room: &'a RoomAccess,
    id: RoomId,
    pending: &'a FastMap<(RoomId, UserId), Standing>,
}

impl RoomNow<'_> {
    fn standing(&self, user: UserId) -> Standing {
        if let Some(standing) = self.pending.get(&(self.id, user)) {
            return *standing;
        }
        self.room.standing(user)
    }

    fn role(&self, user: UserId) -> Option<Role> {
        match self.standing(user) {
            Standing::Member(role) => Some(role),
            _ => None,
        }
    }
}

/// Whether `actor` may change `room`'s name or topic: owners and moderators, never in a direct
/// conversation (its people are its name).
fn may_set_room(room: &RoomNow<'_>, actor: UserId) -> Result<(), Refusal> {
    if room.room.visibility == Visibility::Direct {
        return Err(Refusal::Forbidden(
            "a direct conversation has no name or topic to change",
        ));
    }
    match room.role(actor) {
        Some(Role::Owner | Role::Moderator) => Ok(()),
        Some(Role::Member) => Err(Refusal::Forbidden(
            "only owners and moderators change the room's name or topic",
        )),
        None => Err(Refusal::NotMember),
    }
}

/// Whether `actor` may delete `room`: its owners, never a direct conversation (its people
/// leave it instead).
fn may_delete_room(room: &RoomNow<'_>, actor: UserId) -> Result<(), Refusal> {
    if room.room.visibility == Visibility::Direct {
        return Err(Refusal::Forbidden(
            "a direct conversation cannot be deleted: leave it instead",
        ));
    }
    match room.role(actor) {
        Some(Role::Owner) => Ok(()),
        Some(_) => Err(Refusal::Forbidden("only the room's owner can delete it")),
        None => Err(Refusal::NotMember),
    }
}

/// The standing `change` leaves its user in, when `actor` may make it in `room`.
fn decide(room: &RoomNow<'_>, actor: UserId, change: &MemberChange) -> Result<Standing, Refusal> {
    use Refusal::{Forbidden, NoChange, NotMember};
    let target = change.user_id;
    let current = room.standing(target);
    let direct = room.room.visibility == Visibility::Direct;
    if actor == target {
        return match (change.membership, current) {
            (Membership::Join, Standing::Member(_)) => Err(NoChange),
            (Membership::Join, Standing::Banned) => Err(Forbidden("you are banned from this room")),
            // One of its people opening it again (the store found it by their key).
            (Membership::Join, Standing::Gone)
                if direct && change.intent == Intent::ReopenDirect =>
            {
                Ok(Standing::Member(Role::Member))
            }
            (Membership::Join, _) if direct => Err(Forbidden(
                "a direct conversation cannot be joined; ask for a new one",
            )),
            (Membership::Join, Standing::Invited) => Ok(Standing::Member(Role::Member)),
            (Membership::Join, _) if room.room.visibility == Visibility::Private => Err(Forbidden(
                "this room is private: you need an invitation to join",
            )),
            (Membership::Join, _) => Ok(Standing::Member(Role::Member)),
            (Membership::Leave, Standing::Member(_) | Standing::Invited) => Ok(Standing::Gone),
            (Membership::Leave, _) => Err(NotMember),
            (Membership::Invite | Membership::Ban, _) => {
                Err(Forbidden("you cannot do that to yourself"))
            }
        };
    }
    // Acting on someone else: a moderator or owner, never in a direct conversation.
    let Some(rank) = room.role(actor) else {
        return Err(NotMember);
    };
    if rank < Role::Moderator {
        return Err(Forbidden("only owners and moderators can do that"));
    }
    if direct {
        return Err(Forbidden("nobody moderates a direct conversation"));
    }
    let target_rank = room.role(target).unwrap_or(Role::Member);
    if target_rank >= rank {
        return Err(Forbidden(
            "you can only act on someone of a lower role than yours",
        ));
    }
    match (change.membership, current) {
        (Membership::Join, Standing::Member(role)) if role == change.role => Err(NoChange),
        (Membership::Join, Standing::Member(_)) if rank < Role::Owner => {
            Err(Forbidden("only owners can change roles"))
        }
        (Membership::Join, Standing::Member(_)) if change.role >= rank => {
            Err(Forbidden("you can only give a role lower than your own"))
        }
        (Membership::Join, Standing::Member(_)) => Ok(Standing::Member(change.role)),
        (Membership::Join, _) => Err(Forbidden(
            "they are not a member: invite them, and they can accept",
        )),
        (Membership::Invite, Standing::Member(_) | Standing::Invited) => Err(NoChange),
        (Membership::Invite, Standing::Banned) => Err(Forbidden(
            "they are banned from this room: unban them first",
        )),
        (Membership::Invite, Standing::Gone) => Ok(Standing::Invited),
        (Membership::Ban, Standing::Banned) => Err(NoChange),
        (Membership::Ban, _) => Ok(Standing::Banned),
        // A kick finds a member or an invitee; lifting a ban finds a ban. Anything else is
        // already the case (a ban stored just before a kick stays a ban).
        (Membership::Leave, Standing::Banned) if change.intent == Intent::LiftBan => {
            Ok(Standing::Gone)
        }
        (Membership::Leave, Standing::Member(_) | Standing::Invited)
            if change.intent != Intent::LiftBan =>
        {
            Ok(Standing::Gone)
        }
        (Membership::Leave, _) => Err(NoChange),
    }
}

/// The standing a recorded member entry leaves its user in.
pub fn standing_after(membership: Membership, role: Role) -> Standing {
    match membership {
        Membership::Join => Standing::Member(role),
        Membership::Leave => Standing::Gone,
        Membership::Invite => Standing::Invited,
        Membership::Ban => Standing::Banned,
    }
}

/// Every room's access state, and who is in which (presence announcements, revocation).
#[derive(Debug, Default)]
struct State {
    rooms: FastMap<RoomId, RoomAccess>,
    member_of: FastMap<UserId, BTreeSet<RoomId>>,
    /// The seq of each member's newest message in each room: unread counts start after it
    /// (what you wrote, and what came before it, you have read).
    last_sent: FastMap<(RoomId, UserId), u64>,
}

impl State {
    /// Keeps `room`'s access, and who is a member of it.
    fn put(&mut self, room: RoomId, access: RoomAccess) {
        for (user, _) in access.members() {
            self.member_of.entry(user).or_default().insert(room);
        }
        self.rooms.insert(room, access);
    }

    /// Drops `room`'s access and its people's links to it, answering who was in it or invited.
    fn unlink(&mut self, room: RoomId) -> Vec<UserId> {
        let Some(access) = self.rooms.remove(&room) else {
            return Vec::new();
        };
        let people: Vec<UserId> = access.people().collect();
        for user in &people {
            if let Some(rooms) = self.member_of.get_mut(user) {
                rooms.remove(&room);
                if rooms.is_empty() {
                    self.member_of.remove(user);
                }
            }
        }
        people
    }

    /// Drops `room` and its people's newest sends in it, answering who was in it or invited.
    fn forget(&mut self, room: RoomId) -> Vec<UserId> {
        let people = self.unlink(room);
        for user in &people {
            self.last_sent.remove(&(room, *user));
        }
        people
    }

    fn set(&mut self, room: RoomId, user: UserId, standing: Standing) {
        let Some(access) = self.rooms.get_mut(&room) else {
            return;
        };
        access.set(user, standing);
        if matches!(standing, Standing::Member(_)) {
            self.member_of.entry(user).or_default().insert(room);
            return;
        }
        self.last_sent.remove(&(room, user));
        if let Some(rooms) = self.member_of.get_mut(&user) {
            rooms.remove(&room);
            if rooms.is_empty() {
                self.member_of.remove(&user);
            }
        }
    }
}

/// The access state and the room store it is projected to: a cloneable handle.
///
/// Behind a read-write lock: deciding a batch and every socket's membership check only read
/// (a batch's own changes are kept aside until it is settled), so they never wait for each
/// other; only settling a batch writes, briefly.
#[derive(Clone)]
pub struct Access {
    state: Arc<RwLock<State>>,
    /// Where settled changes are kept (see [`Access::settle`]).
    projection: Arc<dyn RoomStore>,
    /// Whether other nodes change the same rooms (PostgreSQL): then this state is a cache that
    /// can be behind, and a refusal is confirmed against the store before it is given.
    shared: bool,
    /// Each user's budget of such confirmations ([`CONFIRMS`]).
    confirms: RateLimiter<UserId>,
}

/// How many refusals of one user are read again from the store ([`Access::confirm`]): a burst
/// of 20, then one a second; past it the cached refusal stands. Someone who joined through
/// another node a moment ago needs one read per room (the read puts them in the cache, and the
/// other node's notice does too); a stranger sending frames for rooms they are not in cannot
/// turn each into a database read.
pub const CONFIRMS: RateLimit = RateLimit {
    per_sec: 1.0,
    burst: 20.0,
};

impl Access {
    /// The state `store` holds, kept in step with it from now on.
    pub async fn load(store: Arc<dyn RoomStore>) -> Result<Self, StoreError> {
        let rooms = store.access().await?;
        Ok(Self::new(rooms, store))
    }

    /// [`Access::load`] for a store other nodes write to as well: the state is read again for
    /// a room before a refusal in it is given (see [`Access::confirm`]), and whenever another
    /// node says it changed (`bus::postgres`).
    pub async fn load_shared(store: Arc<dyn RoomStore>) -> Result<Self, StoreError> {
        Ok(Self {
            shared: true,
            ..Self::load(store).await?
        })
    }

    /// The state of `rooms`, projected to `projection` from now on.
    pub fn new(rooms: Vec<(RoomId, RoomAccess)>, projection: Arc<dyn RoomStore>) -> Self {
        let access = Self {
            state: Arc::default(),
            projection,
            shared: false,
            confirms: RateLimiter::new(CONFIRMS),
        };
        for (id, room) in rooms {
            access.add_room(id, room);
        }
        access
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().expect("access state lock poisoned")
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().expect("access state lock poisoned")
    }

    /// A room just created: not an entry (its first members are implied by its creation).
    pub fn add_room(&self, room: RoomId, access: RoomAccess) {
        self.write().put(room, access);
    }

    /// Reads `rooms` again from the room store: another node changed who may do what in them
    /// (a room the store no longer has is forgotten).
    pub async fn reload(&self, rooms: Vec<RoomId>) -> Result<(), StoreError> {
        let found = self.projection.access_of(rooms.clone()).await?;
        let mut state = self.write();
        // Their newest sends stay: the rooms are read again at once.
        for room in rooms {
            state.unlink(room);
        }
        for (room, access) in found {
            state.put(room, access);
        }
        Ok(())
    }

    /// Reads every room again from the room store (events from other nodes were lost).
    pub async fn reload_all(&self) -> Result<(), StoreError> {
        let found = self.projection.access().await?;
        let mut state = self.write();
        state.rooms.clear();
        state.member_of.clear();
        for (room, access) in found {
            state.put(room, access);
        }
        Ok(())
    }

    /// Whether `user` may read and post in `room` now. The send path's fast refusal, and the
    /// check of every read. A private room answers [`Refusal::NoSuchRoom`] to someone neither
    /// in it nor invited, and a direct one to anyone not in it, so that neither's existence
    /// shows from outside.
    pub fn check_member(&self, user: UserId, room: RoomId) -> Result<(), Refusal> {
        let state = self.read();
        let access = state.rooms.get(&room).ok_or(Refusal::NoSuchRoom)?;
        match (access.standing(user), access.visibility) {
            (Standing::Member(_), _) => Ok(()),
            (_, Visibility::Public) | (Standing::Invited, Visibility::Private) => {
                Err(Refusal::NotMember)
            }
            _ => Err(Refusal::NoSuchRoom),
        }
    }

    /// [`Access::check_member`], with a refusal confirmed against the room store when other
    /// nodes change the rooms too (they may have let `user` in a moment ago, and this node not
    /// heard yet), within `user`'s budget ([`CONFIRMS`]): the answer every request that can wait
    /// for a read gets.
    pub async fn confirm(&self, user: UserId, room: RoomId) -> Result<(), Refusal> {
        match self.check_member(user, room) {
            Err(_) if self.shared && self.confirms.check(&user).is_ok() => {
                self.refresh(room).await;
                self.check_member(user, room)
            }
            answer => answer,
        }
    }

    /// `user`'s standing in `room`, read again from the room store first when other nodes
    /// change the rooms too (for decisions about someone else: invite, kick, leave).
    pub async fn standing_now(&self, user: UserId, room: RoomId) -> Option<Standing> {
        if self.shared {
            self.refresh(room).await;
        }
        self.standing(user, room)
    }

    /// Reads `room` again; a store that cannot answer leaves the state as it was.
    async fn refresh(&self, room: RoomId) {
        if let Err(e) = self.reload(vec![room]).await {
            tracing::warn!("could not read room {room:?}'s access again: {e}");
        }
    }

    /// The version of each of `rooms` this state decides with ([`RoomAccess::version`]; 0 for
    /// a room it does not have), for [`crate::store::MessageStore::append_checked`].
    pub fn versions(&self, rooms: impl IntoIterator<Item = RoomId>) -> Vec<(RoomId, u64)> {
        let state = self.read();
        let mut versions: Vec<(RoomId, u64)> = rooms
            .into_iter()
            .map(|room| (room, state.rooms.get(&room).map_or(0, |r| r.version)))
            .collect();
        versions.sort_unstable();
        versions.dedup();
        versions
    }

    /// This node stored member entries: each room's access is as new as the newest of them.
    pub fn advance(&self, stored: Vec<(RoomId, u64)>) {
        if stored.is_empty() {
            return;
        }
        let mut state = self.write();
        for (room, seq) in stored {
            if let Some(access) = state.rooms.get_mut(&room) {
                access.version = access.version.max(seq);
            }
        }
    }

    /// Whether other nodes change the same rooms (see [`Access::load_shared`]).
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// Whether `room` exists.
    pub fn has_room(&self, room: RoomId) -> bool {
        self.read().rooms.contains_key(&room)
    }

    /// `user`'s standing in `room` (`None`: no such room).
    pub fn standing(&self, user: UserId, room: RoomId) -> Option<Standing> {
        self.read().rooms.get(&room).map(|r| r.standing(user))
    }

    /// The rooms `user` is a member of.
    pub fn rooms_of(&self, user: UserId) -> Vec<RoomId> {
        let state = self.read();
        state
            .member_of
            .get(&user)
            .map_or_else(Vec::new, |rooms| rooms.iter().copied().collect())
    }

    /// Decides every entry of a batch, in order: `Ok` for each the writer may store (with the
    /// change of standing it makes, for member entries), `Err` for each it must refuse. A
    /// change of name or topic changes no standing; the writer projects it (see
    /// [`Access::settle_settings`]).
    ///
    /// A message's deletion is marked here with whether its actor may delete anyone's
    /// (`any_author`: an owner or moderator, not in a direct conversation); the store then
    /// checks the message (see [`crate::store::check_target`]).
    pub fn admit<'a>(
        &self,
        batch: impl IntoIterator<Item = (RoomId, UserId, &'a mut Body)>,
    ) -> Vec<Result<Option<StandingUpdate>, Refusal>> {
        let state = self.read();
        let mut pending = FastMap::default();
        // Rooms deleted earlier in the batch: nothing follows a deletion.
        let mut deleted = Vec::new();
        batch
            .into_iter()
            .map(|(id, actor, body)| {
                if deleted.contains(&id) {
                    return Err(Refusal::NoSuchRoom);
                }
                let room = state.rooms.get(&id).ok_or(Refusal::NoSuchRoom)?;
                let now = RoomNow {
                    room,
                    id,
                    pending: &pending,
                };
                match body {
                    Body::Text(_) | Body::Reply { .. } | Body::Edit { .. } | Body::React { .. } => {
                        match now.standing(actor) {
                            Standing::Member(_) => Ok(None),
                            _ => Err(Refusal::NotMember),
                        }
                    }
                    Body::DeleteMessage { any_author, .. } => {
                        let Some(role) = now.role(actor) else {
                            return Err(Refusal::NotMember);
                        };
                        *any_author =
                            role >= Role::Moderator && room.visibility != Visibility::Direct;
                        Ok(None)
                    }
                    Body::Member(change) => {
                        let standing = decide(&now, actor, change)?;
                        pending.insert((id, change.user_id), standing);
                        Ok(Some(StandingUpdate {
                            room: id,
                            user: UserInfo {
                                id: change.user_id,
                                username: change.user.clone(),
                            },
                            standing,
                        }))
                    }
                    Body::Settings(_) => may_set_room(&now, actor).map(|()| None),
                    Body::DeleteRoom => {
                        may_delete_room(&now, actor)?;
                        deleted.push(id);
                        Ok(None)
                    }
                }
            })
            .collect()
    }

    /// Keeps the room store's name and topic in line with the room entries the timeline holds
    /// (the writer after each durable batch, and [`crate::rooms::Rooms::reconcile_settings`]
    /// at start). Nothing here decides with them, so only the store changes.
    pub async fn settle_settings(
        &self,
        changes: Vec<(RoomId, RoomSettings)>,
    ) -> Result<(), RoomError> {
        if changes.is_empty() {
            return Ok(());
        }
        if self.shared {
            // The append that stored them projected them in its own transaction; writing them
            // again here could undo a newer change another node made meanwhile.
            return Ok(());
        }
        self.projection.set_settings(changes).await
    }

    /// Forgets rooms whose deletion the timeline holds, here at once and then in the room store
    /// (the writer after each durable batch, and [`crate::rooms::Rooms::reconcile_deletions`]
    /// at start). Answers who was in each room (members and invitees): their rooms lists lose
    /// it. A failed store write leaves this state right; the next start repairs the store.
    pub async fn settle_deletions(
        &self,
        rooms: Vec<RoomId>,
    ) -> (Vec<(RoomId, Vec<UserId>)>, Result<(), RoomError>) {
        if rooms.is_empty() {
            return (Vec::new(), Ok(()));
        }
        let people = {
            let mut state = self.write();
            rooms
                .iter()
                .map(|room| (*room, state.forget(*room)))
                .collect()
        };
        if self.shared {
            // Deleted in the append's own transaction (see `settle_settings`).
            return (people, Ok(()));
        }
        (people, self.projection.delete_rooms(rooms).await)
    }

    /// Notes the newest message each sender stored in a room (`(room, sender, seq)`, in seq
    /// order): the writer after each durable batch, and the server at start from the log.
    pub fn note_sent(&self, sent: impl IntoIterator<Item = (RoomId, UserId, u64)>) {
        let mut state = self.write();
        for (room, user, seq) in sent {
            let newest = state.last_sent.entry((room, user)).or_default();
            *newest = (*newest).max(seq);
        }
    }

    /// The seq of `user`'s newest message in `room` (0 if none): their unread count starts
    /// after it and after their read mark, whichever is later.
    pub fn last_sent(&self, user: UserId, room: RoomId) -> u64 {
        let state = self.read();
        state.last_sent.get(&(room, user)).copied().unwrap_or(0)
    }

    /// Applies membership changes the timeline holds, in order: to this state at once (the
    /// next batch is decided with them), then to the room store, its durable projection. The one way
    /// a standing changes after a room is created: the writer after each durable batch, and
    /// [`crate::rooms::Rooms::reconcile`] at start for changes the store missed. A failed store
    /// write leaves this state right (the timeline's word stands); the next start repairs the
    /// store.
    pub async fn settle(&self, updates: Vec<StandingUpdate>) -> Result<(), RoomError> {
        if updates.is_empty() {
            return Ok(());
        }
        self.settle_here(&updates);
        if self.shared {
            // Projected in the append's own transaction (see `settle_settings`).
            return Ok(());
        }
        self.projection.set_standings(updates).await
    }

    fn settle_here(&self, updates: &[StandingUpdate]) {
        let mut state = self.write();
        for update in updates {
            state.set(update.room, update.user.id, update.standing);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::Username;

    const OWNER: UserId = UserId(1);
    const MOD: UserId = UserId(2);
    const MEMBER: UserId = UserId(3);
    const OTHER: UserId = UserId(4);
    const INVITED: UserId = UserId(5);
    const BANNED: UserId = UserId(6);
    const MOD2: UserId = UserId(7);

    fn room(visibility: Visibility) -> RoomAccess {
        let mut room = RoomAccess::new(visibility);
        room.set(OWNER, Standing::Member(Role::Owner));
        room.set(MOD, Standing::Member(Role::Moderator));
        room.set(MOD2, Standing::Member(Role::Moderator));
        room.set(MEMBER, Standing::Member(Role::Member));
        room.set(INVITED, Standing::Invited);
        room.set(BANNED, Standing::Banned);
        room
    }

    fn change(user: UserId, membership: Membership, role: Role) -> MemberChange {
        MemberChange {
            user_id: user,
            user: Username::parse(&format!("user{}", user.0)).unwrap(),
            membership,
            role,
            intent: Intent::Plain,
        }
    }

    /// `f` over the test room of `visibility`, as a batch with nothing before it sees it.
    fn in_room<T>(visibility: Visibility, f: impl FnOnce(&RoomNow<'_>) -> T) -> T {
        let room = room(visibility);
        let pending = FastMap::default();
        f(&RoomNow {
            room: &room,
            id: RoomId(1),
            pending: &pending,
        })
    }

    fn check(
        visibility: Visibility,
        actor: UserId,
        user: UserId,
        membership: Membership,
        role: Role,
    ) -> Result<Standing, Refusal> {
        in_room(visibility, |now| {
            decide(now, actor, &change(user, membership, role))
        })
    }

    /// The permission matrix: who may do what to whom, and what it leaves them as.
    #[test]
    fn the_rules_table() {
        use Membership::*;
        use Refusal::*;
        use Role::Member as M;
        use Standing::*;
        use Visibility::*;
        let forbidden = |r: Result<Standing, Refusal>| matches!(r, Err(Forbidden(_)));
        // Joining.
        assert_eq!(check(Public, OTHER, OTHER, Join, M), Ok(Member(M)));
        assert!(forbidden(check(Private, OTHER, OTHER, Join, M)));
        assert_eq!(check(Private, INVITED, INVITED, Join, M), Ok(Member(M)));
        assert!(forbidden(check(Public, BANNED, BANNED, Join, M)));
        assert!(forbidden(check(Direct, OTHER, OTHER, Join, M)));
        assert_eq!(check(Public, MEMBER, MEMBER, Join, M), Err(NoChange));
        // A join asking for a role is still a plain join.
        assert_eq!(
            check(Public, OTHER, OTHER, Join, Role::Owner),
            Ok(Member(M))
        );
        // Leaving and declining.
        assert_eq!(check(Public, MEMBER, MEMBER, Leave, M), Ok(Gone));
        assert_eq!(check(Private, INVITED, INVITED, Leave, M), Ok(Gone));
        assert_eq!(check(Public, OTHER, OTHER, Leave, M), Err(NotMember));
        assert_eq!(check(Direct, MEMBER, MEMBER, Leave, M), Ok(Gone));
        assert!(forbidden(check(Public, MOD, MOD, Ban, M)));
        // Inviting: owners and moderators, not members; not members or the banned.
        assert_eq!(check(Private, MOD, OTHER, Invite, M), Ok(Invited));
        assert_eq!(check(Private, OWNER, OTHER, Invite, M), Ok(Invited));
        assert!(forbidden(check(Private, MEMBER, OTHER, Invite, M)));
        assert_eq!(check(Private, OTHER, MEMBER, Invite, M), Err(NotMember));
        assert_eq!(check(Private, MOD, MEMBER, Invite, M), Err(NoChange));
        assert_eq!(check(Private, MOD, INVITED, Invite, M), Err(NoChange));
        assert!(forbidden(check(Private, MOD, BANNED, Invite, M)));
        assert!(forbidden(check(Direct, OWNER, OTHER, Invite, M)));
        // Kicking (leave made by someone else), withdrawing an invitation, unbanning.
        assert_eq!(check(Public, MOD, MEMBER, Leave, M), Ok(Gone));
        assert_eq!(check(Public, OWNER, MOD, Leave, M), Ok(Gone));
        assert!(forbidden(check(Public, MOD, MOD2, Leave, M)));
        assert!(forbidden(check(Public, MOD, OWNER, Leave, M)));
        assert!(forbidden(check(Public, MEMBER, OTHER, Leave, M)));
        assert_eq!(check(Public, MOD, INVITED, Leave, M), Ok(Gone));
        assert_eq!(
            check(Public, MOD, BANNED, Leave, M),
            Err(NoChange),
            "a kick never lifts a ban"
        );
        assert_eq!(check(Public, MOD, OTHER, Leave, M), Err(NoChange));
        // Banning: members and strangers alike, never someone of equal or higher role.
        assert_eq!(check(Public, MOD, MEMBER, Ban, M), Ok(Banned));
        assert_eq!(check(Public, MOD, OTHER, Ban, M), Ok(Banned));
        assert_eq!(check(Public, MOD, BANNED, Ban, M), Err(NoChange));
        assert!(forbidden(check(Public, MOD, MOD2, Ban, M)));
        assert!(forbidden(check(Public, MEMBER, OTHER, Ban, M)));
        assert_eq!(check(Public, OWNER, MOD, Ban, M), Ok(Banned));
        // Roles: owners only, never onto another owner, never above their own.
        assert_eq!(
            check(Public, OWNER, MEMBER, Join, Role::Moderator),
            Ok(Member(Role::Moderator))
        );
        assert_eq!(check(Public, OWNER, MOD, Join, M), Ok(Member(M)));
        assert!(forbidden(check(Public, MOD, MEMBER, Join, Role::Moderator)));
        assert!(forbidden(check(Public, OWNER, MEMBER, Join, Role::Owner)));
        assert!(forbidden(check(
            Public,
            OWNER,
            OTHER,
            Join,
            Role::Moderator
        )));
        assert_eq!(
            check(Public, OWNER, MOD, Join, Role::Moderator),
            Err(NoChange)
        );
        assert!(forbidden(check(
            Direct,
            OWNER,
            MEMBER,
            Join,
            Role::Moderator
        )));
    }

    fn text() -> Body {
        Body::Text(app::model::MessageBody::parse("hi").unwrap())
    }

    /// Who may rename a room or set its topic: owners and moderators, in rooms only.
    #[test]
    fn the_name_and_topic_rules() {
        let may = |visibility, actor| in_room(visibility, |now| may_set_room(now, actor));
        let forbidden = |r: Result<(), Refusal>| matches!(r, Err(Refusal::Forbidden(_)));
        for visibility in [Visibility::Public, Visibility::Private] {
            assert_eq!(may(visibility, OWNER), Ok(()));
            assert_eq!(may(visibility, MOD), Ok(()));
            assert!(forbidden(may(visibility, MEMBER)));
            for outsider in [OTHER, INVITED, BANNED] {
                assert_eq!(may(visibility, outsider), Err(Refusal::NotMember));
            }
        }
        assert!(forbidden(may(Visibility::Direct, OWNER)));
        assert!(forbidden(may(Visibility::Direct, MEMBER)));
        // In batch order: a moderator demoted earlier in the batch may no longer rename.
        let access = Access::new(
            vec![(RoomId(1), room(Visibility::Public))],
            Arc::new(crate::store::memory::MemoryRooms::default()),
        );
        let demote = Body::Member(change(MOD, Membership::Join, Role::Member));
        let rename = Body::Settings(RoomSettings {
            name: app::model::RoomName::parse("new").unwrap(),
            topic: app::model::Topic::default(),
        });
        let verdicts = access.admit([
            (RoomId(1), MOD, &mut rename.clone()),
            (RoomId(1), OWNER, &mut demote.clone()),
            (RoomId(1), MOD, &mut rename.clone()),
        ]);
        assert_eq!(verdicts[0], Ok(None));
        assert!(matches!(verdicts[2], Err(Refusal::Forbidden(_))));
    }

    /// Only an owner deletes a room, never a direct conversation; nothing in the batch after a
    /// deletion reaches the room, and settling it forgets the room and says who was in it.
    #[tokio::test]
    async fn the_deletion_rules() {
        let may = |visibility, actor| in_room(visibility, |now| may_delete_room(now, actor));
        let forbidden = |r: Result<(), Refusal>| matches!(r, Err(Refusal::Forbidden(_)));
        for visibility in [Visibility::Public, Visibility::Private] {
            assert_eq!(may(visibility, OWNER), Ok(()));
            assert!(forbidden(may(visibility, MOD)));
            assert!(forbidden(may(visibility, MEMBER)));
            for outsider in [OTHER, INVITED, BANNED] {
                assert_eq!(may(visibility, outsider), Err(Refusal::NotMember));
            }
        }
        assert!(forbidden(may(Visibility::Direct, MEMBER)));

        let access = Access::new(
            vec![
                (RoomId(1), room(Visibility::Public)),
                (RoomId(2), room(Visibility::Public)),
            ],
            Arc::new(crate::store::memory::MemoryRooms::default()),
        );
        let text = Body::Text(app::model::MessageBody::parse("hi").unwrap());
        let join = Body::Member(change(OTHER, Membership::Join, Role::Member));
        let verdicts = access.admit([
            (RoomId(1), MEMBER, &mut text.clone()),
            (RoomId(1), OWNER, &mut Body::DeleteRoom),
            (RoomId(1), MEMBER, &mut text.clone()),
            (RoomId(1), OTHER, &mut join.clone()),
            (RoomId(1), OWNER, &mut Body::DeleteRoom),
            (RoomId(2), MEMBER, &mut text.clone()),
        ]);
        assert_eq!(verdicts[0], Ok(None));
        assert_eq!(verdicts[1], Ok(None));
        for later in &verdicts[2..5] {
            assert_eq!(*later, Err(Refusal::NoSuchRoom));
        }
        assert_eq!(verdicts[5], Ok(None), "another room is not touched");

        let (people, stored) = access.settle_deletions(vec![RoomId(1)]).await;
        assert!(stored.is_ok());
        let mut people = people[0].1.clone();
        people.sort();
        assert_eq!(people, [OWNER, MOD, MEMBER, INVITED, MOD2]);
        assert!(!access.has_room(RoomId(1)));
        assert_eq!(
            access.check_member(MEMBER, RoomId(1)),
            Err(Refusal::NoSuchRoom)
        );
        assert_eq!(access.rooms_of(MEMBER), [RoomId(2)]);
    }

    /// An unban lifts only a ban; opening a direct conversation again works only for one of
    /// its people who left it (the store found the conversation by their key).
    #[test]
    fn unbans_and_reopened_direct_conversations_say_what_they_expect() {
        let room = room(Visibility::Public);
        let direct = room_direct();
        let pending = FastMap::default();
        let decide_in = |room: &RoomAccess, actor, change: MemberChange| {
            let now = RoomNow {
                room,
                id: RoomId(1),
                pending: &pending,
            };
            decide(&now, actor, &change)
        };
        let lift = |user| MemberChange {
            intent: Intent::LiftBan,
            ..change(user, Membership::Leave, Role::Member)
        };
        assert_eq!(decide_in(&room, MOD, lift(BANNED)), Ok(Standing::Gone));
        assert_eq!(decide_in(&room, MOD, lift(MEMBER)), Err(Refusal::NoChange));
        let reopen = |user| MemberChange {
            intent: Intent::ReopenDirect,
            ..change(user, Membership::Join, Role::Member)
        };
        assert_eq!(
            decide_in(&direct, OTHER, reopen(OTHER)),
            Ok(Standing::Member(Role::Member))
        );
        let plain = change(OTHER, Membership::Join, Role::Member);
        assert!(matches!(
            decide_in(&direct, OTHER, plain),
            Err(Refusal::Forbidden(_))
        ));
    }

    /// Members edit and delete (the store then checks whose message it is); owners and
    /// moderators may delete anyone's, except in a direct conversation; outsiders do neither.
    #[test]
    fn the_message_edit_and_deletion_rules() {
        let access = Access::new(
            vec![
                (RoomId(1), room(Visibility::Public)),
                (RoomId(2), room_direct()),
            ],
            Arc::new(crate::store::memory::MemoryRooms::default()),
        );
        let delete = || Body::DeleteMessage {
            target_seq: 1,
            any_author: false,
        };
        let edit = Body::Edit {
            target_seq: 1,
            content: app::model::MessageBody::parse("hi").unwrap(),
        };
        let mut asked = [
            (RoomId(1), OWNER, delete()),
            (RoomId(1), MOD, delete()),
            (RoomId(1), MEMBER, delete()),
            (RoomId(1), OTHER, delete()),
            (RoomId(1), INVITED, edit.clone()),
            (RoomId(1), MEMBER, edit.clone()),
            (RoomId(2), MEMBER, delete()),
        ];
        let verdicts = access.admit(asked.iter_mut().map(|(r, a, b)| (*r, *a, b)));
        let any_author: Vec<Option<bool>> = asked
            .iter()
            .map(|(_, _, body)| match body {
                Body::DeleteMessage { any_author, .. } => Some(*any_author),
                _ => None,
            })
            .collect();
        assert_eq!(
            verdicts,
            [
                Ok(None),
                Ok(None),
                Ok(None),
                Err(Refusal::NotMember),
                Err(Refusal::NotMember),
                Ok(None),
                Ok(None),
            ]
        );
        assert_eq!(
            any_author,
            [
                Some(true),
                Some(true),
                Some(false),
                Some(false),
                None,
                None,
                Some(false)
            ]
        );
    }

    fn room_direct() -> RoomAccess {
        let mut room = RoomAccess::new(Visibility::Direct);
        room.set(MEMBER, Standing::Member(Role::Member));
        room
    }

    /// Entries of one batch are decided in order, each seeing what the ones before it did.
    #[test]
    fn a_batch_is_decided_in_order() {
        let access = Access::new(
            vec![(RoomId(1), room(Visibility::Public))],
            Arc::new(crate::store::memory::MemoryRooms::default()),
        );
        let kick = Body::Member(change(MEMBER, Membership::Leave, Role::Member));
        let demote_mod = Body::Member(change(MOD, Membership::Join, Role::Member));
        let ban_by_mod = Body::Member(change(OTHER, Membership::Ban, Role::Member));
        let text = text();
        let verdicts = access.admit([
            (RoomId(1), MEMBER, &mut text.clone()), // still a member: stored
            (RoomId(1), MOD, &mut kick.clone()),    // the kick
            (RoomId(1), MEMBER, &mut text.clone()), // after the kick: refused
            (RoomId(1), OWNER, &mut demote_mod.clone()), // the moderator loses the role…
            (RoomId(1), MOD, &mut ban_by_mod.clone()), // …so their ban comes too late
            (RoomId(2), OWNER, &mut text.clone()),  // no such room
        ]);
        assert_eq!(verdicts[0], Ok(None));
        assert!(matches!(
            verdicts[1],
            Ok(Some(StandingUpdate {
                standing: Standing::Gone,
                ..
            }))
        ));
        assert_eq!(verdicts[2], Err(Refusal::NotMember));
        assert!(matches!(verdicts[3], Ok(Some(_))));
        assert!(matches!(verdicts[4], Err(Refusal::Forbidden(_))));
        assert_eq!(verdicts[5], Err(Refusal::NoSuchRoom));
        // Nothing changes until the batch is settled.
        assert_eq!(access.check_member(MEMBER, RoomId(1)), Ok(()));
        let updates: Vec<StandingUpdate> = verdicts.into_iter().flatten().flatten().collect();
        access.settle_here(&updates);
        assert_eq!(
            access.check_member(MEMBER, RoomId(1)),
            Err(Refusal::NotMember)
        );
        assert_eq!(
            access.standing(MOD, RoomId(1)),
            Some(Standing::Member(Role::Member))
        );
        assert!(!access.rooms_of(MEMBER).contains(&RoomId(1)));
        assert!(access.rooms_of(OWNER).contains(&RoomId(1)));
    }

    /// On a shared store a refusal is read again, so someone let in through another node is
    /// confirmed; but one user's refusals are read again only within their budget, so a stranger
    /// cannot turn each frame into a database read.
    #[tokio::test]
    async fn a_refusal_is_read_again_only_within_the_user_s_budget() {
        let store: Arc<dyn RoomStore> = Arc::new(crate::store::memory::MemoryRooms::default());
        let owner = UserInfo {
            id: OWNER,
            username: Username::parse("owner").unwrap(),
        };
        let name = app::model::RoomName::parse("quiet").unwrap();
        let room = store
            .create(owner, name, Visibility::Public, 0, 10)
            .await
            .unwrap();
        let access = Access::load_shared(store.clone()).await.unwrap();
        // Let in behind this node's back, as another node would.
        let let_in = |id: UserId| StandingUpdate {
            room,
            user: UserInfo {
                id,
                username: Username::parse(&format!("user{}", id.0)).unwrap(),
            },
            standing: Standing::Member(Role::Member),
        };
        for _ in 0..CONFIRMS.burst as usize {
            assert_eq!(access.confirm(OTHER, room).await, Err(Refusal::NotMember));
        }
        store
            .set_standings(vec![let_in(OTHER), let_in(MEMBER)])
            .await
            .unwrap();
        assert_eq!(
            access.confirm(OTHER, room).await,
            Err(Refusal::NotMember),
            "the budget is spent: the cached refusal stands"
        );
        assert_eq!(
            access.confirm(MEMBER, room).await,
            Ok(()),
            "another's budget"
        );
        assert_eq!(
            access.confirm(OTHER, room).await,
            Ok(()),
            "read with MEMBER's"
        );
    }
}
