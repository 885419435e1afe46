//! Command-line flags, each with a `MINITALK_*` environment fallback.
//!
//! Why one struct parsed once at start, rather than settings read where they are used: every
//! limit a stranger can push against is here, with its default, so an operator (and
//! `docs/security.md`, which names each flag) can see them all in one place, and a test can
//! start a server with any of them changed through the same flags `main` takes. Derived values
//! (a byte budget from megabytes, a rate limit from two flags) are methods here, computed once
//! and saturating, so no caller repeats the arithmetic or its overflow checks.

use crate::hub::SocketLimits;
use crate::processor::ProcessorConfig;
use crate::ratelimit::RateLimit;
use crate::signin::SignInLimits;
use crate::store::file::LogConfig;
use crate::store::postgres::PgConfig;
use crate::store::FileMessageStoreConfig;
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Parser)]
#[command(name = "minitalk", version, about = "Minitalk chat server")]
pub struct Config {
    /// Address to listen on [default: $LEPTOS_SITE_ADDR, else 127.0.0.1:3000]
    #[arg(long, env = "MINITALK_ADDR")]
    pub addr: Option<SocketAddr>,
    /// Where users, rooms and messages are stored (locked while the server runs)
    #[arg(
        long,
        env = "MINITALK_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// What to do instead of serving
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Messages per durable write, at most (default chosen by the sweep in BENCHMARKS.md)
    #[arg(long, env = "MINITALK_BATCH_SIZE", default_value_t = 4000)]
    pub batch_size: usize,
    /// Longest wait, in milliseconds, between a batch's first message and its write
    #[arg(long, env = "MINITALK_FLUSH_INTERVAL_MS", default_value_t = 5)]
    pub flush_interval_ms: u64,
    /// Messages waiting to be written, at most; more are refused as `overloaded`
    #[arg(long, env = "MINITALK_QUEUE_CAPACITY", default_value_t = 10_000)]
    pub queue_capacity: usize,
    /// How long a cached history page is served, in milliseconds
    #[arg(long, env = "MINITALK_CACHE_TTL_MS", default_value_t = 3_000)]
    pub cache_ttl_ms: u64,
    /// Memory the history page cache may take, in MiB (pages past it are evicted)
    #[arg(long, env = "MINITALK_HISTORY_CACHE_MB", default_value_t = 64)]
    pub history_cache_mb: u64,
    /// Messages per second one user may send (0: no limit)
    #[arg(long, env = "MINITALK_RATE_LIMIT", default_value_t = 50.0)]
    pub rate_limit: f64,
    /// Messages one user may send at once before the rate limit applies
    #[arg(long, env = "MINITALK_RATE_BURST", default_value_t = 200.0)]
    pub rate_burst: f64,
    /// Size at which a message log segment is closed and a new one begun
    #[arg(long, env = "MINITALK_SEGMENT_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub segment_bytes: u64,
    /// Frames waiting to be sent to one connection, at most; beyond that it catches up from disk
    #[arg(long, env = "MINITALK_OUTBOUND_QUEUE", default_value_t = 1024)]
    pub outbound_queue: usize,
    /// Bytes of message frames waiting for one connection, at most; beyond that it catches up
    /// from disk
    #[arg(long, env = "MINITALK_OUTBOUND_QUEUE_BYTES", default_value_t = 1024 * 1024)]
    pub outbound_queue_bytes: usize,
    /// The site is served over HTTPS: the session cookie is `Secure` and named
    /// `__Host-minitalk_session`
    #[arg(long, env = "MINITALK_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// How long a sign-in lasts, in days (fractions allowed)
    #[arg(long, env = "MINITALK_SESSION_DAYS", default_value_t = 30.0)]
    pub session_days: f64,
    /// Sign-ups and sign-ins per minute from one address (a burst of as many is allowed; 0: off)
    #[arg(long, env = "MINITALK_SIGN_INS_PER_IP_PER_MIN", default_value_t = 10.0)]
    pub sign_ins_per_ip_per_min: f64,
    /// Sign-ups and sign-ins per second from everyone together (burst: twice that; 0: off)
    #[arg(long, env = "MINITALK_SIGN_INS_PER_SEC", default_value_t = 20.0)]
    pub sign_ins_per_sec: f64,
    /// Rooms one user may create in all
    #[arg(long, env = "MINITALK_ROOMS_PER_USER", default_value_t = 50)]
    pub rooms_per_user: usize,
    /// Rooms one user may create per hour (a burst of up to 5 at once; 0: no limit)
    #[arg(long, env = "MINITALK_ROOM_CREATIONS_PER_HOUR", default_value_t = 20.0)]
    pub room_creations_per_hour: f64,
    /// Joins and leaves one user may make per minute (a burst of up to 10 at once; 0: no limit).
    /// Each is an entry in the room's timeline that every member receives.
    #[arg(
        long,
        env = "MINITALK_MEMBERSHIP_CHANGES_PER_MIN",
        default_value_t = 30.0
    )]
    pub membership_changes_per_min: f64,
    /// Open WebSockets per user, at most (0: no limit)
    #[arg(long, env = "MINITALK_MAX_SOCKETS_PER_USER", default_value_t = 16)]
    pub max_sockets_per_user: usize,
    /// Open WebSockets per client address, at most (0: no limit)
    #[arg(long, env = "MINITALK_MAX_SOCKETS_PER_IP", default_value_t = 256)]
    pub max_sockets_per_ip: usize,
    /// How often the server pings each WebSocket; one that answers neither of two pings in a row is closed
    #[arg(long, env = "MINITALK_WS_PING_INTERVAL_MS", default_value_t = 30_000)]
    pub ws_ping_interval_ms: u64,
    /// Free disk space, in MiB, below which new messages are refused as `storage_full` (sign-in
    /// and other metadata writes keep working; 0: never refuse)
    #[arg(long, env = "MINITALK_MIN_FREE_DISK_MB", default_value_t = 256)]
    pub min_free_disk_mb: u64,
    /// Longest wait, in milliseconds, for a request's headers once a connection is idle or has
    /// begun sending them; a client that is slower is disconnected (slowloris)
    #[arg(
        long,
        env = "MINITALK_HEADER_READ_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub header_read_timeout_ms: u64,
    /// Answer searches: from a full-text index of messages in the data directory (`search/`),
    /// or on PostgreSQL from the database's own (`false`: no index, and searches are refused)
    #[arg(long, env = "MINITALK_SEARCH", default_value_t = true, action = clap::ArgAction::Set)]
    pub search: bool,
    /// Searches one user may make per minute (0: no limit)
    #[arg(long, env = "MINITALK_SEARCHES_PER_MIN", default_value_t = 30.0)]
    pub searches_per_min: f64,
    /// Keep accounts, rooms and the timeline in this PostgreSQL database
    /// (`postgres://user@host:port/database`) instead of the data directory, so that several
    /// nodes can serve one community (search too: the data directory then holds only its lock and control socket)
    #[arg(long, env = "MINITALK_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Log one JSON object a line (for a log collector) instead of text
    #[arg(long, env = "MINITALK_LOG_JSON")]
    pub log_json: bool,
    /// Most connections this node holds open to PostgreSQL
    #[arg(long, env = "MINITALK_DATABASE_POOL", default_value_t = 16)]
    pub database_pool: u32,
}

