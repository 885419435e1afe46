//! The contract every account and room store must keep, written once and run against each
//! implementation (the file store, the in-memory one and PostgreSQL; a new backend adds one line
//! to each `contract!` list of stores below).
//!
//! Each check takes a fresh, empty store from a factory. The file store also runs the restart
//! checks: write, drop, reopen the same directory, and find everything.
//!
//! Longer than 400 lines on purpose: one function a promise, and the promises are many.

use crate::hub::SessionKey;
use crate::store::accounts::{AccountError, AccountStore, StoredSession};
use crate::store::file::{accounts::FileAccounts, rooms::FileRooms};
use crate::store::memory::{MemoryAccounts, MemoryRooms};
use crate::store::postgres::{scratch, PgConfig, PgStores};
use crate::store::rooms::{RoomError, RoomStore, Standing, StandingUpdate};
use crate::store::{DataDir, RoomSettings};
use app::model::{
    NotifyLevel, Role, RoomId, RoomName, Topic, UserId, UserInfo, Username, Visibility,
};
use std::any::Any;
use std::sync::Arc;

/// A fresh store and what must live as long as it (a temporary directory).
type Fresh<S> = (Arc<S>, Box<dyn Any>);

fn name(raw: &str) -> Username {
    Username::parse(raw).unwrap()
}

fn user(id: u64, raw: &str) -> UserInfo {
    UserInfo {
        id: UserId(id),
        username: name(raw),
    }
}

fn room_name(raw: &str) -> RoomName {
    RoomName::parse(raw).unwrap()
}

fn session(user: &UserInfo, expires: i64) -> StoredSession {
    StoredSession {
        user: user.clone(),
        expires,
    }
}

/// A store opened on a fresh data directory, and the directory (kept as long as the store).
fn on_disk<S>(open: impl FnOnce(&DataDir) -> S) -> (S, Box<dyn Any>) {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::open(dir.path()).unwrap();
    let store = open(&data);
    (store, Box::new((dir, data)))
}

async fn file_accounts() -> Fresh<dyn AccountStore> {
    let (store, keep) = on_disk(|data| FileAccounts::open(data).unwrap());
    (Arc::new(store), keep)
}

async fn memory_accounts() -> Fresh<dyn AccountStore> {
    (Arc::new(MemoryAccounts::default()), Box::new(()))
}

async fn file_rooms() -> Fresh<dyn RoomStore> {
    let (store, keep) = on_disk(|data| FileRooms::open(data).unwrap());
    (Arc::new(store), keep)
}

async fn memory_rooms() -> Fresh<dyn RoomStore> {
    (Arc::new(MemoryRooms::default()), Box::new(()))
}

/// The stores of a fresh database on the scratch cluster.
async fn postgres() -> PgStores {
    let url = scratch::fresh_database().await;
    PgStores::open(&PgConfig { url, pool_size: 4 })
        .await
        .unwrap()
}

async fn postgres_accounts() -> Fresh<dyn AccountStore> {
    (Arc::new(postgres().await.accounts), Box::new(()))
}

async fn postgres_rooms() -> Fresh<dyn RoomStore> {
    (Arc::new(postgres().await.rooms), Box::new(()))
}

async fn usernames_are_unique_ignoring_case_and_ids_increase(store: Arc<dyn AccountStore>) {
    let ana = store
        .create_user(name("Ana"), "h1".into(), 0)
        .await
        .unwrap();
    let again = store.create_user(name("aNA"), "h2".into(), 0).await;
    assert!(
        matches!(again, Err(AccountError::UsernameTaken)),
        "{again:?}"
    );
    let bob = store
        .create_user(name("bob"), "h3".into(), 0)
        .await
        .unwrap();
    assert!(bob.id > ana.id);
    let found = store.user_by_name(&name("ANA")).await.unwrap().unwrap();
    assert_eq!((found.user, found.password_hash.as_str()), (ana, "h1"));
    assert_eq!(store.user_by_name(&name("carl")).await.unwrap(), None);
}

