//! Committing one batch: dedupe, one durable append, then broadcast and answers.

use super::dedupe::{fingerprint, Lookup};
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
        // Key → (slot in `fresh`, fingerprint of what that slot stores).
        let mut in_batch: FastMap<DedupeKey, (usize, u64)> = FastMap::default();
        let now = crate::now_ms();
        for request in batch {
            let key = DedupeKey::new(&request.sender, request.client_id.as_str());
            let print = fingerprint(request.room_id, request.content.as_str());
            match self.dedupe.lookup(&key, print) {
                Lookup::New => {}
                Lookup::Resend(ack) => {
                    let _gone = request.reply.send(Ok(ack));
                    continue;
                }
                Lookup::Reused => {
                    let _gone = request.reply.send(Err(SendError::ClientIdReused));
                    continue;
                }
            }
            if let Some(&(slot, first)) = in_batch.get(&key) {
                if first == print {
                    waiting[slot].push(request.reply);
                } else {
                    let _gone = request.reply.send(Err(SendError::ClientIdReused));
                }
                continue;
            }
            in_batch.insert(key, (fresh.len(), print));
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
                for (key, (slot, print)) in in_batch {
                    self.dedupe.insert(key, print, &acks[slot]);
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
