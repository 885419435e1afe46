//! Editing and deleting messages, end to end: a real server on 127.0.0.1:0, real HTTP and
//! WebSocket clients, and the data directory read back byte for byte.

mod support;

use app::api::ApiError;
use app::model::{RoomId, Visibility};
use app::protocol::ServerFrame;
use app::timeline::Entry;
use minitalk_client::CallError;
use std::time::{Duration, Instant};
use support::{ack_seq, register, start};

fn refused(status: u16, error: ApiError) -> Result<(), CallError> {
    Err(CallError::Refused { status, error })
}

fn forbidden(result: Result<(), CallError>) -> bool {
    matches!(
        result,
        Err(CallError::Refused {
            status: 403,
            error: ApiError::Forbidden(_)
        })
    )
}

#[tokio::test]
async fn an_edit_is_seen_live_and_in_history_and_only_the_author_edits() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let (users, room) = support::members_of(server.addr, &["ana", "bob"], "general").await;
    let [ana, bob] = &users[..] else {
        unreachable!()
    };
    let mut ana_socket = ana.listening(room).await;
    let mut bob_socket = bob.listening(room).await;
    let seq = ack_seq(&ana_socket.send_and_wait(room, "m1", "helo").await);
    assert!(matches!(bob_socket.next().await, ServerFrame::Message(_)));

    let room_id = RoomId(room);
    assert_eq!(
        ana.api.edit_message(room_id, seq, "hello", "e1").await,
        Ok(())
    );
    match support::next_entry(&mut bob_socket).await {
        ServerFrame::Edit(edit) => {
            assert_eq!((edit.target_seq, edit.content.as_str()), (seq, "hello"));
            assert_eq!(edit.sender.as_str(), "ana");
        }
        other => panic!("expected the edit, got {other:?}"),
    }
    // A retry after a lost answer edits nothing twice.
    assert_eq!(
        ana.api.edit_message(room_id, seq, "hello", "e1").await,
        Ok(())
    );
    let whole = bob.whole_history(room).await;
    let edits = whole.iter().filter(|e| matches!(e, Entry::Edit(_))).count();
    assert_eq!(edits, 1);
    let shown = whole
        .iter()
        .find_map(|e| match e {
            Entry::Message(m) if m.seq == seq => Some(m.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(shown.content, "hello");
    assert!(shown.edited.is_some(), "history says it was edited");

    // Not yours, not there, not a message, not valid: each has its answer.
    assert!(forbidden(
        bob.api.edit_message(room_id, seq, "mine now", "b1").await
    ));
    assert_eq!(
        ana.api.edit_message(room_id, 999, "nothing", "e2").await,
        refused(404, ApiError::NoSuchMessage)
    );
    assert!(matches!(
        ana.api.edit_message(room_id, seq, "   ", "e3").await,
        Err(CallError::Refused { status: 400, .. })
    ));
    let outsider = register(server.addr, "eve").await;
    assert_eq!(
        outsider.api.edit_message(room_id, seq, "hi", "x1").await,
        refused(403, ApiError::NotMember)
    );
    // The same client_id for another edit is refused, not mistaken for the first.
    assert!(matches!(
        ana.api.edit_message(room_id, seq, "other", "e1").await,
        Err(CallError::Refused { status: 400, .. })
    ));
}

#[tokio::test]
async fn a_deleted_message_is_gone_live_in_history_and_from_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let (users, room) = support::members_of(server.addr, &["ana", "bob", "cyd"], "general").await;
    let [ana, bob, cyd] = &users[..] else {
        unreachable!()
    };
    let room_id = RoomId(room);
    let mut bob_socket = bob.listening(room).await;
    let mut cyd_socket = cyd.listening(room).await;
    let secret = ack_seq(
        &bob_socket
            .send_and_wait(room, "b1", "bob-secret-words")
            .await,
    );
    assert_eq!(
        bob.api
            .edit_message(room_id, secret, "bob-edited-words", "be1")
            .await,
        Ok(())
    );
    let kept = ack_seq(&cyd_socket.send_and_wait(room, "c1", "cyd-kept-words").await);

    // Another member may not delete it; its author and the owner may.
    assert!(forbidden(
        cyd.api.delete_message(room_id, secret, "cd1").await
    ));
    assert_eq!(ana.api.delete_message(room_id, secret, "ad1").await, Ok(()));
    loop {
        match support::next_entry(&mut cyd_socket).await {
            ServerFrame::MessageDeleted(deletion) => {
                assert_eq!(deletion.target_seq, secret);
                assert_eq!(deletion.sender.as_str(), "ana");
                break;
            }
            ServerFrame::Message(_) | ServerFrame::Edit(_) => {}
            other => panic!("expected the deletion, got {other:?}"),
        }
    }
    assert_eq!(
        bob.api.delete_message(room_id, secret, "bd1").await,
        refused(404, ApiError::NoSuchMessage)
    );
    assert_eq!(
        bob.api.edit_message(room_id, secret, "back", "be2").await,
        refused(404, ApiError::NoSuchMessage)
    );
    // Its author deletes their own too.
    assert_eq!(cyd.api.delete_message(room_id, kept, "cd2").await, Ok(()));

    // History: where it was, who wrote it, nothing of what it said.
    let whole = cyd.whole_history(room).await;
    let erased = whole
        .iter()
        .find_map(|e| match e {
            Entry::Erased(erased) if erased.seq == secret => Some(erased.clone()),
            _ => None,
        })
        .expect("the deleted message reads as erased");
    assert_eq!(erased.sender.map(|s| s.to_string()), Some("bob".into()));
    let page = serde_json::to_string(&whole).unwrap();
    assert!(!page.contains("bob-secret") && !page.contains("bob-edited"));
    // A resubscribe from before it replays it erased.
    let mut late = cyd.connect().await;
    let replayed = late.subscribe(room, Some(secret - 1)).await;
    assert!(
        matches!(&replayed[0], ServerFrame::Erased(e) if e.seq == secret),
        "{replayed:?}"
    );

    // The disk: every file of the data directory, within the stated bound (a minute; here
    // it takes milliseconds).
    let deadline = Instant::now() + Duration::from_secs(10);
    while support::disk_holds(dir.path(), "bob-secret-words")
        || support::disk_holds(dir.path(), "bob-edited-words")
        || support::disk_holds(dir.path(), "cyd-kept-words")
    {
        assert!(Instant::now() < deadline, "still on disk after 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn moderators_delete_anyone_s_message_but_nobody_moderates_a_direct_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let (users, room) = support::members_of(server.addr, &["ana", "bob", "cyd"], "hall").await;
    let [ana, bob, cyd] = &users[..] else {
        unreachable!()
    };
    let promote = app::api::Moderation::SetRole {
        role: app::model::Role::Moderator,
    };
    assert_eq!(ana.api.moderate(RoomId(room), "bob", promote).await, Ok(()));
    let mut cyd_socket = cyd.listening(room).await;
    let seq = ack_seq(&cyd_socket.send_and_wait(room, "c1", "spam").await);
    assert_eq!(
        bob.api.delete_message(RoomId(room), seq, "bd").await,
        Ok(())
    );

    let direct = ana.api.open_direct(&["cyd"]).await.unwrap();
    assert_eq!(direct.visibility, Visibility::Direct);
    let mut cyd_dm = cyd.connect().await;
    cyd_dm.subscribe(direct.id.0, None).await;
    let seq = ack_seq(&cyd_dm.send_and_wait(direct.id.0, "c2", "just us").await);
    assert!(forbidden(
        ana.api.delete_message(direct.id, seq, "ad").await
    ));
    assert_eq!(cyd.api.delete_message(direct.id, seq, "cd").await, Ok(()));
}

#[tokio::test]
async fn edits_and_reactions_count_against_the_sender_s_message_rate() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--rate-limit", "0.1", "--rate-burst", "3"]).await;
    let (users, room) = support::members_of(server.addr, &["ana"], "general").await;
    let ana = &users[0];
    let mut socket = ana.connect().await;
    let seq = ack_seq(&socket.send_and_wait(room, "m", "first").await);
    let room_id = RoomId(room);
    let mut answers = Vec::new();
    for i in 0..4 {
        let edit = ana
            .api
            .edit_message(room_id, seq, &format!("edit {i}"), &format!("e{i}"))
            .await;
        answers.push(matches!(
            edit,
            Err(CallError::Refused {
                status: 429,
                error: ApiError::RateLimited(_)
            })
        ));
        let reaction = ana
            .api
            .react(room_id, seq, "👍", i % 2 == 0, &format!("r{i}"))
            .await;
        answers.push(matches!(
            reaction,
            Err(CallError::Refused {
                status: 429,
                error: ApiError::RateLimited(_)
            })
        ));
    }
    // The message took one of the burst of three: two more pass, the rest are refused.
    assert_eq!(answers, [false, false, true, true, true, true, true, true]);
    let stored = ana
        .whole_history(room)
        .await
        .iter()
        .filter(|e| matches!(e, Entry::Edit(_) | Entry::Reaction(_)))
        .count();
    assert_eq!(stored, 2, "a refused edit or reaction stores nothing");
}
