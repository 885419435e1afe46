//! The log's tests, one a promise (dense seqs, a reopen across segments, a torn tail, failed writes
//! and rolls, erasure and what it owes after a crash, mention counts): longer than 400 lines
//! because the promises are many.

use super::eraser::Erasure;
use super::*;
use crate::store::Body;
use app::model::Username;
use app::timeline::ERASED_PREFIX;

fn new(room: u64, text: &str) -> NewEntry {
    NewEntry {
        room_id: RoomId(room),
        sender: Username::parse("ana").unwrap(),
        client_id: app::model::ClientId::parse(&format!("c-{text}")).unwrap(),
        body: crate::store::Body::Text(app::model::MessageBody::parse(text).unwrap()),
        ts: 1_000,
    }
}

impl MessageLog {
    /// [`MessageLog::append`] of a batch nothing in which is refused.
    fn append_all(&self, batch: Vec<NewEntry>) -> Result<Vec<StoredEntry>, StoreError> {
        Ok(self
            .append(batch)?
            .into_iter()
            .map(|stored| stored.expect("nothing refused"))
            .collect())
    }
}

fn open(dir: &Path, segment_bytes: u64) -> Recovered {
    MessageLog::open(dir, LogConfig { segment_bytes }).unwrap()
}

fn contents(log: &MessageLog, room: u64) -> Vec<(u64, String)> {
    log.read_range(RoomId(room), 1, u64::MAX)
        .unwrap()
        .into_iter()
        .filter_map(Entry::into_message)
        .map(|m| (m.seq, m.content))
        .collect()
}

#[test]
fn seqs_count_per_room_within_and_across_batches() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 1 << 20).log;
    let first = log
        .append_all(vec![new(1, "a"), new(2, "b"), new(1, "c")])
        .unwrap();
    assert_eq!(
        first
            .iter()
            .map(|m| (m.ack.room_id.0, m.ack.seq))
            .collect::<Vec<_>>(),
        [(1, 1), (2, 1), (1, 2)]
    );
    let second = log.append_all(vec![new(1, "d")]).unwrap();
    assert_eq!(second[0].ack.seq, 3);
    assert!(second[0].ack.id > first[2].ack.id);
    assert_eq!(
        contents(&log, 1),
        [(1, "a".into()), (2, "c".into()), (3, "d".into())]
    );
}

#[test]
fn everything_comes_back_after_a_reopen_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 200).log;
    for i in 0..20 {
        log.append_all(vec![new(1, &format!("m{i}")), new(2, "x")])
            .unwrap();
    }
    drop(log);
    let segments = fs::read_dir(dir.path()).unwrap().count();
    assert!(segments > 3, "expected several segments, got {segments}");
    let recovered = open(dir.path(), 200);
    assert_eq!(recovered.messages, 40);
    assert_eq!(recovered.truncated_bytes, 0);
    let log = recovered.log;
    assert_eq!(log.last_seq(RoomId(1)), 20);
    assert_eq!(contents(&log, 1)[5], (6, "m5".into()));
    assert_eq!(
        log.append_all(vec![new(1, "after")]).unwrap()[0].ack.seq,
        21
    );
}

#[test]
fn a_torn_last_line_is_cut_and_everything_before_it_survives() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 1 << 20).log;
    log.append_all(vec![new(1, "a"), new(1, "b")]).unwrap();
    drop(log);
    let path = segment_path(dir.path(), 1);
    let whole = fs::read(&path).unwrap();
    for cut in [1usize, 10, 30] {
        let mut bytes = whole.clone();
        bytes.extend_from_slice(&whole[..cut.min(whole.len() - 1)]);
        fs::write(&path, &bytes).unwrap();
        let recovered = open(dir.path(), 1 << 20);
        assert!(recovered.truncated_bytes > 0);
        assert_eq!(
            contents(&recovered.log, 1),
            [(1, "a".into()), (2, "b".into())]
        );
        assert_eq!(fs::read(&path).unwrap(), whole);
    }
}

