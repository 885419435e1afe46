//! Property tests: frame parsing never panics and round-trips; the message log keeps its
//! invariants through a crash at any byte.

use app::model::{ClientId, MessageBody, RoomId, Username, MAX_CONTENT_CHARS};
use app::protocol::ClientFrame;
use minitalk_server::store::file::log::{LogConfig, MessageLog};
use minitalk_server::store::{Body, NewEntry, StoredEntry};
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};
use std::fs;

fn client_frame() -> impl Strategy<Value = ClientFrame> {
    let room = any::<u64>().prop_map(RoomId);
    prop_oneof![
        (room.clone(), proptest::option::of(any::<u64>()))
            .prop_map(|(room_id, after_seq)| ClientFrame::Subscribe { room_id, after_seq }),
        room.clone()
            .prop_map(|room_id| ClientFrame::Unsubscribe { room_id }),
        (
            room.clone(),
            ".{0,80}",
            ".{0,300}",
            proptest::option::of(any::<u64>())
        )
            .prop_map(|(room_id, client_id, content, reply_to)| {
                ClientFrame::Send {
                    room_id,
                    client_id,
                    content,
                    reply_to,
                }
            }),
        room.prop_map(|room_id| ClientFrame::Typing { room_id }),
        Just(ClientFrame::Ping),
    ]
}

proptest! {
    #[test]
    fn any_text_parses_or_is_refused_without_panicking(text in ".{0,400}") {
        let _ = serde_json::from_str::<ClientFrame>(&text);
    }

    #[test]
    fn any_json_object_parses_or_is_refused_without_panicking(
        kind in "(subscribe|unsubscribe|send|typing|ping|[a-z]{1,8})",
        room in prop_oneof![Just(serde_json::json!(1)), Just(serde_json::json!("../../etc/passwd")),
                            Just(serde_json::json!(-1)), Just(serde_json::json!(null))],
        content in ".{0,50}",
    ) {
        let frame = serde_json::json!({"type": kind, "room_id": room, "after_seq": null,
                                        "client_id": "c", "content": content});
        let _ = serde_json::from_value::<ClientFrame>(frame);
    }

    #[test]
    fn valid_frames_round_trip(frame in client_frame()) {
        let text = serde_json::to_string(&frame).unwrap();
        prop_assert_eq!(serde_json::from_str::<ClientFrame>(&text).unwrap(), frame);
    }

    #[test]
    fn message_bodies_are_accepted_exactly_up_to_the_limit(len in 0usize..4100, fill in "[a-zé ]") {
        let text = fill.repeat(len);
        let ok = !text.trim().is_empty() && len <= MAX_CONTENT_CHARS;
        prop_assert_eq!(MessageBody::parse(&text).is_ok(), ok);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Write random batches over several rooms, cut the newest segment at a random byte (a crash
    /// mid-write), reopen: every batch written before the cut is there, seqs are 1..n per room,
    /// no message twice, and what survives is a prefix of what was written.
    #[test]
    fn a_crash_at_any_byte_keeps_every_invariant(
        batches in proptest::collection::vec(proptest::collection::vec((0u64..4, 1usize..60), 1..12), 1..10),
        segment_bytes in prop_oneof![Just(1u64 << 30), Just(600u64)],
        cut in 0.0f64..=1.0,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig { segment_bytes };
        let log = MessageLog::open(dir.path(), config).unwrap().log;
        let mut written = Vec::new();
        let mut n = 0;
        for batch in &batches {
            let news = batch.iter().map(|(room, len)| {
                n += 1;
                NewEntry {
                    room_id: RoomId(*room),
                    sender: Username::parse("ana").unwrap(),
                    client_id: ClientId::parse(&format!("c{n}")).unwrap(),
                    body: Body::Text(MessageBody::parse(&"x".repeat(*len)).unwrap()),
                    ts: n,
                }
            }).collect();
            let stored: Result<Vec<_>, _> = log.append(news).unwrap().into_iter().collect();
            written.push(stored.expect("messages are never refused"));
        }
        drop(log);

        let mut segments: Vec<_> = fs::read_dir(dir.path()).unwrap()
            .map(|e| e.unwrap().path()).collect();
        segments.sort();
        let newest = segments.last().unwrap();
        let len = fs::metadata(newest).unwrap().len();
        let cut_at = (len as f64 * cut) as u64;
        fs::OpenOptions::new().write(true).open(newest).unwrap().set_len(cut_at).unwrap();
        let earlier: u64 = segments[..segments.len() - 1].iter()
            .map(|p| fs::metadata(p).unwrap().len()).sum();

        let recovered = MessageLog::open(dir.path(), config).unwrap();
        let log = recovered.log;
        let mut survivors = Vec::new();
        for room in 0..4 {
            let messages: Vec<_> = log.read_range(RoomId(room), 1, u64::MAX).unwrap()
                .into_iter().filter_map(app::timeline::Entry::into_message).collect();
            for (i, m) in messages.iter().enumerate() {
                prop_assert_eq!(m.seq, i as u64 + 1, "seqs of room {} are contiguous", room);
            }
            survivors.extend(messages);
        }
        let ids: HashSet<_> = survivors.iter().map(|m| m.client_id.clone()).collect();
        prop_assert_eq!(ids.len(), survivors.len(), "no message twice");

        // Every batch whose bytes all lie before the cut survives whole.
        let mut offset = 0u64;
        let by_id: HashMap<_, _> = survivors.iter().map(|m| (m.client_id.clone(), m)).collect();
        for batch in &written {
            let size: u64 = batch.iter().map(|m| m.frame.bytes().len() as u64 + 1).sum();
            offset += size;
            if offset <= earlier + cut_at {
                for m in batch {
                    let survivor = by_id.get(&m.ack.client_id)
                        .map(|s| StoredEntry::of(&app::timeline::Entry::Message((*s).clone())));
                    prop_assert_eq!(survivor.as_ref(), Some(m));
                }
            }
        }
        // What survives is a prefix of what was written.
        let order: Vec<_> = written.iter().flatten().map(|m| m.ack.client_id.clone()).collect();
        prop_assert!(order[..survivors.len()].iter().all(|id| ids.contains(id)));
    }
}
