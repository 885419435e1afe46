//! A connection's running count of message bytes it has taken off its queue, handed back to
//! the hub's [`super::Subscriber::queued_bytes`] in lumps so the hot path costs one uncontended
//! atomic add per message on the hub's side.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub struct Credit {
    queued_bytes: Arc<AtomicUsize>,
    taken: usize,
}

impl Credit {
    /// Hand back at least this many bytes at a time.
    const LUMP: usize = 64 * 1024;

    pub fn new(queued_bytes: Arc<AtomicUsize>) -> Self {
        Self {
            queued_bytes,
            taken: 0,
        }
    }

    pub fn took(&mut self, bytes: usize) {
        self.taken += bytes;
        if self.taken >= Self::LUMP {
            self.settle();
        }
    }

    /// Hands back everything taken so far (call when the queue is empty).
    pub fn settle(&mut self) {
        if self.taken > 0 {
            self.queued_bytes.fetch_sub(self.taken, Ordering::Relaxed);
            self.taken = 0;
        }
    }
}