#[test]
fn a_failed_write_stores_nothing_and_the_log_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 1 << 20).log;
    log.append_all(vec![new(1, "a")]).unwrap();
    log.fail_next_writes(1);
    assert!(log
        .append_all(vec![new(1, "lost"), new(1, "lost")])
        .is_err());
    assert_eq!(log.last_seq(RoomId(1)), 1);
    assert_eq!(log.append_all(vec![new(1, "b")]).unwrap()[0].ack.seq, 2);
    drop(log);
    let recovered = open(dir.path(), 1 << 20);
    assert_eq!(recovered.truncated_bytes, 0);
    assert_eq!(
        contents(&recovered.log, 1),
        [(1, "a".into()), (2, "b".into())]
    );
}

#[test]
fn a_failed_roll_fails_only_its_batch_and_the_next_batch_rolls_and_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 100).log;
    log.append_all(vec![new(1, "a"), new(1, "b")]).unwrap();
    log.fail_next_rolls(1);
    assert!(log.append_all(vec![new(1, "lost")]).is_err());
    assert_eq!(log.last_seq(RoomId(1)), 2);
    assert!(
        segment_path(dir.path(), 2).exists(),
        "the failed roll left its empty segment behind"
    );
    let stored = log.append_all(vec![new(1, "c"), new(2, "d")]).unwrap();
    assert_eq!(
        stored.iter().map(|m| m.ack.seq).collect::<Vec<_>>(),
        [3, 1],
        "seqs continue as if the failed batch never was"
    );
    drop(log);
    let recovered = open(dir.path(), 100);
    assert_eq!(recovered.truncated_bytes, 0);
    assert_eq!(
        contents(&recovered.log, 1),
        [(1, "a".into()), (2, "b".into()), (3, "c".into())]
    );
    assert_eq!(contents(&recovered.log, 2), [(1, "d".into())]);
}

#[test]
fn a_bad_middle_line_of_the_newest_segment_is_corruption_not_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 1 << 20).log;
    log.append_all(vec![new(1, "a"), new(1, "b"), new(1, "c")])
        .unwrap();
    drop(log);
    let path = segment_path(dir.path(), 1);
    let whole = fs::read(&path).unwrap();
    let second = whole.iter().position(|b| *b == b'\n').unwrap() + 1;
    let mut damaged = whole.clone();
    damaged[second] = b'#';
    fs::write(&path, &damaged).unwrap();
    assert!(matches!(
        MessageLog::open(dir.path(), LogConfig::default()),
        Err(StoreError::Corrupt { offset, .. }) if offset == second as u64
    ));
    assert_eq!(fs::read(&path).unwrap(), damaged, "nothing was cut");
}

#[test]
fn damage_before_the_tail_is_reported_not_guessed_at() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 100).log;
    for _ in 0..4 {
        log.append_all(vec![new(1, "a")]).unwrap();
    }
    drop(log);
    fs::write(segment_path(dir.path(), 1), b"{not json}\n").unwrap();
    assert!(matches!(
        MessageLog::open(dir.path(), LogConfig { segment_bytes: 100 }),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn recent_messages_and_every_room_change_are_visited_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 1 << 20).log;
    let mut old = new(1, "old");
    old.ts = 10;
    let old_join = NewEntry {
        body: Body::Member(crate::store::MemberChange {
            user_id: app::model::UserId(1),
            user: Username::parse("ana").unwrap(),
            membership: app::timeline::Membership::Join,
            role: app::model::Role::Member,
            intent: crate::store::Intent::Plain,
        }),
        ts: 10,
        ..new(1, "join")
    };
    let old_rename = NewEntry {
        body: Body::Settings(crate::store::RoomSettings {
            name: app::model::RoomName::parse("Friday").unwrap(),
            topic: app::model::Topic::default(),
        }),
        ts: 10,
        ..new(1, "rename")
    };
    log.append_all(vec![
        old,
        old_join,
        old_rename,
        new(1, "fresh"),
        new(2, "fresher"),
    ])
    .unwrap();
    drop(log);
    let mut visited = Vec::new();
    MessageLog::open_visiting(dir.path(), LogConfig::default(), 500, |entry| {
        visited.push(match entry {
            Entry::Message(m) => m.content.clone(),
            Entry::Member(e) => format!("{} {:?}", e.user, e.membership),
            Entry::Room(e) => format!("renamed {}", e.name.as_str()),
            other => unreachable!("not written here: {other:?}"),
        })
    })
    .unwrap();
    // Changes of membership, name and topic whatever their age (the room store's repair
    // needs them); messages only within the window.
    assert_eq!(visited, ["ana Join", "renamed Friday", "fresh", "fresher"]);
}

