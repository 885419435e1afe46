//! Private rooms, invitations, roles, kicks and bans, and direct conversations, end to end: a
//! real server on 127.0.0.1:0, real HTTP and WebSocket clients.
//!
//! Longer than 400 lines on purpose: every file under `server/tests/` is its own test binary,
//! linked against the whole server, so the files are one per area to keep build and link time down;
//! the setup they share is in `support/`.

mod support;

use app::api::{ApiError, Moderation};
use app::model::{Role, RoomId, Visibility};
use app::protocol::{ClientFrame, ErrorCode, ServerFrame};
use app::timeline::{Entry, MemberChange};
use minitalk_client::CallError;
use support::{ack_seq, register, start, User};

fn refused<T>(status: u16, error: ApiError) -> Result<T, CallError> {
    Err(CallError::Refused { status, error })
}

/// Whether `result` is a 403 `forbidden` (whatever its text).
fn forbidden<T: std::fmt::Debug>(result: Result<T, CallError>) -> bool {
    matches!(
        result,
        Err(CallError::Refused {
            status: 403,
            error: ApiError::Forbidden(_)
        })
    )
}

async fn moderate(by: &User, room: u64, whom: &str, action: Moderation) -> Result<(), CallError> {
    by.api.moderate(RoomId(room), whom, action).await
}

/// `owner` makes `whom` a moderator of `room`.
async fn make_moderator(owner: &User, room: u64, whom: &str) {
    let promote = Moderation::SetRole {
        role: Role::Moderator,
    };
    assert_eq!(moderate(owner, room, whom, promote).await, Ok(()));
}

