//! The user stream end to end: the sidebar's snapshot and its live changes on a real server
//! (127.0.0.1:0, real HTTP and WebSocket), across two tabs of one person, and never a word to
//! someone outside a private room.

mod support;

use app::api::{ApiError, Moderation};
use app::model::{NotifyLevel, Role, RoomId, RoomSummary, Visibility, PREVIEW_CHARS};
use app::protocol::{ClientFrame, ServerFrame};
use support::{register, start, Client};

/// Follows the user's rooms; returns the snapshot.
async fn follow(client: &mut Client) -> Vec<RoomSummary> {
    client.send_frame(&ClientFrame::SubscribeUser).await;
    loop {
        if let ServerFrame::UserSubscribed { rooms } = client.next().await {
            return rooms;
        }
    }
}

/// The next change to `room` in the stream: its row, or `None` when it was removed.
async fn next_change(client: &mut Client, room: RoomId) -> Option<RoomSummary> {
    loop {
        match client.next().await {
            ServerFrame::RoomChanged { room: row } if row.id == room => return Some(row),
            ServerFrame::RoomRemoved { room_id } if room_id == room => return None,
            _ => {}
        }
    }
}

/// Waits for a row of `room` that satisfies `wanted` (counts arrive coalesced, so an
/// intermediate row may come first).
async fn row_where(
    client: &mut Client,
    room: RoomId,
    wanted: impl Fn(&RoomSummary) -> bool,
) -> RoomSummary {
    loop {
        if let Some(row) = next_change(client, room).await {
            if wanted(&row) {
                return row;
            }
        }
    }
}

#[tokio::test]
async fn two_tabs_follow_an_invitation_its_messages_a_read_mark_and_a_kick_live() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let ana = register(server.addr, "ana").await;
    let bob = register(server.addr, "bob").await;
    let cyd = register(server.addr, "cyd").await;
    let general = RoomId(ana.create_room("general").await);
    let (mut tab1, mut tab2) = (ana.connect().await, ana.connect().await);
    let mut outsider = cyd.connect().await;
    let snapshot = follow(&mut tab1).await;
    assert_eq!(snapshot.iter().map(|r| r.id).collect::<Vec<_>>(), [general]);
    follow(&mut tab2).await;
    assert_eq!(follow(&mut outsider).await, []);

    // A room made in one tab, and a conversation someone else opened, show in every tab.
    let desk = RoomId(ana.create_room("desk").await);
    let dm = bob.api.open_direct(&["ana"]).await.unwrap().id;
    for tab in [&mut tab1, &mut tab2] {
        let row = next_change(tab, desk).await.expect("the new room shows");
        assert_eq!(row.role, Some(Role::Owner));
        let row = next_change(tab, dm).await.expect("the conversation shows");
        assert_eq!(row.visibility, Visibility::Direct);
        assert_eq!(row.title(), "bob");
    }

    let secret = bob.api.create_room_as("secret", Visibility::Private).await;
    let secret = secret.unwrap().id;
    bob.api
        .moderate(secret, "ana", Moderation::Invite)
        .await
        .unwrap();
    for tab in [&mut tab1, &mut tab2] {
        let row = next_change(tab, secret)
            .await
            .expect("the invitation shows");
        assert!(row.invited && row.role.is_none(), "{row:?}");
        assert_eq!(row.name, "secret");
    }

    ana.join(secret.0).await;
    for tab in [&mut tab1, &mut tab2] {
        let row = next_change(tab, secret).await.expect("the room shows");
        assert!(!row.invited && row.role.is_some(), "{row:?}");
    }

    let mut bobs = bob.connect().await;
    for n in 0..3 {
        let ack = bobs
            .send_and_wait(secret.0, &format!("b{n}"), "hello")
            .await;
        support::ack_seq(&ack);
    }
    let row = row_where(&mut tab1, secret, |row| row.unread == 3).await;
    ana.api.mark_read(secret, row.last_seq).await.unwrap();
    // The other tab hears of the read mark (as does this one).
    let read = row_where(&mut tab2, secret, |row| row.unread == 0).await;
    assert_eq!(read.last_read_seq, row.last_seq);

    bob.api
        .moderate(secret, "ana", Moderation::Kick)
        .await
        .unwrap();
    for tab in [&mut tab1, &mut tab2] {
        // A coalesced count may still come first; the removal follows.
        while next_change(tab, secret).await.is_some() {}
    }

    // Nothing about the private room ever reached the outsider.
    outsider.ping().await;
    assert_eq!(outsider.next().await, ServerFrame::Pong);
}