#[test]
fn each_line_is_the_frame_handed_out_and_the_protocol_s_message_frame() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 1 << 20).log;
    let hostile = NewEntry {
        body: crate::store::Body::Text(
            app::model::MessageBody::parse("\"quoted\" <b>and</b> é\n\\").unwrap(),
        ),
        ..new(1, "one")
    };
    let stored = log.append_all(vec![hostile, new(2, "two")]).unwrap();
    let file = fs::read(segment_path(dir.path(), 1)).unwrap();
    let lines: Vec<&[u8]> = file.split_inclusive(|&b| b == b'\n').collect();
    assert_eq!(lines.len(), 2);
    for ((line, stored), room) in lines.into_iter().zip(&stored).zip([1, 2]) {
        assert_eq!(&line[..line.len() - 1], &stored.frame.bytes()[..]);
        let Entry::Message(message) = log.read_range(RoomId(room), 1, 1).unwrap().remove(0) else {
            panic!("a message was stored");
        };
        let protocol = serde_json::to_vec(&app::protocol::ServerFrame::Message(message)).unwrap();
        assert_eq!(&stored.frame.bytes()[..], &protocol[..]);
    }
}

#[test]
fn a_line_written_before_the_type_tag_still_reads_as_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let old =
        r#"{"room_id":1,"seq":1,"id":1,"sender":"ana","content":"old","ts":5,"client_id":"c-old"}"#;
    fs::write(segment_path(dir.path(), 1), format!("{old}\n")).unwrap();
    let log = open(dir.path(), 1 << 20).log;
    assert_eq!(contents(&log, 1), [(1, "old".into())]);
    assert_eq!(log.append_all(vec![new(1, "new")]).unwrap()[0].ack.seq, 2);
}

#[test]
fn unread_counts_only_messages_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 1 << 20).log;
    let join = NewEntry {
        body: Body::Member(crate::store::MemberChange {
            user_id: app::model::UserId(2),
            user: Username::parse("bob").unwrap(),
            membership: app::timeline::Membership::Join,
            role: app::model::Role::Member,
            intent: crate::store::Intent::Plain,
        }),
        ..new(1, "join")
    };
    log.append_all(vec![new(1, "a"), join, new(1, "b"), new(2, "elsewhere")])
        .unwrap();
    let counts = |log: &MessageLog| -> Vec<u64> {
        (0..=4)
            .map(|seq| log.messages_after(RoomId(1), seq))
            .collect()
    };
    assert_eq!(counts(&log), [2, 1, 1, 0, 0]);
    assert_eq!(log.messages_after(RoomId(9), 0), 0);
    drop(log);
    assert_eq!(counts(&open(dir.path(), 1 << 20).log), [2, 1, 1, 0, 0]);
}

fn deletion(room: u64) -> NewEntry {
    NewEntry {
        body: Body::DeleteRoom,
        ..new(room, &format!("deleted-{room}"))
    }
}

/// Every segment's bytes, concatenated.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    names.sort();
    names.iter().flat_map(|p| fs::read(p).unwrap()).collect()
}

fn holds(bytes: &[u8], word: &str) -> bool {
    bytes.windows(word.len()).any(|w| w == word.as_bytes())
}

