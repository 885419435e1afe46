//! The processor's promises, end to end over a real file store and a hub listener.

use super::*;
use crate::hub::tests::{listener, Listener};
use crate::hub::Hub;
use crate::newest::NewestMessages;
use crate::store::{FileMessageStore, FileMessageStoreConfig};
use app::model::RoomId;
use tokio::sync::oneshot;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<FileMessageStore>,
    processor: MessageProcessor,
    task: JoinHandle<()>,
    shutdown: CancellationToken,
    listener: Listener,
    hub: Hub,
}

fn fixture(config: ProcessorConfig) -> Fixture {
    fixture_with(
        config,
        FileMessageStoreConfig {
            min_free_disk_bytes: 0,
            ..Default::default()
        },
    )
}

fn fixture_with(config: ProcessorConfig, store: FileMessageStoreConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileMessageStore::open(dir.path(), store, 0).unwrap());
    let hub = Hub::default();
    let listener = listener(&hub, 1, 1, 1000);
    let shutdown = CancellationToken::new();
    let (processor, task) = MessageProcessor::start(
        config,
        store.clone(),
        ana_in_rooms(1..=ROOMS),
        Outlets {
            hub: hub.clone(),
            bus: Arc::new(crate::bus::LocalBus::new(hub.clone(), 8)),
            newest: NewestMessages::default(),
            search: crate::search::Search::off(),
        },
        Stats::default(),
        shutdown.clone(),
    );
    Fixture {
        _dir: dir,
        store,
        processor,
        task,
        shutdown,
        listener,
        hub,
    }
}

/// Rooms the tests send to, each with ana (user 1) a member.
const ROOMS: u64 = 8;

fn ana_in_rooms(rooms: impl Iterator<Item = u64>) -> Access {
    Access::new(
        rooms
            .map(|id| {
                let mut room = crate::store::rooms::RoomAccess::new(app::model::Visibility::Public);
                room.set(
                    ANA,
                    crate::store::rooms::Standing::Member(app::model::Role::Owner),
                );
                room.set(
                    BOB,
                    crate::store::rooms::Standing::Member(app::model::Role::Member),
                );
                (RoomId(id), room)
            })
            .collect(),
        Arc::new(crate::store::memory::MemoryRooms::default()),
    )
}

const ANA: UserId = UserId(1);
const BOB: UserId = UserId(2);

impl Fixture {
    async fn last_seq(&self, room: u64) -> u64 {
        self.store.head(RoomId(room)).await.unwrap().last_seq
    }

    /// Submits one "hello" per client id; returns where each answer will arrive.
    fn submit_all(&self, ids: &[&str]) -> Vec<oneshot::Receiver<Result<Ack, SendError>>> {
        ids.iter()
            .map(|id| {
                let (request, answer) = request(id);
                self.processor.submit(request).unwrap();
                answer
            })
            .collect()
    }
}

fn request(client_id: &str) -> (SendRequest, oneshot::Receiver<Result<Ack, SendError>>) {
    request_to(1, client_id, "hello")
}

fn request_to(
    room: u64,
    client_id: &str,
    content: &str,
) -> (SendRequest, oneshot::Receiver<Result<Ack, SendError>>) {
    let (reply, answer) = oneshot::channel();
    let request = SendRequest {
        room_id: RoomId(room),
        actor: ANA,
        sender: Username::parse("ana").unwrap(),
        client_id: ClientId::parse(client_id).unwrap(),
        body: crate::store::Body::Text(app::model::MessageBody::parse(content).unwrap()),
        reply,
    };
    (request, answer)
}

#[tokio::test]
async fn a_reused_client_id_in_the_same_batch_is_refused_and_only_the_first_is_stored() {
    let f = fixture(ProcessorConfig::default());
    let answers: Vec<_> = [(1, "hello"), (2, "hello"), (1, "other"), (1, "hello")]
        .into_iter()
        .map(|(room, content)| {
            let (request, answer) = request_to(room, "x1", content);
            f.processor.submit(request).unwrap();
            answer
        })
        .collect();
    let mut answers = answers.into_iter();
    let first = answers.next().unwrap().await.unwrap().unwrap();
    let rest: Vec<_> = futures::future::join_all(answers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        rest,
        [
            Err(SendError::ClientIdReused),
            Err(SendError::ClientIdReused),
            Ok(first)
        ]
    );
    assert_eq!((f.last_seq(1).await, f.last_seq(2).await), (1, 0));
}

