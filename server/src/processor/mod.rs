//! The MessageProcessor: the one way a message gets stored.
//!
//! ```text
//! connection --submit--> [bounded queue] --Batcher--> [1 batch waiting] --Writer--> MessageStore
//!                        full: `overloaded`                                  |  store.append: dedupe,
//!                                                                            |  1 write + 1 fdatasync
//!                                                                            v
//!                                                       [2 batches waiting] --publisher-->
//!                                                   hub.publish, then every sender's ack (or error)
//! ```
//!
//! Group commit: many senders share one durable write. A batch closes when it is full or one
//! flush interval after its first message (see [`batcher`]); the next batch forms while the
//! previous one is being written. Seqs are assigned by the store inside the append, so they
//! follow the order messages were taken off the queue.
//!
//! Promises:
//! - Every entry is checked against the room's rules in batch order, by the writer (see
//!   [`crate::access`]): a kick and the victim's next message in one batch always resolve the
//!   same way, and a refused entry takes no seq.
//! - A message is broadcast only after its batch is durable, and its sender is acked only after
//!   that. A failed write answers every sender in the batch with an error and broadcasts
//!   nothing. Publishing runs beside the next commit, in commit order (see [`publisher`]).
//! - A resend of the same (sender, client_id) within the dedupe window is answered with the
//!   original ack and never stored twice, even when both copies sit in the same batch (the
//!   store is the authority on that; see [`crate::store::MessageStore`]). The same
//!   client_id with another room or other content is refused with
//!   [`SendError::ClientIdReused`], never acked as the old message.
//! - Memory is bounded: the queue holds `queue_capacity` requests; beyond that `submit` fails
//!   at once with [`SendError::Overloaded`]. At most one more batch waits behind the one being
//!   written, and at most [`publisher::PUBLISH_QUEUE`] committed ones for the publisher.
//! - Shutdown closes the queue, writes everything already in it, and only then ends.

mod batcher;
mod publisher;
mod writer;

use crate::access::{Access, Refusal};
use crate::stats::Stats;
use crate::store::{Body, MessageStore, TargetRefusal};
use app::model::{ClientId, RoomId, UserId, UserInfo, Username};
use futures::future::{BoxFuture, FutureExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use crate::store::Ack;
pub use batcher::Batcher;
pub use publisher::Outlets;

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
    /// Who asks: the writer checks what they may do in the room (see [`crate::access`]).
    pub actor: UserId,
    pub sender: Username,
    pub client_id: ClientId,
    pub body: Body,
    pub reply: publisher::Reply,
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
    /// The room's rules refused it where the room's entries are ordered (see [`crate::access`]).
    #[error(transparent)]
    Refused(#[from] Refusal),
}

impl From<TargetRefusal> for SendError {
    fn from(refusal: TargetRefusal) -> Self {
        match refusal {
            TargetRefusal::NoSuchMessage => Self::Refused(Refusal::NoSuchMessage),
            TargetRefusal::NotYourMessage => {
                Self::Refused(Refusal::Forbidden("you can only edit your own messages"))
            }
            TargetRefusal::NotYourMessageToDelete => Self::Refused(Refusal::Forbidden(
                "only owners and moderators delete other people's messages",
            )),
            TargetRefusal::Unreadable => Self::Storage,
        }
    }
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
        access: Access,
        outlets: Outlets,
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
        let (publish_tx, publish_rx) = mpsc::channel(publisher::PUBLISH_QUEUE);
        let publish = tokio::spawn(publisher::run(publish_rx, outlets));
        let mut writer = writer::Writer::new(store, access, publish_tx, stats.clone());
        let write = tokio::spawn(async move {
            while let Some(batch) = batch_rx.recv().await {
                writer.commit(batch).await;
            }
            // Letting go of the writer closes the publisher's queue; it ends once drained.
            drop(writer);
            if let Err(e) = publish.await {
                tracing::error!("publisher task failed: {e}");
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

/// Membership changes go into the room's timeline the way messages do: queued, batched, decided
/// by the writer, stored.
impl crate::rooms::Timeline for MessageProcessor {
    fn record(
        &self,
        room: RoomId,
        actor: &UserInfo,
        client_id: ClientId,
        body: Body,
    ) -> BoxFuture<'_, Result<Ack, SendError>> {
        let (reply, answer) = oneshot::channel();
        let submitted = self.submit(SendRequest {
            room_id: room,
            actor: actor.id,
            sender: actor.username.clone(),
            client_id,
            body,
            reply,
        });
        async move {
            submitted?;
            answer.await.map_err(|_| SendError::ShuttingDown)?
        }
        .boxed()
    }
}

#[cfg(test)]
mod shared_tests;
#[cfg(test)]
mod tests;