#[test]
fn a_deleted_room_s_lines_are_overwritten_in_place_and_every_seq_stays() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 300).log;
    for i in 0..10 {
        log.append_all(vec![
            new(1, &format!("secret{i}")),
            new(2, &format!("kept{i}")),
        ])
        .unwrap();
    }
    let before = all_bytes(dir.path()).len();
    let stored = log.append_all(vec![deletion(1)]).unwrap();
    assert_eq!(stored[0].ack.seq, 11);
    // The append owes the erasure of everything before the deletion.
    assert_eq!(log.erasures_owed(), 1);
    assert_eq!(log.next_erasure(), Some((RoomId(1), Erasure::Through(10))));
    assert_eq!(log.erase(RoomId(1), &Erasure::Through(10)).unwrap(), 10);
    // Again: nothing left to erase.
    assert_eq!(log.erase(RoomId(1), &Erasure::Through(10)).unwrap(), 0);

    let bytes = all_bytes(dir.path());
    assert!(
        !holds(&bytes, "secret"),
        "a deleted room's text stays on disk"
    );
    assert!(holds(&bytes, "kept9"), "another room's text was erased");
    // In place: not one byte more or less (the deletion line aside).
    assert_eq!(bytes.len(), before + stored[0].frame.bytes().len() + 1);
    let room = log.read_range(RoomId(1), 1, 20).unwrap();
    assert_eq!(room.len(), 11);
    assert!(room[..10].iter().enumerate().all(|(i, e)| matches!(
        e,
        Entry::Erased(erased) if erased.seq == i as u64 + 1 && erased.room_id == RoomId(1)
    )));
    assert!(matches!(room[10], Entry::RoomDeleted(_)));
    assert_eq!(contents(&log, 2).len(), 10);

    drop(log);
    let reopened = open(dir.path(), 300);
    assert_eq!(reopened.log.last_seq(RoomId(1)), 11);
    assert_eq!(contents(&reopened.log, 2).len(), 10);
    assert_eq!(
        reopened.log.erasures_owed(),
        0,
        "a finished erasure is owed again"
    );
    let next = reopened.log.append_all(vec![new(2, "after")]).unwrap();
    assert!(
        next[0].ack.id > stored[0].ack.id,
        "ids go on from the erased lines'"
    );
}

#[test]
fn a_deletion_whose_erasure_never_ran_is_owed_again_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 1 << 20).log;
    log.append_all(vec![new(1, "secret"), new(1, "more"), deletion(1)])
        .unwrap();
    drop(log);
    let log = open(dir.path(), 1 << 20).log;
    assert_eq!(log.erasures_owed(), 1);
    assert_eq!(log.next_erasure(), Some((RoomId(1), Erasure::Through(2))));
    log.erase(RoomId(1), &Erasure::Through(2)).unwrap();
    assert!(!holds(&all_bytes(dir.path()), "secret"));
}

#[test]
fn an_erasure_torn_by_a_crash_is_finished_before_recovery_reads_the_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 1 << 20).log;
    log.append_all(vec![
        new(1, "secret-one"),
        new(2, "other"),
        new(1, "secret-two"),
    ])
    .unwrap();
    log.append_all(vec![deletion(1)]).unwrap();
    // A crash mid-chunk: the intent is on disk, the first line half overwritten.
    interrupt_erasure(&log, dir.path(), |line| line.len() / 2);
    drop(log);

    // Without the intent the torn line would be damage before a valid line: a refused start.
    let reopened = open(dir.path(), 1 << 20);
    assert!(!dir.path().join(eraser::INTENT_FILE).exists());
    let bytes = all_bytes(dir.path());
    assert!(!holds(&bytes, "secret"));
    assert!(holds(&bytes, "other"));
    let room = reopened.log.read_range(RoomId(1), 1, 3).unwrap();
    assert!(matches!(
        room[..],
        [Entry::Erased(_), Entry::Erased(_), Entry::RoomDeleted(_)]
    ));
    // Recovery found nothing left to erase.
    assert_eq!(reopened.log.erasures_owed(), 0);
}

