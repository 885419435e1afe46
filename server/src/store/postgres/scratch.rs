//! A scratch PostgreSQL cluster for tests: started once per test process from the machine's
//! binaries by `scripts/postgres.sh` (never the system service), on a free loopback port, in a
//! temporary directory; a watchdog the script leaves behind stops it and removes the directory
//! when the process ends, however it ends. Each test takes a database of its own
//! ([`fresh_database`]), so tests run in parallel without seeing each other's rows.
//!
//! Public (not `cfg(test)`) because the integration tests in `server/tests` start nodes on it
//! too; it only runs a script, and nothing in the server calls it.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// A running scratch cluster.
pub struct Cluster {
    /// `postgres://minitalk@127.0.0.1:PORT/`, to which a database name is added.
    base: String,
    pub dir: PathBuf,
    pub port: u16,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// The repository's `scripts/postgres.sh`.
pub fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/postgres.sh")
}

/// A PostgreSQL program (`pg_dump`, `pg_restore`, …) of the newest version on this machine.
pub fn tool(name: &str) -> PathBuf {
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (scripts/bootstrap.sh)")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .max()
        .expect("a PostgreSQL version");
    PathBuf::from(format!("/usr/lib/postgresql/{newest}/bin/{name}"))
}

/// A free loopback port (free when asked: PostgreSQL binds it a moment later).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// This process's cluster, started on first use. Its settings favour speed over surviving a
/// power loss (`fsync=off`): tests check what a node promises, not the disk.
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| {
        // Straight under the temporary directory, which the postgres user (when we are
        // root) can reach; the script makes it theirs.
        let dir = std::env::temp_dir().join(format!("minitalk-pg-{}", std::process::id()));
        let port = free_port();
        let out = Command::new("bash")
            .arg(script())
            .args(["start", &dir.to_string_lossy(), &port.to_string()])
            .arg(std::process::id().to_string())
            .env(
                "PG_SETTINGS",
                "-c fsync=off -c full_page_writes=off -c max_connections=300",
            )
            .output()
            .expect("scripts/postgres.sh runs");
        assert!(
            out.status.success(),
            "scratch PostgreSQL did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Cluster {
            base: format!("postgres://minitalk@127.0.0.1:{port}/"),
            dir,
            port,
        }
    })
}

/// The URL of a new, empty database on this process's cluster.
pub async fn fresh_database() -> String {
    let cluster = cluster();
    let n = DATABASES.fetch_add(1, Ordering::Relaxed);
    let name = format!("t{}_{n}", std::process::id());
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&cluster.url("minitalk"))
        .await
        .expect("the scratch cluster answers");
    sqlx::Executor::execute(&mut admin, format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("a scratch database");
    cluster.url(&name)
}

impl Cluster {
    /// The URL of `database` on this cluster.
    pub fn url(&self, database: &str) -> String {
        format!("{}{database}", self.base)
    }
}
