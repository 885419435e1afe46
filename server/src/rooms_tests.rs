//! The rooms service's rules and its membership cache, over the file store.

use super::*;
use crate::store::file::rooms::FileRooms;
use crate::store::DataDir;
use futures::future::BoxFuture;

fn user(id: u64, name: &str) -> UserInfo {
    UserInfo {
        id: UserId(id),
        username: Username::parse(name).unwrap(),
    }
}

/// A timeline that keeps what it is asked to record, or refuses while `refuse` is set.
#[derive(Default)]
struct Recorder {
    recorded: Mutex<Vec<(RoomId, Username, Membership)>>,
    refuse: std::sync::atomic::AtomicBool,
}

impl Timeline for Recorder {
    fn record(
        &self,
        room: RoomId,
        _sender: Username,
        client_id: ClientId,
        body: Body,
    ) -> BoxFuture<'_, Result<Ack, SendError>> {
        use futures::FutureExt;
        let answer = if self.refuse.load(std::sync::atomic::Ordering::SeqCst) {
            Err(SendError::Overloaded { retry_after_ms: 10 })
        } else {
            let Body::Member(change) = body else {
                panic!("the rooms service records only membership changes");
            };
            let mut recorded = self.recorded.lock().unwrap();
            recorded.push((room, change.user, change.membership));
            Ok(Ack {
                client_id: client_id.as_str().to_owned(),
                room_id: room,
                id: recorded.len() as u64,
                seq: recorded.len() as u64,
                ts: 0,
            })
        };
        futures::future::ready(answer).boxed()
    }
}

impl Recorder {
    fn changes(&self) -> Vec<(u64, String, Membership)> {
        let recorded = self.recorded.lock().unwrap();
        recorded
            .iter()
            .map(|(room, user, membership)| (room.0, user.to_string(), *membership))
            .collect()
    }
}

async fn open(data: &DataDir) -> Rooms {
    open_with(data, Arc::new(Recorder::default())).await
}

async fn open_with(data: &DataDir, timeline: Arc<Recorder>) -> Rooms {
    Rooms::open(Arc::new(FileRooms::open(data).unwrap()), timeline)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_creator_is_a_member_and_others_join_and_leave() {
    let dir = tempfile::tempdir().unwrap();
    let rooms = open(&DataDir::open(dir.path()).unwrap()).await;
    let (ana, bob) = (user(1, "ana"), user(2, "bob"));
    let room = rooms
        .create(&ana, RoomName::parse("general").unwrap(), 10)
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
        let room = rooms
            .create(&ana, RoomName::parse("r").unwrap(), 10)
            .await
            .unwrap();
        rooms
            .create(&bob, RoomName::parse("empty soon").unwrap(), 10)
            .await
            .unwrap();
        rooms.leave(&bob, RoomId(2)).await.unwrap();
        rooms.mark_read(&ana, room, 5).await.unwrap();
        rooms.mark_read(&ana, room, 3).await.unwrap();
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
        let store = Arc::new(FileRooms::open(&data).unwrap());
        let rooms = Rooms::open(store.clone(), Arc::new(Recorder::default()))
            .await
            .unwrap();
        for name in ["a", "b", "c"] {
            let room = rooms
                .create(&ana, RoomName::parse(name).unwrap(), 10)
                .await
                .unwrap();
            rooms.join(&bob, room).await.unwrap();
        }
        rooms.leave(&bob, RoomId(2)).await.unwrap();
        store.compact().unwrap();
        rooms.join(&bob, RoomId(2)).await.unwrap();
        rooms.leave(&bob, RoomId(3)).await.unwrap();
    }
    let rooms = open(&data).await;
    let ids = |views: Vec<RoomView>| -> Vec<u64> { views.iter().map(|r| r.id.0).collect() };
    assert_eq!(ids(rooms.rooms_of(ana.id).await.unwrap()), [1, 2, 3]);
    assert_eq!(ids(rooms.rooms_of(bob.id).await.unwrap()), [1, 2]);
    let ids_cached =
        |user: UserId| -> Vec<u64> { rooms.room_ids_of(user).iter().map(|r| r.0).collect() };
    assert_eq!(ids_cached(bob.id), [1, 2]);
    // The creation count came back too: ana is at a quota of 3.
    let more = rooms.create(&ana, RoomName::parse("d").unwrap(), 3).await;
    assert!(matches!(more, Err(RoomError::QuotaReached { created: 3 })));
    assert!(rooms
        .create(&bob, RoomName::parse("d").unwrap(), 1)
        .await
        .is_ok());
}

