//! The MessageProcessor: the one way a message gets stored.
//!
//! ```text
//! connection --submit--> [bounded queue] --Batcher--> [1 batch waiting] --writer--> MessageStore
//!                        full: `overloaded`                                  |  store.append: dedupe,
//!                                                                            |  1 write + 1 fdatasync
//!                                                                            v
//!                                                   hub.publish + every sender's ack (or error)
//! ```
//!
//! Group commit: many senders share one durable write. A batch closes when it is full or one
//! flush interval after its first message (see [`batcher`]); the next batch forms while the
//! previous one is being written. Seqs are assigned by the store inside the append, so they
//! follow the order messages were taken off the queue.
//!
//! Promises:
//! - An ack is sent only after the message's batch is durable, and only then is the message
//!   broadcast. A failed write answers every sender in the batch with an error and broadcasts
//!   nothing.
//! - A resend of the same (sender, client_id) within the dedupe window is answered with the
//!   original ack and never stored twice, even when both copies sit in the same batch (the
//!   store is the authority on that; see [`crate::store::MessageStore`]). The same
//!   client_id with another room or other content is refused with
//!   [`SendError::ClientIdReused`], never acked as the old message.
//! - Memory is bounded: the queue holds `queue_capacity` requests; beyond that `submit` fails
//!   at once with [`SendError::Overloaded`]. At most one more batch waits behind the one being
//!   written.
//! - Shutdown closes the queue, writes everything already in it, and only then ends.

mod batcher;
mod writer;

use crate::hub::Hub;
use crate::stats::Stats;
use crate::store::MessageStore;
use app::model::{ClientId, MessageBody, RoomId, Username};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use crate::store::Ack;
pub use batcher::Batcher;

#[derive(Debug, Clone, Copy)]
pub struct ProcessorConfig {
    pub batch_size: usize,
    pub flush_interval: Duration,
    pub queue_capacity: usize,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        Self {
            batch_size: 4000,
            flush_interval: Duration::from_millis(5),
            queue_capacity: 10_000,
        }
    }
}

/// A message to store, with where to send the answer.
#[derive(Debug)]
pub struct SendRequest {
    pub room_id: RoomId,
    pub sender: Username,
    pub client_id: ClientId,
    pub content: MessageBody,
    pub reply: oneshot::Sender<Result<Ack, SendError>>,
}

/// Why a message was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("the server is busy; retry in {retry_after_ms} ms")]
    Overloaded { retry_after_ms: u64 },
    #[error("the server is shutting down; reconnect and resend")]
    ShuttingDown,
    #[error("the message could not be stored")]
    Storage,
    #[error("this client_id was already used for a different message; use a new one")]
    ClientIdReused,
    #[error("the server is low on disk space and refuses new messages for now")]
    StorageFull,
}

/// Cloneable handle for submitting messages.
#[derive(Clone)]
pub struct MessageProcessor {
    tx: mpsc::Sender<SendRequest>,
    stats: Stats,
    retry_after_ms: u64,
}

impl MessageProcessor {
    /// Starts the batcher and writer tasks. The returned task ends after `shutdown` fires and
    /// every queued message has been written and answered; it then lets go of the store.
    pub fn start(
        config: ProcessorConfig,
        store: Arc<dyn MessageStore>,
        hub: Hub,
        stats: Stats,
        shutdown: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        // One batch may wait while the previous one is written; more would only add latency.
        let (batch_tx, mut batch_rx) = mpsc::channel::<Vec<SendRequest>>(1);
        let mut batcher = Batcher::new(rx, config.batch_size, config.flush_interval, shutdown);
        let collect = tokio::spawn(async move {
            while let Some(batch) = batcher.next_batch().await {
                if batch_tx.send(batch).await.is_err() {
                    break;
                }
            }
        });
        let mut writer = writer::Writer::new(store, hub, stats.clone());
        let write = tokio::spawn(async move {
            while let Some(batch) = batch_rx.recv().await {
                writer.commit(batch).await;
            }
            drop(writer);
            if let Err(e) = collect.await {
                tracing::error!("batcher task failed: {e}");
            }
        });
        let retry_after_ms = (config.flush_interval.as_millis() as u64).max(10) * 2;
        (
            Self {
                tx,
                stats,
                retry_after_ms,
            },
            write,
        )
    }

    /// Queues a message without waiting. Fails at once when the queue is full or closed.
    pub fn submit(&self, request: SendRequest) -> Result<(), SendError> {
        self.tx.try_send(request).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                self.stats.record_overloaded();
                SendError::Overloaded {
                    retry_after_ms: self.retry_after_ms,
                }
            }
            mpsc::error::TrySendError::Closed(_) => SendError::ShuttingDown,
        })
    }

    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    pub fn queue_capacity(&self) -> usize {
        self.tx.max_capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::tests::{listener, Listener};
    use crate::store::{FileMessageStore, FileMessageStoreConfig};
    use app::model::RoomId;

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Arc<FileMessageStore>,
        processor: MessageProcessor,
        task: JoinHandle<()>,
        shutdown: CancellationToken,
        listener: Listener,
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
            hub,
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
        }
    }

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
            sender: Username::parse("ana").unwrap(),
            client_id: ClientId::parse(client_id).unwrap(),
            content: MessageBody::parse(content).unwrap(),
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
}
