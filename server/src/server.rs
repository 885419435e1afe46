//! Starting and stopping the server: what [`start`] wires together, and the stop protocol.
//!
//! [`start`] opens the data directory and the stores (the file store recovers its log and
//! rebuilds its dedupe memory; PostgreSQL's migrations run), starts the message processor, builds the [`AppState`] handle and binds the
//! listener. [`serve`] runs until [`Running::shutdown`], then stops in an order that loses no
//! acknowledged message and answers every queued one:
//!
//! 1. stop accepting connections;
//! 2. connections keep reading, but answer new sends with `overloaded` (the processor's queue is
//!    closed) until their client goes quiet or a 3 s grace period ends;
//! 3. the processor writes what is queued and answers its senders; the search indexer stops
//!    (what it had not committed is indexed again from its cursors at the next start);
//! 4. connections send their last answers and close;
//! 5. the data directory is released (its lock dropped).

use crate::access::Access;
use crate::bus::postgres::Relay;
use crate::clock::{self, Clock};
use crate::config::Config;
use crate::newest::NewestMessages;
use crate::processor::{MessageProcessor, Outlets};
use crate::search::Search;
use crate::state::{AppState, Limiters, Parts};
use crate::store::accounts::AccountStore;
use crate::store::file::{backup::Backup, FileStores};
use crate::store::postgres::{NodeId, PgSearch, PgStores};
use crate::store::rooms::RoomStore;
use crate::store::{DataDir, MessageStore, TimelineFacts};
use crate::{accounts, bus, control, history, http, hub, ratelimit, rooms, routes, signin, stats};
use app::model::{RoomId, UserId, Username};
use leptos::prelude::LeptosOptions;
use sqlx::PgPool;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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

/// Read marks and notification levels per user: a browser marks a room read at most about
/// three times a second while messages arrive (`read_mark` debounces 300 ms), and a person
/// switching rooms quickly marks each; more are refused with `rate_limited` (the next mark
/// catches up).
const OWN_ROW_LIMIT: ratelimit::RateLimit = ratelimit::RateLimit {
    per_sec: 5.0,
    burst: 20.0,
};

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

/// Seeds the access state with each sender's newest message per room, as the log holds them:
/// unread counts start after it. The log names senders; the access state counts by user id.
async fn note_last_sent(
    accounts: &accounts::Accounts,
    access: &Access,
    last_sent: Vec<(RoomId, Username, u64)>,
) -> anyhow::Result<()> {
    let mut ids: HashMap<Username, Option<UserId>> = HashMap::new();
    let mut sent = Vec::with_capacity(last_sent.len());
    for (room, sender, seq) in last_sent {
        let id = match ids.get(&sender) {
            Some(id) => *id,
            None => {
                let id = accounts.find(&sender).await?.map(|user| user.id);
                ids.insert(sender, id);
                id
            }
        };
        if let Some(id) = id {
            sent.push((room, id, seq));
        }
    }
    access.note_sent(sent);
    Ok(())
}

/// The stores a node runs on.
struct Stores {
    messages: Arc<dyn MessageStore>,
    accounts: Arc<dyn AccountStore>,
    rooms: Arc<dyn RoomStore>,
    /// What the timeline said at open, to repair the room store and seed the access state.
    facts: TimelineFacts,
    /// On PostgreSQL: the pool and this node's name, for the relay to the other nodes.
    cluster: Option<(PgPool, NodeId)>,
    /// On the file store: its backup, for the control socket.
    backup: Option<Arc<Backup>>,
}

/// Opens the stores `config` names: PostgreSQL with `--database-url`, else the file store in
/// the data directory (recovering its log and rebuilding its dedupe memory).
async fn open_stores(config: &Config, data: &DataDir) -> anyhow::Result<Stores> {
    if let Some(database) = config.database() {
        let stores = PgStores::open(&database).await?;
        let facts = stores.messages.facts().await?;
        return Ok(Stores {
            messages: Arc::new(stores.messages),
            accounts: Arc::new(stores.accounts),
            rooms: Arc::new(stores.rooms),
            facts,
            cluster: Some((stores.pool, stores.node)),
            backup: None,
        });
    }
    let FileStores {
        mut messages,
        accounts,
        rooms,
        backup,
    } = FileStores::open(data, config.messages(), clock::now_ms())?;
    Ok(Stores {
        facts: messages.take_facts(),
        messages: Arc::new(messages),
        accounts: Arc::new(accounts),
        rooms: Arc::new(rooms),
        cluster: None,
        backup: Some(Arc::new(backup)),
    })
}

