//! The rooms service over the file room store and the real processor (its writer decides and
//! projects every membership change), with an in-memory message store.

use super::*;
use crate::hub::Hub;
use crate::newest::NewestMessages;
use crate::processor::{MessageProcessor, Outlets, ProcessorConfig};
use crate::stats::Stats;
use crate::store::file::rooms::FileRooms;
use crate::store::memory::MemoryMessageStore;
use crate::store::{DataDir, MessageStore, RoomSettings};
use app::model::{Topic, Username};
use tokio_util::sync::CancellationToken;

fn user(id: u64, name: &str) -> UserInfo {
    UserInfo {
        id: UserId(id),
        username: Username::parse(name).unwrap(),
    }
}

/// The rooms service and what it runs on; [`Stack::close`] stops the processor and lets go of
/// the data directory.
struct Stack {
    rooms: Rooms,
    store: Arc<FileRooms>,
    messages: Arc<MemoryMessageStore>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl std::ops::Deref for Stack {
    type Target = Rooms;
    fn deref(&self) -> &Rooms {
        &self.rooms
    }
}

impl Stack {
    async fn close(self) {
        self.shutdown.cancel();
        drop(self.rooms);
        self.task.await.unwrap();
    }

    /// The member entries of `room` in its timeline: (user, membership, role, by).
    async fn changes(&self, room: RoomId) -> Vec<(String, Membership, Role, String)> {
        let entries = self.messages.read_range(room, 1, u64::MAX).await.unwrap();
        entries
            .into_iter()
            .filter_map(|entry| match entry {
                app::timeline::Entry::Member(e) => Some((
                    e.user.to_string(),
                    e.membership,
                    e.role,
                    e.sender.to_string(),
                )),
                _ => None,
            })
            .collect()
    }
}

async fn open(data: &DataDir) -> Stack {
    let store = Arc::new(FileRooms::open(data).unwrap());
    let access = Access::load(store.clone()).await.unwrap();
    let messages = Arc::new(MemoryMessageStore::default());
    let shutdown = CancellationToken::new();
    let hub = Hub::default();
    let (processor, task) = MessageProcessor::start(
        ProcessorConfig::default(),
        messages.clone(),
        access.clone(),
        Outlets {
            hub: hub.clone(),
            bus: Arc::new(crate::bus::LocalBus::new(hub, 8)),
            newest: NewestMessages::default(),
            search: crate::search::Search::off(),
        },
        Stats::default(),
        shutdown.clone(),
    );
    Stack {
        rooms: Rooms::new(store.clone(), Arc::new(processor), access),
        store,
        messages,
        shutdown,
        task,
    }
}

fn name(raw: &str) -> RoomName {
    RoomName::parse(raw).unwrap()
}

const PUBLIC: Visibility = Visibility::Public;

#[tokio::test]
async fn the_creator_is_a_member_and_others_join_and_leave() {
    let dir = tempfile::tempdir().unwrap();
    let rooms = open(&DataDir::open(dir.path()).unwrap()).await;
    let (ana, bob) = (user(1, "ana"), user(2, "bob"));
    let room = rooms
        .create(&ana, name("general"), PUBLIC, 10)
        .await
        .unwrap();
    assert!(rooms.check_member(ana.id, room).is_ok());
    let not = |r: Result<(), RoomError>| matches!(r, Err(RoomError::NotMember));
    assert!(not(rooms.check_member(bob.id, room)));
    assert!(matches!(
        rooms.check_member(bob.id, RoomId(99)),
        Err(RoomError::NoSuchRoom)
    ));
    rooms.join(&bob, room).await.unwrap();
    assert!(rooms.check_member(bob.id, room).is_ok());
    rooms.leave(&bob, room).await.unwrap();
    assert!(not(rooms.check_member(bob.id, room)));
}

#[tokio::test]
async fn the_membership_cache_and_read_marks_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::open(dir.path()).unwrap();
    let (ana, bob) = (user(1, "ana"), user(2, "bob"));
    let room = {
        let rooms = open(&data).await;
        let room = rooms.create(&ana, name("r"), PUBLIC, 10).await.unwrap();
        rooms
            .create(&bob, name("empty soon"), PUBLIC, 10)
            .await
            .unwrap();
        rooms.leave(&bob, RoomId(2)).await.unwrap();
        rooms.mark_read(&ana, room, 5).await.unwrap();
        rooms.mark_read(&ana, room, 3).await.unwrap();
        rooms.close().await;
        room
    };
    let rooms = open(&data).await;
    assert_eq!(
        rooms.room(room, ana.id).await.unwrap().viewer_last_read,
        Some(5)
    );
    assert!(rooms.check_member(ana.id, room).is_ok());
    assert_eq!(rooms.room_ids_of(ana.id), [room]);
    assert!(matches!(
        rooms.check_member(bob.id, RoomId(2)),
        Err(RoomError::NotMember)
    ));
}

