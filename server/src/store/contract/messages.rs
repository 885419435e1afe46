//! The contract every [`MessageStore`] must pass, written once and run against each
//! implementation by [`contract_tests!`]: append is all or nothing, seqs are dense per room,
//! resends are answered with the original, ranges are clamped, an unknown room is empty. The
//! file store adds the restart checks ([`reopening_keeps_everything_and_still_knows_resends`]).
//!
//! Longer than 400 lines on purpose: one function a promise, and the promises are many; the macro
//! at the end runs them all against a store.

use crate::store::{Appended, Body, MessageStore, NewEntry, RoomHead, StoredEntry};
use app::model::{ClientId, MessageBody, RoomId, Username};
use app::timeline::Entry;

/// A store under test: the trait, plus a way to make its next writes fail.
pub(crate) trait Subject: MessageStore {
    fn fail_next_writes(&self, n: usize);
}

pub(crate) fn new(room: u64, client_id: &str, text: &str, ts: i64) -> NewEntry {
    NewEntry {
        room_id: RoomId(room),
        sender: Username::parse("ana").unwrap(),
        client_id: ClientId::parse(client_id).unwrap(),
        body: crate::store::Body::Text(MessageBody::parse(text).unwrap()),
        ts,
    }
}

/// (room, seq) of each stored message, `None` for anything else.
fn seqs(appended: &[Appended]) -> Vec<Option<(u64, u64)>> {
    appended
        .iter()
        .map(|a| match a {
            Appended::Stored(m) => Some((m.ack.room_id.0, m.ack.seq)),
            _ => None,
        })
        .collect()
}

async fn contents(store: &dyn MessageStore, room: u64) -> Vec<String> {
    store
        .read_range(RoomId(room), 1, u64::MAX)
        .await
        .unwrap()
        .into_iter()
        .filter_map(Entry::into_message)
        .map(|m| m.content)
        .collect()
}

pub(crate) async fn a_failed_append_stores_nothing(store: impl Subject) {
    store.append(vec![new(1, "a", "a", 1)]).await.unwrap();
    store.fail_next_writes(1);
    let failed = store
        .append(vec![new(1, "b", "b", 2), new(2, "c", "c", 2)])
        .await;
    assert!(failed.is_err());
    assert_eq!(store.head(RoomId(1)).await.unwrap().last_seq, 1);
    assert_eq!(store.head(RoomId(2)).await.unwrap().last_seq, 0);
    assert_eq!(contents(&store, 1).await, ["a"]);
    // Nothing of the failed batch is remembered as stored: sending it again stores it.
    let again = store.append(vec![new(1, "b", "b", 3)]).await.unwrap();
    assert_eq!(seqs(&again), [Some((1, 2))]);
}

pub(crate) async fn seqs_are_dense_per_room_across_batches_and_rooms(store: impl Subject) {
    let first = store
        .append(vec![
            new(1, "a", "a", 1),
            new(2, "b", "b", 1),
            new(1, "c", "c", 1),
        ])
        .await
        .unwrap();
    assert_eq!(seqs(&first), [Some((1, 1)), Some((2, 1)), Some((1, 2))]);
    let second = store
        .append(vec![new(2, "d", "d", 2), new(1, "e", "e", 2)])
        .await
        .unwrap();
    assert_eq!(seqs(&second), [Some((2, 2)), Some((1, 3))]);
    assert_eq!(contents(&store, 1).await, ["a", "c", "e"]);
    assert_eq!(
        store.head(RoomId(1)).await.unwrap(),
        RoomHead {
            last_seq: 3,
            last_ts: Some(2),
            revision: 0,
        }
    );
    // Several heads at once, in the order asked, 0 for a room never heard of.
    let rooms = vec![RoomId(2), RoomId(9), RoomId(1), RoomId(2)];
    assert_eq!(store.last_seqs(rooms).await.unwrap(), [2, 0, 3, 2]);
}