#[test]
fn an_intent_that_does_not_fit_the_segments_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 1 << 20).log;
    log.append_all(vec![new(1, "secret")]).unwrap();
    drop(log);
    let wrong = r#"[{"segment":0,"offset":3,"line":"{\"type\":\"erased\",\"room_id\":1,\"seq\":1,\"id\":1,\"ts\":1}"}]"#;
    fs::write(dir.path().join(eraser::INTENT_FILE), wrong).unwrap();
    assert!(matches!(
        MessageLog::open(dir.path(), LogConfig::default()),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(
        holds(&all_bytes(dir.path()), "secret"),
        "a bad intent wrote nothing"
    );
}

#[test]
fn mention_counts_are_rebuilt_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 1 << 20).log;
    log.append_all(vec![
        new(1, "@bob-hi"),
        new(1, "plain"),
        new(1, "@Bob-again"),
    ])
    .unwrap();
    let bob = Username::parse("bob-again").unwrap();
    let hi = Username::parse("bob-hi").unwrap();
    assert_eq!(
        (
            log.mentions_after(RoomId(1), &hi, 0),
            log.mentions_after(RoomId(1), &bob, 1)
        ),
        (1, 1)
    );
    drop(log);
    let log = open(dir.path(), 1 << 20).log;
    assert_eq!(log.mentions_after(RoomId(1), &hi, 0), 1);
    assert_eq!(log.mentions_after(RoomId(1), &hi, 1), 0);
    assert_eq!(log.mentions_after(RoomId(1), &bob, 2), 1);
    assert_eq!(log.mentions_after(RoomId(2), &bob, 0), 0);
}

#[test]
fn a_chunk_that_failed_part_way_is_made_whole_by_the_next_try() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 1 << 20).log;
    log.append_all(vec![
        new(1, "secret-one"),
        new(1, "secret-two"),
        deletion(1),
    ])
    .unwrap();
    // The chunk's intent is written and its first line torn (a short write), in this process,
    // after the erased prefix: it starts like an erased line but does not parse.
    interrupt_erasure(&log, dir.path(), |_| ERASED_PREFIX.len() + 3);
    // The retry finishes the intent first, then finds nothing left.
    log.erase(RoomId(1), &Erasure::Through(2)).unwrap();
    assert!(!dir.path().join(eraser::INTENT_FILE).exists());
    assert!(!holds(&all_bytes(dir.path()), "secret"));
    drop(log);
    let reopened = open(dir.path(), 1 << 20);
    let room = reopened.log.read_range(RoomId(1), 1, 3).unwrap();
    assert!(matches!(
        room[..],
        [Entry::Erased(_), Entry::Erased(_), Entry::RoomDeleted(_)]
    ));
}

/// Erasing room 1's entries 1 and 2 stopped part-way: the chunk's intent is on disk and the
/// first line overwritten only up to `torn_at` of its new bytes.
fn interrupt_erasure(log: &MessageLog, dir: &Path, torn_at: impl Fn(&str) -> usize) {
    let (locs, segments) = log.locs(RoomId(1), 1, 2);
    let plan = eraser::plan(dir, &locs, &segments, eraser::Keep::Nothing).unwrap();
    atomic::replace(
        &dir.join(eraser::INTENT_FILE),
        &serde_json::to_vec(&plan).unwrap(),
    )
    .unwrap();
    let first = &plan[0];
    let torn = &first.line.as_bytes()[..torn_at(&first.line)];
    OpenOptions::new()
        .write(true)
        .open(segment_path(dir, first.segment + 1))
        .unwrap()
        .write_all_at(torn, first.offset)
        .unwrap();
}

#[test]
fn erasures_are_taken_first_owed_first_and_one_given_back_goes_last() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 1 << 20).log;
    log.owe_erasure(RoomId(3), Erasure::Through(5));
    log.owe_erasure(RoomId(1), Erasure::Through(2));
    // Owing a room again only moves its bound; nothing is owed for an empty room.
    log.owe_erasure(RoomId(3), Erasure::Through(7));
    log.owe_erasure(RoomId(9), Erasure::Through(0));
    assert_eq!(log.erasures_owed(), 2);
    assert_eq!(log.next_erasure(), Some((RoomId(3), Erasure::Through(7))));
    // A failed room is given back behind the others.
    log.owe_erasure(RoomId(3), Erasure::Through(7));
    assert_eq!(log.next_erasure(), Some((RoomId(1), Erasure::Through(2))));
    assert_eq!(log.next_erasure(), Some((RoomId(3), Erasure::Through(7))));
    // Stopping ends a wait for more.
    log.stop_erasing();
    assert_eq!(log.next_erasure(), None);
    assert!(!log.rest(std::time::Duration::from_secs(60)));
}

