//! Admission for password work (sign-up and sign-in), the one thing a stranger can make the
//! server do that costs real CPU and memory before they have an account.
//!
//! argon2 takes 19 MiB and tens of milliseconds of one core per hash. Unbounded, a crowd of
//! sign-ins would hold tokio's blocking threads while they wait for a core, and everything else
//! sharing that pool would queue behind them. So, in this order, all before leaving the async
//! runtime:
//! 1. a token bucket per client address, then a global one: beyond them the answer is
//!    `rate_limited` (429 with `Retry-After`) at once;
//! 2. a hashing permit: at most one hash per core runs. A few more callers may wait for one
//!    ([`MAX_WAITING`], at most [`MAX_WAIT`]); when that line is full, or the wait ends, the
//!    answer is `rate_limited` at once rather than a growing queue.
//!
//! Step 1 is [`SignInGate::admit`] and step 2 [`SignInGate::hash`]; `accounts` calls them in
//! that order, with its cheap store lookup (is the name taken? whose hash?) between them, so
//! that lookup is rate-limited too. Only then does the hash run on the blocking pool, holding its permit, which is released
//! when the work ends (also by a panic). The message log's writes never go through that pool
//! (they have their own thread), so no amount of sign-ins can delay a commit.

use crate::ratelimit::{RateLimit, RateLimiter};
use app::api::ApiError;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Callers that may wait for a hashing permit, per permit.
const MAX_WAITING: usize = 8;
/// The longest a caller waits for a hashing permit before it is told to come back later.
const MAX_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
pub struct SignInLimits {
    pub per_ip: RateLimit,
    pub global: RateLimit,
}

#[derive(Clone)]
pub struct SignInGate {
    per_ip: RateLimiter<IpAddr>,
    global: RateLimiter<()>,
    hashing: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
}

impl SignInGate {
    pub fn new(limits: SignInLimits, hashes_at_once: usize) -> Self {
        let hashes_at_once = hashes_at_once.max(1);
        Self {
            per_ip: RateLimiter::new(limits.per_ip),
            global: RateLimiter::new(limits.global),
            hashing: Arc::new(Semaphore::new(hashes_at_once)),
            waiting: Arc::default(),
            max_waiting: MAX_WAITING * hashes_at_once,
        }
    }

    /// Step 1 (see the module docs): the token buckets, per address and then global. A caller may do cheap checks of
    /// its own between this and [`Self::hash`] (is the name taken?), so those are limited too.
    pub fn admit(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        if let Some(ip) = ip {
            self.per_ip.check(&ip).map_err(limited)?;
        }
        self.global.check(&()).map_err(limited)
    }

    /// Step 2: a hashing permit, then the blocking password work on the blocking pool. Call
    /// after [`Self::admit`].
    pub async fn hash<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = self.permit().await?;
        tokio::task::spawn_blocking(move || {
            let _held_until_the_work_ends = permit;
            work()
        })
        .await
        .map_err(|_| ApiError::Internal)?
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        if let Ok(permit) = self.hashing.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let waiting = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _leave_the_line = Leave(&self.waiting);
        if waiting >= self.max_waiting {
            return Err(limited(1000));
        }
        match tokio::time::timeout(MAX_WAIT, self.hashing.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_closed)) => Err(ApiError::Internal),
            Err(_elapsed) => Err(limited(1000)),
        }
    }
}

/// Steps out of the line of waiting callers when dropped.
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn limited(retry_after_ms: u64) -> ApiError {
    ApiError::RateLimited(retry_after_ms.div_ceil(1000).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn off() -> RateLimit {
        RateLimit {
            per_sec: 0.0,
            burst: 0.0,
        }
    }

    #[tokio::test]
    async fn an_address_past_its_bucket_is_refused_at_once_and_others_are_not() {
        let gate = SignInGate::new(
            SignInLimits {
                per_ip: RateLimit {
                    per_sec: 0.01,
                    burst: 2.0,
                },
                global: off(),
            },
            1,
        );
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        for _ in 0..2 {
            gate.admit(Some(a)).unwrap();
        }
        assert!(matches!(
            gate.admit(Some(a)),
            Err(ApiError::RateLimited(secs)) if secs >= 1
        ));
        gate.admit(Some(b)).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn when_the_line_for_a_permit_is_full_callers_are_refused_at_once() {
        let gate = SignInGate::new(
            SignInLimits {
                per_ip: off(),
                global: off(),
            },
            1,
        );
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let busy = {
            let gate = gate.clone();
            tokio::spawn(async move {
                gate.hash(move || {
                    hold.recv().ok();
                    Ok(())
                })
                .await
            })
        };
        while gate.hashing.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let waiters: Vec<_> = (0..MAX_WAITING)
            .map(|_| {
                let gate = gate.clone();
                tokio::spawn(async move { gate.hash(|| Ok(())).await })
            })
            .collect();
        while gate.waiting.load(Ordering::SeqCst) < MAX_WAITING {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            gate.hash(|| Ok(())).await,
            Err(ApiError::RateLimited(_))
        ));
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        for waiter in waiters {
            waiter.await.unwrap().unwrap();
        }
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 0);
    }
}
