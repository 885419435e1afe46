//! What the hub raises for one connection: rooms it fell behind in, rooms whose access ended,
//! the end of its session, and a resync (events were lost: re-check everything). Kept apart from the hub's registry because the
//! connection reads it on its hot path (one atomic load per delivery) and the hub writes it
//! under its lock.
//!
//! Never lost: each signal is a set or a flag, bounded by the rooms the connection listens to,
//! and [`Notify::notify_one`] stores a permit, so a raise between two waits is not missed.

use app::model::RoomId;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use tokio::sync::Notify;

/// What a connection must act on.
#[derive(Debug, Default)]
pub struct Signals {
    state: Mutex<Raised>,
    /// A revocation or the session's end is waiting; checked before every delivery.
    urgent: AtomicBool,
    notify: Notify,
}

#[derive(Debug, Default)]
struct Raised {
    lagging: BTreeSet<RoomId>,
    revoked: BTreeMap<RoomId, Option<u64>>,
    session_ended: bool,
    resync: bool,
    /// Rooms of the user stream whose row must be sent again soon: something changed for this
    /// user there (a membership, a read mark), so it is sent at once.
    rows_changed: BTreeSet<RoomId>,
    /// Rooms of the user stream with new entries: their counts are sent coalesced. Left here
    /// until the connection's timer takes them, so a busy room wakes the connection once per
    /// period rather than once per batch.
    active: BTreeSet<RoomId>,
}

/// Revocations taken from [`Signals`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Revoked {
    /// Each room whose access ended, with the seq of the entry that ended it when known: the
    /// connection still sends entries up to it (the person removed sees their removal), and
    /// nothing after.
    pub rooms: BTreeMap<RoomId, Option<u64>>,
    pub session_ended: bool,
    /// Bus events may have been lost: the session and every membership must be re-checked.
    pub resync: bool,
}

impl Signals {
    fn raise(&self, change: impl FnOnce(&mut Raised), urgent: bool) {
        change(&mut self.state.lock().expect("signals lock poisoned"));
        if urgent {
            self.urgent.store(true, Ordering::SeqCst);
        }
        self.notify.notify_one();
    }

    pub(super) fn mark_lagging(&self, room: RoomId) {
        self.raise(
            |s| {
                if s.lagging.insert(room) {
                    crate::metrics::lagging();
                }
            },
            false,
        );
    }

    /// Access to `room` ended, at the entry `through` if known. Two revocations of one room
    /// before the connection acts are one, through the later known entry.
    pub(super) fn revoke(&self, room: RoomId, through: Option<u64>) {
        self.raise(
            |s| {
                let at = s.revoked.entry(room).or_insert(through);
                *at = (*at).max(through);
            },
            true,
        );
    }

    pub(super) fn end_session(&self) {
        self.raise(|s| s.session_ended = true, true);
    }

    pub(super) fn resync(&self) {
        self.raise(|s| s.resync = true, true);
    }

    /// `room`'s row in the user's stream changed (membership, read mark): sent at once.
    pub(super) fn row_changed(&self, room: RoomId) {
        self.raise(
            |s| {
                s.rows_changed.insert(room);
            },
            false,
        );
    }

    /// `room` has new entries. Wakes the connection only when nothing was active yet: the
    /// connection takes the active rooms when its coalescing timer fires.
    pub(super) fn mark_active(&self, room: RoomId) {
        let mut state = self.state.lock().expect("signals lock poisoned");
        let first = state.active.is_empty();
        if state.active.insert(room) && first {
            drop(state);
            self.notify.notify_one();
        }
    }

    /// Waits until something was raised (returns at once if it was raised since the last wait).
    pub async fn wait(&self) {
        self.notify.notified().await;
    }

    /// Whether a revocation is waiting to be taken. Cheap: one atomic load.
    pub fn is_urgent(&self) -> bool {
        self.urgent.load(Ordering::SeqCst)
    }

    pub fn take_revoked(&self) -> Revoked {
        let mut state = self.state.lock().expect("signals lock poisoned");
        self.urgent.store(false, Ordering::SeqCst);
        Revoked {
            rooms: std::mem::take(&mut state.revoked),
            session_ended: state.session_ended,
            resync: std::mem::take(&mut state.resync),
        }
    }

    pub fn take_rows_changed(&self) -> BTreeSet<RoomId> {
        std::mem::take(
            &mut self
                .state
                .lock()
                .expect("signals lock poisoned")
                .rows_changed,
        )
    }

    /// Whether some watched room has new entries (the connection then arms its timer).
    pub fn any_active(&self) -> bool {
        !self
            .state
            .lock()
            .expect("signals lock poisoned")
            .active
            .is_empty()
    }

    pub fn take_active(&self) -> BTreeSet<RoomId> {
        std::mem::take(&mut self.state.lock().expect("signals lock poisoned").active)
    }

    pub fn take_lagging(&self) -> BTreeSet<RoomId> {
        std::mem::take(&mut self.state.lock().expect("signals lock poisoned").lagging)
    }
}