async fn a_session_is_found_while_valid_and_gone_after_end_or_expiry(store: Arc<dyn AccountStore>) {
    let ana = user(1, "ana");
    let (a, b) = (SessionKey("a".into()), SessionKey("b".into()));
    store
        .begin_session(a.clone(), session(&ana, 1_000), 20)
        .await
        .unwrap();
    store
        .begin_session(b.clone(), session(&ana, 1_000), 20)
        .await
        .unwrap();
    assert_eq!(
        store.session(&a, 999).await.unwrap(),
        Some(session(&ana, 1_000))
    );
    assert_eq!(store.session(&a, 1_000).await.unwrap(), None, "expired");
    assert!(store.end_session(&a).await.unwrap());
    assert!(!store.end_session(&a).await.unwrap(), "already ended");
    assert_eq!(store.session(&a, 0).await.unwrap(), None);
    assert!(store.session(&b, 0).await.unwrap().is_some());
}

async fn sessions_per_user_are_bounded_and_the_oldest_go_first(store: Arc<dyn AccountStore>) {
    let (ana, bob) = (user(1, "ana"), user(2, "bob"));
    store
        .begin_session(SessionKey("bob".into()), session(&bob, 1), 2)
        .await
        .unwrap();
    for (key, expires) in [("a2", 20), ("a1", 10)] {
        let evicted = store.begin_session(SessionKey(key.into()), session(&ana, expires), 2);
        assert_eq!(evicted.await.unwrap(), []);
    }
    let evicted = store.begin_session(SessionKey("a3".into()), session(&ana, 30), 2);
    assert_eq!(evicted.await.unwrap(), [SessionKey("a1".into())]);
    assert_eq!(
        store.session(&SessionKey("a1".into()), 0).await.unwrap(),
        None
    );
    assert!(store
        .session(&SessionKey("bob".into()), 0)
        .await
        .unwrap()
        .is_some());
    assert_eq!(store.end_sessions_of(ana.id).await.unwrap(), 2);
    assert_eq!(
        store.session(&SessionKey("a3".into()), 0).await.unwrap(),
        None
    );
    assert!(store
        .session(&SessionKey("bob".into()), 0)
        .await
        .unwrap()
        .is_some());
}

async fn room_ids_are_unique_and_increasing_and_the_quota_holds(store: Arc<dyn RoomStore>) {
    let ana = user(1, "ana");
    let first = create(&store, &ana, "a", 2).await.unwrap();
    let second = create(&store, &ana, "a", 2).await.unwrap();
    assert!(second > first);
    let third = create(&store, &ana, "c", 2).await;
    assert!(
        matches!(third, Err(RoomError::QuotaReached { created: 2 })),
        "{third:?}"
    );
    // Direct conversations are not rooms one creates: they do not use the quota.
    store
        .open_direct(ana.clone(), vec![user(2, "bob")], 0, 100)
        .await
        .unwrap();
    let other = create(&store, &user(2, "bob"), "c", 2).await.unwrap();
    assert!(other > second);
}

async fn a_deleted_room_is_gone_for_everyone_and_frees_its_creator_s_quota(
    store: Arc<dyn RoomStore>,
) {
    let (ana, bob) = (user(1, "ana"), user(2, "bob"));
    let first = create(&store, &ana, "first", 2).await.unwrap();
    let second = create(&store, &ana, "second", 2).await.unwrap();
    set(&store, first, &bob, MEMBER).await.unwrap();
    store.delete_rooms(vec![first]).await.unwrap();
    assert!(matches!(
        store.room(first, ana.id).await,
        Err(RoomError::NoSuchRoom)
    ));
    assert!(matches!(
        store.members(first).await,
        Err(RoomError::NoSuchRoom)
    ));
    for person in [&ana, &bob] {
        let rooms = store.rooms_of(person.id).await.unwrap();
        assert!(rooms.iter().all(|r| r.id != first), "{rooms:?}");
    }
    let listed = store
        .directory(bob.id, String::new(), None, 10)
        .await
        .unwrap();
    assert_eq!(
        listed.rooms.iter().map(|r| r.id).collect::<Vec<_>>(),
        [second]
    );
    assert!(store
        .access()
        .await
        .unwrap()
        .iter()
        .all(|(id, _)| *id != first));
    // Again, or a room it never had: nothing to do.
    store.delete_rooms(vec![first, RoomId(99)]).await.unwrap();
    // The quota counts the rooms one has, and ids are never given again.
    let third = create(&store, &ana, "third", 2).await.unwrap();
    assert!(third > second);
}