#[tokio::test]
async fn a_user_past_the_room_quota_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let rooms = open(&DataDir::open(dir.path()).unwrap()).await;
    let ana = user(1, "ana");
    for name in ["a", "b"] {
        rooms
            .create(&ana, RoomName::parse(name).unwrap(), 2)
            .await
            .unwrap();
    }
    let third = rooms.create(&ana, RoomName::parse("c").unwrap(), 2).await;
    assert!(matches!(third, Err(RoomError::QuotaReached { created: 2 })));
    let all = rooms.directory(ana.id, "", None, 10).await.unwrap();
    assert_eq!(all.rooms.len(), 2);
    let bob = user(2, "bob");
    assert!(rooms
        .create(&bob, RoomName::parse("c").unwrap(), 2)
        .await
        .is_ok());
}

#[tokio::test]
async fn members_and_read_marks_are_for_members_only() {
    let dir = tempfile::tempdir().unwrap();
    let rooms = open(&DataDir::open(dir.path()).unwrap()).await;
    let (ana, bob) = (user(1, "ana"), user(2, "bob"));
    let room = rooms
        .create(&ana, RoomName::parse("r").unwrap(), 10)
        .await
        .unwrap();
    assert!(matches!(
        rooms.members(bob.id, room).await,
        Err(RoomError::NotMember)
    ));
    assert!(matches!(
        rooms.mark_read(&bob, room, 1).await,
        Err(RoomError::NotMember)
    ));
    let members = rooms.members(ana.id, room).await.unwrap();
    assert_eq!(members, [(ana.id, ana.username.clone())]);
}

#[tokio::test]
async fn joins_and_leaves_are_recorded_in_the_timeline_before_they_take_effect() {
    let dir = tempfile::tempdir().unwrap();
    let timeline = Arc::new(Recorder::default());
    let rooms = open_with(&DataDir::open(dir.path()).unwrap(), timeline.clone()).await;
    let (ana, bob) = (user(1, "ana"), user(2, "bob"));
    let room = rooms
        .create(&ana, RoomName::parse("general").unwrap(), 10)
        .await
        .unwrap();
    rooms.join(&bob, room).await.unwrap();
    rooms.join(&bob, room).await.unwrap();
    rooms.leave(&bob, room).await.unwrap();
    assert_eq!(
        timeline.changes(),
        [
            (room.0, "bob".into(), Membership::Join),
            (room.0, "bob".into(), Membership::Leave)
        ],
        "creating is not an entry, and joining twice records once"
    );
    assert!(matches!(
        rooms.leave(&bob, room).await,
        Err(MembershipError::Room(RoomError::NotMember))
    ));
    assert_eq!(
        timeline.changes().len(),
        2,
        "a refused leave records nothing"
    );

    // A change the timeline refuses changes nothing.
    timeline
        .refuse
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(matches!(
        rooms.join(&bob, room).await,
        Err(MembershipError::Unrecorded(SendError::Overloaded { .. }))
    ));
    assert!(rooms.check_member(bob.id, room).is_err());
    assert!(matches!(
        rooms.leave(&ana, room).await,
        Err(MembershipError::Unrecorded(_))
    ));
    assert!(rooms.check_member(ana.id, room).is_ok());
    assert_eq!(
        rooms.members(ana.id, room).await.unwrap(),
        [(ana.id, ana.username.clone())]
    );
}

#[tokio::test]
async fn reconcile_applies_the_newest_recorded_change_the_store_missed() {
    let dir = tempfile::tempdir().unwrap();
    let rooms = open(&DataDir::open(dir.path()).unwrap()).await;
    let (ana, bob, cy) = (user(1, "ana"), user(2, "bob"), user(3, "cyd"));
    let room = rooms
        .create(&ana, RoomName::parse("general").unwrap(), 10)
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
    };
    // As after a crash between recording and storing: cyd's join and bob's leave were
    // recorded but never stored; ana's join is already in the store.
    let repaired = rooms
        .reconcile(vec![
            event(&cy, Membership::Join),
            event(&bob, Membership::Leave),
            event(&ana, Membership::Join),
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
