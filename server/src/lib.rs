//! Minitalk's server: serves the Leptos pages and server functions, the `/ws` WebSocket, and
//! stores every message durably before anyone is told it exists.
//!
//! # Layout
//!
//! - [`store`]: the data directory: an append-only, segmented message [`store::log`] and small
//!   JSON [`store::Table`]s for metadata, written atomically.
//! - [`accounts`], [`rooms`]: users and sessions; rooms and memberships (in memory, written
//!   through to disk).
//! - [`processor`]: the MessageProcessor. Connections submit messages into its bounded queue; it
//!   writes them in batches (one append + fdatasync each), then hands them to the [`hub`] and
//!   acks every sender.
//! - [`hub`]: who listens to which room; fans stored messages out to connections' bounded queues.
//! - [`ws`]: one WebSocket: parses frames, submits sends, delivers messages in seq order
//!   (replaying from the log whenever it is behind).
//! - [`history`]: history pages with a TTL cache bounded in bytes; [`stats`]: the processor's
//!   figures.
//! - [`backend`]: what the `/api/*` server functions of the `app` crate call.
//! - [`http`]: the HTTP edge: the CSRF guard on `/api/*`, security headers, static-file
//!   caching, and the connection loop with its timeouts.
//!
//! Data flow of a message: browser → `ws` → `processor` queue → batch → `store::log`
//! (durable) → `hub` → every subscribed `ws` connection → browsers; and the ack → the sender.

pub mod accounts;
pub mod backend;
pub mod config;
mod fasthash;
pub mod history;
pub mod http;
pub mod hub;
pub mod processor;
pub mod ratelimit;
pub mod rooms;
pub mod signin;
pub mod state;
pub mod stats;
pub mod store;
pub mod ws;
/// The WebSocket side's name before it became a folder; integration tests name its limits by it.
pub use ws as connection;

use crate::backend::ChatBackend;
use crate::config::Config;
use crate::processor::{Dedupe, MessageProcessor};
use crate::state::{AppState, Shared};
use crate::store::{DataDir, MessageLog};
use app::api::ssr::SharedBackend;
use axum::body::Body;
use axum::extract::Request;
use axum::routing::{any, get};
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, handle_server_fns_with_context, LeptosRoutes};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::set_header::SetResponseHeaderLayer;