/// A message deletion whose lines a stop left unerased is owed again at start, its edits first;
/// once erased, the next start owes nothing and reads the same.
#[test]
fn a_deleted_message_not_yet_erased_is_owed_again_at_start() {
    use crate::store::contract::{delete, edit, said};
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 1 << 20).log;
    log.append_all(vec![said("ana", "a", "secret"), said("ana", "b", "kept")])
        .unwrap();
    log.append_all(vec![edit("ana", "e", 1, "secret edit")])
        .unwrap();
    log.append_all(vec![delete("ana", "d", 1, false)]).unwrap();
    let owed = Some((RoomId(1), Erasure::Lines(vec![3, 1])));
    assert_eq!(log.erasures_owed(), 1);
    assert_eq!(log.next_erasure(), owed);
    drop(log);

    let log = open(dir.path(), 1 << 20).log;
    assert_eq!(log.erasures_owed(), 1, "owed again");
    assert_eq!(log.next_erasure(), owed);
    assert_eq!(
        log.erase(RoomId(1), &Erasure::Lines(vec![3, 1])).unwrap(),
        2
    );
    let read = log.read_range(RoomId(1), 1, 9).unwrap();
    assert_eq!(log.messages_after(RoomId(1), 0), 1);
    drop(log);

    let log = open(dir.path(), 1 << 20).log;
    assert_eq!(log.erasures_owed(), 0);
    assert_eq!(log.read_range(RoomId(1), 1, 9).unwrap(), read);
    assert_eq!(log.messages_after(RoomId(1), 0), 1);
    assert!(matches!(
        &read[..],
        [
            Entry::Erased(_),
            Entry::Message(_),
            Entry::Erased(_),
            Entry::MessageDeleted(_)
        ]
    ));
}

/// A message deleted (its erased line keeping its sender) and then its room: the room's
/// erasure takes the name too, also when a restart comes between.
#[test]
fn a_room_s_erasure_takes_the_names_its_deleted_messages_kept() {
    use crate::store::contract::{delete, said};
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 1 << 20).log;
    log.append_all(vec![said("ana", "a", "hi"), said("ana", "b", "yo")])
        .unwrap();
    log.append_all(vec![delete("ana", "d", 1, false)]).unwrap();
    assert_eq!(log.erase(RoomId(1), &Erasure::Lines(vec![1])).unwrap(), 1);
    let named = |log: &MessageLog| {
        log.read_range(RoomId(1), 1, 9)
            .unwrap()
            .iter()
            .filter(|e| e.sender().is_some())
            .count()
    };
    assert_eq!(named(&log), 3, "the deleted message keeps its sender");
    log.append_all(vec![deletion(1)]).unwrap();
    drop(log);

    let log = open(dir.path(), 1 << 20).log;
    assert_eq!(log.erasures_owed(), 1);
    let Some((room, erasure)) = log.next_erasure() else {
        unreachable!()
    };
    assert_eq!(erasure, Erasure::Through(3));
    assert_eq!(log.erase(room, &erasure).unwrap(), 3);
    assert_eq!(named(&log), 1, "only the room's deletion names anyone");
}

