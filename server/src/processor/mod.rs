//! The MessageProcessor: the one way a message gets stored.
//!
//! ```text
//! connection --submit--> [bounded queue] --Batcher--> [1 batch waiting] --writer--> log.append
//!                        full: `overloaded`                                  |  (1 write + 1 fdatasync)
//!                                                                            v
//!                                                   hub.publish + every sender's ack (or error)
//! ```
//!
//! Group commit: many senders share one durable write. A batch closes when it is full or one
//! flush interval after its first message (see [`batcher`]); the next batch forms while the
//! previous one is being written. Seqs are assigned by the log inside the write, so they follow
//! the order messages were taken off the queue.
//!
//! Promises:
//! - An ack is sent only after the message's batch is durable, and only then is the message
//!   broadcast. A failed write answers every sender in the batch with an error and broadcasts
//!   nothing.
//! - A resend of the same (sender, client_id) within the dedupe window is answered with the
//!   original ack and never stored twice, even when both copies sit in the same batch.
//! - Memory is bounded: the queue holds `queue_capacity` requests; beyond that `submit` fails
//!   at once with [`SendError::Overloaded`]. At most one more batch waits behind the one being
//!   written.
//! - Shutdown closes the queue, writes everything already in it, and only then ends.

mod batcher;
mod dedupe;
mod writer;

use crate::hub::Hub;
use crate::stats::Stats;
use crate::store::MessageLog;
use app::model::{ChatMessage, ClientId, MessageBody, RoomId, Username};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use batcher::Batcher;
pub use dedupe::Dedupe;

#[derive(Debug, Clone, Copy)]
pub struct ProcessorConfig {
    pub batch_size: usize,
    pub flush_interval: Duration,
    pub queue_capacity: usize,
    /// How long a (sender, client_id) is remembered for idempotent resends.
    pub dedupe_window: Duration,
    /// Most acks remembered at once (bounds the dedupe memory).
    pub dedupe_max_entries: usize,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        Self {
            batch_size: 100,
            flush_interval: Duration::from_millis(50),
            queue_capacity: 10_000,
            dedupe_window: Duration::from_secs(600),
            dedupe_max_entries: 2_000_000,
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

/// Proof that a message is durably stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub client_id: String,
    pub room_id: RoomId,
    pub id: u64,
    pub seq: u64,
    pub ts: i64,
}

impl Ack {
    pub fn of(message: &ChatMessage) -> Self {
        Self {
            client_id: message.client_id.clone(),
            room_id: message.room_id,
            id: message.id,
            seq: message.seq,
            ts: message.ts,
        }
    }
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
    /// every queued message has been written and answered.
    pub fn start(
        config: ProcessorConfig,
        log: Arc<MessageLog>,
        dedupe: Dedupe,
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
        let mut writer = writer::Writer::new(log, dedupe, hub, stats.clone());
        let write = tokio::spawn(async move {
            while let Some(batch) = batch_rx.recv().await {
                writer.commit(batch).await;
            }
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