/// The room's member entries as people read them.
async fn said(user: &User, room: u64) -> Vec<String> {
    user.whole_history(room)
        .await
        .into_iter()
        .filter_map(|entry| match entry {
            Entry::Member(e) => Some(e.describe()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn owners_and_moderators_moderate_people_of_lower_roles_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let (users, room) =
        support::members_of(server.addr, &["ana", "bob", "cyd", "dan"], "general").await;
    let [ana, bob, cyd, dan] = &users[..] else {
        unreachable!()
    };
    let promote = Moderation::SetRole {
        role: Role::Moderator,
    };
    assert!(forbidden(
        moderate(bob, room, "cyd", Moderation::Kick).await
    ));
    assert!(forbidden(
        moderate(dan, room, "bob", Moderation::Invite).await
    ));
    assert_eq!(moderate(ana, room, "bob", promote).await, Ok(()));
    let roles: Vec<(String, Role)> = ana
        .api
        .room_members(RoomId(room))
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.username.to_string(), m.role))
        .collect();
    assert!(roles.contains(&("ana".into(), Role::Owner)), "{roles:?}");
    assert!(
        roles.contains(&("bob".into(), Role::Moderator)),
        "{roles:?}"
    );
    assert!(
        forbidden(moderate(bob, room, "cyd", promote).await),
        "only owners give roles"
    );
    assert!(
        forbidden(moderate(bob, room, "ana", Moderation::Kick).await),
        "a moderator cannot act on an owner"
    );
    assert!(forbidden(moderate(bob, room, "bob", Moderation::Ban).await));

    // A ban removes and keeps out until lifted; an unban does not let anyone in by itself.
    assert_eq!(moderate(bob, room, "cyd", Moderation::Ban).await, Ok(()));
    assert!(forbidden(cyd.api.join_room(RoomId(room)).await));
    let info = cyd.api.room_info(RoomId(room)).await.unwrap();
    assert!(!info.is_member);
    assert!(forbidden(
        moderate(bob, room, "dan", Moderation::Unban).await
    ));
    assert_eq!(moderate(bob, room, "cyd", Moderation::Unban).await, Ok(()));
    cyd.join(room).await;
    // A kick removes; in a public room one may come back.
    assert_eq!(moderate(bob, room, "dan", Moderation::Kick).await, Ok(()));
    assert_eq!(
        dan.api.room_members(RoomId(room)).await,
        refused(403, ApiError::NotMember)
    );
    dan.join(room).await;

    assert_eq!(
        moderate(ana, room, "nobody", Moderation::Kick).await,
        refused(404, ApiError::NoSuchUser)
    );
    assert_eq!(
        moderate(ana, 99, "bob", Moderation::Kick).await,
        refused(404, ApiError::NoSuchRoom)
    );
    assert_eq!(
        said(ana, room).await,
        [
            "bob joined",
            "cyd joined",
            "dan joined",
            "ana made bob moderator",
            "bob banned cyd",
            "bob removed cyd",
            "cyd joined",
            "bob removed dan",
            "dan joined",
        ]
    );
}

#[tokio::test]
async fn a_kick_cuts_off_every_socket_of_the_kicked_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let (users, room) = support::members_of(server.addr, &["ana", "bob"], "general").await;
    let [ana, bob] = &users[..] else {
        unreachable!()
    };
    let bob_elsewhere = support::login(server.addr, "bob").await;
    let mut bob_tabs = [bob.connect().await, bob_elsewhere.connect().await];
    for tab in &mut bob_tabs {
        tab.subscribe(room, None).await;
    }
    assert_eq!(moderate(ana, room, "bob", Moderation::Kick).await, Ok(()));
    for tab in &mut bob_tabs {
        match tab.next().await {
            ServerFrame::Member(e) => {
                assert_eq!(e.change(), MemberChange::Removed);
                assert_eq!((e.sender.as_str(), e.user.as_str()), ("ana", "bob"));
            }
            other => panic!("expected the kick, got {other:?}"),
        }
        match tab.next().await {
            ServerFrame::Error(e) => assert_eq!(
                (e.code, e.room_id),
                (ErrorCode::NotMember, Some(RoomId(room)))
            ),
            other => panic!("expected the not_member notice, got {other:?}"),
        }
    }
    let mut ana_ws = ana.connect().await;
    ack_seq(&ana_ws.send_and_wait(room, "after", "not for bob").await);
    for tab in &mut bob_tabs {
        tab.ping().await;
        assert_eq!(
            tab.next().await,
            ServerFrame::Pong,
            "nothing after the kick"
        );
    }
    match bob_tabs[0].send_and_wait(room, "b1", "still here?").await {
        ServerFrame::Error(e) => assert_eq!(e.code, ErrorCode::NotMember),
        other => panic!("a kicked member's send is refused, got {other:?}"),
    }
    assert_eq!(
        bob.api.history(RoomId(room), None, 10).await,
        refused(403, ApiError::NotMember)
    );
}

