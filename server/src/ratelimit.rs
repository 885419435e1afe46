//! Token buckets keyed by whoever is limited: a user's sends, an address's sign-in attempts, a
//! user's typing hints in one room.
//!
//! `burst` tokens to start, refilled at `per_sec`; each attempt takes one. An empty bucket answers
//! with the time until the next token. A full bucket carries no information (a new one would be
//! the same), so full buckets are dropped when the map is pruned; memory stays proportional to
//! the keys that were limited recently.
//!
//! Pruning is amortised: it runs when the map has doubled since the last prune (and is past a
//! floor), so its O(n) cost is spread over at least n inserts. (The first version pruned on every
//! call once past a fixed size, which made every call O(n) while more keys than that were busy.)

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Below this many keys the map is never pruned.
const PRUNE_FLOOR: usize = 4096;

#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Tokens added per second; 0 turns the limit off.
    pub per_sec: f64,
    pub burst: f64,
}

struct Buckets<K> {
    map: HashMap<K, (f64, Instant)>,
    /// Prune when the map reaches this size.
    prune_at: usize,
}

/// Cloneable handle to one family of buckets.
#[derive(Clone)]
pub struct RateLimiter<K> {
    limit: RateLimit,
    buckets: Arc<Mutex<Buckets<K>>>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Arc::new(Mutex::new(Buckets {
                map: HashMap::new(),
                prune_at: PRUNE_FLOOR,
            })),
        }
    }

    /// Takes a token for `key`, or says how many milliseconds until one is available.
    pub fn check(&self, key: &K) -> Result<(), u64> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &K, now: Instant) -> Result<(), u64> {
        let RateLimit { per_sec, burst } = self.limit;
        if per_sec <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().expect("rate limit lock poisoned");
        if buckets.map.len() >= buckets.prune_at {
            buckets.map.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * per_sec < burst
            });
            buckets.prune_at = (buckets.map.len() * 2).max(PRUNE_FLOOR);
        }
        let (tokens, at) = buckets.map.entry(key.clone()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * per_sec).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err((((1.0 - *tokens) / per_sec) * 1000.0).ceil() as u64)
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.lock().unwrap().map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_is_allowed_then_sends_are_limited_until_tokens_refill() {
        let limiter = RateLimiter::new(RateLimit {
            per_sec: 10.0,
            burst: 3.0,
        });
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at(&1, start).is_ok());
        }
        assert_eq!(limiter.check_at(&1, start), Err(100));
        assert!(limiter.check_at(&2, start).is_ok());
        assert!(limiter
            .check_at(&1, start + Duration::from_millis(100))
            .is_ok());
    }

    #[test]
    fn a_zero_rate_means_no_limit() {
        let limiter = RateLimiter::new(RateLimit {
            per_sec: 0.0,
            burst: 0.0,
        });
        assert!((0..1000).all(|_| limiter.check(&1).is_ok()));
    }

    #[test]
    fn refilled_buckets_are_pruned_and_busy_ones_kept() {
        let limiter = RateLimiter::new(RateLimit {
            per_sec: 1.0,
            burst: 2.0,
        });
        let start = Instant::now();
        for key in 0..PRUNE_FLOOR as u64 {
            limiter.check_at(&key, start).unwrap();
        }
        // Long after: every bucket has refilled, so the next insert prunes them all.
        let later = start + Duration::from_secs(60);
        limiter.check_at(&u64::MAX, later).unwrap();
        assert_eq!(limiter.len(), 1);
        // A key that is still limited survives a prune.
        limiter.check_at(&7, later).unwrap();
        limiter.check_at(&7, later).unwrap();
        for key in 10_000..10_000 + PRUNE_FLOOR as u64 {
            limiter.check_at(&key, later).unwrap();
        }
        assert!(limiter.check_at(&7, later).is_err());
    }
}