pub(crate) async fn a_resend_is_answered_with_the_original_seq_and_ts(store: impl Subject) {
    let first = store
        .append(vec![new(1, "x", "hi", 10), new(1, "x", "hi", 10)])
        .await
        .unwrap();
    let Appended::Stored(original) = &first[0] else {
        panic!("the first copy is stored: {first:?}")
    };
    let Appended::Duplicate(in_batch) = &first[1] else {
        panic!("the second copy in the same batch is a duplicate: {first:?}")
    };
    assert_eq!(
        (in_batch.seq, in_batch.ts, in_batch.id),
        (original.ack.seq, original.ack.ts, original.ack.id)
    );
    let later = store.append(vec![new(1, "x", "hi", 99)]).await.unwrap();
    let [Appended::Duplicate(across)] = &later[..] else {
        panic!("a resend in a later batch is a duplicate: {later:?}")
    };
    assert_eq!(
        (across.seq, across.ts, across.id),
        (original.ack.seq, 10, original.ack.id)
    );
    assert_eq!(
        store.head(RoomId(1)).await.unwrap().last_seq,
        1,
        "stored once"
    );
}

pub(crate) async fn a_reused_client_id_is_refused_not_stored(store: impl Subject) {
    store.append(vec![new(1, "x", "hi", 1)]).await.unwrap();
    let reused = store
        .append(vec![new(1, "x", "other", 2), new(2, "x", "hi", 2)])
        .await
        .unwrap();
    assert_eq!(reused, [Appended::ClientIdReused, Appended::ClientIdReused]);
    assert_eq!(store.head(RoomId(2)).await.unwrap().last_seq, 0);
}

