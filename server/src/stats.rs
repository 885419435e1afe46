//! The message processor's figures: counters bumped on the hot path (atomics, plus one short lock
//! per batch), turned once a second into a rate, a log line and the `/api/stats` snapshot.

use app::model::{percentile, StatsSnapshot};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How many recent batch write times the p99 is taken over.
const FLUSH_SAMPLES: usize = 1024;
/// Seconds of rate history kept for the stats page's chart.
const RATE_HISTORY: usize = 60;

#[derive(Default)]
struct Inner {
    processed: AtomicU64,
    batches: AtomicU64,
    failed_batches: AtomicU64,
    overloaded: AtomicU64,
    flush_times_ms: Mutex<VecDeque<f64>>,
    rates: Mutex<Rates>,
}

#[derive(Default)]
struct Rates {
    last_total: u64,
    history: VecDeque<u64>,
}

/// Cloneable handle to the counters.
#[derive(Clone, Default)]
pub struct Stats {
    inner: Arc<Inner>,
}

impl Stats {
    pub fn record_batch(&self, stored: usize, took: Duration) {
        crate::metrics::batch_committed(stored, took);
        self.inner
            .processed
            .fetch_add(stored as u64, Ordering::Relaxed);
        self.inner.batches.fetch_add(1, Ordering::Relaxed);
        let mut times = self
            .inner
            .flush_times_ms
            .lock()
            .expect("stats lock poisoned");
        if times.len() == FLUSH_SAMPLES {
            times.pop_front();
        }
        times.push_back(took.as_secs_f64() * 1000.0);
    }

    pub fn record_failed_batch(&self) {
        crate::metrics::batch_failed();
        self.inner.failed_batches.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_overloaded(&self) {
        self.inner.overloaded.fetch_add(1, Ordering::Relaxed);
    }

    /// Closes one second: the messages stored since the last tick become its rate.
    pub fn tick(&self) -> u64 {
        let total = self.inner.processed.load(Ordering::Relaxed);
        let mut rates = self.inner.rates.lock().expect("stats lock poisoned");
        let rate = total - rates.last_total;
        rates.last_total = total;
        if rates.history.len() == RATE_HISTORY {
            rates.history.pop_front();
        }
        rates.history.push_back(rate);
        rate
    }

    pub fn snapshot(
        &self,
        queue_depth: usize,
        queue_capacity: usize,
        connections: usize,
    ) -> StatsSnapshot {
        let processed_total = self.inner.processed.load(Ordering::Relaxed);
        let batches_total = self.inner.batches.load(Ordering::Relaxed);
        let flush_p99_ms = {
            let times = self
                .inner
                .flush_times_ms
                .lock()
                .expect("stats lock poisoned");
            percentile(times.iter().copied().collect(), 0.99)
        };
        let rate_history: Vec<u64> = self
            .inner
            .rates
            .lock()
            .expect("stats lock poisoned")
            .history
            .iter()
            .copied()
            .collect();
        StatsSnapshot {
            processed_total,
            queue_depth,
            queue_capacity,
            rate_per_sec: rate_history.last().copied().unwrap_or(0),
            rate_history,
            batches_total,
            avg_batch_size: if batches_total == 0 {
                0.0
            } else {
                processed_total as f64 / batches_total as f64
            },
            flush_p99_ms,
            failed_batches: self.inner.failed_batches.load(Ordering::Relaxed),
            overloaded_total: self.inner.overloaded.load(Ordering::Relaxed),
            connections,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_turns_new_messages_into_a_rate() {
        let stats = Stats::default();
        stats.record_batch(30, Duration::from_millis(2));
        stats.record_batch(10, Duration::from_millis(4));
        assert_eq!(stats.tick(), 40);
        assert_eq!(stats.tick(), 0);
        let snapshot = stats.snapshot(3, 10, 1);
        assert_eq!(snapshot.processed_total, 40);
        assert_eq!(snapshot.avg_batch_size, 20.0);
        assert_eq!(snapshot.rate_history, [40, 0]);
        assert_eq!(snapshot.flush_p99_ms, 4.0);
    }
}
