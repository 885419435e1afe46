//! One subscriber's queue of bus events: bounded, and lossy only in the way the bus contract
//! allows, by turning what it drops into one [`BusEvent::Resync`].
//!
//! Policy when full ([`SUBSCRIBER_QUEUE`] events waiting): the waiting events are discarded and
//! the subscriber's next receive returns `Resync`, exactly once; events offered until that
//! receive are discarded too (the re-read that `Resync` asks for happens after it and covers
//! them). Then events flow again. The publisher never waits, and memory stays bounded whatever
//! the subscriber does.

use super::BusEvent;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// Events one subscriber may have waiting before they are replaced by a `Resync`.
pub const SUBSCRIBER_QUEUE: usize = 1024;

struct Shared {
    state: Mutex<State>,
    /// Stores a permit, so an offer between two waits is not missed.
    notify: Notify,
    capacity: usize,
}

struct State {
    events: VecDeque<BusEvent>,
    /// Events were discarded; the next receive is a `Resync`.
    overflowed: bool,
    /// One side is gone.
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("bus queue lock poisoned")
    }

    fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_one();
    }
}

/// The bus's end of a subscriber's queue.
pub struct BusSender(Arc<Shared>);

/// The subscriber's end.
pub struct BusReceiver(Arc<Shared>);

/// A queue holding at most `capacity` events (at least one).
pub fn channel(capacity: usize) -> (BusSender, BusReceiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            events: VecDeque::new(),
            overflowed: false,
            closed: false,
        }),
        notify: Notify::new(),
        capacity: capacity.max(1),
    });
    (BusSender(shared.clone()), BusReceiver(shared))
}

impl BusSender {
    /// Queues `event` without waiting; says whether the subscriber is still there.
    pub fn offer(&self, event: BusEvent) -> bool {
        let mut state = self.0.lock();
        if state.closed {
            return false;
        }
        if state.overflowed {
            return true; // the pending `Resync` covers it
        }
        if state.events.len() >= self.0.capacity {
            state.events.clear();
            state.overflowed = true;
        } else {
            state.events.push_back(event);
        }
        drop(state);
        self.0.notify.notify_one();
        true
    }
}

impl BusReceiver {
    /// The next event, `Resync` in place of what was discarded, or `None` once the bus is gone
    /// and nothing is left.
    pub async fn recv(&mut self) -> Option<BusEvent> {
        loop {
            if let Some(next) = self.try_recv() {
                return next;
            }
            self.0.notify.notified().await;
        }
    }

    /// `Some(next)` when `recv` would answer at once, `None` when it would wait (a relay
    /// takes what is waiting this way, to send it in one round trip).
    pub fn try_recv(&self) -> Option<Option<BusEvent>> {
        let mut state = self.0.lock();
        if std::mem::take(&mut state.overflowed) {
            return Some(Some(BusEvent::Resync));
        }
        match state.events.pop_front() {
            Some(event) => Some(Some(event)),
            None if state.closed => Some(None),
            None => None,
        }
    }
}

impl Drop for BusSender {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl Drop for BusReceiver {
    fn drop(&mut self) {
        self.0.close();
    }
}