/// A message line from before entries had kinds can be shorter than the erased form that keeps
/// its sender: erased, it keeps nothing (and still reads as erased, in its place).
#[test]
fn a_line_too_short_to_keep_its_sender_is_erased_keeping_nothing() {
    use crate::store::contract::delete;
    let dir = tempfile::tempdir().unwrap();
    let legacy =
        r#"{"room_id":1,"seq":1,"id":1,"sender":"ana","content":"x","ts":1,"client_id":"c"}"#;
    let kept = serde_json::to_string(&Entry::Erased(app::timeline::ErasedEntry {
        room_id: RoomId(1),
        seq: 1,
        id: 1,
        ts: 1,
        sender: Some(Username::parse("ana").unwrap()),
        client_id: Some("c".into()),
    }))
    .unwrap();
    assert!(kept.len() > legacy.len(), "the case under test: {kept}");
    fs::write(dir.path().join("00000001.jsonl"), format!("{legacy}\n")).unwrap();
    let log = open(dir.path(), 1 << 20).log;
    log.append_all(vec![delete("ana", "d", 1, false)]).unwrap();
    assert_eq!(log.erase(RoomId(1), &Erasure::Lines(vec![1])).unwrap(), 1);
    let segment = fs::read_to_string(dir.path().join("00000001.jsonl")).unwrap();
    let first = segment.lines().next().unwrap();
    assert_eq!(first.len(), legacy.len(), "overwritten in place");
    assert!(first.starts_with(r#"{"type":"erased","room_id":1,"seq":1,"id":1,"ts":1}"#));
    assert!(!segment.contains(r#""content":"x""#));
    drop(log);
    let log = open(dir.path(), 1 << 20).log;
    let read = log.read_range(RoomId(1), 1, 9).unwrap();
    assert!(
        matches!(&read[..], [Entry::Erased(e), Entry::MessageDeleted(_)] if e.sender.is_none())
    );
}

/// A target whose line does not read (torn by an erasure that failed part-way, until its
/// retry) fails only the entries acting on it: the rest of the batch is stored.
#[test]
fn an_unreadable_target_fails_only_the_entries_acting_on_it() {
    use crate::store::contract::{edit, said};
    use crate::store::TargetRefusal;
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 1 << 20).log;
    log.append_all(vec![said("ana", "a", "one"), said("ana", "b", "two")])
        .unwrap();
    interrupt_erasure(&log, dir.path(), |line| line.len() / 2);
    let answers = log
        .append(vec![
            edit("ana", "e", 1, "one, edited"),
            said("ana", "c", "three"),
            edit("ana", "f", 2, "two, edited"),
        ])
        .unwrap();
    assert!(
        matches!(answers[0], Err(TargetRefusal::Unreadable)),
        "{answers:?}"
    );
    let seqs: Vec<u64> = answers[1..]
        .iter()
        .map(|a| a.as_ref().expect("stored").ack.seq)
        .collect();
    assert_eq!(seqs, [3, 4]);
}

/// A copy is the log at its cut: bytes written past the last segment's end after the cut (a
/// later batch) are not copied, every segment before it is whole, and the copy opens with the
/// same contents.
#[test]
fn a_copy_is_the_log_at_its_cut() {
    let dir = tempfile::tempdir().unwrap();
    let to = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 200).log;
    for i in 0..12 {
        log.append_all(vec![new(1, &format!("message-{i}"))])
            .unwrap();
    }
    let sizes = |dir: &Path| -> Vec<(String, u64)> {
        let mut sizes: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| {
                (
                    e.file_name().into_string().unwrap(),
                    e.metadata().unwrap().len(),
                )
            })
            .collect();
        sizes.sort();
        sizes
    };
    let at_cut = sizes(dir.path());
    assert!(at_cut.len() > 2, "several segments: {at_cut:?}");
    let last = dir.path().join(&at_cut.last().unwrap().0);
    let copied = log
        .copy_to(to.path(), || {
            // What a batch stored after the cut would add.
            let mut file = OpenOptions::new().append(true).open(&last).unwrap();
            file.write_all(b"{\"type\":\"message\",\"late\":true}\n")
                .unwrap();
        })
        .unwrap();
    assert_eq!(sizes(to.path()), at_cut);
    assert_eq!(copied.bytes, at_cut.iter().map(|(_, len)| len).sum::<u64>());
    let copy = open(to.path(), 200).log;
    assert_eq!(contents(&copy, 1), contents(&log, 1));
}