#[tokio::test]
async fn a_private_room_is_invisible_until_an_invitation_and_one_may_decline() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let ana = register(server.addr, "ana").await;
    let cyd = register(server.addr, "cyd").await;
    let room = ana
        .api
        .create_room_as("secret plans", Visibility::Private)
        .await
        .unwrap();
    assert_eq!(room.visibility, Visibility::Private);
    assert_eq!(room.role, Some(Role::Owner));
    let id = room.id;
    let listed = |user: &User| {
        let api = user.api.clone();
        async move {
            let page = api.room_directory("", None, 50).await.unwrap();
            page.rooms.iter().map(|r| r.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(&ana).await, [id]);
    assert_eq!(listed(&cyd).await, []);
    assert_eq!(
        cyd.api.room_info(id).await,
        refused(404, ApiError::NoSuchRoom)
    );
    let unseen = refused(404, ApiError::NoSuchRoom);
    assert_eq!(cyd.api.join_room(id).await, unseen);
    assert_eq!(
        moderate(&cyd, id.0, "ana", Moderation::Kick).await,
        refused(404, ApiError::NoSuchRoom),
        "who is in it does not show from outside either"
    );
    assert_eq!(
        cyd.api.history(id, None, 10).await,
        refused(404, ApiError::NoSuchRoom),
        "its history does not show it exists either"
    );

    // Invited: listed for her, in her rooms as an invitation; she declines.
    assert_eq!(
        moderate(&ana, id.0, "cyd", Moderation::Invite).await,
        Ok(())
    );
    assert_eq!(listed(&cyd).await, [id]);
    let mine = cyd.api.list_rooms().await.unwrap();
    assert_eq!(
        (mine.len(), mine[0].invited, mine[0].is_member),
        (1, true, false)
    );
    assert_eq!(cyd.api.leave_room(id).await, Ok(()));
    assert_eq!(cyd.api.list_rooms().await.unwrap(), []);
    assert_eq!(cyd.api.join_room(id).await, unseen, "declined is declined");

    // Invited again, she accepts.
    assert_eq!(
        moderate(&ana, id.0, "cyd", Moderation::Invite).await,
        Ok(())
    );
    let joined = cyd.api.join_room(id).await.unwrap();
    assert_eq!((joined.is_member, joined.invited), (true, false));
    assert_eq!(
        said(&ana, id.0).await,
        [
            "ana invited cyd",
            "cyd left",
            "ana invited cyd",
            "cyd joined"
        ]
    );
}

#[tokio::test]
async fn a_direct_conversation_is_private_and_the_same_for_the_same_people() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let ana = register(server.addr, "ana").await;
    let bob = register(server.addr, "bob").await;
    let cyd = register(server.addr, "cyd").await;
    let dm = ana.api.open_direct(&["bob"]).await.unwrap();
    assert_eq!(dm.visibility, Visibility::Direct);
    assert_eq!(
        dm.direct_with
            .iter()
            .map(|u| u.as_str())
            .collect::<Vec<_>>(),
        ["bob"]
    );
    let same = bob.api.open_direct(&["ANA"]).await.unwrap();
    assert_eq!(same.id, dm.id, "the same people get the same conversation");
    assert_ne!(
        ana.api.open_direct(&["bob", "cyd"]).await.unwrap().id,
        dm.id
    );

    let mut ana_ws = ana.connect().await;
    let mut bob_ws = bob.connect().await;
    bob_ws.subscribe(dm.id.0, None).await;
    ack_seq(&ana_ws.send_and_wait(dm.id.0, "d1", "just us").await);
    assert_eq!(
        support::message_of(&bob_ws.next().await),
        (1, "just us".to_owned())
    );

    assert_eq!(
        cyd.api.room_info(dm.id).await,
        refused(404, ApiError::NoSuchRoom)
    );
    assert_eq!(
        cyd.api.join_room(dm.id).await,
        refused(404, ApiError::NoSuchRoom)
    );
    assert_eq!(
        cyd.api.history(dm.id, None, 10).await,
        refused(404, ApiError::NoSuchRoom)
    );
    let listed = cyd.api.room_directory("", None, 50).await.unwrap();
    assert_eq!(listed.rooms, [], "never in the directory");
    assert!(forbidden(
        moderate(&ana, dm.id.0, "cyd", Moderation::Invite).await
    ));

    let invalid = |r: Result<_, CallError>| {
        matches!(
            r,
            Err(CallError::Refused {
                status: 400,
                error: ApiError::Invalid(_)
            })
        )
    };
    // Bob leaves; opening it again brings him back into the same conversation.
    assert_eq!(bob.api.leave_room(dm.id).await, Ok(()));
    assert_eq!(
        bob.api.room_info(dm.id).await,
        refused(404, ApiError::NoSuchRoom)
    );
    let back = bob.api.open_direct(&["ana"]).await.unwrap();
    assert_eq!((back.id, back.is_member), (dm.id, true));
    assert_eq!(bob.history(dm.id.0).await, [(1, "just us".to_owned())]);

    assert!(invalid(ana.api.open_direct(&["ana"]).await));
    assert!(invalid(ana.api.open_direct(&[]).await));
    let crowd: Vec<String> = (0..10).map(|i| format!("user{i}")).collect();
    let crowd: Vec<&str> = crowd.iter().map(String::as_str).collect();
    assert!(invalid(ana.api.open_direct(&crowd).await));
    assert_eq!(
        ana.api.open_direct(&["nobody"]).await,
        refused(404, ApiError::NoSuchUser)
    );
}

