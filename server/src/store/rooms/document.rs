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
//! Who may do what is decided elsewhere (`crate::access`, in the processor's writer); this
//! document keeps the outcome (each member's role, invitations, bans, a room's visibility) and
//! answers reads as each viewer may see them: a private room is invisible to strangers, a
//! direct one to everyone but its people.
//!
//! Beside the rooms, an index derived from them (never stored; rebuilt when the document is
//! read): which rooms each user is in or invited to, how many each user created, and the direct
//! conversations by their people. "Your rooms", presence
//! announcements and the creation quota then cost the size of one user's rooms, not of every
//! room, so a stranger who creates rooms cannot slow down everyone else's pages. The directory
//! of all rooms is paged and scans at most [`DIRECTORY_SCAN`] rooms a call.
//!
//! Longer than 400 lines on purpose: every rule of the document is here once (the point of the
//! module); each is a short pure decision.

use super::{DirectoryRows, MemberRow, RoomAccess, RoomError, RoomView, Standing, StandingUpdate};
use crate::store::Document;
use crate::store::RoomSettings;
use app::model::{
    NotifyLevel, Role, RoomId, RoomName, Topic, UserId, UserInfo, Username, Visibility,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Most rooms one directory call looks at; a search that matches little returns a short page
/// and a cursor to go on from, rather than scanning every room.
pub(crate) const DIRECTORY_SCAN: usize = 5_000;

/// The name a direct conversation is stored under (people see the other members' names).
pub(crate) const DIRECT_NAME: &str = "direct";

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
    /// Room ids by member or invitee (user id): "your rooms" and invitations.
    listed_for: HashMap<u64, BTreeSet<u64>>,
    /// Public and private rooms created, by creator (user id): the quota.
    created: HashMap<u64, usize>,
    /// Direct conversations opened, by who opened them (user id): their quota.
    opened: HashMap<u64, usize>,
    /// Direct conversations by their people (see [`direct_key`]).
    direct: HashMap<String, u64>,
}

impl RoomIndex {
    fn add_room(&mut self, record: &RoomRecord) {
        match &record.direct_key {
            Some(key) => {
                self.direct.insert(key.clone(), record.id.0);
                *self.opened.entry(record.created_by.0).or_default() += 1;
            }
            None => *self.created.entry(record.created_by.0).or_default() += 1,
        }
        for user in record.members.keys().chain(record.invited.keys()) {
            self.listed_for
                .entry(*user)
                .or_default()
                .insert(record.id.0);
        }
    }

    /// Forgets a deleted room: it no longer counts against its creator's quota.
    fn remove_room(&mut self, record: &RoomRecord) {
        match &record.direct_key {
            Some(key) => {
                self.direct.remove(key);
                if let Some(opened) = self.opened.get_mut(&record.created_by.0) {
                    *opened = opened.saturating_sub(1);
                }
            }
            None => {
                if let Some(made) = self.created.get_mut(&record.created_by.0) {
                    *made = made.saturating_sub(1);
                }
            }
        }
        for user in record.members.keys().chain(record.invited.keys()) {
            self.set(record.id, UserId(*user), false);
        }
    }

    fn set(&mut self, room: RoomId, user: UserId, listed: bool) {
        if listed {
            self.listed_for.entry(user.0).or_default().insert(room.0);
        } else if let Some(rooms) = self.listed_for.get_mut(&user.0) {
            rooms.remove(&room.0);
            if rooms.is_empty() {
                self.listed_for.remove(&user.0);
            }
        }
    }
}

