//! Committing one batch: one append to the [`MessageStore`], then a hand-off to the publisher.
//!
//! The store decides everything about the batch (what is a resend, what is stored, with which
//! seqs) in one call, and runs its own blocking I/O; the writer only turns the answers into
//! acks and errors, and passes them with what was newly stored to the
//! [`publisher`](super::publisher), so that the next batch's commit can start at once.

use super::publisher::{Answer, Committed};
use super::{SendError, SendRequest};
use crate::stats::Stats;
use crate::store::{Appended, MessageStore, NewEntry, StoreError};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

pub struct Writer {
    store: Arc<dyn MessageStore>,
    publish: mpsc::Sender<Committed>,
    stats: Stats,
}

impl Writer {
    pub fn new(
        store: Arc<dyn MessageStore>,
        publish: mpsc::Sender<Committed>,
        stats: Stats,
    ) -> Self {
        Self {
            store,
            publish,
            stats,
        }
    }

    /// Stores `batch` with one append and hands every request's answer to the publisher.
    pub async fn commit(&mut self, batch: Vec<SendRequest>) {
        let now = crate::clock::now_ms();
        let mut replies = Vec::with_capacity(batch.len());
        let messages = batch
            .into_iter()
            .map(|request| {
                replies.push(request.reply);
                NewEntry {
                    room_id: request.room_id,
                    sender: request.sender,
                    client_id: request.client_id,
                    body: request.body,
                    ts: now,
                }
            })
            .collect();

        let started = Instant::now();
        let committed = match self.store.append(messages).await {
            Ok(appended) => {
                let mut stored = Vec::with_capacity(appended.len());
                let answers = appended
                    .into_iter()
                    .map(|answer| match answer {
                        Appended::Stored(entry) => {
                            stored.push(entry);
                            Answer::Stored
                        }
                        Appended::Duplicate(ack) => Answer::Ready(Ok(ack)),
                        Appended::ClientIdReused => Answer::Ready(Err(SendError::ClientIdReused)),
                    })
                    .zip(replies)
                    .map(|(answer, reply)| (reply, answer))
                    .collect();
                if !stored.is_empty() {
                    self.stats.record_batch(stored.len(), started.elapsed());
                }
                Committed { stored, answers }
            }
            Err(error) => {
                let answer = match error {
                    StoreError::LowDisk => SendError::StorageFull,
                    error => {
                        tracing::error!(
                            "batch write failed, every sender in it gets an error: {error}"
                        );
                        self.stats.record_failed_batch();
                        SendError::Storage
                    }
                };
                Committed {
                    stored: Vec::new(),
                    answers: replies
                        .into_iter()
                        .map(|reply| (reply, Answer::Ready(Err(answer.clone()))))
                        .collect(),
                }
            }
        };
        // Waits only while the publisher is `PUBLISH_QUEUE` batches behind. If it has ended
        // (it cannot, short of a panic), the replies drop and every sender sees an error.
        let _gone = self.publish.send(committed).await;
    }
}
