//! Our sends in one room that the server has not acknowledged yet, and what happens to them.
//!
//! A send stays here from the moment the person presses Enter until its `ack` (or its own
//! broadcast, e.g. in a replay after a reconnect) arrives; every reconnect repeats the pending
//! ones with their original `client_id`, and the server answers a repeat with the original ack,
//! so nothing is stored twice.
//!
//! **Bound and policy:** at most [`OUTBOX_MAX`] unacknowledged sends per room. A send beyond
//! that is refused at the composer ([`OutboxFull`]), which keeps the draft and says why; the
//! person can send again once the connection has caught up. Nothing queued is ever dropped by
//! the tab; the person may discard a send that failed.
//!
//! **Kept in the browser:** the browser keeps each room's outbox ([`Unsent`], see
//! `client::saved`), so a send survives a reload or a closed tab. When the room opens again its
//! sends come back ([`Outbox::restore`]): those queued less than [`RESEND_WINDOW_MS`] ago are
//! pending and sent again with their `client_id` (the server still remembers it, so one it
//! stored is answered, not stored twice); older ones are shown as not sent, with Retry and
//! Discard, because the server may have forgotten their `client_id` by now.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How long after it was queued a restored send is sent again by itself: less than the server's
/// dedupe window (10 minutes), with a margin for clocks and the time it takes to reconnect.
pub const RESEND_WINDOW_MS: i64 = 9 * 60_000;

/// The most sends a room may have waiting for their ack: far more than a person types while
/// a connection is down for a while, and small enough that a reconnect repeats them at once.
pub const OUTBOX_MAX: usize = 100;

/// Where one of our own messages is on its way to being stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendState {
    /// Sent (or waiting for a connection); no answer yet.
    Pending,
    /// The server refused it; the text says why. Retrying resends the same `client_id`.
    Failed(String),
}

/// A message we sent that has not been acknowledged yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub client_id: String,
    pub content: String,
    /// The seq of the message it replies to.
    pub reply_to: Option<u64>,
    pub state: SendState,
    /// When it was first queued (ms since the epoch, the browser's clock).
    pub queued_at: i64,
}

/// A send as the browser keeps it across reloads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsent {
    pub client_id: String,
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<u64>,
    pub queued_at: i64,
}

/// Why a restored send was not sent again by itself.
pub const TOO_OLD: &str = "not sent, and too old to send again by itself";

/// The outbox is full: the send was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxFull;

impl fmt::Display for OutboxFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{OUTBOX_MAX} messages are still waiting to be sent; try again once they are"
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outbox {
    entries: Vec<Outgoing>,
}

impl Outbox {
    /// Oldest first.
    pub fn entries(&self) -> &[Outgoing] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn holds(&self, client_id: &str) -> bool {
        self.entries.iter().any(|e| e.client_id == client_id)
    }

    /// Queues a new send as pending, unless [`OUTBOX_MAX`] are already waiting.
    pub fn push(&mut self, unsent: Unsent) -> Result<(), OutboxFull> {
        if self.entries.len() >= OUTBOX_MAX {
            return Err(OutboxFull);
        }
        self.entries.push(Outgoing {
            client_id: unsent.client_id,
            content: unsent.content,
            reply_to: unsent.reply_to,
            state: SendState::Pending,
            queued_at: unsent.queued_at,
        });
        Ok(())
    }

    /// What the browser keeps of it (every send, failed ones too: they wait for the person).
    pub fn unsent(&self) -> Vec<Unsent> {
        self.entries
            .iter()
            .map(|e| Unsent {
                client_id: e.client_id.clone(),
                content: e.content.clone(),
                reply_to: e.reply_to,
                queued_at: e.queued_at,
            })
            .collect()
    }

    /// Takes back sends the browser kept (a reload, a closed tab), as of `now`: pending when
    /// queued within [`RESEND_WINDOW_MS`], else failed as [`TOO_OLD`]. Oldest first, in the
    /// order they were kept; a `client_id` already here is left as it is, and none past
    /// [`OUTBOX_MAX`] is taken (the browser never keeps more than that of one room).
    pub fn restore(&mut self, kept: Vec<Unsent>, now: i64) {
        for unsent in kept {
            if self.holds(&unsent.client_id) || self.entries.len() >= OUTBOX_MAX {
                continue;
            }
            let state = if now - unsent.queued_at < RESEND_WINDOW_MS {
                SendState::Pending
            } else {
                SendState::Failed(TOO_OLD.to_owned())
            };
            self.entries.push(Outgoing {
                client_id: unsent.client_id,
                content: unsent.content,
                reply_to: unsent.reply_to,
                state,
                queued_at: unsent.queued_at,
            });
        }
    }