#[tokio::test]
async fn the_index_follows_joins_and_leaves_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::open(dir.path()).unwrap();
    let (ana, bob) = (user(1, "ana"), user(2, "bob"));
    {
        let rooms = open(&data).await;
        for raw in ["a", "b", "c"] {
            let room = rooms.create(&ana, name(raw), PUBLIC, 10).await.unwrap();
            rooms.join(&bob, room).await.unwrap();
        }
        rooms.leave(&bob, RoomId(2)).await.unwrap();
        rooms.store.compact().unwrap();
        rooms.join(&bob, RoomId(2)).await.unwrap();
        rooms.leave(&bob, RoomId(3)).await.unwrap();
        rooms.close().await;
    }
    let rooms = open(&data).await;
    let ids = |views: Vec<RoomView>| -> Vec<u64> { views.iter().map(|r| r.id.0).collect() };
    assert_eq!(ids(rooms.rooms_of(ana.id).await.unwrap()), [1, 2, 3]);
    assert_eq!(ids(rooms.rooms_of(bob.id).await.unwrap()), [1, 2]);
    let ids_cached =
        |user: UserId| -> Vec<u64> { rooms.room_ids_of(user).iter().map(|r| r.0).collect() };
    assert_eq!(ids_cached(bob.id), [1, 2]);
    // The creation count came back too: ana is at a quota of 3.
    let more = rooms.create(&ana, name("d"), PUBLIC, 3).await;
    assert!(matches!(more, Err(RoomError::QuotaReached { created: 3 })));
    assert!(rooms.create(&bob, name("d"), PUBLIC, 1).await.is_ok());
}

#[tokio::test]
async fn a_user_past_the_room_quota_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let rooms = open(&DataDir::open(dir.path()).unwrap()).await;
    let ana = user(1, "ana");
    for raw in ["a", "b"] {
        rooms.create(&ana, name(raw), PUBLIC, 2).await.unwrap();
    }
    let third = rooms.create(&ana, name("c"), PUBLIC, 2).await;
    assert!(matches!(third, Err(RoomError::QuotaReached { created: 2 })));
    let all = rooms.directory(ana.id, "", None, 10).await.unwrap();
    assert_eq!(all.rooms.len(), 2);
    let bob = user(2, "bob");
    assert!(rooms.create(&bob, name("c"), PUBLIC, 2).await.is_ok());
}

#[tokio::test]
async fn members_and_read_marks_are_for_members_only() {
    let dir = tempfile::tempdir().unwrap();
    let rooms = open(&DataDir::open(dir.path()).unwrap()).await;
    let (ana, bob) = (user(1, "ana"), user(2, "bob"));
    let room = rooms.create(&ana, name("r"), PUBLIC, 10).await.unwrap();
    assert!(matches!(
        rooms.members(bob.id, room).await,
        Err(RoomError::NotMember)
    ));
    assert!(matches!(
        rooms.mark_read(&bob, room, 1).await,
        Err(RoomError::NotMember)
    ));
    let members = rooms.members(ana.id, room).await.unwrap();
    assert_eq!(members, [(ana.id, ana.username.clone(), Role::Owner)]);
}