#[tokio::test]
async fn a_reused_client_id_in_a_later_batch_is_refused_and_a_true_resend_gets_the_ack() {
    let f = fixture(ProcessorConfig::default());
    let (request, answer) = request_to(1, "x1", "hello");
    f.processor.submit(request).unwrap();
    let first = answer.await.unwrap().unwrap();
    for (room, content) in [(2, "hello"), (1, "other")] {
        let (request, answer) = request_to(room, "x1", content);
        f.processor.submit(request).unwrap();
        assert_eq!(answer.await.unwrap(), Err(SendError::ClientIdReused));
    }
    let (request, answer) = request_to(1, "x1", "hello");
    f.processor.submit(request).unwrap();
    assert_eq!(answer.await.unwrap(), Ok(first));
    assert_eq!((f.last_seq(1).await, f.last_seq(2).await), (1, 0));
}

#[tokio::test]
async fn a_resend_in_the_same_batch_is_stored_once_and_both_get_its_ack() {
    let mut f = fixture(ProcessorConfig::default());
    let (first, first_answer) = request("same");
    let (second, second_answer) = request("same");
    f.processor.submit(first).unwrap();
    f.processor.submit(second).unwrap();
    let first = first_answer.await.unwrap().unwrap();
    assert_eq!(second_answer.await.unwrap().unwrap(), first);
    assert_eq!(f.last_seq(1).await, 1);
    assert!(f.listener.messages.try_recv().is_ok());
    assert!(f.listener.messages.try_recv().is_err());
}

#[tokio::test]
async fn a_failed_write_answers_every_sender_with_an_error_and_broadcasts_nothing() {
    let mut f = fixture(ProcessorConfig::default());
    f.store.fail_next_writes(1);
    let answers = f.submit_all(&["a", "b", "c"]);
    for answer in answers {
        assert_eq!(answer.await.unwrap(), Err(SendError::Storage));
    }
    assert!(f.listener.messages.try_recv().is_err());
    assert_eq!(f.last_seq(1).await, 0);

    let (request, answer) = request("a");
    f.processor.submit(request).unwrap();
    assert_eq!(answer.await.unwrap().unwrap().seq, 1);
}

#[tokio::test]
async fn a_full_queue_refuses_at_once_with_overloaded() {
    let f = fixture(ProcessorConfig {
        queue_capacity: 2,
        ..ProcessorConfig::default()
    });
    // The test runtime runs one task at a time, so nothing drains the queue here.
    let mut answers = Vec::new();
    for id in ["a", "b"] {
        let (request, answer) = request(id);
        f.processor.submit(request).unwrap();
        answers.push(answer);
    }
    let (request, _) = request("c");
    assert!(matches!(
        f.processor.submit(request),
        Err(SendError::Overloaded { .. })
    ));
    for answer in answers {
        assert!(answer.await.unwrap().is_ok());
    }
}

#[tokio::test]
async fn below_the_disk_watermark_every_sender_gets_storage_full_and_nothing_is_written() {
    let mut f = fixture_with(
        ProcessorConfig::default(),
        FileMessageStoreConfig {
            min_free_disk_bytes: u64::MAX,
            ..Default::default()
        },
    );
    let answers = f.submit_all(&["a", "b"]);
    for answer in answers {
        assert_eq!(answer.await.unwrap(), Err(SendError::StorageFull));
    }
    assert_eq!(f.last_seq(1).await, 0);
    assert!(f.listener.messages.try_recv().is_err());
}

#[test]
fn a_busy_blocking_pool_does_not_delay_a_batch_write() {
    // As a sign-in flood would: argon2 hashing holds every blocking-pool thread.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    runtime.block_on(async {
        let f = fixture(ProcessorConfig::default());
        let (release, held) = std::sync::mpsc::channel::<()>();
        let busy = tokio::task::spawn_blocking(move || held.recv());
        let (request, answer) = request("a");
        f.processor.submit(request).unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(5), answer).await;
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        assert_eq!(
            answer
                .expect("acked while the pool was busy")
                .unwrap()
                .unwrap()
                .seq,
            1
        );
    });
}

#[tokio::test]
async fn shutdown_lets_go_of_the_store() {
    let f = fixture(ProcessorConfig::default());
    let (request, answer) = request("a");
    f.processor.submit(request).unwrap();
    answer.await.unwrap().unwrap();
    assert_eq!(Arc::strong_count(&f.store), 2, "the writer holds the store");
    f.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), f.task)
        .await
        .expect("the processor ends")
        .unwrap();
    // Once the last holder lets go, the store ends its writer thread (see its tests).
    assert_eq!(Arc::strong_count(&f.store), 1);
}

