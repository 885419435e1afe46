//! Committing one batch: the room's rules, one append to the [`MessageStore`], then a hand-off
//! to the publisher.
//!
//! First [`Access::admit`] decides every entry in batch order (a message from someone kicked
//! earlier in the batch is refused; see [`crate::access`]). The store then decides the rest
//! about what was admitted (what is a resend, what is stored, with which seqs) in one call, and
//! runs its own blocking I/O. After it, the membership changes that were stored are settled
//! (access state, then the room store), and the answers go with what was newly stored to the
//! [`publisher`](super::publisher), so that the next batch's commit can start at once.

use super::publisher::{Answer, Changed, Committed, Deletion, Reply};
use super::{SendError, SendRequest};
use crate::access::{Access, Refusal};
use crate::stats::Stats;
use crate::store::rooms::{Standing, StandingUpdate};
use crate::store::{Appended, Body, MessageStore, NewEntry, RoomSettings, StoreError};
use app::model::{RoomId, UserId};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// What an admitted entry does to its room itself, for the writer to settle once it is stored.
enum RoomAction {
    Set(RoomSettings),
    Delete,
}

/// How many times a batch is decided again when another node changed its rooms' access
/// meanwhile; after that its senders get a storage error (and resend).
const ACCESS_ATTEMPTS: usize = 3;

/// One admitted entry's part in settling the batch: who asked, the change of standing it makes
/// if any, what it does to the room itself, and whether it is a message.
type Admitted = (UserId, Option<StandingUpdate>, Option<RoomAction>, bool);

pub struct Writer {
    store: Arc<dyn MessageStore>,
    /// The room rules, and where the membership changes the timeline records are projected.
    access: Access,
    publish: mpsc::Sender<Committed>,
    stats: Stats,
}

impl Writer {
    pub fn new(
        store: Arc<dyn MessageStore>,
        access: Access,
        publish: mpsc::Sender<Committed>,
        stats: Stats,
    ) -> Self {
        Self {
            store,
            access,
            publish,
            stats,
        }
    }