#[tokio::test]
async fn membership_changes_are_timeline_entries_and_refusals_record_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let rooms = open(&DataDir::open(dir.path()).unwrap()).await;
    let (ana, bob) = (user(1, "ana"), user(2, "bob"));
    let room = rooms
        .create(&ana, name("general"), PUBLIC, 10)
        .await
        .unwrap();
    rooms.join(&bob, room).await.unwrap();
    rooms.join(&bob, room).await.unwrap();
    rooms.leave(&bob, room).await.unwrap();
    let m = Role::Member;
    let (b, j, l) = ("bob".to_owned(), Membership::Join, Membership::Leave);
    assert_eq!(
        rooms.changes(room).await,
        [(b.clone(), j, m, b.clone()), (b.clone(), l, m, b.clone())],
        "creating is not an entry, and joining twice records once"
    );
    assert!(matches!(
        rooms.leave(&bob, room).await,
        Err(MembershipError::Room(RoomError::NotMember))
    ));
    // Refused by the writer: a member kicking the owner.
    rooms.join(&bob, room).await.unwrap();
    let kick = rooms.moderate(&bob, room, &ana, Moderation::Kick).await;
    assert!(
        matches!(
            kick,
            Err(MembershipError::Unrecorded(SendError::Refused(
                Refusal::Forbidden(_)
            )))
        ),
        "{kick:?}"
    );
    assert_eq!(
        rooms.changes(room).await.len(),
        3,
        "refusals record nothing"
    );
    assert!(rooms.check_member(ana.id, room).is_ok());
}

#[tokio::test]
async fn a_private_room_takes_an_invitation_and_a_ban_keeps_someone_out() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::open(dir.path()).unwrap();
    let rooms = open(&data).await;
    let (ana, bob, cyd) = (user(1, "ana"), user(2, "bob"), user(3, "cyd"));
    let room = rooms
        .create(&ana, name("secret"), Visibility::Private, 10)
        .await
        .unwrap();
    let refused = |r: Result<(), MembershipError>| {
        matches!(
            r,
            Err(MembershipError::Unrecorded(SendError::Refused(_))
                | MembershipError::Room(RoomError::NoSuchRoom))
        )
    };
    assert!(refused(rooms.join(&bob, room).await), "no invitation yet");
    rooms
        .moderate(&ana, room, &bob, Moderation::Invite)
        .await
        .unwrap();
    rooms.join(&bob, room).await.unwrap();
    rooms
        .moderate(
            &ana,
            room,
            &bob,
            Moderation::SetRole {
                role: Role::Moderator,
            },
        )
        .await
        .unwrap();
    // The moderator invites cyd, then bans her: the invitation is gone with the ban.
    rooms
        .moderate(&bob, room, &cyd, Moderation::Invite)
        .await
        .unwrap();
    rooms
        .moderate(&bob, room, &cyd, Moderation::Ban)
        .await
        .unwrap();
    assert!(refused(rooms.join(&cyd, room).await), "banned");
    assert!(refused(
        rooms.moderate(&bob, room, &ana, Moderation::Ban).await
    ));
    let by = |who: &str| who.to_owned();
    assert_eq!(
        rooms.changes(room).await,
        [
            (by("bob"), Membership::Invite, Role::Member, by("ana")),
            (by("bob"), Membership::Join, Role::Member, by("bob")),
            (by("bob"), Membership::Join, Role::Moderator, by("ana")),
            (by("cyd"), Membership::Invite, Role::Member, by("bob")),
            (by("cyd"), Membership::Ban, Role::Member, by("bob")),
        ]
    );
    rooms.close().await;
    // What the writer decided is in the room store too.
    let rooms = open(&data).await;
    assert!(refused(rooms.join(&cyd, room).await), "still banned");
    let members = rooms.members(ana.id, room).await.unwrap();
    assert_eq!(members[1], (bob.id, bob.username.clone(), Role::Moderator));
    rooms
        .moderate(&ana, room, &cyd, Moderation::Unban)
        .await
        .unwrap();
    assert!(
        refused(rooms.join(&cyd, room).await),
        "unbanned, still private"
    );
}

