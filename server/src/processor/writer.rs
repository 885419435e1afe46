//! Committing one batch: one append to the [`MessageStore`], then broadcast and answers.
//!
//! The store decides everything about the batch (what is a resend, what is stored, with which
//! seqs) in one call, and runs its own blocking I/O; the writer only turns the answers into
//! acks and errors, and publishes what was newly stored.

use super::{Ack, SendError, SendRequest};
use crate::hub::Hub;
use crate::stats::Stats;
use crate::store::{Appended, MessageStore, NewMessage, StoreError};
use std::sync::Arc;
use std::time::Instant;

pub struct Writer {
    store: Arc<dyn MessageStore>,
    hub: Hub,
    stats: Stats,
}

impl Writer {
    pub fn new(store: Arc<dyn MessageStore>, hub: Hub, stats: Stats) -> Self {
        Self { store, hub, stats }
    }

    /// Stores `batch` with one append and answers every request in it.
    pub async fn commit(&mut self, batch: Vec<SendRequest>) {
        let now = crate::clock::now_ms();
        let mut replies = Vec::with_capacity(batch.len());
        let messages = batch
            .into_iter()
            .map(|request| {
                replies.push(request.reply);
                NewMessage {
                    room_id: request.room_id,
                    sender: request.sender,
                    client_id: request.client_id,
                    content: request.content,
                    ts: now,
                }
            })
            .collect();

        let started = Instant::now();
        let appended = match self.store.append(messages).await {
            Ok(appended) => appended,
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
                for reply in replies {
                    let _gone = reply.send(Err(answer.clone()));
                }
                return;
            }
        };
        let mut stored = Vec::with_capacity(appended.len());
        let answers: Vec<_> = appended
            .into_iter()
            .map(|answer| match answer {
                Appended::Stored(message) => {
                    let ack = Ack::of(&message);
                    stored.push(message);
                    Ok(ack)
                }
                Appended::Duplicate(ack) => Ok(ack),
                Appended::ClientIdReused => Err(SendError::ClientIdReused),
            })
            .collect();
        if !stored.is_empty() {
            self.stats.record_batch(stored.len(), started.elapsed());
            // Broadcast only once durable, and before anyone is acked.
            self.hub.publish(&stored);
        }
        for (answer, reply) in answers.into_iter().zip(replies) {
            let _gone = reply.send(answer);
        }
    }
}