async fn the_direct_conversation_quota_counts_what_one_opened(store: Arc<dyn RoomStore>) {
    let (ana, bob, cyd, dan) = (
        user(1, "ana"),
        user(2, "bob"),
        user(3, "cyd"),
        user(4, "dan"),
    );
    let open =
        |by: &UserInfo, with: &UserInfo| store.open_direct(by.clone(), vec![with.clone()], 0, 2);
    let (first, _) = open(&ana, &bob).await.unwrap();
    open(&ana, &cyd).await.unwrap();
    assert!(matches!(
        open(&ana, &dan).await,
        Err(RoomError::DirectQuotaReached { opened: 2 })
    ));
    // Opening one again is no new conversation; the others' own quotas are theirs.
    assert_eq!(open(&ana, &bob).await.unwrap(), (first, false));
    assert_eq!(open(&bob, &ana).await.unwrap(), (first, false));
    assert!(open(&dan, &ana).await.unwrap().1);
}

async fn create(
    store: &Arc<dyn RoomStore>,
    by: &UserInfo,
    name: &str,
    quota: usize,
) -> Result<RoomId, RoomError> {
    store
        .create(by.clone(), room_name(name), Visibility::Public, 0, quota)
        .await
}

async fn set(
    store: &Arc<dyn RoomStore>,
    room: RoomId,
    user: &UserInfo,
    standing: Standing,
) -> Result<(), RoomError> {
    let update = StandingUpdate {
        room,
        user: user.clone(),
        standing,
    };
    store.set_standings(vec![update]).await
}

const MEMBER: Standing = Standing::Member(Role::Member);

async fn standings_are_idempotent_and_membership_is_queryable(store: Arc<dyn RoomStore>) {
    let (ana, bob) = (user(1, "ana"), user(2, "bob"));
    let room = create(&store, &ana, "r", 10).await.unwrap();
    let other = create(&store, &ana, "s", 10).await.unwrap();
    set(&store, room, &bob, MEMBER).await.unwrap();
    store.mark_read(room, bob.id, 7).await.unwrap();
    set(&store, room, &bob, MEMBER).await.unwrap();
    let moderator = Standing::Member(Role::Moderator);
    set(&store, room, &bob, moderator).await.unwrap();
    let view = store.room(room, bob.id).await.unwrap();
    assert_eq!(
        (view.member_count, view.viewer_last_read, view.viewer),
        (2, Some(7), moderator),
        "made a member again or given a role, a member keeps their read mark"
    );
    assert_eq!(
        store.room(other, bob.id).await.unwrap().viewer_last_read,
        None
    );
    let ids: Vec<RoomId> = store
        .rooms_of(bob.id)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, [room]);
    let members = store.members(room).await.unwrap();
    assert_eq!(
        members,
        [
            (ana.id, ana.username.clone(), Role::Owner),
            (bob.id, bob.username.clone(), Role::Moderator)
        ]
    );
    let access = store.access().await.unwrap();
    assert_eq!(access.len(), 2);
    assert_eq!(access[0].1.standing(bob.id), moderator);
    assert_eq!(access[0].1.standing(ana.id), Standing::Member(Role::Owner));
    assert_eq!(access[1].1.standing(bob.id), Standing::Gone);
    // All or nothing: a missing room refuses the whole write.
    let carl = user(3, "carl");
    let both = vec![
        StandingUpdate {
            room,
            user: carl.clone(),
            standing: MEMBER,
        },
        StandingUpdate {
            room: RoomId(99),
            user: carl.clone(),
            standing: MEMBER,
        },
    ];
    assert!(matches!(
        store.set_standings(both).await,
        Err(RoomError::NoSuchRoom)
    ));
    assert_eq!(
        store.room(room, carl.id).await.unwrap().viewer,
        Standing::Gone
    );
    assert!(matches!(
        store.members(RoomId(99)).await,
        Err(RoomError::NoSuchRoom)
    ));
}

async fn leaving_and_bans_end_a_membership(store: Arc<dyn RoomStore>) {
    let (ana, bob, carl) = (user(1, "ana"), user(2, "bob"), user(3, "carl"));
    let room = create(&store, &ana, "r", 10).await.unwrap();
    set(&store, room, &bob, MEMBER).await.unwrap();
    set(&store, room, &carl, MEMBER).await.unwrap();
    set(&store, room, &bob, Standing::Gone).await.unwrap();
    set(&store, room, &carl, Standing::Banned).await.unwrap();
    assert_eq!(store.rooms_of(bob.id).await.unwrap(), []);
    assert_eq!(store.rooms_of(carl.id).await.unwrap(), []);
    let view = store.room(room, carl.id).await.unwrap();
    assert_eq!((view.member_count, view.viewer), (1, Standing::Banned));
    assert!(matches!(
        store.mark_read(room, bob.id, 1).await,
        Err(RoomError::NotMember)
    ));
}

