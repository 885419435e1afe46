//! Command-line flags, each with a `MINITALK_*` environment fallback.

use crate::processor::ProcessorConfig;
use crate::ratelimit::RateLimit;
use crate::store::LogConfig;
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
    #[arg(long, env = "MINITALK_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
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
    /// Longest wait, in milliseconds, for a request's headers once a connection is idle or has
    /// begun sending them; a client that is slower is disconnected (slowloris)
    #[arg(
        long,
        env = "MINITALK_HEADER_READ_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub header_read_timeout_ms: u64,
}

impl Config {
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
            ..ProcessorConfig::default()
        }
    }

    pub fn log(&self) -> LogConfig {
        LogConfig {
            segment_bytes: self.segment_bytes,
        }
    }

    pub fn rate_limit(&self) -> RateLimit {
        RateLimit {
            per_sec: self.rate_limit,
            burst: self.rate_burst,
        }
    }
}