/// The key of a direct conversation: its people's ids, sorted.
pub(crate) fn direct_key(people: &[UserId]) -> String {
    let mut ids: Vec<u64> = people.iter().map(|u| u.0).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomRecord {
    id: RoomId,
    name: RoomName,
    #[serde(default, skip_serializing_if = "topic_is_empty")]
    topic: Topic,
    created_by: UserId,
    created: i64,
    /// By user id.
    members: BTreeMap<u64, Membership>,
    #[serde(default)]
    visibility: Visibility,
    /// Invitees' names, by user id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    invited: BTreeMap<u64, Username>,
    /// Banned users' names, by user id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    banned: BTreeMap<u64, Username>,
    /// For a direct conversation, the key of its people (fixed when opened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    direct_key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Membership {
    username: Username,
    /// The highest seq this member marked read.
    pub(crate) last_read: u64,
    /// `None` in documents from before roles: the creator is then the owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<Role>,
    /// The member's own notification level; `None` until they choose one (the room's kind
    /// then decides: [`NotifyLevel::default_for`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) notify: Option<NotifyLevel>,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum RoomChange {
    Create(RoomRecord),
    Standings(Vec<StandingUpdate>),
    /// Written before roles (a journal from then still replays): `user` became a member.
    Join {
        room: RoomId,
        user: UserId,
        membership: Membership,
    },
    /// Written before roles: `user` left.
    Leave {
        room: RoomId,
        user: UserId,
    },
    Read {
        room: RoomId,
        user: UserId,
        seq: u64,
    },
    Notify {
        room: RoomId,
        user: UserId,
        level: NotifyLevel,
    },
    /// Rooms' names and topics, as their newest `room` entries say.
    Settings(Vec<(RoomId, RoomSettings)>),
    /// Rooms whose `room_deleted` entries were stored: gone, with everything about them.
    Delete(Vec<RoomId>),
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
            RoomChange::Standings(updates) => {
                for update in updates {
                    if let Some(record) = self.rooms.get_mut(&update.room.0) {
                        let user = update.user.id;
                        let listed = record.set(update.user, update.standing);
                        self.index.set(record.id, user, listed);
                    }
                }
            }
            RoomChange::Join {
                room,
                user,
                membership,
            } => {
                if let Some(record) = self.rooms.get_mut(&room.0) {
                    record.members.entry(user.0).or_insert(membership);
                    self.index.set(room, user, true);
                }
            }
            RoomChange::Leave { room, user } => {
                if let Some(record) = self.rooms.get_mut(&room.0) {
                    record.members.remove(&user.0);
                    self.index.set(room, user, false);
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
            RoomChange::Settings(changes) => {
                for (room, settings) in changes {
                    if let Some(record) = self.rooms.get_mut(&room.0) {
                        record.name = settings.name;
                        record.topic = settings.topic;
                    }
                }
            }
            RoomChange::Delete(rooms) => {
                for room in rooms {
                    if let Some(record) = self.rooms.remove(&room.0) {
                        self.index.remove_room(&record);
                    }
                }
            }
            RoomChange::Notify { room, user, level } => {
                let member = self
                    .rooms
                    .get_mut(&room.0)
                    .and_then(|record| record.members.get_mut(&user.0));
                if let Some(member) = member {
                    member.notify = Some(level);
                }
            }
        }
    }
}
/// The writes: each decides, over the current document, the change to make and its answer.
impl RoomsDoc {
    /// Deletes those of `rooms` the document has (`None`: it has none of them).
    pub(crate) fn delete_rooms(&self, rooms: Vec<RoomId>) -> Option<RoomChange> {
        let rooms: Vec<RoomId> = rooms
            .into_iter()
            .filter(|room| self.rooms.contains_key(&room.0))
            .collect();
        (!rooms.is_empty()).then_some(RoomChange::Delete(rooms))
    }

    /// A room with the next id, `by` its only member and owner, unless `by` created `quota`.
    pub(crate) fn create(
        &self,
        by: UserInfo,
        name: RoomName,
        visibility: Visibility,
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
            topic: Topic::default(),
            members: BTreeMap::from([(by.id.0, membership(&by, Role::Owner))]),
            visibility,
            invited: BTreeMap::new(),
            banned: BTreeMap::new(),
            direct_key: None,
        };
        Ok((RoomChange::Create(record), id))
    }

    /// The direct conversation of exactly `by` and `with`, if one was opened; else a new one
    /// (an empty change when it exists: [`Self::find_direct`] spares the write).
    pub(crate) fn open_direct(
        &self,
        by: UserInfo,
        with: Vec<UserInfo>,
        created: i64,
        quota: usize,
    ) -> Result<(RoomChange, (RoomId, bool)), RoomError> {
        if let Some(id) = self.find_direct(&by, &with) {
            return Ok((RoomChange::Standings(Vec::new()), (id, false)));
        }
        let opened = self.index.opened.get(&by.id.0).copied().unwrap_or(0);
        if opened >= quota {
            return Err(RoomError::DirectQuotaReached { opened });
        }
        let people: Vec<UserId> = with.iter().map(|u| u.id).chain([by.id]).collect();
        let key = direct_key(&people);
        let id = RoomId(self.next_id + 1);
        let members = with
            .iter()
            .chain([&by])
            .map(|user| (user.id.0, membership(user, Role::Member)))
            .collect();
        let record = RoomRecord {
            id,
            name: RoomName::parse(DIRECT_NAME).expect("a valid room name"),
            topic: Topic::default(),
            created_by: by.id,
            created,
            members,
            visibility: Visibility::Direct,
            invited: BTreeMap::new(),
            banned: BTreeMap::new(),
            direct_key: Some(key),
        };
        Ok((RoomChange::Create(record), (id, true)))
    }

    /// Sets standings in order; every room must exist.
    pub(crate) fn set_standings(
        &self,
        updates: Vec<StandingUpdate>,
    ) -> Result<(RoomChange, ()), RoomError> {
        for update in &updates {
            self.get(update.room)?;
        }
        Ok((RoomChange::Standings(updates), ()))
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

    /// Rooms' names and topics; a room the document does not have is left out (the timeline
    /// may name one the store never created).
    pub(crate) fn set_settings(
        &self,
        changes: Vec<(RoomId, RoomSettings)>,
    ) -> Result<(RoomChange, ()), RoomError> {
        let changes = changes
            .into_iter()
            .filter(|(room, _)| self.rooms.contains_key(&room.0))
            .collect();
        Ok((RoomChange::Settings(changes), ()))
    }

    /// `user` wants notifications of `room` at `level` (a member's own choice; it goes when
    /// they leave).
    pub(crate) fn set_notify(
        &self,
        room: RoomId,
        user: UserId,
        level: NotifyLevel,
    ) -> Result<(RoomChange, ()), RoomError> {
        self.membership(room, user)?;
        Ok((RoomChange::Notify { room, user, level }, ()))
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

    /// The direct conversation of exactly `by` and `with`, if one was opened.
    pub(crate) fn find_direct(&self, by: &UserInfo, with: &[UserInfo]) -> Option<RoomId> {
        let people: Vec<UserId> = with.iter().map(|u| u.id).chain([by.id]).collect();
        self.index
            .direct
            .get(&direct_key(&people))
            .map(|id| RoomId(*id))
    }

    /// Whether `changes` would change nothing (each room has that name and topic, or is not
    /// here).
    pub(crate) fn settings_already(&self, changes: &[(RoomId, RoomSettings)]) -> bool {
        changes.iter().all(|(room, settings)| {
            self.rooms
                .get(&room.0)
                .is_none_or(|r| r.name == settings.name && r.topic == settings.topic)
        })
    }

    /// Whether `standings` would change nothing (each is already the case).
    pub(crate) fn already(&self, updates: &[StandingUpdate]) -> bool {
        updates.iter().all(|u| {
            self.rooms
                .get(&u.room.0)
                .is_some_and(|r| r.standing(u.user.id) == u.standing)
        })
    }

    /// One room as `viewer` sees it, if they may see it at all.
    pub(crate) fn room(&self, room: RoomId, viewer: UserId) -> Result<RoomView, RoomError> {
        let record = self.get(room)?;
        if !record.visible_to(viewer) {
            return Err(RoomError::NoSuchRoom);
        }
        Ok(record.view(viewer))
    }

    /// The rooms `user` is in or invited to, by id, from the index.
    pub(crate) fn rooms_of(&self, user: UserId) -> Vec<RoomView> {
        self.index
            .listed_for
            .get(&user.0)
            .into_iter()
            .flatten()
            .filter_map(|id| self.rooms.get(id))
            .map(|r| r.view(user))
            .collect()
    }

    /// Up to `limit` rooms below `before` whose name contains `query` (ignoring case) that
    /// `viewer` may see listed, newest first, looking at no more than [`DIRECTORY_SCAN`] rooms.
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
            let listed = room.visibility != Visibility::Direct && room.visible_to(viewer);
            if listed && (query.is_empty() || room.name.as_str().to_lowercase().contains(&query)) {
                rooms.push(room.view(viewer));
            }
        }
        DirectoryRows { rooms, next }
    }

    /// The members of `room`, by user id.
    pub(crate) fn members(&self, room: RoomId) -> Result<Vec<MemberRow>, RoomError> {
        self.get(room).map(|r| {
            r.members
                .iter()
                .map(|(id, m)| (UserId(*id), m.username.clone(), r.role_of(*id, m)))
                .collect()
        })
    }

    /// Every room's access state, by room id.
    pub(crate) fn access(&self) -> Vec<(RoomId, RoomAccess)> {
        self.rooms.values().map(RoomRecord::access).collect()
    }

    /// The access state of those of `rooms` there are.
    pub(crate) fn access_of(&self, rooms: &[RoomId]) -> Vec<(RoomId, RoomAccess)> {
        rooms
            .iter()
            .filter_map(|room| self.rooms.get(&room.0))
            .map(RoomRecord::access)
            .collect()
    }

    fn get(&self, room: RoomId) -> Result<&RoomRecord, RoomError> {
        self.rooms.get(&room.0).ok_or(RoomError::NoSuchRoom)
    }
}

