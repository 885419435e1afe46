//! What operators and load balancers ask a node: `/healthz` (the process serves), `/readyz`
//! (its store answers: send it traffic) and `/metrics` (see `crate::metrics`).
//!
//! Unauthenticated, like every such endpoint a load balancer or Prometheus scrapes: they say
//! nothing of anyone's messages or accounts (counts, latencies, queue depths). A deployment that
//! does not want them public keeps them off its proxy (`docs/operations.md`).

use crate::state::AppState;
use app::model::RoomId;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use std::time::Duration;

/// How long `/readyz` waits for the store.
const READY_WITHIN: Duration = Duration::from_secs(2);

pub async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 when the message store answers a read within [`READY_WITHIN`], 503 otherwise (the
/// database is down or unreachable: this node would only answer errors).
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    let read = tokio::time::timeout(READY_WITHIN, state.messages().head(RoomId(0))).await;
    match read {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n"),
        Ok(Err(e)) => {
            tracing::warn!("not ready: the store failed: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, "the store is failing\n")
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the store does not answer\n",
        ),
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(&state).await,
    )
}
