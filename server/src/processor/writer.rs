//! Committing one batch: dedupe, one durable append, then broadcast and answers.
//!
//! The append (a `write` and an `fdatasync`) runs on one dedicated thread,
//! `minitalk-log-writer`, not on tokio's blocking pool. That pool also hashes passwords (argon2)
//! and reads history pages, so a sign-in flood could queue ahead of a group commit and stall
//! every sender; the log thread waits for nobody but the disk.
//!
//! Before each append the thread checks the free-space [`Watermark`]: below it the whole batch
//! is refused with [`SendError::StorageFull`] and nothing is written.

use super::dedupe::{fingerprint, Lookup};
use super::{Ack, Dedupe, DedupeKey, SendError, SendRequest};
use crate::fasthash::FastMap;
use crate::hub::Hub;
use crate::stats::Stats;
use crate::store::space::Watermark;
use crate::store::{MessageLog, NewMessage, StoreError};
use app::model::ChatMessage;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

type Reply = oneshot::Sender<Result<Ack, SendError>>;

/// One append for the log thread, and where its result goes.
struct Job {
    batch: Vec<NewMessage>,
    reply: oneshot::Sender<Result<Vec<ChatMessage>, Refused>>,
}

/// Why the log thread did not store a batch.
enum Refused {
    /// Free disk space is below the watermark; nothing was written.
    LowDisk,
    Store(StoreError),
}

/// The handle of the `minitalk-log-writer` thread.
struct LogThread {
    /// Bounded at 1: one batch waits while one is written. The writer awaits each append before
    /// sending the next, so in practice the queue is never full; if it were, `send` waits (it
    /// never drops a batch), which is the back-pressure that fills the processor's own queue and
    /// turns further senders away with `overloaded`.
    jobs: mpsc::Sender<Job>,
    /// Closed when the thread ends (its sender is dropped with the thread's stack).
    ended: oneshot::Receiver<()>,
}

impl LogThread {
    fn spawn(log: Arc<MessageLog>, min_free_disk_bytes: u64) -> std::io::Result<Self> {
        let (jobs, mut rx) = mpsc::channel::<Job>(1);
        let (ended_tx, ended) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("minitalk-log-writer".into())
            .spawn(move || {
                // Dropped in reverse order: the log first, then the "ended" signal.
                let _ended = ended_tx;
                let log = log;
                let mut watermark = Watermark::new(log.dir(), min_free_disk_bytes);
                // Ends when the writer drops `jobs`, after every job sent was answered.
                while let Some(job) = rx.blocking_recv() {
                    let result = if watermark.is_low() {
                        Err(Refused::LowDisk)
                    } else {
                        log.append(job.batch).map_err(Refused::Store)
                    };
                    let _gone = job.reply.send(result);
                }
            })?;
        Ok(Self { jobs, ended })
    }

    /// Stores `batch`; on error, what senders are told and, for a failure, what to log.
    async fn append(
        &self,
        batch: Vec<NewMessage>,
    ) -> Result<Vec<ChatMessage>, (SendError, Option<String>)> {
        let failed = |why: String| (SendError::Storage, Some(why));
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { batch, reply })
            .await
            .map_err(|_| failed("the log writer thread has ended".to_owned()))?;
        match answer.await {
            Ok(Ok(stored)) => Ok(stored),
            Ok(Err(Refused::LowDisk)) => Err((SendError::StorageFull, None)),
            Ok(Err(Refused::Store(e))) => Err(failed(e.to_string())),
            Err(_) => Err(failed("the log writer thread ended mid-write".to_owned())),
        }
    }

    /// Lets the thread finish what it was sent and waits until it has ended.
    async fn close(self) {
        drop(self.jobs);
        let _ended = self.ended.await;
    }
}

pub struct Writer {
    thread: LogThread,
    dedupe: Dedupe,
    hub: Hub,
    stats: Stats,
}

impl Writer {
    /// Starts the log writer thread; batches are refused while the log's filesystem has less
    /// than `min_free_disk_bytes` free (0: never).
    pub fn new(
        log: Arc<MessageLog>,
        min_free_disk_bytes: u64,
        dedupe: Dedupe,
        hub: Hub,
        stats: Stats,
    ) -> std::io::Result<Self> {
        Ok(Self {
            thread: LogThread::spawn(log, min_free_disk_bytes)?,
            dedupe,
            hub,
            stats,
        })
    }

    /// Ends the log writer thread once everything sent to it is written.
    pub async fn close(self) {
        self.thread.close().await;
    }

    /// Stores the new messages of `batch` with one append and answers every request in it.
    pub async fn commit(&mut self, batch: Vec<SendRequest>) {
        // For each message to store, everyone waiting for its ack (a resend inside the same
        // batch waits with the original).
        let mut waiting: Vec<Vec<Reply>> = Vec::new();
        let mut fresh = Vec::new();
        // Key → (slot in `fresh`, fingerprint of what that slot stores).
        let mut in_batch: FastMap<DedupeKey, (usize, u64)> = FastMap::default();
        let now = crate::clock::now_ms();
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
        let error = match self.thread.append(fresh).await {
            Ok(stored) => {
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
            Err(e) => e,
        };
        let (answer, failure) = error;
        if let Some(why) = failure {
            tracing::error!("batch write failed, every sender in it gets an error: {why}");
            self.stats.record_failed_batch();
        }
        for reply in waiting.into_iter().flatten() {
            let _gone = reply.send(Err(answer.clone()));
        }
    }
}