    /// Drops a failed send the person gave up on; answers whether it did.
    pub fn discard(&mut self, client_id: &str) -> bool {
        let failed = |e: &Outgoing| e.client_id == client_id && e.state != SendState::Pending;
        match self.entries.iter().position(failed) {
            Some(index) => {
                self.entries.remove(index);
                true
            }
            None => false,
        }
    }

    /// Takes a send out (its ack or broadcast arrived); returns it when it was here.
    pub fn remove(&mut self, client_id: &str) -> Option<Outgoing> {
        let index = self.entries.iter().position(|e| e.client_id == client_id)?;
        Some(self.entries.remove(index))
    }

    /// Marks a send refused, with the server's reason.
    pub fn fail(&mut self, client_id: &str, why: String) {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.client_id == client_id) {
            entry.state = SendState::Failed(why);
        }
    }

    /// Makes a failed send pending again; returns it, to resend.
    pub fn retry(&mut self, client_id: &str) -> Option<&Outgoing> {
        let entry = self.entries.iter_mut().find(|e| e.client_id == client_id)?;
        entry.state = SendState::Pending;
        Some(entry)
    }

    /// The content of a send that is still pending (a resend after `overloaded` is due).
    pub fn pending(&self, client_id: &str) -> Option<&Outgoing> {
        self.entries
            .iter()
            .find(|e| e.client_id == client_id && e.state == SendState::Pending)
    }

    /// Every pending send, oldest first (to repeat after a reconnect).
    pub fn all_pending(&self) -> impl Iterator<Item = &Outgoing> + '_ {
        self.entries
            .iter()
            .filter(|e| e.state == SendState::Pending)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn unsent(client_id: &str, content: &str) -> Unsent {
        Unsent {
            client_id: client_id.into(),
            content: content.into(),
            reply_to: None,
            queued_at: 0,
        }
    }

    #[test]
    fn a_full_outbox_refuses_a_new_send_and_keeps_every_queued_one() {
        let mut outbox = Outbox::default();
        for i in 0..OUTBOX_MAX {
            outbox
                .push(unsent(&format!("c{i}"), "hi"))
                .expect("room left");
        }
        assert_eq!(outbox.push(unsent("late", "hi")), Err(OutboxFull));
        assert_eq!(outbox.len(), OUTBOX_MAX);
        outbox.remove("c0");
        assert_eq!(outbox.push(unsent("late", "hi")), Ok(()));
    }

    #[test]
    fn a_failed_send_is_not_repeated_until_retried_and_keeps_its_client_id() {
        let mut outbox = Outbox::default();
        outbox.push(unsent("c1", "hi")).expect("room left");
        outbox.fail("c1", "no".into());
        assert_eq!(outbox.all_pending().count(), 0);
        assert!(outbox.pending("c1").is_none());
        assert_eq!(outbox.retry("c1").map(|e| e.content.as_str()), Some("hi"));
        assert_eq!(
            outbox.pending("c1").map(|e| e.client_id.as_str()),
            Some("c1")
        );
    }

    #[test]
    fn restored_sends_are_pending_within_the_window_and_failed_past_it() {
        let mut outbox = Outbox::default();
        outbox.push(unsent("c1", "here")).expect("room left");
        let kept = |id: &str, at| Unsent {
            client_id: id.into(),
            content: format!("{id} text"),
            reply_to: None,
            queued_at: at,
        };
        let now = 20 * 60_000;
        outbox.restore(
            vec![
                kept("c1", 0),
                kept("fresh", now - RESEND_WINDOW_MS + 1),
                kept("old", now - RESEND_WINDOW_MS),
            ],
            now,
        );
        let states: Vec<(&str, bool)> = outbox
            .entries()
            .iter()
            .map(|e| (e.client_id.as_str(), e.state == SendState::Pending))
            .collect();
        assert_eq!(states, [("c1", true), ("fresh", true), ("old", false)]);
        assert_eq!(outbox.unsent().len(), 3);
        // Only a failed send can be discarded.
        assert!(!outbox.discard("fresh"));
        assert!(outbox.discard("old"));
        assert_eq!(outbox.len(), 2);
    }
}