/// Typing hints per (user, room): one every two seconds, as the browser sends them, with a
/// little slack; more are dropped.
const TYPING_LIMIT: ratelimit::RateLimit = ratelimit::RateLimit {
    per_sec: 0.5,
    burst: 3.0,
};
/// Presence announcements per user (each goes to every room the user is in); more are dropped
/// and the member list shows the truth at its next refresh.
const PRESENCE_LIMIT: ratelimit::RateLimit = ratelimit::RateLimit {
    per_sec: 0.2,
    burst: 6.0,
};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The HTTP routes: pages, server functions, `/ws`, and static files, behind the layers of
/// [`http`]: the CSRF guard on `/api/*`, caching and compression, and the security headers.
pub fn router(state: AppState) -> Router {
    let backend: SharedBackend = Arc::new(ChatBackend(state.clone()));
    let routes = generate_route_list(app::App);
    let options = state.leptos_options.clone();
    let pkg_dir = http::assets::PkgDir::new(&options.site_pkg_dir);
    let for_server_fns = backend.clone();
    // What every page render gets in its Leptos context: the backend for server functions
    // called while rendering, and this response's CSP nonce for the inline scripts.
    let page_context = move || {
        provide_context(backend.clone());
        http::headers::provide_leptos_nonce();
    };
    let mut router = Router::new()
        .route(
            "/api/{*name}",
            any(move |request: Request<Body>| {
                let backend = for_server_fns.clone();
                handle_server_fns_with_context(move || provide_context(backend.clone()), request)
            }),
        )
        .leptos_routes_with_context(&state, routes, page_context.clone(), move || {
            app::shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(page_context, app::shell))
        // Router-wide, not on the `/api/{*name}` route: `leptos_routes_with_context` registers
        // a route of its own for every server function, and those win over the wildcard.
        .layer(axum::middleware::from_fn(http::csrf::guard))
        .layer(axum::middleware::from_fn_with_state(
            pkg_dir,
            http::assets::cache_control,
        ))
        .layer(http::assets::compression())
        .layer(axum::middleware::from_fn_with_state(
            http::headers::CspConfig::new(&state.leptos_options),
            http::headers::content_security_policy,
        ));
    for (name, value) in http::headers::static_headers() {
        router = router.layer(SetResponseHeaderLayer::overriding(name, value));
    }
    // After the layers, so none applies to it: the upgrade checks its own origin, and its 101
    // answer has no body to compress or document to protect.
    router.route("/ws", get(ws::upgrade)).with_state(state)
}

/// A running server, for `main` and for tests.
pub struct Running {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Starts the graceful stop: no new connections, queued messages written, then exit.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Waits until the server has stopped and released its data directory.
    pub async fn stopped(self) -> anyhow::Result<()> {
        self.task.await?
    }
}

/// Opens the data directory, recovers, binds and serves until [`Running::shutdown`].
pub async fn start(config: Config, leptos_options: LeptosOptions) -> anyhow::Result<Running> {
    let data = DataDir::open(&config.data_dir)?;
    let processor_config = config.processor();
    let recent_since = now_ms() - processor_config.dedupe_window.as_millis() as i64;
    // The dedupe memory is rebuilt while the log is scanned, one message at a time, and is
    // capped at `dedupe_max_entries` throughout (the oldest go first).
    let mut dedupe = Dedupe::new(
        processor_config.dedupe_window.as_millis() as i64,
        processor_config.dedupe_max_entries,
    );
    let recovered = MessageLog::open_visiting(
        &data.file("messages"),
        config.log(),
        recent_since,
        |message| dedupe.remember(message),
    )?;
    if recovered.truncated_bytes > 0 {
        tracing::warn!(
            bytes = recovered.truncated_bytes,
            "cut a torn tail off the message log (a crash during a write); every complete message is kept"
        );
    }
    tracing::info!(messages = recovered.messages, data_dir = %config.data_dir.display(), "recovered");
    let log = Arc::new(recovered.log);

    let shutdown = CancellationToken::new();
    let hub = hub::Hub::new(config.sockets(), config.outbound_queue_bytes);
    let stats = stats::Stats::default();
    let (processor, processor_task) = MessageProcessor::start(
        processor_config,
        log.clone(),
        dedupe,
        hub.clone(),
        stats.clone(),
        shutdown.clone(),
    )?;
    let shared = Shared {
        accounts: accounts::Accounts::open(&data, config.session_lifetime())?,
        rooms: rooms::Rooms::open(&data)?,
        history: history::HistoryCache::new(
            Duration::from_millis(config.cache_ttl_ms),
            config.history_cache_bytes(),
        ),
        limiter: ratelimit::RateLimiter::new(config.rate_limit()),
        typing: ratelimit::RateLimiter::new(TYPING_LIMIT),
        room_creations: ratelimit::RateLimiter::new(config.room_creations()),
        presence: ratelimit::RateLimiter::new(PRESENCE_LIMIT),
        sign_in: signin::SignInGate::new(
            config.sign_in(),
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
        ),
        log,
        hub,
        processor,
        stats,
        shutdown: shutdown.clone(),
        connections: TaskTracker::new(),
        config: config.clone(),
    };
    let state = AppState::new(shared, leptos_options);

    let listener = TcpListener::bind(config.listen_addr()).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(serve(listener, state, processor_task, data));
    Ok(Running {
        addr,
        shutdown,
        task,
    })
}

/// Serves, then stops in order: stop accepting → connections stop reading → the processor
/// writes what is queued → connections send their last answers and close → the data directory
/// is released.
async fn serve(
    listener: TcpListener,
    state: AppState,
    processor_task: tokio::task::JoinHandle<()>,
    data: DataDir,
) -> anyhow::Result<()> {
    let shutdown = state.shutdown.clone();
    let logger = tokio::spawn(log_stats(state.clone()));
    let connections = state.connections.clone();
    let serve_config = http::serve::ServeConfig {
        header_read_timeout: Duration::from_millis(state.config.header_read_timeout_ms),
    };
    http::serve::serve(listener, router(state), serve_config, shutdown.clone()).await;
    shutdown.cancel();
    processor_task.await?;
    connections.close();
    if tokio::time::timeout(Duration::from_secs(10), connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not close within 10 s of shutdown");
    }
    logger.await?;
    tracing::info!("stopped; every queued message was written");
    drop(data);
    Ok(())
}

/// One log line a second while messages flow.
async fn log_stats(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = state.shutdown.cancelled() => return,
        }
        let rate = state.stats.tick();
        let s = state.stats_snapshot();
        if rate > 0 || s.queue_depth > 0 {
            tracing::info!(
                "processed {rate}/s, queue {}, total {}, batches {}, avg batch {:.1}, flush p99 {:.2} ms, failed batches {}",
                s.queue_depth, s.processed_total, s.batches_total, s.avg_batch_size, s.flush_p99_ms, s.failed_batches
            );
        }
    }
}
