//! Publishing committed batches: broadcast what was stored, then answer every sender.
//!
//! Why a task of its own: handing a batch to the hub touches every listener of every room in it
//! (thousands of queues in a busy room). Done by the writer, that work would sit between one
//! batch's `fdatasync` and the next; here it overlaps the next batch's commit instead.
//!
//! Order: one task takes batches first in, first out, so batches reach the hub in commit order
//! and each room's seqs arrive in order; within a batch, everything is broadcast before any of
//! its senders is acked (an ack means "stored, and on its way to every listener").
//!
//! Queue: at most [`PUBLISH_QUEUE`] committed batches wait. When it is full the writer waits:
//! everything in it is durable and owed an answer, so nothing is ever dropped, and the wait
//! backs up into the processor's own bounded queue, which turns senders away with `overloaded`.
//! A connection that subscribes between a batch's commit and its publication reads the store's
//! head past it and also gets it live; its seq cursor drops the second copy.
//!
//! Membership: each member entry is published on the bus (`MembershipChanged`, with its seq)
//! right after it is broadcast and before the rest of the batch is. The bus applies it to this
//! node's hub before `publish` returns, so an entry that ends someone's membership (a leave,
//! kick or ban) cuts that user's sockets off the room at that point: the person removed sees
//! their removal and nothing the room says after it. Other nodes hear it through the bus.
//!
//! Deletion: a deleted room's people (members and invitees, as the writer found them) each get
//! a `MembershipChanged` ending their membership at the deletion entry, after the batch was
//! broadcast: one mechanism for "loses access at once" whether one person leaves or the room
//! goes.

use super::{Ack, SendError};
use crate::bus::{Bus, BusEvent};
use crate::hub::Hub;
use crate::newest::NewestMessages;
use crate::store::StoredEntry;
use app::model::{RoomId, UserId};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Committed batches that may wait for the publisher.
pub const PUBLISH_QUEUE: usize = 2;

/// Where a sender's answer goes.
pub type Reply = oneshot::Sender<Result<Ack, SendError>>;

/// One committed batch: what it newly stored, and every sender's answer in batch order.
pub struct Committed {
    pub stored: Vec<StoredEntry>,
    pub answers: Vec<(Reply, Answer)>,
    /// The membership changes it stored, in order.
    pub changed: Vec<Changed>,
    /// The rooms whose name or topic it changed.
    pub renamed: Vec<RoomId>,
    /// The rooms it deleted.
    pub deleted: Vec<Deletion>,
}

/// A room a batch deleted: the seq of its deletion entry, and who was in it (members and
/// invitees), each of whom loses it there.
#[derive(Debug)]
pub struct Deletion {
    pub room: RoomId,
    pub seq: u64,
    pub people: Vec<UserId>,
}

/// `user` is (`member`) or is no longer a member of `room` from the `after`-th entry of
/// [`Committed::stored`] on.
#[derive(Debug, Clone, Copy)]
pub struct Changed {
    pub after: usize,
    pub room: RoomId,
    pub user: UserId,
    pub member: bool,
}

/// A sender's answer, as the writer knows it.
pub enum Answer {
    /// The ack of the next entry of [`Committed::stored`] (taken from it once published, so
    /// the ack is moved, never copied).
    Stored,
    /// A resend's original ack, or an error.
    Ready(Result<Ack, SendError>),
}

/// Where committed batches go: the listeners (`hub`), membership changes (`bus`), and each
/// room's newest message for the rows' previews (`newest`).
pub struct Outlets {
    pub hub: Hub,
    pub bus: Arc<dyn Bus>,
    pub newest: NewestMessages,
    /// Told which rooms a batch touched (it indexes them later, on its own task).
    pub search: crate::search::Search,
}

/// Publishes batches until the writer lets go of the queue and it is drained.
pub async fn run(mut batches: mpsc::Receiver<Committed>, outlets: Outlets) {
    let Outlets {
        hub,
        bus,
        newest,
        search,
    } = outlets;
    while let Some(Committed {
        stored,
        answers,
        changed,
        renamed,
        deleted,
    }) = batches.recv().await
    {
        // Before the hub wakes any follower whose row then previews it.
        newest.record(&stored);
        search.touch(stored.iter().map(|entry| entry.ack.room_id));
        let mut published = 0;
        for Changed {
            after,
            room,
            user,
            member,
        } in changed
        {
            if after > published {
                hub.publish(&stored[published..after]);
                published = after;
            }
            bus.publish(BusEvent::MembershipChanged {
                room,
                user,
                member,
                through: Some(stored[after - 1].ack.seq),
            });
        }
        if published < stored.len() {
            hub.publish(&stored[published..]);
        }
        for room in renamed {
            bus.publish(BusEvent::RoomSettingsChanged { room });
        }
        // After the deletion entry was broadcast: everyone who was in the room sees it, then
        // loses the room on every socket, as after a kick.
        for Deletion { room, seq, people } in deleted {
            newest.forget(room);
            for user in people {
                bus.publish(BusEvent::MembershipChanged {
                    room,
                    user,
                    member: false,
                    through: Some(seq),
                });
            }
        }
        let mut acks = stored.into_iter().map(|entry| entry.ack);
        for (reply, answer) in answers {
            let answer = match answer {
                Answer::Stored => Ok(acks.next().expect("one stored entry per Stored answer")),
                Answer::Ready(answer) => answer,
            };
            let _gone = reply.send(answer);
        }
    }
}