impl RoomRecord {
    fn access(&self) -> (RoomId, RoomAccess) {
        let mut access = RoomAccess::new(self.visibility);
        for (id, m) in &self.members {
            access.set(UserId(*id), Standing::Member(self.role_of(*id, m)));
        }
        for id in self.invited.keys() {
            access.set(UserId(*id), Standing::Invited);
        }
        for id in self.banned.keys() {
            access.set(UserId(*id), Standing::Banned);
        }
        (self.id, access)
    }

    /// A member's role; in documents from before roles, the creator is the owner.
    fn role_of(&self, user: u64, member: &Membership) -> Role {
        member.role.unwrap_or(if user == self.created_by.0 {
            Role::Owner
        } else {
            Role::Member
        })
    }

    fn standing(&self, user: UserId) -> Standing {
        if let Some(member) = self.members.get(&user.0) {
            Standing::Member(self.role_of(user.0, member))
        } else if self.invited.contains_key(&user.0) {
            Standing::Invited
        } else if self.banned.contains_key(&user.0) {
            Standing::Banned
        } else {
            Standing::Gone
        }
    }

    /// Public rooms are seen by everyone, private ones by members and invitees, direct ones by
    /// members.
    fn visible_to(&self, viewer: UserId) -> bool {
        match self.visibility {
            Visibility::Public => true,
            Visibility::Private => {
                self.members.contains_key(&viewer.0) || self.invited.contains_key(&viewer.0)
            }
            Visibility::Direct => self.members.contains_key(&viewer.0),
        }
    }