/// Opens the data directory and the stores, recovers, binds and serves until
/// [`Running::shutdown`].
pub async fn start(config: Config, leptos_options: LeptosOptions) -> anyhow::Result<Running> {
    crate::metrics::handle();
    let data = DataDir::open(&config.data_dir)?;
    let Stores {
        messages,
        accounts: account_store,
        rooms: room_store,
        facts,
        cluster,
        backup,
    } = open_stores(&config, &data).await?;
    tracing::info!(durability = %messages.durability(), data_dir = %config.data_dir.display(), "opened the stores");

    let shutdown = CancellationToken::new();
    let hub = hub::Hub::new(config.sockets(), config.outbound_queue_bytes);
    let stats = stats::Stats::default();
    let access = if cluster.is_some() {
        Access::load_shared(room_store.clone()).await?
    } else {
        Access::load(room_store.clone()).await?
    };
    let (search, indexer) = if let (true, Some((pool, _))) = (config.search, &cluster) {
        // On PostgreSQL every node searches the database: nothing to index here.
        (Search::database(PgSearch::new(pool.clone())), None)
    } else if config.search {
        let known = room_store.access().await?.into_iter().map(|(id, _)| id);
        let (search, indexer) = Search::start(
            data.file("search"),
            messages.clone(),
            known.collect(),
            shutdown.clone(),
        )
        .await?;
        (search, Some(indexer))
    } else {
        (Search::off(), None)
    };
    let bus: Arc<dyn bus::Bus> = Arc::new(bus::LocalBus::new(hub.clone(), bus::SUBSCRIBER_QUEUE));
    let newest = NewestMessages::default();
    let (processor, processor_task) = MessageProcessor::start(
        config.processor(),
        messages.clone(),
        access.clone(),
        Outlets {
            hub: hub.clone(),
            bus: bus.clone(),
            newest: newest.clone(),
            search: search.clone(),
        },
        stats.clone(),
        shutdown.clone(),
    );
    let sign_in = signin::SignInGate::new(
        config.sign_in(),
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
    );
    let accounts = accounts::Accounts::new(
        account_store,
        sign_in,
        config.session_lifetime(),
        Clock::system(),
    );
    let relay = match cluster {
        None => None,
        Some((pool, node)) => {
            tracing::info!(node = %node.0, "relaying to the other nodes on the database");
            let relay = Relay {
                pool,
                node,
                bus: bus.clone(),
                hub: hub.clone(),
                access: access.clone(),
                messages: messages.clone(),
                newest: newest.clone(),
                seen_heads: Default::default(),
            };
            Some(relay.start(shutdown.clone()).await?)
        }
    };
    let rooms = rooms::Rooms::new(room_store, Arc::new(processor.clone()), access.clone());
    let repaired = rooms.reconcile(facts.memberships).await?;
    rooms.reconcile_settings(facts.settings).await?;
    let deletions = rooms.reconcile_deletions(facts.deleted).await?;
    if deletions > 0 {
        tracing::warn!(
            deletions,
            "deleted rooms the room store still had (a crash came between storing a deletion and projecting it)"
        );
    }
    note_last_sent(&accounts, &access, facts.last_sent).await?;
    if repaired > 0 {
        tracing::warn!(
            repaired,
            "memberships brought in line with the timeline (a crash came between recording a join or leave and storing it)"
        );
    }
    let parts = Parts {
        accounts,
        rooms,
        history: history::HistoryCache::new(
            Duration::from_millis(config.cache_ttl_ms),
            config.history_cache_bytes(),
        ),
        limiters: Limiters {
            sends: ratelimit::RateLimiter::new(config.rate_limit()),
            typing: ratelimit::RateLimiter::new(TYPING_LIMIT),
            room_creations: ratelimit::RateLimiter::new(config.room_creations()),
            presence: ratelimit::RateLimiter::new(PRESENCE_LIMIT),
            membership_changes: ratelimit::RateLimiter::new(config.membership_changes()),
            own_rows: ratelimit::RateLimiter::new(OWN_ROW_LIMIT),
            searches: ratelimit::RateLimiter::new(config.searches()),
        },
        messages,
        search,
        newest,
        bus: bus.clone(),
        hub,
        processor,
        stats,
        shutdown: shutdown.clone(),
        connections: TaskTracker::new(),
        ops: Default::default(),
        config: config.clone(),
    };
    let state = AppState::new(parts, leptos_options);

    let listener = TcpListener::bind(config.listen_addr()).await?;
    let addr = listener.local_addr()?;
    // Without its socket the server still serves; only `minitalk backup` then needs it stopped.
    let control = match control::bind(&data) {
        Ok(socket) => Some(tokio::spawn(control::serve(
            socket,
            backup,
            shutdown.clone(),
        ))),
        Err(e) => {
            tracing::warn!("no control socket, so `minitalk backup` works only while the server is stopped: {e}");
            None
        }
    };
    let task = tokio::spawn(serve(
        listener,
        state,
        [Some(processor_task), indexer, relay, control],
        data,
    ));
    Ok(Running {
        addr,
        shutdown,
        task,
    })
}

/// Serves, then stops in the order the module docs give.
async fn serve(
    listener: TcpListener,
    state: AppState,
    // The processor, then the search indexer, the relay to other nodes (when there are ones)
    // and the control socket: all end after `shutdown`.
    tasks: [Option<tokio::task::JoinHandle<()>>; 4],
    data: DataDir,
) -> anyhow::Result<()> {
    let shutdown = state.shutdown().clone();
    let logger = tokio::spawn(log_stats(state.clone()));
    let connections = state.connections().clone();
    let serve_config = http::serve::ServeConfig {
        header_read_timeout: Duration::from_millis(state.config().header_read_timeout_ms),
    };
    http::serve::serve(
        listener,
        routes::router(state),
        serve_config,
        shutdown.clone(),
    )
    .await;
    shutdown.cancel();
    for task in tasks.into_iter().flatten() {
        // A failed task (a panic) is logged; the stop goes on, closing the connections.
        if let Err(e) = task.await {
            tracing::error!("a server task failed: {e}");
        }
    }
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
            () = state.shutdown().cancelled() => return,
        }
        let rate = state.stats().tick();
        let s = state.stats_snapshot();
        if rate > 0 || s.queue_depth > 0 {
            tracing::info!(
                "processed {rate}/s, queue {}, total {}, batches {}, avg batch {:.1}, flush p99 {:.2} ms, failed batches {}",
                s.queue_depth, s.processed_total, s.batches_total, s.avg_batch_size, s.flush_p99_ms, s.failed_batches
            );
        }
    }
}