#[tokio::test]
async fn invitations_waiting_for_one_person_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--rooms-per-user", "200"]).await;
    let ana = register(server.addr, "ana").await;
    let _cyd = register(server.addr, "cyd").await;
    let cap = minitalk_server::backend::PENDING_INVITATIONS_MAX;
    let mut rooms = Vec::new();
    for i in 0..=cap {
        let room = ana
            .api
            .create_room_as(&format!("private {i}"), Visibility::Private)
            .await
            .unwrap();
        rooms.push(room.id.0);
    }
    for room in &rooms[..cap] {
        assert_eq!(
            moderate(&ana, *room, "cyd", Moderation::Invite).await,
            Ok(())
        );
    }
    assert!(
        forbidden(moderate(&ana, rooms[cap], "cyd", Moderation::Invite).await),
        "one more than {cap} waiting is refused"
    );
}

#[tokio::test]
async fn moderation_counts_against_the_membership_change_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--membership-changes-per-min", "3"]).await;
    let ana = register(server.addr, "ana").await;
    for name in ["bob", "cyd", "dan", "eve"] {
        register(server.addr, name).await;
    }
    let room = ana
        .api
        .create_room_as("club", Visibility::Private)
        .await
        .unwrap()
        .id
        .0;
    for name in ["bob", "cyd", "dan"] {
        assert_eq!(moderate(&ana, room, name, Moderation::Invite).await, Ok(()));
    }
    assert!(matches!(
        moderate(&ana, room, "eve", Moderation::Invite).await,
        Err(CallError::Refused {
            status: 429,
            error: ApiError::RateLimited(_)
        })
    ));
    assert_eq!(
        said(&ana, room).await.len(),
        3,
        "the refused one records nothing"
    );
}

#[tokio::test]
async fn opening_direct_conversations_counts_against_the_room_creation_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--room-creations-per-hour", "2"]).await;
    let ana = register(server.addr, "ana").await;
    for name in ["bob", "cyd", "dan"] {
        register(server.addr, name).await;
    }
    assert!(ana.api.open_direct(&["bob"]).await.is_ok());
    assert!(ana.api.open_direct(&["cyd"]).await.is_ok());
    assert!(matches!(
        ana.api.open_direct(&["dan"]).await,
        Err(CallError::Refused {
            status: 429,
            error: ApiError::RateLimited(_)
        })
    ));
}