    /// Decides each request against the room's rules (in batch order), stores what may be
    /// stored with one append, settles the membership changes, and hands every request's
    /// answer to the publisher.
    pub async fn commit(&mut self, mut batch: Vec<SendRequest>) {
        let now = crate::clock::now_ms();
        let mut verdicts = self
            .access
            .admit(batch.iter_mut().map(|r| (r.room_id, r.actor, &mut r.body)));
        if self.access.is_shared() {
            // Other nodes change the rooms too: a refusal may come from this node not having
            // heard of a join yet. The rooms refused in are read again and the batch decided
            // again, once.
            let mut stale: Vec<RoomId> = batch
                .iter()
                .zip(&verdicts)
                .filter(|(_, v)| matches!(v, Err(Refusal::NotMember | Refusal::NoSuchRoom)))
                .map(|(r, _)| r.room_id)
                .collect();
            stale.sort_unstable();
            stale.dedup();
            if !stale.is_empty() {
                if let Err(e) = self.access.reload(stale).await {
                    tracing::warn!("could not read rooms' access again: {e}");
                }
                verdicts = self
                    .access
                    .admit(batch.iter_mut().map(|r| (r.room_id, r.actor, &mut r.body)));
            }
        }
        let mut replies = Vec::with_capacity(batch.len());
        let mut entries = Vec::with_capacity(batch.len());
        // One per admitted entry: who asked, the change of standing it makes if any, what it
        // does to the room itself (a new name and topic, or its deletion), and whether it is a
        // message.
        let mut changes: Vec<Admitted> = Vec::with_capacity(batch.len());
        for (request, verdict) in batch.into_iter().zip(verdicts) {
            match verdict {
                Ok(update) => {
                    let to_room = match &request.body {
                        Body::Settings(settings) => Some(RoomAction::Set(settings.clone())),
                        Body::DeleteRoom => Some(RoomAction::Delete),
                        Body::Text(_)
                        | Body::Reply { .. }
                        | Body::Member(_)
                        | Body::Edit { .. }
                        | Body::DeleteMessage { .. }
                        | Body::React { .. } => None,
                    };
                    let message = request.body.is_message();
                    changes.push((request.actor, update, to_room, message));
                }
                Err(refusal) => {
                    replies.push((request.reply, Some(Answer::Ready(Err(refusal.into())))));
                    continue;
                }
            }
            replies.push((request.reply, None));
            entries.push(NewEntry {
                room_id: request.room_id,
                sender: request.sender,
                client_id: request.client_id,
                body: request.body,
                ts: now,
            });
        }

        let started = Instant::now();
        let appended = if self.access.is_shared() {
            self.append_shared(&mut replies, &mut entries, &mut changes)
                .await
        } else {
            self.store.append(entries).await
        };
        let committed = match appended {
            Ok(appended) => {
                let mut stored = Vec::with_capacity(appended.len());
                // The answers of the admitted entries, in order.
                let mut admitted = Vec::with_capacity(appended.len());
                let mut settled = Vec::new();
                let mut changed = Vec::new();
                let mut renamed = Vec::new();
                let mut deleted = Vec::new();
                let mut sent = Vec::with_capacity(appended.len());
                let mut advanced = Vec::new();
                for (answer, (actor, update, to_room, message)) in appended.into_iter().zip(changes)
                {
                    let entry = match answer {
                        Appended::Stored(entry) => entry,
                        Appended::Duplicate(ack) => {
                            admitted.push(Answer::Ready(Ok(ack)));
                            continue;
                        }
                        Appended::ClientIdReused => {
                            admitted.push(Answer::Ready(Err(SendError::ClientIdReused)));
                            continue;
                        }
                        Appended::Refused(refusal) => {
                            admitted.push(Answer::Ready(Err(refusal.into())));
                            continue;
                        }
                    };
                    let (room, seq) = (entry.ack.room_id, entry.ack.seq);
                    stored.push(entry);
                    admitted.push(Answer::Stored);
                    match to_room {
                        Some(RoomAction::Set(settings)) => {
                            renamed.push((room, settings));
                            continue;
                        }
                        Some(RoomAction::Delete) => {
                            deleted.push((room, seq));
                            continue;
                        }
                        None => {}
                    }
                    match update {
                        // Unread counts start after your newest message (not an edit).
                        None if message => sent.push((room, actor, seq)),
                        None => {}
                        Some(update) => {
                            advanced.push((room, seq));
                            changed.push(Changed {
                                after: stored.len(),
                                room,
                                user: update.user.id,
                                member: matches!(update.standing, Standing::Member(_)),
                            });
                            settled.push(update);
                        }
                    }
                }
                let mut admitted = admitted.into_iter();
                let answers = replies
                    .into_iter()
                    .map(|(reply, refused)| {
                        let answer = refused.unwrap_or_else(|| {
                            admitted.next().expect("one answer per admitted entry")
                        });
                        (reply, answer)
                    })
                    .collect();
                if !stored.is_empty() {
                    self.stats.record_batch(stored.len(), started.elapsed());
                }
                self.access.note_sent(sent);
                self.access.advance(advanced);
                if let Err(e) = self.access.settle(settled).await {
                    tracing::error!(
                        "the room store missed membership changes (repaired at start): {e}"
                    );
                }
                let rooms_renamed = renamed.iter().map(|(room, _)| *room).collect();
                if let Err(e) = self.access.settle_settings(renamed).await {
                    tracing::error!(
                        "the room store missed a name or topic change (repaired at start): {e}"
                    );
                }
                let rooms_deleted = deleted.iter().map(|(room, _)| *room).collect();
                let (people, settled) = self.access.settle_deletions(rooms_deleted).await;
                // `settle_deletions` answers in the order it was asked.
                let deleted = deleted
                    .into_iter()
                    .zip(people)
                    .map(|((room, seq), (_, people))| Deletion { room, seq, people })
                    .collect();
                if let Err(e) = settled {
                    tracing::error!("the room store missed a deletion (repaired at start): {e}");
                }
                Committed {
                    stored,
                    answers,
                    changed,
                    renamed: rooms_renamed,
                    deleted,
                }
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
                        .map(|(reply, refused)| {
                            (reply, refused.unwrap_or(Answer::Ready(Err(answer.clone()))))
                        })
                        .collect(),
                    changed: Vec::new(),
                    renamed: Vec::new(),
                    deleted: Vec::new(),
                }
            }
        };
        // Waits only while the publisher is `PUBLISH_QUEUE` batches behind. If it has ended
        // (it cannot, short of a panic), the replies drop and every sender sees an error.
        let _gone = self.publish.send(committed).await;
    }

    /// Appends to a store other nodes write to as well: the entries go with the access
    /// versions they were decided with, and when another node changed one of their rooms
    /// meanwhile, the rooms are read again and the entries decided again (those now refused
    /// get their refusal in `replies` and leave `entries` and `changes`).
    async fn append_shared(
        &mut self,
        replies: &mut [(Reply, Option<Answer>)],
        entries: &mut Vec<NewEntry>,
        changes: &mut Vec<Admitted>,
    ) -> Result<Vec<Appended>, StoreError> {
        let mut attempt = 1;
        loop {
            let versions = self.access.versions(entries.iter().map(|e| e.room_id));
            match self.store.append_checked(entries.clone(), versions).await {
                Err(StoreError::AccessChanged(rooms)) if attempt < ACCESS_ATTEMPTS => {
                    tracing::debug!(?rooms, "access changed on another node: deciding again");
                    if let Err(e) = self.access.reload(rooms).await {
                        tracing::warn!("could not read rooms' access again: {e}");
                    }
                    self.decide_again(replies, entries, changes);
                    attempt += 1;
                }
                answer => return answer,
            }
        }
    }

    /// Decides the admitted `entries` again, over the access state as it is now.
    fn decide_again(
        &self,
        replies: &mut [(Reply, Option<Answer>)],
        entries: &mut Vec<NewEntry>,
        changes: &mut Vec<Admitted>,
    ) {
        let verdicts = self.access.admit(
            entries
                .iter_mut()
                .zip(changes.iter())
                .map(|(entry, (actor, ..))| (entry.room_id, *actor, &mut entry.body)),
        );
        let mut verdicts = verdicts.into_iter();
        let mut kept = Vec::with_capacity(entries.len());
        for (_, answer) in replies.iter_mut().filter(|(_, answer)| answer.is_none()) {
            match verdicts.next().expect("one verdict per admitted entry") {
                Ok(update) => kept.push(Some(update)),
                Err(refusal) => {
                    *answer = Some(Answer::Ready(Err(refusal.into())));
                    kept.push(None);
                }
            }
        }
        for (change, update) in changes.iter_mut().zip(&kept) {
            if let Some(update) = update {
                change.1.clone_from(update);
            }
        }
        let mut keep = kept.iter().map(Option::is_some);
        entries.retain(|_| keep.next().expect("one per entry"));
        let mut keep = kept.iter().map(Option::is_some);
        changes.retain(|_| keep.next().expect("one per change"));
    }
}