async fn private_rooms_are_seen_only_by_members_and_invitees(store: Arc<dyn RoomStore>) {
    let (ana, bob, carl) = (user(1, "ana"), user(2, "bob"), user(3, "carl"));
    let room = store
        .create(ana.clone(), room_name("secret"), Visibility::Private, 0, 10)
        .await
        .unwrap();
    let listed = |viewer: UserId| {
        let store = store.clone();
        async move {
            let rows = store.directory(viewer, String::new(), None, 10).await;
            rows.unwrap().rooms.iter().map(|r| r.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(ana.id).await, [room]);
    assert_eq!(listed(bob.id).await, []);
    assert!(matches!(
        store.room(room, bob.id).await,
        Err(RoomError::NoSuchRoom)
    ));
    set(&store, room, &bob, Standing::Invited).await.unwrap();
    assert_eq!(listed(bob.id).await, [room]);
    let mine = store.rooms_of(bob.id).await.unwrap();
    assert_eq!(
        (mine.len(), mine[0].viewer, mine[0].visibility),
        (1, Standing::Invited, Visibility::Private)
    );
    set(&store, room, &bob, MEMBER).await.unwrap();
    assert_eq!(store.room(room, bob.id).await.unwrap().member_count, 2);
    set(&store, room, &carl, Standing::Banned).await.unwrap();
    assert_eq!(listed(carl.id).await, []);
}

async fn direct_conversations_are_one_per_set_of_people(store: Arc<dyn RoomStore>) {
    let (ana, bob, carl, dave) = (
        user(1, "ana"),
        user(2, "bob"),
        user(3, "carl"),
        user(4, "dave"),
    );
    let (room, new) = store
        .open_direct(ana.clone(), vec![bob.clone(), carl.clone()], 0, 100)
        .await
        .unwrap();
    assert!(new);
    let (again, new) = store
        .open_direct(carl.clone(), vec![bob.clone(), ana.clone()], 0, 100)
        .await
        .unwrap();
    assert_eq!(
        (again, new),
        (room, false),
        "the same people, the same room"
    );
    let (pair, new) = store
        .open_direct(ana.clone(), vec![bob.clone()], 0, 100)
        .await
        .unwrap();
    assert!(new && pair != room);
    let view = store.room(room, ana.id).await.unwrap();
    assert_eq!(view.visibility, Visibility::Direct);
    assert_eq!(
        view.direct_with,
        [bob.username.clone(), carl.username.clone()]
    );
    assert_eq!(view.viewer, MEMBER, "nobody owns a direct conversation");
    assert!(matches!(
        store.room(room, dave.id).await,
        Err(RoomError::NoSuchRoom)
    ));
    let rows = store.directory(ana.id, String::new(), None, 10).await;
    assert_eq!(rows.unwrap().rooms, [], "never listed");
    assert_eq!(store.rooms_of(carl.id).await.unwrap().len(), 1);
}

async fn read_marks_only_move_forward_and_only_for_members(store: Arc<dyn RoomStore>) {
    let (ana, bob) = (user(1, "ana"), user(2, "bob"));
    let room = create(&store, &ana, "r", 10).await.unwrap();
    store.mark_read(room, ana.id, 5).await.unwrap();
    store.mark_read(room, ana.id, 3).await.unwrap();
    assert_eq!(
        store.room(room, ana.id).await.unwrap().viewer_last_read,
        Some(5)
    );
    assert!(matches!(
        store.mark_read(room, bob.id, 1).await,
        Err(RoomError::NotMember)
    ));
    assert!(matches!(
        store.mark_read(RoomId(9), ana.id, 1).await,
        Err(RoomError::NoSuchRoom)
    ));
}

async fn notify_levels_default_by_kind_and_belong_to_the_member(store: Arc<dyn RoomStore>) {
    let (ana, bob) = (user(1, "ana"), user(2, "bob"));
    let room = create(&store, &ana, "r", 10).await.unwrap();
    let (direct, _) = store
        .open_direct(ana.clone(), vec![bob.clone()], 0, 100)
        .await
        .unwrap();
    let level = |room, viewer: &UserInfo| {
        let store = store.clone();
        let viewer = viewer.id;
        async move { store.room(room, viewer).await.unwrap().viewer_notify }
    };
    assert_eq!(level(room, &ana).await, NotifyLevel::Mentions);
    assert_eq!(level(direct, &ana).await, NotifyLevel::All);
    store
        .set_notify(room, ana.id, NotifyLevel::All)
        .await
        .unwrap();
    store
        .set_notify(direct, ana.id, NotifyLevel::Nothing)
        .await
        .unwrap();
    store
        .set_notify(direct, ana.id, NotifyLevel::Nothing)
        .await
        .unwrap();
    assert_eq!(level(room, &ana).await, NotifyLevel::All);
    assert_eq!(level(direct, &ana).await, NotifyLevel::Nothing);
    assert_eq!(
        level(direct, &bob).await,
        NotifyLevel::All,
        "one member's choice"
    );
    assert!(matches!(
        store.set_notify(room, bob.id, NotifyLevel::All).await,
        Err(RoomError::NotMember)
    ));
    assert!(matches!(
        store.set_notify(RoomId(99), ana.id, NotifyLevel::All).await,
        Err(RoomError::NoSuchRoom)
    ));
    // A choice goes with the membership: someone who leaves and comes back starts over.
    set(&store, room, &bob, MEMBER).await.unwrap();
    store
        .set_notify(room, bob.id, NotifyLevel::Nothing)
        .await
        .unwrap();
    set(&store, room, &bob, Standing::Gone).await.unwrap();
    set(&store, room, &bob, MEMBER).await.unwrap();
    assert_eq!(level(room, &bob).await, NotifyLevel::Mentions);
}

async fn names_and_topics_change_for_every_viewer_and_missing_rooms_are_left_out(
    store: Arc<dyn RoomStore>,
) {
    let (ana, bob) = (user(1, "ana"), user(2, "bob"));
    let room = create(&store, &ana, "r", 10).await.unwrap();
    assert_eq!(
        store.room(room, bob.id).await.unwrap().topic,
        Topic::default()
    );
    let settings = RoomSettings {
        name: room_name("Renamed"),
        topic: Topic::parse("plans").unwrap(),
    };
    let ghost = (RoomId(99), settings.clone());
    store
        .set_settings(vec![(room, settings.clone()), ghost])
        .await
        .unwrap();
    // Again: nothing to change.
    store.set_settings(vec![(room, settings)]).await.unwrap();
    for viewer in [&ana, &bob] {
        let view = store.room(room, viewer.id).await.unwrap();
        assert_eq!(
            (view.name.as_str(), view.topic.as_str()),
            ("Renamed", "plans")
        );
    }
    assert!(matches!(
        store.room(RoomId(99), ana.id).await,
        Err(RoomError::NoSuchRoom)
    ));
    let found = store
        .directory(bob.id, "renam".into(), None, 10)
        .await
        .unwrap();
    assert_eq!(found.rooms.len(), 1);
}

async fn the_directory_pages_newest_first_and_searches_names(store: Arc<dyn RoomStore>) {
    let ana = user(1, "ana");
    for raw in ["Alpha", "beta", "ALPHABET", "gamma", "alphorn"] {
        create(&store, &ana, raw, 10).await.unwrap();
    }
    let page = |query: &str, before, limit| store.directory(ana.id, query.into(), before, limit);
    let names = |rows: &crate::store::rooms::DirectoryRows| -> Vec<String> {
        rows.rooms
            .iter()
            .map(|r| r.name.as_str().to_owned())
            .collect()
    };
    let first = page("", None, 2).await.unwrap();
    assert_eq!(names(&first), ["alphorn", "gamma"]);
    assert_eq!(first.next, Some(RoomId(4)));
    let second = page("", first.next, 2).await.unwrap();
    assert_eq!(names(&second), ["ALPHABET", "beta"]);
    let last = page("", second.next, 2).await.unwrap();
    assert_eq!((names(&last), last.next), (vec!["Alpha".to_owned()], None));
    let found = page(" alpha ", None, 10).await.unwrap();
    assert_eq!(
        (names(&found), found.next),
        (vec!["ALPHABET".to_owned(), "Alpha".to_owned()], None)
    );
}

/// One `#[tokio::test]` per check and store: a module per store (named, with its factory, in
/// the first list), each running every check of the second list.
macro_rules! contract {
    ([$($module:ident: $fresh:path),* $(,)?], $checks:tt) => {
        $(contract!(@store $module, $fresh, $checks);)*
    };
    (@store $module:ident, $fresh:path, [$($check:ident),* $(,)?]) => {
        mod $module {
            $(
                #[tokio::test]
                async fn $check() {
                    let (store, _keep) = $fresh().await;
                    super::$check(store).await;
                }
            )*
        }
    };
}

contract!(
    [
        file_account_store: super::file_accounts,
        memory_account_store: super::memory_accounts,
        postgres_account_store: super::postgres_accounts,
    ],
    [
        usernames_are_unique_ignoring_case_and_ids_increase,
        a_session_is_found_while_valid_and_gone_after_end_or_expiry,
        sessions_per_user_are_bounded_and_the_oldest_go_first,
    ]
);
contract!(
    [
        file_room_store: super::file_rooms,
        memory_room_store: super::memory_rooms,
        postgres_room_store: super::postgres_rooms,
    ],
    [
        room_ids_are_unique_and_increasing_and_the_quota_holds,
        standings_are_idempotent_and_membership_is_queryable,
        leaving_and_bans_end_a_membership,
        private_rooms_are_seen_only_by_members_and_invitees,
        direct_conversations_are_one_per_set_of_people,
        read_marks_only_move_forward_and_only_for_members,
        notify_levels_default_by_kind_and_belong_to_the_member,
        names_and_topics_change_for_every_viewer_and_missing_rooms_are_left_out,
        the_directory_pages_newest_first_and_searches_names,
        a_deleted_room_is_gone_for_everyone_and_frees_its_creator_s_quota,
        the_direct_conversation_quota_counts_what_one_opened,
    ]
);

#[tokio::test]
async fn the_file_stores_keep_everything_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (ana, bob) = (user(1, "ana"), user(2, "bob"));
    let (room, key) = {
        let data = DataDir::open(dir.path()).unwrap();
        let accounts = FileAccounts::open(&data).unwrap();
        accounts
            .create_user(name("ana"), "h".into(), 0)
            .await
            .unwrap();
        let key = SessionKey("k".into());
        accounts
            .begin_session(key.clone(), session(&ana, 50), 20)
            .await
            .unwrap();
        let rooms: Arc<dyn RoomStore> = Arc::new(FileRooms::open(&data).unwrap());
        let room = create(&rooms, &ana, "r", 10).await.unwrap();
        set(&rooms, room, &bob, Standing::Member(Role::Moderator))
            .await
            .unwrap();
        set(&rooms, room, &user(3, "carl"), Standing::Banned)
            .await
            .unwrap();
        set(&rooms, room, &user(4, "dave"), Standing::Invited)
            .await
            .unwrap();
        rooms.mark_read(room, bob.id, 4).await.unwrap();
        rooms
            .set_notify(room, bob.id, NotifyLevel::Nothing)
            .await
            .unwrap();
        rooms
            .open_direct(ana.clone(), vec![bob.clone()], 0, 100)
            .await
            .unwrap();
        (room, key)
    };
    let data = DataDir::open(dir.path()).unwrap();
    let accounts = FileAccounts::open(&data).unwrap();
    assert_eq!(
        accounts
            .user_by_name(&name("ANA"))
            .await
            .unwrap()
            .unwrap()
            .user,
        ana
    );
    assert_eq!(
        accounts.session(&key, 0).await.unwrap(),
        Some(session(&ana, 50))
    );
    let next = accounts
        .create_user(name("bob"), "h".into(), 0)
        .await
        .unwrap();
    assert_eq!(next.id, UserId(2), "ids go on from the reopened store");
    let rooms: Arc<dyn RoomStore> = Arc::new(FileRooms::open(&data).unwrap());
    let view = rooms.room(room, bob.id).await.unwrap();
    assert_eq!(
        (view.member_count, view.viewer_last_read, view.viewer),
        (2, Some(4), Standing::Member(Role::Moderator))
    );
    assert_eq!(view.viewer_notify, NotifyLevel::Nothing);
    let access = rooms.access().await.unwrap();
    assert_eq!(access[0].1.standing(UserId(3)), Standing::Banned);
    assert_eq!(access[0].1.standing(UserId(4)), Standing::Invited);
    let (direct, new) = rooms
        .open_direct(bob.clone(), vec![ana.clone()], 0, 100)
        .await
        .unwrap();
    assert!(
        !new && direct > room,
        "the direct conversation is found again"
    );
    assert!(create(&rooms, &ana, "s", 10).await.unwrap() > direct);
}
