//! [`FileMessageStore`]: the [`MessageStore`] over the file [`log`](super::log).
//!
//! Appends run on one dedicated thread, `minitalk-log-writer`, not on tokio's blocking pool. That
//! pool also hashes passwords (argon2) and reads history pages, so a sign-in flood could queue
//! ahead of a group commit and stall every sender; the log thread waits for nobody but the disk.
//! The thread owns the [`Dedupe`] memory, so deciding what is a resend and storing the rest is
//! one step that nothing else can interleave with. Reads of ranges go to the blocking pool; the
//! head is an index lookup and never blocks.
//!
//! Before each write the thread checks the free-space [`Watermark`]: below it the batch is
//! refused with [`StoreError::LowDisk`] and nothing is written (a batch of resends only, which
//! writes nothing, is still answered).
//!
//! [`FileMessageStore::open`] recovers the log and rebuilds the dedupe memory from the messages
//! stored within the window, in the same pass, so resends are recognised across a restart.
//! Dropping the store ends the thread once it has answered every batch it was sent.
//!
//! A second thread, `minitalk-log-eraser`, erases what the log owes (a deleted room's lines;
//! see `log::eraser`) one room at a time, so that a large room's erasure never waits in front
//! of a group commit. Dropping the store stops it between two chunks; the next start owes the
//! rest again.