#[tokio::test]
async fn a_row_previews_the_newest_unread_message_and_carries_the_member_s_notify_level() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let ana = register(server.addr, "ana").await;
    let bob = register(server.addr, "bob").await;
    let cyd = register(server.addr, "cyd").await;
    let hall = RoomId(ana.create_room("hall").await);
    bob.join(hall.0).await;
    let dm = bob.api.open_direct(&["ana"]).await.unwrap().id;
    let (mut tab1, mut tab2) = (ana.connect().await, ana.connect().await);
    let snapshot = follow(&mut tab1).await;
    follow(&mut tab2).await;
    let level = |id| snapshot.iter().find(|r| r.id == id).unwrap().notify;
    // Never chosen: a conversation notifies of everything, a room of mentions.
    assert_eq!(
        (level(hall), level(dm)),
        (NotifyLevel::Mentions, NotifyLevel::All)
    );

    // Bob writes in the hall: the row previews the newest message, and says whom it mentions.
    let mut bobs = bob.connect().await;
    bobs.send_and_wait(hall.0, "h1", "first").await;
    let long = format!("@ana look {}", "x".repeat(200));
    let ack = bobs.send_and_wait(hall.0, "h2", &long).await;
    let seq = support::ack_seq(&ack);
    let row = row_where(&mut tab1, hall, |row| row.unread == 2).await;
    assert_eq!(row.mentions, 1, "one unread message mentions ana");
    let preview = row.newest_unread.expect("a preview of what is unread");
    assert_eq!((preview.seq, preview.sender.as_str()), (seq, "bob"));
    assert!(preview.mentions_you);
    assert_eq!(
        preview.excerpt.chars().count(),
        PREVIEW_CHARS + 1,
        "cut, with an ellipsis"
    );
    // A later message that names nobody: the mention still counts, and Bob's own mention of
    // himself does not count for him.
    let ack = bobs.send_and_wait(hall.0, "h3", "@bob notes to self").await;
    let seq = support::ack_seq(&ack);
    let row = row_where(&mut tab1, hall, |row| row.unread == 3).await;
    assert_eq!(row.mentions, 1);
    assert!(!row.newest_unread.unwrap().mentions_you);
    let bobs_row = bob.api.list_rooms().await.unwrap();
    assert_eq!(bobs_row.iter().find(|r| r.id == hall).unwrap().mentions, 0);
    // Once read, nothing to preview, and no mentions.
    ana.api.mark_read(hall, seq).await.unwrap();
    let read = row_where(&mut tab1, hall, |row| row.unread == 0).await;
    assert_eq!(read.newest_unread, None);
    assert_eq!(read.mentions, 0);

    // Choosing a level: every tab's row follows, and only the member's own.
    ana.api
        .set_notify_level(dm, NotifyLevel::Nothing)
        .await
        .unwrap();
    for tab in [&mut tab1, &mut tab2] {
        row_where(tab, dm, |row| row.notify == NotifyLevel::Nothing).await;
    }
    let bobs_rows = bob.api.list_rooms().await.unwrap();
    let bobs_dm = bobs_rows.iter().find(|r| r.id == dm).unwrap();
    assert_eq!(bobs_dm.notify, NotifyLevel::All);
    let listed = ana.api.list_rooms().await.unwrap();
    assert_eq!(
        listed.iter().find(|r| r.id == dm).unwrap().notify,
        NotifyLevel::Nothing
    );

    // Not a member: refused, and nothing changes.
    let refused = cyd
        .api
        .set_notify_level(hall, NotifyLevel::All)
        .await
        .unwrap_err();
    assert_eq!(refused.refusal(), Some((403, &ApiError::NotMember)));
    let missing = ana
        .api
        .set_notify_level(RoomId(999), NotifyLevel::All)
        .await
        .unwrap_err();
    assert_eq!(missing.refusal(), Some((404, &ApiError::NoSuchRoom)));
}
