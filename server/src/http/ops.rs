//! What operators and load balancers ask a node: `/healthz` (the process serves), `/readyz`
//! (its store answers: send it traffic) and `/metrics` (see `crate::metrics`).
//!
//! Unauthenticated, like every such endpoint a load balancer or Prometheus scrapes: they say
//! nothing of anyone's messages or accounts (counts, latencies, queue depths). A deployment that
//! does not want them public keeps them off its proxy (`docs/operations.md`). What they read from
//! the store is read at most once per [`READ_PERIOD`] ([`Throttled`]), so asking in a loop costs
//! the database nothing more.

use crate::state::AppState;
use app::model::RoomId;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// How long `/readyz` waits for the store.
const READY_WITHIN: Duration = Duration::from_secs(2);
/// At most one store read per this period for each of `/readyz` and `/metrics`.
pub const READ_PERIOD: Duration = Duration::from_secs(1);

/// A value read at most once per period: a call within the period of the last read gets that
/// read's value, and concurrent callers wait for the one read in flight.
pub struct Throttled<T> {
    period: Duration,
    last: tokio::sync::Mutex<Option<(Instant, T)>>,
}

impl<T: Clone> Throttled<T> {
    pub fn new(period: Duration) -> Self {
        Self {
            period,
            last: tokio::sync::Mutex::new(None),
        }
    }

    pub async fn get(&self, read: impl Future<Output = T>) -> T {
        let mut last = self.last.lock().await;
        if let Some((at, value)) = &*last {
            if at.elapsed() < self.period {
                return value.clone();
            }
        }
        let value = read.await;
        *last = Some((Instant::now(), value.clone()));
        value
    }
}

/// What the operators' endpoints last read from the store.
pub struct OpsReads {
    /// Whether the store answered, and if not why.
    ready: Throttled<Result<(), &'static str>>,
    /// The store's own gauges.
    gauges: Throttled<Vec<(&'static str, f64)>>,
}

impl Default for OpsReads {
    fn default() -> Self {
        Self {
            ready: Throttled::new(READ_PERIOD),
            gauges: Throttled::new(READ_PERIOD),
        }
    }
}

impl OpsReads {
    /// The store's gauges, read at most once per [`READ_PERIOD`]; none when the store does not
    /// answer within [`READY_WITHIN`] (a scrape never waits longer).
    pub async fn gauges(&self, state: &AppState) -> Vec<(&'static str, f64)> {
        let read = tokio::time::timeout(READY_WITHIN, state.messages().gauges());
        self.gauges
            .get(async { read.await.unwrap_or_default() })
            .await
    }
}

pub async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 when the message store answered a read within [`READY_WITHIN`] (at most a
/// [`READ_PERIOD`] ago), 503 otherwise (the database is down or unreachable: this node would
/// only answer errors).
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    let read = async {
        match tokio::time::timeout(READY_WITHIN, state.messages().head(RoomId(0))).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                tracing::warn!("not ready: the store failed: {e}");
                Err("the store is failing\n")
            }
            Err(_) => Err("the store does not answer\n"),
        }
    };
    match state.ops().ready.get(read).await {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(&state).await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn a_second_read_within_the_period_is_answered_from_the_first() {
        let reads = AtomicUsize::new(0);
        let throttled = Throttled::new(READ_PERIOD);
        let read = || async { reads.fetch_add(1, Ordering::SeqCst) };
        assert_eq!(throttled.get(read()).await, 0);
        tokio::time::advance(READ_PERIOD / 2).await;
        assert_eq!(
            throttled.get(read()).await,
            0,
            "within the period: the first read"
        );
        tokio::time::advance(READ_PERIOD / 2).await;
        assert_eq!(throttled.get(read()).await, 1, "after it: read again");
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }
}
