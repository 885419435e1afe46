//! Replies and reactions, end to end: a real server on 127.0.0.1:0, real HTTP and WebSocket
//! clients.

mod support;

use app::api::ApiError;
use app::model::RoomId;
use app::protocol::{ErrorCode, ServerFrame};
use app::timeline::Entry;
use minitalk_client::CallError;
use support::{ack_seq, register, start};

#[tokio::test]
async fn a_reply_names_its_message_live_in_history_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let (users, room) = support::members_of(server.addr, &["ana", "bob"], "general").await;
    let [ana, bob] = &users[..] else {
        unreachable!()
    };
    let mut ana_socket = ana.listening(room).await;
    let mut bob_socket = bob.listening(room).await;
    let question = ack_seq(&ana_socket.send_and_wait(room, "q", "lunch?").await);
    assert!(matches!(bob_socket.next().await, ServerFrame::Message(_)));
    // Her own message's broadcast.
    assert!(matches!(
        support::next_entry(&mut ana_socket).await,
        ServerFrame::Message(_)
    ));

    let answer = bob_socket
        .reply_and_wait(room, "a", "yes @ana", Some(question))
        .await;
    let answer = ack_seq(&answer);
    match support::next_entry(&mut ana_socket).await {
        ServerFrame::Message(m) => {
            assert_eq!((m.seq, m.reply_to), (answer, Some(question)));
        }
        other => panic!("expected the reply, got {other:?}"),
    }
    // A resend is answered with the original; a reply to nothing, to an entry that is no
    // message, or to a deleted message is refused with its code, and stores nothing.
    let again = bob_socket
        .reply_and_wait(room, "a", "yes @ana", Some(question))
        .await;
    assert_eq!(ack_seq(&again), answer);
    for (id, target) in [("n1", 999), ("n2", 1)] {
        match bob_socket
            .reply_and_wait(room, id, "to what?", Some(target))
            .await
        {
            ServerFrame::Error(e) => assert_eq!(e.code, ErrorCode::NoSuchMessage, "{e:?}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    ana.api
        .delete_message(RoomId(room), question, "d1")
        .await
        .unwrap();
    match bob_socket
        .reply_and_wait(room, "n3", "too late", Some(question))
        .await
    {
        ServerFrame::Error(e) => assert_eq!(e.code, ErrorCode::NoSuchMessage),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let replies = |history: &[Entry]| -> Vec<(u64, Option<u64>)> {
        history
            .iter()
            .filter_map(|e| match e {
                Entry::Message(m) => Some((m.seq, m.reply_to)),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        replies(&ana.whole_history(room).await),
        [(answer, Some(question))]
    );

    drop((ana_socket, bob_socket));
    server.shutdown();
    server.stopped().await.unwrap();
    let server = start(dir.path(), &[]).await;
    let ana = ana.at(server.addr);
    assert_eq!(
        replies(&ana.whole_history(room).await),
        [(answer, Some(question))]
    );
}

#[tokio::test]
async fn reactions_are_live_counted_in_history_and_only_members_react() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let (users, room) = support::members_of(server.addr, &["ana", "bob"], "general").await;
    let [ana, bob] = &users[..] else {
        unreachable!()
    };
    let room_id = RoomId(room);
    let mut ana_socket = ana.listening(room).await;
    let seq = ack_seq(&ana_socket.send_and_wait(room, "m", "ship it?").await);
    assert!(matches!(
        support::next_entry(&mut ana_socket).await,
        ServerFrame::Message(_)
    ));

    assert_eq!(bob.api.react(room_id, seq, "👍", true, "r1").await, Ok(()));
    match support::next_entry(&mut ana_socket).await {
        ServerFrame::Reaction(r) => {
            assert_eq!(
                (r.target_seq, r.emoji.as_str(), r.on, r.sender.as_str()),
                (seq, "👍", true, "bob")
            );
        }
        other => panic!("expected the reaction, got {other:?}"),
    }
    // A retry after a lost answer is answered, not stored twice.
    assert_eq!(bob.api.react(room_id, seq, "👍", true, "r1").await, Ok(()));
    assert_eq!(ana.api.react(room_id, seq, "👍", true, "r2").await, Ok(()));
    assert_eq!(ana.api.react(room_id, seq, "🎉", true, "r3").await, Ok(()));
    assert_eq!(bob.api.react(room_id, seq, "👍", false, "r4").await, Ok(()));

    let history = bob.whole_history(room).await;
    let reaction_entries = history
        .iter()
        .filter(|e| matches!(e, Entry::Reaction(_)))
        .count();
    assert_eq!(reaction_entries, 4);
    let Some(Entry::Message(shown)) = history.iter().find(|e| e.seq() == seq) else {
        panic!("{history:?}")
    };
    let counts: Vec<(String, Vec<String>)> = shown
        .reactions
        .iter()
        .flat_map(|r| &r.emoji)
        .map(|r| {
            (
                r.emoji.to_string(),
                r.users.iter().map(|u| u.to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("👍".to_string(), vec!["ana".to_string()]),
            ("🎉".to_string(), vec!["ana".to_string()])
        ]
    );

    // Not one of the set, not there, not a member: each has its answer.
    assert!(matches!(
        bob.api.react(room_id, seq, "💩", true, "x1").await,
        Err(CallError::Refused { status: 400, .. })
    ));
    assert!(matches!(
        bob.api.react(room_id, seq, "<b>", true, "x2").await,
        Err(CallError::Refused { status: 400, .. })
    ));
    assert_eq!(
        bob.api.react(room_id, 999, "👍", true, "x3").await,
        Err(CallError::Refused {
            status: 404,
            error: ApiError::NoSuchMessage
        })
    );
    let outsider = register(server.addr, "eve").await;
    assert_eq!(
        outsider.api.react(room_id, seq, "👍", true, "x4").await,
        Err(CallError::Refused {
            status: 403,
            error: ApiError::NotMember
        })
    );
}