#[tokio::test]
async fn shutdown_writes_everything_queued_before_ending() {
    let f = fixture(ProcessorConfig {
        batch_size: 10,
        flush_interval: Duration::from_secs(3600),
        ..ProcessorConfig::default()
    });
    let answers: Vec<_> = (0..25)
        .map(|i| {
            let (request, answer) = request(&format!("m{i}"));
            f.processor.submit(request).unwrap();
            answer
        })
        .collect();
    f.shutdown.cancel();
    f.task.await.unwrap();
    for answer in answers {
        assert!(answer.await.unwrap().is_ok());
    }
    assert_eq!(f.store.head(RoomId(1)).await.unwrap().last_seq, 25);
    let (request, _) = request("late");
    assert_eq!(f.processor.submit(request), Err(SendError::ShuttingDown));
}

#[tokio::test]
async fn every_message_is_broadcast_in_seq_order_before_its_sender_is_acked() {
    // Small batches, so the 60 messages span many commits and the publisher runs beside them.
    let mut f = fixture(ProcessorConfig {
        batch_size: 4,
        ..ProcessorConfig::default()
    });
    let ids: Vec<String> = (0..60).map(|i| format!("o{i}")).collect();
    let answers = f.submit_all(&ids.iter().map(String::as_str).collect::<Vec<_>>());
    let mut broadcast = Vec::new();
    for answer in answers {
        let ack = answer.await.unwrap().unwrap();
        while let Ok(frame) = f.listener.messages.try_recv() {
            broadcast.push(frame.seq);
        }
        assert!(
            broadcast.contains(&ack.seq),
            "seq {} was acked before it was broadcast",
            ack.seq
        );
    }
    assert_eq!(broadcast, (1..=60).collect::<Vec<u64>>());
}

#[tokio::test]
async fn a_kick_and_the_kicked_member_s_next_messages_in_one_batch_resolve_in_batch_order() {
    // The five requests below are exactly one batch: it closes when full, long before its
    // flush interval.
    let f = fixture(ProcessorConfig {
        batch_size: 5,
        flush_interval: Duration::from_secs(30),
        ..ProcessorConfig::default()
    });
    let mut bob_listens = listener(&f.hub, BOB.0, 1, 100);
    let bob = Username::parse("bob").unwrap();
    let from_bob = |id: &str| {
        let (mut request, answer) = request_to(1, id, "from bob");
        request.actor = BOB;
        request.sender = bob.clone();
        (request, answer)
    };
    let (kick, kicked) = {
        let (reply, answer) = oneshot::channel();
        let request = SendRequest {
            room_id: RoomId(1),
            actor: ANA,
            sender: Username::parse("ana").unwrap(),
            client_id: ClientId::parse("kick").unwrap(),
            body: crate::store::Body::Member(crate::store::MemberChange {
                user_id: BOB,
                user: bob.clone(),
                membership: app::timeline::Membership::Leave,
                role: app::model::Role::Member,
                intent: crate::store::Intent::Plain,
            }),
            reply,
        };
        (request, answer)
    };
    // One batch: bob's first message, the kick, two more from bob, and one from ana.
    let (before, before_answer) = from_bob("b1");
    let (after, after_answer) = from_bob("b2");
    let (later, later_answer) = from_bob("b3");
    let (from_ana, ana_answer) = request_to(1, "a1", "not for bob");
    for request in [before, kick, after, later, from_ana] {
        f.processor.submit(request).unwrap();
    }
    assert_eq!(before_answer.await.unwrap().unwrap().seq, 1);
    assert_eq!(kicked.await.unwrap().unwrap().seq, 2);
    for answer in [after_answer, later_answer] {
        assert_eq!(
            answer.await.unwrap(),
            Err(SendError::Refused(crate::access::Refusal::NotMember)),
            "after the kick, bob's messages take no seq"
        );
    }
    assert_eq!(ana_answer.await.unwrap().unwrap().seq, 3);
    assert_eq!(f.last_seq(1).await, 3);
    // Bob's connection gets his message and the kick, and is cut off before ana's message.
    let seqs: Vec<u64> = std::iter::from_fn(|| bob_listens.messages.try_recv().ok())
        .map(|out| out.seq)
        .collect();
    assert_eq!(seqs, [1, 2]);
    let revoked = bob_listens.registration.signals.take_revoked();
    assert_eq!(
        revoked.rooms,
        std::collections::BTreeMap::from([(RoomId(1), Some(2))]),
        "revoked through the kick"
    );
}