pub(crate) async fn ranges_are_clamped_to_what_exists(store: impl Subject) {
    let batch = (1..=5)
        .map(|i| new(1, &format!("m{i}"), &format!("m{i}"), i))
        .collect();
    store.append(batch).await.unwrap();
    let range = |from, to| {
        let store = &store;
        async move {
            store
                .read_range(RoomId(1), from, to)
                .await
                .unwrap()
                .iter()
                .map(Entry::seq)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(range(0, 2).await, [1, 2], "from 0 starts at 1");
    assert_eq!(range(4, 99).await, [4, 5], "to past the head stops at it");
    assert_eq!(range(4, 3).await, Vec::<u64>::new(), "from > to is empty");
    assert!(store.read_range(RoomId(9), 1, 10).await.unwrap().is_empty());
    assert_eq!(store.head(RoomId(9)).await.unwrap(), RoomHead::default());
}

/// Several ranges read at once are what `read_range` reads of each (an edited message with its
/// newest text, a deleted one erased), ranges in the order asked, not sorted: search reads its
/// hits back this way, best first. Read as stored frames (what a relay hands its hub), frame
/// for frame what the entries serialize to: a database hands out unchanged frames as stored.
pub(crate) async fn several_ranges_read_at_once_are_what_read_range_reads(store: impl Subject) {
    store
        .append(vec![
            new(1, "a", "one", 1),
            new(1, "b", "two", 1),
            new(1, "c", "three", 1),
            new(2, "d", "elsewhere", 1),
        ])
        .await
        .unwrap();
    store
        .append(vec![
            edit("ana", "e", 1, "one, edited"),
            delete("ana", "f", 2, false),
        ])
        .await
        .unwrap();
    let ranges = vec![
        (RoomId(2), 1, 9),
        (RoomId(1), 3, 3),
        (RoomId(3), 1, 9),
        (RoomId(1), 1, 2),
    ];
    let mut expected = Vec::new();
    for &(room, from, to) in &ranges {
        expected.extend(store.read_range(room, from, to).await.unwrap());
    }
    let read = store.read_ranges(ranges.clone()).await.unwrap();
    assert_eq!(read, expected);
    let order: Vec<(u64, u64)> = read.iter().map(|e| (e.room_id().0, e.seq())).collect();
    assert_eq!(order, [(2, 1), (1, 3), (1, 1), (1, 2)]);
    let stored = store.read_stored(ranges).await.unwrap();
    let frames: Vec<StoredEntry> = expected.iter().map(StoredEntry::of).collect();
    assert_eq!(stored, frames);
}

/// A room's deletion erases every entry before it (at once or soon: this waits up to 10 s),
/// keeps its seqs, and touches no other room.
pub(crate) async fn a_deletion_erases_the_room_s_earlier_entries(store: impl Subject) {
    store
        .append(vec![
            new(1, "a", "secret a", 1),
            new(2, "b", "kept b", 1),
            new(1, "c", "secret c", 2),
        ])
        .await
        .unwrap();
    let deletion = NewEntry {
        body: crate::store::Body::DeleteRoom,
        ..new(1, "gone", "x", 3)
    };
    // A message in the same batch as the deletion is erased too.
    store
        .append(vec![new(1, "d", "secret d", 3), deletion])
        .await
        .unwrap();
    let kinds = || async {
        store
            .read_range(RoomId(1), 1, 10)
            .await
            .unwrap()
            .iter()
            .map(|e| match e {
                Entry::Erased(erased) => format!("erased {}", erased.seq),
                Entry::RoomDeleted(d) => format!("deleted {} by {}", d.seq, d.sender),
                other => format!("kept {}", other.seq()),
            })
            .collect::<Vec<_>>()
    };
    let mut waited = 0;
    while kinds().await != ["erased 1", "erased 2", "erased 3", "deleted 4 by ana"] {
        assert!(waited < 100, "not erased after 10 s: {:?}", kinds().await);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(contents(&store, 2).await, ["kept b"]);
    assert_eq!(store.head(RoomId(1)).await.unwrap().last_seq, 4);
}

/// Mentions are counted per name, ignoring case, above a seq; a message counts once however
/// often it names you, and only for whole names.
pub(crate) async fn mentions_are_counted_per_name_above_a_seq(store: impl Subject) {
    store
        .append(vec![
            new(1, "a", "hi @Bob and @bob again", 1),
            new(1, "b", "@bobby is someone else", 2),
            new(1, "c", "mail bob@example.org", 3),
            new(2, "d", "@bob elsewhere", 4),
            new(1, "e", "@cyd and @bob", 5),
        ])
        .await
        .unwrap();
    let bob = Username::parse("BOB").unwrap();
    let cyd = Username::parse("cyd").unwrap();
    let count = |user, seq| store.mentions_after(RoomId(1), user, seq);
    assert_eq!(count(&bob, 0).await.unwrap(), 2);
    assert_eq!(count(&bob, 1).await.unwrap(), 1);
    assert_eq!(count(&bob, 4).await.unwrap(), 0);
    assert_eq!(count(&cyd, 0).await.unwrap(), 1);
    assert_eq!(store.mentions_after(RoomId(9), &bob, 0).await.unwrap(), 0);
}

/// An edit of message `target` by `sender`.
pub(crate) fn edit(sender: &str, client_id: &str, target: u64, text: &str) -> NewEntry {
    NewEntry {
        sender: Username::parse(sender).unwrap(),
        body: Body::Edit {
            target_seq: target,
            content: MessageBody::parse(text).unwrap(),
        },
        ..new(1, client_id, "x", 10)
    }
}

/// A deletion of message `target` by `sender`, who may delete anyone's when `any_author`.
pub(crate) fn delete(sender: &str, client_id: &str, target: u64, any_author: bool) -> NewEntry {
    NewEntry {
        sender: Username::parse(sender).unwrap(),
        body: Body::DeleteMessage {
            target_seq: target,
            any_author,
        },
        ..new(1, client_id, "x", 10)
    }
}

/// A reply by `sender` to message `target`.
pub(crate) fn reply(sender: &str, client_id: &str, target: u64, text: &str) -> NewEntry {
    NewEntry {
        sender: Username::parse(sender).unwrap(),
        body: Body::Reply {
            target_seq: target,
            content: MessageBody::parse(text).unwrap(),
        },
        ..new(1, client_id, "x", 10)
    }
}

/// `sender`'s reaction `emoji` to message `target`, on or off.
pub(crate) fn react(sender: &str, client_id: &str, target: u64, emoji: &str, on: bool) -> NewEntry {
    NewEntry {
        sender: Username::parse(sender).unwrap(),
        body: Body::React {
            target_seq: target,
            emoji: app::reactions::Emoji::parse(emoji).unwrap(),
            on,
        },
        ..new(1, client_id, "x", 10)
    }
}

/// What `entries` show of each message's reactions: `seq: emoji by names; …`.
pub(crate) fn reactions_shown(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Message(m) => Some(m),
            _ => None,
        })
        .map(|m| {
            let shown: Vec<String> = m
                .reactions
                .iter()
                .flat_map(|r| &r.emoji)
                .map(|r| {
                    let names: Vec<&str> = r.users.iter().map(|u| u.as_str()).collect();
                    format!("{} by {}", r.emoji, names.join(","))
                })
                .collect();
            format!("{}: {}", m.seq, shown.join("; "))
        })
        .collect()
}

/// A message in room 1 from `sender`.
pub(crate) fn said(sender: &str, client_id: &str, text: &str) -> NewEntry {
    NewEntry {
        sender: Username::parse(sender).unwrap(),
        ..new(1, client_id, text, 1)
    }
}

/// What each append answer was: `stored <seq>`, `duplicate <seq>`, or the refusal.
fn answers(appended: &[Appended]) -> Vec<String> {
    appended
        .iter()
        .map(|a| match a {
            Appended::Stored(m) => format!("stored {}", m.ack.seq),
            Appended::Duplicate(ack) => format!("duplicate {}", ack.seq),
            Appended::ClientIdReused => "reused".into(),
            Appended::Refused(refusal) => format!("{refusal:?}"),
        })
        .collect()
}

/// Edits: only the author's, only of a message; a read shows the newest in the message's
/// place (and the edits as entries of their own); a resend is answered with the original; what
/// a message first said still decides its mentions; the room's revision moves.
pub(crate) async fn edits_show_in_place_and_only_the_author_edits(store: impl Subject) {
    let first = store
        .append(vec![said("ana", "a", "hi @bob"), said("bob", "b", "yo")])
        .await
        .unwrap();
    assert_eq!(answers(&first), ["stored 1", "stored 2"]);
    let before = store.head(RoomId(1)).await.unwrap().revision;
    let edits = store
        .append(vec![
            edit("ana", "e1", 1, "hi all"),
            edit("bob", "e2", 1, "not mine"),
            edit("ana", "e3", 2, "not mine"),
            edit("ana", "e4", 9, "nothing there"),
            edit("ana", "e5", 3, "an edit is no message"),
            edit("ana", "e6", 1, "hi everyone"),
        ])
        .await
        .unwrap();
    assert_eq!(
        answers(&edits),
        [
            "stored 3",
            "NotYourMessage",
            "NotYourMessage",
            "NoSuchMessage",
            "NoSuchMessage",
            "stored 4"
        ]
    );
    let entries = store.read_range(RoomId(1), 1, 10).await.unwrap();
    let Entry::Message(edited) = &entries[0] else {
        panic!("{entries:?}")
    };
    assert_eq!(edited.content, "hi everyone");
    assert_eq!(edited.edited.map(|e| e.seq), Some(4));
    assert!(matches!(&entries[2], Entry::Edit(e) if e.content == "hi all" && e.target_seq == 1));
    assert_eq!(entries.len(), 4);
    assert!(store.head(RoomId(1)).await.unwrap().revision > before);
    let again = store
        .append(vec![edit("ana", "e1", 1, "hi all")])
        .await
        .unwrap();
    assert_eq!(answers(&again), ["duplicate 3"]);
    let bob = Username::parse("bob").unwrap();
    assert_eq!(store.mentions_after(RoomId(1), &bob, 0).await.unwrap(), 1);
    assert_eq!(store.messages_after(RoomId(1), 0).await.unwrap(), 2);
}

/// Deletions: the author's, or anyone's when the rules allowed it; a deleted message and its
/// edits read as erased at once (keeping who sent them), its resend is still answered with
/// its ack, it is no longer unread or a mention, and nothing acts on it again, even later in
/// the same batch.
pub(crate) async fn a_deleted_message_and_its_edits_read_as_erased(store: impl Subject) {
    let first = store
        .append(vec![
            said("ana", "a", "secret @bob"),
            said("bob", "b", "kept"),
            edit("ana", "e0", 1, "in the same batch"),
        ])
        .await
        .unwrap();
    // Only what was stored before the batch can be edited (a seq is known from its ack).
    assert_eq!(answers(&first), ["stored 1", "stored 2", "NoSuchMessage"]);
    store
        .append(vec![edit("ana", "e", 1, "secret edit")])
        .await
        .unwrap();
    let deletions = store
        .append(vec![
            delete("bob", "d1", 1, false),
            delete("ana", "d2", 1, false),
            edit("ana", "e2", 1, "too late"),
            delete("mod", "d3", 1, true),
            delete("mod", "d4", 2, true),
            delete("ana", "d5", 4, false),
        ])
        .await
        .unwrap();
    assert_eq!(
        answers(&deletions),
        [
            "NotYourMessageToDelete",
            "stored 4",
            "NoSuchMessage",
            "NoSuchMessage",
            "stored 5",
            "NoSuchMessage"
        ]
    );
    let kinds: Vec<String> = store
        .read_range(RoomId(1), 1, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| match e {
            Entry::Erased(erased) => format!(
                "erased {} of {}",
                erased.seq,
                erased.sender.as_ref().map_or("?", |s| s.as_str())
            ),
            Entry::MessageDeleted(d) => format!("{} deleted {}", d.sender, d.target_seq),
            other => format!("kept {}", other.seq()),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "erased 1 of ana",
            "erased 2 of bob",
            "erased 3 of ?",
            "ana deleted 1",
            "mod deleted 2"
        ]
    );
    let resent = store
        .append(vec![said("ana", "a", "secret @bob")])
        .await
        .unwrap();
    assert_eq!(answers(&resent), ["duplicate 1"]);
    assert_eq!(store.messages_after(RoomId(1), 0).await.unwrap(), 0);
    let bob = Username::parse("bob").unwrap();
    assert_eq!(store.mentions_after(RoomId(1), &bob, 0).await.unwrap(), 0);
}

/// Replies: to anyone's message, never to what is no message (an unknown seq, another kind of
/// entry, a deleted message, even deleted earlier in the same batch); a reply is a message
/// (unread, its mentions counted) that names its target, and its resend is answered with the
/// original, while the same client_id replying elsewhere is a reuse.
pub(crate) async fn a_reply_names_a_message_that_is_there(store: impl Subject) {
    store
        .append(vec![
            said("ana", "a", "question"),
            said("bob", "b", "doomed"),
        ])
        .await
        .unwrap();
    let replies = store
        .append(vec![
            reply("bob", "r1", 1, "answer @ana"),
            reply("bob", "r2", 9, "to nothing"),
            delete("bob", "d", 2, false),
            reply("ana", "r3", 2, "to a deleted one"),
        ])
        .await
        .unwrap();
    assert_eq!(
        answers(&replies),
        ["stored 3", "NoSuchMessage", "stored 4", "NoSuchMessage"]
    );
    let refused = store
        .append(vec![
            reply("ana", "r4", 4, "to a deletion"),
            reply("bob", "r1", 1, "answer @ana"),
            reply("bob", "r1", 3, "answer @ana"),
        ])
        .await
        .unwrap();
    assert_eq!(
        answers(&refused),
        ["NoSuchMessage", "duplicate 3", "reused"]
    );
    let entries = store.read_range(RoomId(1), 3, 3).await.unwrap();
    let Some(Entry::Message(stored)) = entries.first() else {
        panic!("{entries:?}")
    };
    assert_eq!(
        (stored.reply_to, stored.content.as_str()),
        (Some(1), "answer @ana")
    );
    assert_eq!(store.messages_after(RoomId(1), 2).await.unwrap(), 1);
    let ana = Username::parse("ana").unwrap();
    assert_eq!(store.mentions_after(RoomId(1), &ana, 0).await.unwrap(), 1);
}

/// Reactions: anyone's, to a message that is there; on and off set (a second "on" changes
/// nothing), a read shows each message's reactions in the order first used, an emoji nobody
/// uses any more is gone, a deleted message shows none, and a reaction is no unread message.
pub(crate) async fn reactions_show_on_their_message(store: impl Subject) {
    store
        .append(vec![said("ana", "a", "party?"), said("bob", "b", "later")])
        .await
        .unwrap();
    let before = store.head(RoomId(1)).await.unwrap().revision;
    let first = store
        .append(vec![
            react("bob", "x1", 1, "🎉", true),
            react("cyd", "x2", 1, "👍", true),
            react("ana", "x3", 1, "🎉", true),
            react("cyd", "x4", 1, "🎉", true),
            react("bob", "x5", 1, "🎉", true),
            react("cyd", "x6", 1, "👍", false),
            react("ana", "x7", 9, "👍", true),
            react("ana", "x8", 3, "👍", true),
            react("bob", "x9", 2, "😮", true),
        ])
        .await
        .unwrap();
    assert_eq!(
        answers(&first),
        [
            "stored 3",
            "stored 4",
            "stored 5",
            "stored 6",
            "stored 7",
            "stored 8",
            "NoSuchMessage",
            "NoSuchMessage",
            "stored 9"
        ]
    );
    assert!(store.head(RoomId(1)).await.unwrap().revision > before);
    let entries = store.read_range(RoomId(1), 1, 20).await.unwrap();
    assert_eq!(
        reactions_shown(&entries),
        ["1: 🎉 by bob,ana,cyd", "2: 😮 by bob"]
    );
    assert!(
        matches!(&entries[3], Entry::Reaction(r) if r.target_seq == 1 && r.emoji.as_str() == "👍" && r.on)
    );
    // A resend is answered; the same id for the other setting is a reuse.
    let again = store
        .append(vec![
            react("bob", "x1", 1, "🎉", true),
            react("bob", "x1", 1, "🎉", false),
            react("bob", "y1", 1, "🎉", false),
            delete("bob", "d", 2, false),
            react("ana", "y2", 2, "😮", true),
        ])
        .await
        .unwrap();
    assert_eq!(
        answers(&again),
        [
            "duplicate 3",
            "reused",
            "stored 10",
            "stored 11",
            "NoSuchMessage"
        ]
    );
    let entries = store.read_range(RoomId(1), 1, 20).await.unwrap();
    assert_eq!(reactions_shown(&entries), ["1: 🎉 by ana,cyd"]);
    assert_eq!(store.messages_after(RoomId(1), 0).await.unwrap(), 1);
}

/// One `#[tokio::test]` per contract check for the store `$open()` returns.
macro_rules! contract_tests {
    ($open:expr) => {
        #[tokio::test]
        async fn a_failed_append_stores_nothing() {
            $crate::store::contract::messages::a_failed_append_stores_nothing($open).await;
        }
        #[tokio::test]
        async fn seqs_are_dense_per_room_across_batches_and_rooms() {
            $crate::store::contract::messages::seqs_are_dense_per_room_across_batches_and_rooms(
                $open,
            )
            .await;
        }
        #[tokio::test]
        async fn a_resend_is_answered_with_the_original_seq_and_ts() {
            $crate::store::contract::messages::a_resend_is_answered_with_the_original_seq_and_ts(
                $open,
            )
            .await;
        }
        #[tokio::test]
        async fn a_reused_client_id_is_refused_not_stored() {
            $crate::store::contract::messages::a_reused_client_id_is_refused_not_stored($open)
                .await;
        }
        #[tokio::test]
        async fn ranges_are_clamped_to_what_exists() {
            $crate::store::contract::messages::ranges_are_clamped_to_what_exists($open).await;
        }
        #[tokio::test]
        async fn mentions_are_counted_per_name_above_a_seq() {
            $crate::store::contract::messages::mentions_are_counted_per_name_above_a_seq($open)
                .await;
        }
        #[tokio::test]
        async fn edits_show_in_place_and_only_the_author_edits() {
            $crate::store::contract::messages::edits_show_in_place_and_only_the_author_edits($open)
                .await;
        }
        #[tokio::test]
        async fn a_deleted_message_and_its_edits_read_as_erased() {
            $crate::store::contract::messages::a_deleted_message_and_its_edits_read_as_erased(
                $open,
            )
            .await;
        }
        #[tokio::test]
        async fn a_reply_names_a_message_that_is_there() {
            $crate::store::contract::messages::a_reply_names_a_message_that_is_there($open).await;
        }
        #[tokio::test]
        async fn reactions_show_on_their_message() {
            $crate::store::contract::messages::reactions_show_on_their_message($open).await;
        }
        #[tokio::test]
        async fn several_ranges_read_at_once_are_what_read_range_reads() {
            $crate::store::contract::messages::several_ranges_read_at_once_are_what_read_range_reads(
                $open,
            )
            .await;
        }
        #[tokio::test]
        async fn a_deletion_erases_the_room_s_earlier_entries() {
            $crate::store::contract::messages::a_deletion_erases_the_room_s_earlier_entries($open)
                .await;
        }
    };
}
pub(crate) use contract_tests;

mod memory {
    use crate::store::memory::MemoryMessageStore;

    impl super::Subject for MemoryMessageStore {
        fn fail_next_writes(&self, n: usize) {
            MemoryMessageStore::fail_next_writes(self, n);
        }
    }

    super::contract_tests!(MemoryMessageStore::default());
}

mod postgres {
    use crate::store::postgres::{scratch, PgConfig, PgMessageStore, PgStores};
    use std::sync::atomic::Ordering;

    impl super::Subject for PgMessageStore {
        fn fail_next_writes(&self, n: usize) {
            self.fail_next_writes.store(n, Ordering::SeqCst);
        }
    }

    /// A message store on a fresh database of the scratch cluster.
    pub(crate) async fn open() -> PgMessageStore {
        let url = scratch::fresh_database().await;
        let config = PgConfig { url, pool_size: 4 };
        PgStores::open(&config).await.unwrap().messages
    }

    super::contract_tests!(open().await);
}
