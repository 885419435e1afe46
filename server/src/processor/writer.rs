//! Committing one batch: the room's rules, one append to the [`MessageStore`], then a hand-off
//! to the publisher.
//!
//! First [`Access::admit`] decides every entry in batch order (a message from someone kicked
//! earlier in the batch is refused; see [`crate::access`]). The store then decides the rest
//! about what was admitted (what is a resend, what is stored, with which seqs) in one call, and
//! runs its own blocking I/O. After it, the membership changes that were stored are settled
//! (access state, then the room store), and the answers go with what was newly stored to the
//! [`publisher`](super::publisher), so that the next batch's commit can start at once.

use super::publisher::{Answer, Committed, Revocation};
use super::{SendError, SendRequest};
use crate::access::{Access, Effect};
use crate::stats::Stats;
use crate::store::rooms::{RoomStore, Standing, StandingUpdate};
use crate::store::{Appended, Body, MessageStore, NewEntry, StoreError};
use app::model::UserInfo;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

pub struct Writer {
    store: Arc<dyn MessageStore>,
    access: Access,
    /// Where the membership changes the timeline records are projected (see `crate::rooms`).
    rooms: Arc<dyn RoomStore>,
    publish: mpsc::Sender<Committed>,
    stats: Stats,
}

/// A membership change the writer admitted, for after the batch is durable.
struct Admitted {
    effect: Effect,
    user: UserInfo,
}

impl Writer {
    pub fn new(
        store: Arc<dyn MessageStore>,
        access: Access,
        rooms: Arc<dyn RoomStore>,
        publish: mpsc::Sender<Committed>,
        stats: Stats,
    ) -> Self {
        Self {
            store,
            access,
            rooms,
            publish,
            stats,
        }
    }

    /// Decides each request against the room's rules (in batch order), stores what may be
    /// stored with one append, settles the membership changes, and hands every request's
    /// answer to the publisher.
    pub async fn commit(&mut self, batch: Vec<SendRequest>) {
        let now = crate::clock::now_ms();
        let verdicts = self
            .access
            .admit(batch.iter().map(|r| (r.room_id, r.actor, &r.body)));
        let mut replies = Vec::with_capacity(batch.len());
        let mut entries = Vec::with_capacity(batch.len());
        // One per entry: who asked, and its membership change if it is one.
        let mut changes = Vec::with_capacity(batch.len());
        for (request, verdict) in batch.into_iter().zip(verdicts) {
            let effect = match verdict {
                Ok(effect) => effect,
                Err(refusal) => {
                    replies.push((request.reply, Some(Answer::Ready(Err(refusal.into())))));
                    continue;
                }
            };
            if let (Some(effect), Body::Member(change)) = (effect, &request.body) {
                let user = UserInfo {
                    id: change.user_id,
                    username: change.user.clone(),
                };
                changes.push((request.actor, Some(Admitted { effect, user })));
            } else {
                changes.push((request.actor, None));
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
        let committed = match self.store.append(entries).await {
            Ok(appended) => {
                let mut stored = Vec::with_capacity(appended.len());
                let mut settled = Vec::new();
                let mut revoke = Vec::new();
                let mut sent = Vec::with_capacity(appended.len());
                let mut answers =
                    appended
                        .into_iter()
                        .zip(changes)
                        .map(|(answer, (actor, change))| {
                            let entry = match answer {
                                Appended::Stored(entry) => entry,
                                Appended::Duplicate(ack) => return Answer::Ready(Ok(ack)),
                                Appended::ClientIdReused => {
                                    return Answer::Ready(Err(SendError::ClientIdReused))
                                }
                            };
                            let (room, seq) = (entry.ack.room_id, entry.ack.seq);
                            stored.push(entry);
                            match change {
                                None => sent.push((room, actor, seq)),
                                Some(admitted) => {
                                    if !matches!(admitted.effect.standing, Standing::Member(_)) {
                                        revoke.push(Revocation {
                                            after: stored.len(),
                                            room,
                                            user: admitted.effect.user,
                                        });
                                    }
                                    settled.push(admitted);
                                }
                            }
                            Answer::Stored
                        });
                let answers = replies
                    .into_iter()
                    .map(|(reply, refused)| {
                        let answer = refused.unwrap_or_else(|| {
                            answers.next().expect("one answer per admitted entry")
                        });
                        (reply, answer)
                    })
                    .collect();
                if !stored.is_empty() {
                    self.stats.record_batch(stored.len(), started.elapsed());
                }
                self.access.note_sent(sent);
                self.settle(settled).await;
                Committed {
                    stored,
                    answers,
                    revoke,
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
                    revoke: Vec::new(),
                }
            }
        };
        // Waits only while the publisher is `PUBLISH_QUEUE` batches behind. If it has ended
        // (it cannot, short of a panic), the replies drop and every sender sees an error.
        let _gone = self.publish.send(committed).await;
    }

    /// Applies a durable batch's membership changes: to the access state at once (the next
    /// batch is decided with them), then to the room store, its projection. A failed projection
    /// write is repaired at the next start from the timeline (`Rooms::reconcile`), so it is
    /// logged and the timeline's word stands.
    async fn settle(&self, admitted: Vec<Admitted>) {
        if admitted.is_empty() {
            return;
        }
        let effects: Vec<Effect> = admitted.iter().map(|a| a.effect).collect();
        self.access.settle(&effects);
        let updates = admitted
            .into_iter()
            .map(|a| StandingUpdate {
                room: a.effect.room,
                user: a.user,
                standing: a.effect.standing,
            })
            .collect();
        if let Err(e) = self.rooms.set_standings(updates).await {
            tracing::error!("the room store missed membership changes (repaired at start): {e}");
        }
    }
}
