//! The rooms service's rules and its membership cache, over the file store.

use super::*;
use crate::store::file::rooms::FileRooms;
use crate::store::DataDir;

fn user(id: u64, name: &str) -> UserInfo {
    UserInfo {
        id: UserId(id),
        username: Username::parse(name).unwrap(),
    }
}

async fn open(data: &DataDir) -> Rooms {
    Rooms::open(Arc::new(FileRooms::open(data).unwrap()))
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
        let rooms = Rooms::open(store.clone()).await.unwrap();
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
