//! Per-node figures in Prometheus' text format at `/metrics`: what an operator watches on each
//! node of a cluster (and on the one node of a small install).
//!
//! Why the `metrics` facade: figures are recorded where things happen (a batch committed, an
//! error frame sent, a connection flagged lagging) with one macro each, and the recorder
//! (`metrics-exporter-prometheus`) keeps them; nothing here walks the server's state except the
//! few gauges [`render`] reads when scraped. Recorded per batch and per event, never per message
//! delivered, so the hot path pays a few atomic additions a batch.
//!
//! | name | kind | what |
//! |---|---|---|
//! | `minitalk_messages_stored_total` | counter | entries stored by this node |
//! | `minitalk_batches_total` | counter | batches committed |
//! | `minitalk_failed_batches_total` | counter | batches the store refused (their senders got errors) |
//! | `minitalk_batch_size` | histogram | entries a batch stored |
//! | `minitalk_commit_seconds` | histogram | one batch's append, until durable |
//! | `minitalk_errors_total{code}` | counter | error frames sent on sockets, by stable code |
//! | `minitalk_lagging_total` | counter | times a connection fell behind and caught up from the store |
//! | `minitalk_queue_depth` | gauge | messages waiting for the processor |
//! | `minitalk_connections` | gauge | open sockets |
//! | `minitalk_notification_queue_usage` | gauge | PostgreSQL's `pg_notification_queue_usage()` (0..1), on PostgreSQL |
//!
//! One recorder per process (the facade's global one): servers started side by side in one
//! test process share it.

use crate::state::AppState;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
/// How often the recorder drains its histograms' samples (see [`handle`]).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
            ])
            .expect("fixed buckets are valid")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder already installed (none is, in this program) keeps its place.
        let _ = metrics::set_global_recorder(recorder);
        // Histograms keep their samples until drained: a node nobody scrapes would grow for
        // ever. The recorder's upkeep drains them into its summaries every few seconds.
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("minitalk-metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            })
            .expect("a thread for the metrics' upkeep");
        handle
    })
}

/// A batch of `stored` entries became durable in `took`.
pub fn batch_committed(stored: usize, took: Duration) {
    metrics::counter!("minitalk_messages_stored_total").increment(stored as u64);
    metrics::counter!("minitalk_batches_total").increment(1);
    metrics::histogram!("minitalk_batch_size").record(stored as f64);
    metrics::histogram!("minitalk_commit_seconds").record(took.as_secs_f64());
}

pub fn batch_failed() {
    metrics::counter!("minitalk_failed_batches_total").increment(1);
}

/// An error frame with `code` went out on a socket.
pub fn error_sent(code: &'static str) {
    metrics::counter!("minitalk_errors_total", "code" => code).increment(1);
}

/// A connection fell behind in a room and will catch up from the store.
pub fn lagging() {
    metrics::counter!("minitalk_lagging_total").increment(1);
}

/// The figures as Prometheus reads them, with the gauges read now.
pub async fn render(state: &AppState) -> String {
    metrics::gauge!("minitalk_queue_depth").set(state.processor().queue_depth() as f64);
    metrics::gauge!("minitalk_connections").set(state.hub().connections() as f64);
    for (name, value) in state.ops().gauges(state).await {
        metrics::gauge!(name).set(value);
    }
    handle().render()
}