use super::log::eraser::Erasure;
use super::log::{LogConfig, MessageLog};
use crate::fasthash::FastMap;
use crate::store::dedupe::Dedupe;
use crate::store::space::Watermark;
use crate::store::{
    Appended, Durability, MessageStore, NewEntry, RoomHead, RoomSettings, StoreError, TimelineFacts,
};
use app::model::{RoomId, UserId, Username};
use app::timeline::{Entry, ErasedEntry, MemberEvent};
use futures::future::{BoxFuture, FutureExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How the file message store is opened.
#[derive(Debug, Clone, Copy)]
pub struct FileMessageStoreConfig {
    pub log: LogConfig,
    /// How long a (sender, client_id) is remembered for idempotent resends.
    pub dedupe_window: Duration,
    /// Most acks remembered at once (bounds the dedupe memory).
    pub dedupe_max_entries: usize,
    /// Batches are refused with [`StoreError::LowDisk`] while the log's filesystem has less
    /// free space than this (0: never).
    pub min_free_disk_bytes: u64,
}

impl Default for FileMessageStoreConfig {
    fn default() -> Self {
        Self {
            log: LogConfig::default(),
            dedupe_window: Duration::from_secs(600),
            dedupe_max_entries: 2_000_000,
            min_free_disk_bytes: 256 * 1024 * 1024,
        }
    }
}

/// One append for the writer thread, and where its result goes.
struct Job {
    batch: Vec<NewEntry>,
    reply: oneshot::Sender<Result<Vec<Appended>, StoreError>>,
}

pub struct FileMessageStore {
    log: Arc<MessageLog>,
    /// The eraser thread, joined when the store drops.
    eraser: Option<std::thread::JoinHandle<()>>,
    /// Bounded at 1: one batch waits while one is written. The processor awaits each append
    /// before sending the next, so in practice the queue is never full; if it were, `send` waits
    /// (it never drops a batch), which is the back-pressure that fills the processor's own queue
    /// and turns further senders away with `overloaded`.
    jobs: mpsc::Sender<Job>,
    /// What the log said at open, until the server takes it.
    facts: TimelineFacts,
}

/// How long the eraser waits before trying a failed erasure again.
const ERASE_RETRY: Duration = Duration::from_secs(5);

impl FileMessageStore {
    /// Opens (creating if needed) the log in `dir`, recovers it, rebuilds the dedupe memory
    /// from the messages stored since `now_ms` minus the window, and starts the writer thread.
    pub fn open(
        dir: &Path,
        config: FileMessageStoreConfig,
        now_ms: i64,
    ) -> Result<Self, StoreError> {
        let window_ms = config.dedupe_window.as_millis() as i64;
        // Rebuilt while the log is scanned, one message at a time, and capped at
        // `dedupe_max_entries` throughout (the oldest go first).
        let mut dedupe = Dedupe::new(window_ms, config.dedupe_max_entries);
        // The newest recorded change of each membership: one entry per (room, user) that ever
        // joined or left, however old.
        let mut memberships: FastMap<(RoomId, UserId), MemberEvent> = FastMap::default();
        // The newest message each sender wrote in each room (what unread counts leave out).
        // By room, then sender: a lookup borrows the sender's name, so most lines copy nothing.
        let mut last_sent: FastMap<RoomId, FastMap<Username, u64>> = FastMap::default();
        // The newest name and topic of each room that was renamed or given a topic.
        let mut settings: FastMap<RoomId, RoomSettings> = FastMap::default();
        // Deleted rooms: what the three maps above held of them no longer applies.
        let mut deleted: Vec<RoomId> = Vec::new();
        let since = now_ms - window_ms;
        let recovered = MessageLog::open_visiting(dir, config.log, since, |entry| {
            match entry {
                Entry::Member(change) => {
                    memberships.insert((change.room_id, change.user_id), change.clone());
                }
                Entry::Room(change) => {
                    let newest = RoomSettings {
                        name: change.name.clone(),
                        topic: change.topic.clone(),
                    };
                    settings.insert(change.room_id, newest);
                }
                // A deleted message still counts as its sender's newest (what they wrote, and
                // what came before it, they have read), as it did before the restart.
                Entry::Message(_)
                | Entry::Erased(ErasedEntry {
                    sender: Some(_), ..
                }) => {
                    let (room, sender) = (entry.room_id(), entry.sender().expect("has one"));
                    let senders = last_sent.entry(room).or_default();
                    match senders.get_mut(sender) {
                        Some(seq) => *seq = entry.seq(),
                        None => {
                            senders.insert(sender.clone(), entry.seq());
                        }
                    }
                }
                // A deletion is its room's last entry: what the maps hold of the room is
                // dropped once, after the scan.
                Entry::RoomDeleted(e) => deleted.push(e.room_id),
                Entry::Erased(_)
                | Entry::Edit(_)
                | Entry::MessageDeleted(_)
                | Entry::Reaction(_) => {}
            }
            if entry.ts() >= since {
                dedupe.remember(entry);
            }
        })?;
        if recovered.truncated_bytes > 0 {
            tracing::warn!(
                bytes = recovered.truncated_bytes,
                "cut a torn tail off the message log (a crash during a write); every complete message is kept"
            );
        }
        tracing::info!(messages = recovered.messages, "recovered the message log");
        for room in &deleted {
            last_sent.remove(room);
            settings.remove(room);
        }
        if !deleted.is_empty() {
            let gone: std::collections::HashSet<RoomId> = deleted.iter().copied().collect();
            memberships.retain(|(room, _), _| !gone.contains(room));
        }
        let log = Arc::new(recovered.log);
        let (jobs, mut rx) = mpsc::channel::<Job>(1);
        let mut watermark = Watermark::new(log.dir(), config.min_free_disk_bytes);
        let writer_log = log.clone();
        std::thread::Builder::new()
            .name("minitalk-log-writer".into())
            .spawn(move || {
                // Ends when the store drops `jobs`, after every job sent was answered.
                while let Some(job) = rx.blocking_recv() {
                    let result = dedupe.append_with(job.batch, |fresh| {
                        if watermark.is_low() {
                            return Err(StoreError::LowDisk);
                        }
                        writer_log.append(fresh)
                    });
                    let _gone = job.reply.send(result);
                }
            })
            .map_err(|e| StoreError::io(dir, e))?;
        let eraser_log = log.clone();
        let eraser = std::thread::Builder::new()
            .name("minitalk-log-eraser".into())
            .spawn(move || erase_owed(&eraser_log))
            .map_err(|e| StoreError::io(dir, e))?;
        Ok(Self {
            log,
            eraser: Some(eraser),
            jobs,
            facts: TimelineFacts {
                memberships: memberships.into_values().collect(),
                last_sent: last_sent
                    .into_iter()
                    .flat_map(|(room, senders)| {
                        senders
                            .into_iter()
                            .map(move |(sender, seq)| (room, sender, seq))
                    })
                    .collect(),
                settings: settings.into_iter().collect(),
                deleted,
            },
        })
    }

    /// What the log said at open, for the rooms service and the access state to start from
    /// (see [`TimelineFacts`]). Taken once.
    pub fn take_facts(&mut self) -> TimelineFacts {
        std::mem::take(&mut self.facts)
    }

    /// The log, for a backup of the whole file store (`super::backup`).
    pub(super) fn log(&self) -> Arc<MessageLog> {
        self.log.clone()
    }

    /// Makes the next `n` batch writes fail after writing half their bytes.
    #[cfg(test)]
    pub fn fail_next_writes(&self, n: usize) {
        self.log.fail_next_writes(n);
    }
}

/// The eraser thread: erases what the log owes, one room at a time, until the log is told to
/// stop. A failed erasure is owed again after [`ERASE_RETRY`].
fn erase_owed(log: &MessageLog) {
    while let Some((room, erasure)) = log.next_erasure() {
        let started = std::time::Instant::now();
        let what = match erasure {
            Erasure::Through(_) => "a deleted room's entries",
            Erasure::Lines(_) => "deleted messages",
        };
        match log.erase(room, &erasure) {
            Ok(lines) => tracing::info!(
                room = room.0,
                lines,
                ms = started.elapsed().as_millis() as u64,
                "erased {what} from the message log"
            ),
            Err(e) => {
                tracing::error!(room = room.0, "erasing {what} failed, retrying: {e}");
                // Behind the other rooms owed, after a pause a stop cuts short.
                log.owe_erasure(room, erasure);
                if !log.rest(ERASE_RETRY) {
                    break;
                }
            }
        }
    }
}

impl Drop for FileMessageStore {
    fn drop(&mut self) {
        self.log.stop_erasing();
        if let Some(eraser) = self.eraser.take() {
            let _ended = eraser.join();
        }
    }
}

impl MessageStore for FileMessageStore {
    fn append(&self, batch: Vec<NewEntry>) -> BoxFuture<'_, Result<Vec<Appended>, StoreError>> {
        async move {
            let (reply, answer) = oneshot::channel();
            self.jobs
                .send(Job { batch, reply })
                .await
                .map_err(|_| StoreError::Stopped("the log writer thread has ended".into()))?;
            answer
                .await
                .map_err(|_| StoreError::Stopped("the log writer thread ended mid-write".into()))?
        }
        .boxed()
    }

    fn head(&self, room: RoomId) -> BoxFuture<'_, Result<RoomHead, StoreError>> {
        let head = self.log.room_head(room);
        futures::future::ready(Ok(head)).boxed()
    }

    fn messages_after(&self, room: RoomId, seq: u64) -> BoxFuture<'_, Result<u64, StoreError>> {
        futures::future::ready(Ok(self.log.messages_after(room, seq))).boxed()
    }

    fn mentions_after<'a>(
        &'a self,
        room: RoomId,
        user: &'a Username,
        seq: u64,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        futures::future::ready(Ok(self.log.mentions_after(room, user, seq))).boxed()
    }

    fn read_range(
        &self,
        room: RoomId,
        from: u64,
        to: u64,
    ) -> BoxFuture<'_, Result<Vec<Entry>, StoreError>> {
        let log = self.log.clone();
        async move {
            tokio::task::spawn_blocking(move || log.read_range(room, from, to))
                .await
                .map_err(|e| StoreError::Stopped(format!("the read task failed: {e}")))?
        }
        .boxed()
    }

    fn durability(&self) -> Durability {
        Durability::Fdatasync
    }
}

#[cfg(test)]
mod tests;
