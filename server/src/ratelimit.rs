//! Per-user send rate limit: a token bucket per user, shared by all of the user's connections.
//!
//! `burst` tokens to start, refilled at `per_sec`; a send takes one. An empty bucket answers
//! `rate_limited` with the time until the next token. The map is pruned of full buckets when it
//! grows, so memory stays proportional to the users sending right now.

use app::model::UserId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Tokens added per second; 0 turns the limit off.
    pub per_sec: f64,
    pub burst: f64,
}

#[derive(Clone)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: Arc<Mutex<HashMap<UserId, (f64, Instant)>>>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Default::default(),
        }
    }

    /// Takes a token for `user`, or says how many milliseconds until one is available.
    pub fn check(&self, user: UserId) -> Result<(), u64> {
        self.check_at(user, Instant::now())
    }

    fn check_at(&self, user: UserId, now: Instant) -> Result<(), u64> {
        let RateLimit { per_sec, burst } = self.limit;
        if per_sec <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().expect("rate limit lock poisoned");
        if buckets.len() > 100_000 {
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * per_sec < burst
            });
        }
        let (tokens, at) = buckets.entry(user).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * per_sec).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err((((1.0 - *tokens) / per_sec) * 1000.0).ceil() as u64)
        }
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
            assert!(limiter.check_at(UserId(1), start).is_ok());
        }
        assert_eq!(limiter.check_at(UserId(1), start), Err(100));
        assert!(limiter.check_at(UserId(2), start).is_ok());
        assert!(limiter
            .check_at(UserId(1), start + Duration::from_millis(100))
            .is_ok());
    }

    #[test]
    fn a_zero_rate_means_no_limit() {
        let limiter = RateLimiter::new(RateLimit {
            per_sec: 0.0,
            burst: 0.0,
        });
        assert!((0..1000).all(|_| limiter.check(UserId(1)).is_ok()));
    }
}
