//! Committing one batch: dedupe, one durable append, then broadcast and answers.

use super::{Ack, Dedupe, DedupeKey, SendError, SendRequest};
use crate::fasthash::FastMap;
use crate::hub::Hub;
use crate::stats::Stats;
use crate::store::{MessageLog, NewMessage};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

type Reply = oneshot::Sender<Result<Ack, SendError>>;

pub struct Writer {
    log: Arc<MessageLog>,
    dedupe: Dedupe,
    hub: Hub,
    stats: Stats,
}

impl Writer {
    pub fn new(log: Arc<MessageLog>, dedupe: Dedupe, hub: Hub, stats: Stats) -> Self {
        Self {
            log,
            dedupe,
            hub,
            stats,
        }
    }

    /// Stores the new messages of `batch` with one append and answers every request in it.
    pub async fn commit(&mut self, batch: Vec<SendRequest>) {
        // For each message to store, everyone waiting for its ack (a resend inside the same
        // batch waits with the original).
        let mut waiting: Vec<Vec<Reply>> = Vec::new();
        let mut fresh = Vec::new();
        let mut in_batch: FastMap<DedupeKey, usize> = FastMap::default();
        let now = crate::now_ms();
        for request in batch {
            let key = DedupeKey::new(&request.sender, request.client_id.as_str());
            if let Some(ack) = self.dedupe.get(&key) {
                let _gone = request.reply.send(Ok(ack));
                continue;
            }
            if let Some(&slot) = in_batch.get(&key) {
                waiting[slot].push(request.reply);
                continue;
            }
            in_batch.insert(key, fresh.len());
            waiting.push(vec![request.reply]);
            fresh.push(NewMessage {
                room_id: request.room_id,
                sender: request.sender,
                client_id: request.client_id.into(),
                content: request.content.into(),
                ts: now,
            });
        }
        if fresh.is_empty() {
            return;
        }

        let started = Instant::now();
        let log = self.log.clone();
        let result = tokio::task::spawn_blocking(move || log.append(fresh)).await;
        let error = match result {
            Ok(Ok(stored)) => {
                self.stats.record_batch(stored.len(), started.elapsed());
                self.hub.publish(&stored);
                let acks: Vec<Ack> = stored.iter().map(Ack::of).collect();
                for (ack, replies) in acks.iter().zip(waiting) {
                    for reply in replies {
                        let _gone = reply.send(Ok(ack.clone()));
                    }
                }
                for (key, slot) in in_batch {
                    self.dedupe.insert(key, &acks[slot]);
                }
                return;
            }
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        tracing::error!("batch write failed, every sender in it gets an error: {error}");
        self.stats.record_failed_batch();
        for reply in waiting.into_iter().flatten() {
            let _gone = reply.send(Err(SendError::Storage));
        }
    }
}