    /// Sets `user`'s standing (a member made a member keeps their read mark); answers whether
    /// the room is now listed for them (member or invitee).
    fn set(&mut self, user: UserInfo, standing: Standing) -> bool {
        let id = user.id.0;
        self.invited.remove(&id);
        self.banned.remove(&id);
        match standing {
            Standing::Member(role) => {
                let member = self
                    .members
                    .entry(id)
                    .or_insert_with(|| membership(&user, role));
                member.role = Some(role);
                true
            }
            Standing::Invited => {
                self.members.remove(&id);
                self.invited.insert(id, user.username);
                true
            }
            Standing::Banned => {
                self.members.remove(&id);
                self.banned.insert(id, user.username);
                false
            }
            Standing::Gone => {
                self.members.remove(&id);
                false
            }
        }
    }

    fn view(&self, viewer: UserId) -> RoomView {
        let direct_with = if self.visibility == Visibility::Direct {
            self.members
                .iter()
                .filter(|(id, _)| **id != viewer.0)
                .map(|(_, m)| m.username.clone())
                .collect()
        } else {
            Vec::new()
        };
        RoomView {
            id: self.id,
            name: self.name.clone(),
            topic: self.topic.clone(),
            member_count: self.members.len(),
            viewer_last_read: self.members.get(&viewer.0).map(|m| m.last_read),
            viewer_notify: self
                .members
                .get(&viewer.0)
                .and_then(|m| m.notify)
                .unwrap_or(NotifyLevel::default_for(self.visibility)),
            visibility: self.visibility,
            viewer: self.standing(viewer),
            direct_with,
        }
    }
}

fn topic_is_empty(topic: &Topic) -> bool {
    topic.as_str().is_empty()
}

fn membership(user: &UserInfo, role: Role) -> Membership {
    Membership {
        username: user.username.clone(),
        last_read: 0,
        role: Some(role),
        notify: None,
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
                .create(
                    ana.clone(),
                    RoomName::parse(name).unwrap(),
                    Visibility::Public,
                    0,
                    usize::MAX,
                )
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