/// What `minitalk` does instead of serving.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Write a consistent copy of the file store in --data-dir into a new directory, whether
    /// the server runs (it is asked through its control socket) or not
    Backup {
        /// The new directory (it must not exist)
        #[arg(long)]
        to: PathBuf,
    },
}

impl Config {
    /// How the PostgreSQL stores are reached, when `--database-url` chose them.
    pub fn database(&self) -> Option<PgConfig> {
        self.database_url.as_ref().map(|url| PgConfig {
            url: url.clone(),
            pool_size: self.database_pool,
        })
    }

    /// The address to listen on: `--addr`, else the Leptos site address, else 127.0.0.1:3000.
    pub fn listen_addr(&self) -> SocketAddr {
        self.addr
            .or_else(|| std::env::var("LEPTOS_SITE_ADDR").ok()?.parse().ok())
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3000)))
    }

    pub fn processor(&self) -> ProcessorConfig {
        ProcessorConfig {
            batch_size: self.batch_size,
            flush_interval: Duration::from_millis(self.flush_interval_ms),
            queue_capacity: self.queue_capacity,
        }
    }

    /// How the file message store is opened (its dedupe window keeps its default).
    pub fn messages(&self) -> FileMessageStoreConfig {
        FileMessageStoreConfig {
            log: LogConfig {
                segment_bytes: self.segment_bytes,
            },
            min_free_disk_bytes: self.min_free_disk_mb.saturating_mul(1024 * 1024),
            ..FileMessageStoreConfig::default()
        }
    }

    /// The history cache's budget in bytes (saturating: a huge flag means "no practical bound",
    /// not an overflow).
    pub fn history_cache_bytes(&self) -> u64 {
        self.history_cache_mb.saturating_mul(1024 * 1024)
    }

    pub fn rate_limit(&self) -> RateLimit {
        RateLimit {
            per_sec: self.rate_limit,
            burst: self.rate_burst,
        }
    }

    pub fn sign_in(&self) -> SignInLimits {
        SignInLimits {
            per_ip: RateLimit {
                per_sec: self.sign_ins_per_ip_per_min / 60.0,
                burst: self.sign_ins_per_ip_per_min,
            },
            global: RateLimit {
                per_sec: self.sign_ins_per_sec,
                burst: self.sign_ins_per_sec * 2.0,
            },
        }
    }

    pub fn room_creations(&self) -> RateLimit {
        RateLimit {
            per_sec: self.room_creations_per_hour / 3600.0,
            burst: self.room_creations_per_hour.min(5.0),
        }
    }

    pub fn membership_changes(&self) -> RateLimit {
        RateLimit {
            per_sec: self.membership_changes_per_min / 60.0,
            burst: self.membership_changes_per_min.min(10.0),
        }
    }

    pub fn searches(&self) -> RateLimit {
        RateLimit {
            per_sec: self.searches_per_min / 60.0,
            // At least one search, however low the rate (0 turns the limit off).
            burst: self.searches_per_min.clamp(1.0, 10.0),
        }
    }

    pub fn session_lifetime(&self) -> Duration {
        Duration::from_secs_f64((self.session_days * 86_400.0).clamp(1.0, 3650.0 * 86_400.0))
    }

    pub fn sockets(&self) -> SocketLimits {
        SocketLimits {
            per_user: self.max_sockets_per_user,
            per_ip: self.max_sockets_per_ip,
        }
    }
}