#[tokio::test]
async fn reconcile_applies_the_newest_recorded_change_the_store_missed() {
    let dir = tempfile::tempdir().unwrap();
    let rooms = open(&DataDir::open(dir.path()).unwrap()).await;
    let (ana, bob, cy) = (user(1, "ana"), user(2, "bob"), user(3, "cyd"));
    let room = rooms
        .create(&ana, name("general"), PUBLIC, 10)
        .await
        .unwrap();
    rooms.join(&bob, room).await.unwrap();
    let event = |who: &UserInfo, membership| MemberEvent {
        room_id: room,
        seq: 9,
        id: 9,
        sender: who.username.clone(),
        ts: 0,
        client_id: "ev-x".into(),
        user_id: who.id,
        user: who.username.clone(),
        membership,
        role: Role::Member,
    };
    // As after a crash between recording and storing: cyd's join and bob's leave were
    // recorded but never stored; ana's standing (owner) is already in the store.
    let repaired = rooms
        .reconcile(vec![
            event(&cy, Membership::Join),
            event(&bob, Membership::Leave),
            MemberEvent {
                role: Role::Owner,
                ..event(&ana, Membership::Join)
            },
            MemberEvent {
                room_id: RoomId(99),
                ..event(&cy, Membership::Join)
            },
        ])
        .await
        .unwrap();
    assert_eq!(repaired, 2);
    assert!(rooms.check_member(cy.id, room).is_ok());
    assert!(rooms.check_member(bob.id, room).is_err());
    let members: Vec<_> = rooms.members(ana.id, room).await.unwrap();
    assert_eq!(members.len(), 2, "ana and cyd: {members:?}");
}

#[tokio::test]
async fn reconcile_settings_brings_back_a_name_and_topic_the_store_missed() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::open(dir.path()).unwrap();
    let rooms = open(&data).await;
    let ana = user(1, "ana");
    let room = rooms
        .create(&ana, name("general"), PUBLIC, 10)
        .await
        .unwrap();
    let newest = |raw_name: &str, topic: &str| RoomSettings {
        name: name(raw_name),
        topic: Topic::parse(topic).unwrap(),
    };
    // As after a crash between storing the `room` entry and projecting it; a room the store
    // never had is left out.
    rooms
        .reconcile_settings(vec![
            (room, newest("Friday", "plans")),
            (RoomId(99), newest("ghost", "")),
        ])
        .await
        .unwrap();
    let view = rooms.room(room, ana.id).await.unwrap();
    assert_eq!(
        (view.name.as_str(), view.topic.as_str()),
        ("Friday", "plans")
    );
    // Kept across a reopen (the journal has it).
    rooms.close().await;
    let rooms = open(&data).await;
    let view = rooms.room(room, ana.id).await.unwrap();
    assert_eq!(
        (view.name.as_str(), view.topic.as_str()),
        ("Friday", "plans")
    );
}

#[tokio::test]
async fn reconcile_deletions_forgets_a_deleted_room_the_store_still_had() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::open(dir.path()).unwrap();
    let rooms = open(&data).await;
    let ana = user(1, "ana");
    let gone = rooms
        .create(&ana, name("doomed-hall"), PUBLIC, 10)
        .await
        .unwrap();
    let kept = rooms.create(&ana, name("kept"), PUBLIC, 10).await.unwrap();
    // As after a crash between storing the deletion and projecting it.
    assert_eq!(rooms.reconcile_deletions(vec![gone]).await.unwrap(), 1);
    assert!(matches!(
        rooms.room(gone, ana.id).await,
        Err(RoomError::NoSuchRoom)
    ));
    assert!(rooms.room(kept, ana.id).await.is_ok());
    // Nothing left to repair the next time; and the journal holds nothing of the room.
    assert_eq!(rooms.reconcile_deletions(vec![gone]).await.unwrap(), 0);
    rooms.close().await;
    let journal = std::fs::read(dir.path().join("rooms.journal")).unwrap_or_default();
    let snapshot = std::fs::read(dir.path().join("rooms.json")).unwrap();
    for file in [journal, snapshot] {
        assert!(!file.windows(6).any(|w| w == b"doomed"));
    }
    let rooms = open(&data).await;
    assert!(matches!(
        rooms.room(gone, ana.id).await,
        Err(RoomError::NoSuchRoom)
    ));
}