#[tokio::test]
async fn owners_and_moderators_rename_a_room_and_set_its_topic_as_a_timeline_entry() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let (users, room) = support::members_of(server.addr, &["ana", "bob", "cyd"], "general").await;
    let [ana, bob, cyd] = &users[..] else {
        unreachable!()
    };
    make_moderator(ana, room, "bob").await;
    let mut cyd_ws = cyd.connect().await;
    cyd_ws.subscribe(room, None).await;
    cyd_ws.send_frame(&ClientFrame::SubscribeUser).await;

    // A moderator sets the topic; the name stays.
    let row = bob
        .api
        .update_room(RoomId(room), None, Some(" plans for friday "))
        .await
        .unwrap();
    assert_eq!(
        (row.name.as_str(), row.topic.as_str()),
        ("general", "plans for friday")
    );
    // Members listening hear it as a `room` entry with the next seq, and their row follows.
    let (mut event, mut changed_row) = (None, None);
    while event.is_none() || changed_row.is_none() {
        match cyd_ws.next().await {
            ServerFrame::Room(e) => event = Some(e),
            ServerFrame::RoomChanged { room: r } if r.topic == "plans for friday" => {
                changed_row = Some(r)
            }
            _ => {}
        }
    }
    let event = event.unwrap();
    assert_eq!(
        (event.sender.as_str(), event.name.as_str()),
        ("bob", "general")
    );

    // The owner renames it; a member may not, nor may an outsider; a bad name is invalid.
    ana.api
        .update_room(RoomId(room), Some("Friday"), None)
        .await
        .unwrap();
    assert!(forbidden(
        cyd.api.update_room(RoomId(room), Some("mine"), None).await
    ));
    let dan = register(server.addr, "dan").await;
    assert_eq!(
        dan.api
            .update_room(RoomId(room), Some("x"), None)
            .await
            .map(|_| ()),
        refused(403, ApiError::NotMember)
    );
    assert!(matches!(
        ana.api.update_room(RoomId(room), Some("  "), None).await,
        Err(CallError::Refused {
            status: 400,
            error: ApiError::Invalid(_)
        })
    ));
    assert!(matches!(
        ana.api
            .update_room(RoomId(room), None, Some("two\nlines"))
            .await,
        Err(CallError::Refused {
            status: 400,
            error: ApiError::Invalid(_)
        })
    ));
    // Setting what already is records nothing.
    ana.api
        .update_room(RoomId(room), Some("Friday"), None)
        .await
        .unwrap();

    // Both changes are in the timeline, in order, seen after a reconnect like any entry.
    let rooms: Vec<(String, String)> = cyd
        .whole_history(room)
        .await
        .into_iter()
        .filter_map(|entry| match entry {
            Entry::Room(e) => Some((e.name.as_str().to_owned(), e.topic.as_str().to_owned())),
            _ => None,
        })
        .collect();
    assert_eq!(
        rooms,
        [
            ("general".to_owned(), "plans for friday".to_owned()),
            ("Friday".to_owned(), "plans for friday".to_owned())
        ]
    );
    let info = cyd.api.room_info(RoomId(room)).await.unwrap();
    assert_eq!(
        (info.name.as_str(), info.topic.as_str()),
        ("Friday", "plans for friday")
    );
    let found = dan.api.room_directory("fri", None, 10).await.unwrap();
    assert_eq!(
        found.rooms.iter().map(|r| r.id).collect::<Vec<_>>(),
        [RoomId(room)]
    );

    // A direct conversation has no name to change.
    let dm = ana.api.open_direct(&["bob"]).await.unwrap();
    assert!(forbidden(
        ana.api.update_room(dm.id, Some("ours"), None).await
    ));

    // After a restart the name and topic are still there.
    drop(cyd_ws);
    server.shutdown();
    server.stopped().await.unwrap();
    let server = start(dir.path(), &[]).await;
    let cyd = support::login(server.addr, "cyd").await;
    let info = cyd.api.room_info(RoomId(room)).await.unwrap();
    assert_eq!(
        (info.name.as_str(), info.topic.as_str()),
        ("Friday", "plans for friday")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_deletes_a_room_everyone_loses_it_at_once_and_its_text_leaves_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let (users, room) =
        support::members_of(server.addr, &["ana", "bob", "cyd"], "doomed-hall").await;
    let [ana, bob, cyd] = &users[..] else {
        unreachable!()
    };
    let kept = ana.create_room("kept-hall").await;
    make_moderator(ana, room, "bob").await;
    let dan = register(server.addr, "dan").await;
    assert_eq!(moderate(ana, room, "dan", Moderation::Invite).await, Ok(()));
    let mut ana_ws = ana.connect().await;
    ana_ws.subscribe(room, None).await;
    ana_ws.subscribe(kept, None).await;
    ana_ws
        .send_and_wait(room, "s-1", "zanzibar-secret-words")
        .await;
    ana_ws
        .send_and_wait(kept, "k-1", "harmless-kept-words")
        .await;
    ana.api
        .update_room(RoomId(room), None, Some("topic-secret-words"))
        .await
        .unwrap();
    // Two sockets of one member, and an invitee's user stream.
    let mut cyd_room = cyd.connect().await;
    cyd_room.subscribe(room, None).await;
    let mut cyd_rows = cyd.connect().await;
    cyd_rows.send_frame(&ClientFrame::SubscribeUser).await;
    let mut dan_rows = dan.connect().await;
    dan_rows.send_frame(&ClientFrame::SubscribeUser).await;

    // Only the owner: not a moderator, a member, an invitee or an outsider.
    assert!(forbidden(bob.api.delete_room(RoomId(room)).await));
    assert!(forbidden(cyd.api.delete_room(RoomId(room)).await));
    let eve = register(server.addr, "eve").await;
    assert_eq!(
        eve.api.delete_room(RoomId(room)).await,
        refused(403, ApiError::NotMember)
    );
    assert_eq!(
        dan.api.delete_room(RoomId(room)).await,
        refused(403, ApiError::NotMember)
    );
    // Nor a direct conversation, by anyone in it.
    let dm = ana.api.open_direct(&["bob"]).await.unwrap();
    assert!(forbidden(ana.api.delete_room(dm.id).await));

    ana.api.delete_room(RoomId(room)).await.unwrap();

    // The open room sees the deletion as its last entry, and nothing after it.
    let deleted = loop {
        if let ServerFrame::RoomDeleted(e) = cyd_room.next().await {
            break e;
        }
    };
    assert_eq!(deleted.sender.as_str(), "ana");
    // Every member's and invitee's rooms list loses it.
    for rows in [&mut cyd_rows, &mut dan_rows] {
        loop {
            if let ServerFrame::RoomRemoved { room_id } = rows.next().await {
                assert_eq!(room_id, RoomId(room));
                break;
            }
        }
    }
    // Nobody can post, read, join or find it any more; the other room is untouched.
    cyd_room.send(room, "late", "hello?").await;
    loop {
        match cyd_room.next().await {
            ServerFrame::Error(e) if e.client_id.as_deref() == Some("late") => {
                assert_eq!(e.code, ErrorCode::NoSuchRoom);
                break;
            }
            ServerFrame::Message(m) => panic!("a message after the deletion: {m:?}"),
            _ => {}
        }
    }
    assert_eq!(
        cyd.api.history(RoomId(room), None, 50).await.map(drop),
        refused(404, ApiError::NoSuchRoom)
    );
    assert_eq!(
        eve.api.join_room(RoomId(room)).await.map(drop),
        refused(404, ApiError::NoSuchRoom)
    );
    assert!(eve
        .api
        .room_directory("doomed", None, 10)
        .await
        .unwrap()
        .rooms
        .is_empty());
    assert!(ana
        .api
        .list_rooms()
        .await
        .unwrap()
        .iter()
        .all(|r| r.id != RoomId(room)));
    assert_eq!(
        ana.api.delete_room(RoomId(room)).await,
        refused(404, ApiError::NoSuchRoom)
    );
    assert_eq!(
        ana.history(kept).await,
        [(1, "harmless-kept-words".to_owned())]
    );

    // Its words leave the disk (the log, the rooms journal and snapshot) within seconds.
    let mut waited = 0;
    while ["zanzibar-secret", "topic-secret", "doomed-hall"]
        .iter()
        .any(|word| support::disk_holds(dir.path(), word))
    {
        assert!(
            waited < 300,
            "a deleted room's text is still on disk after 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    assert!(support::disk_holds(dir.path(), "harmless-kept-words"));

    // A restart keeps it deleted, and the other room whole.
    drop((ana_ws, cyd_room, cyd_rows, dan_rows));
    server.shutdown();
    server.stopped().await.unwrap();
    let server = start(dir.path(), &[]).await;
    let ana = support::login(server.addr, "ana").await;
    assert_eq!(
        ana.api.room_info(RoomId(room)).await.map(drop),
        refused(404, ApiError::NoSuchRoom)
    );
    assert_eq!(
        ana.history(kept).await,
        [(1, "harmless-kept-words".to_owned())]
    );
    assert!(!support::disk_holds(dir.path(), "zanzibar-secret"));
}
