//! The control socket, `control.sock` in the data directory: how `minitalk backup` asks the
//! running server for a consistent copy of its file store (`store::file::backup`).
//!
//! Why a Unix socket and not an HTTP route: only who may enter the data directory (it is 0700,
//! the socket 0600: the server's own user, and root) can connect, so there is no token to
//! leak, no port, and nothing a browser or another machine can reach. One request is served at
//! a time (a second `minitalk backup` waits for the first), a request is one JSON line of at
//! most [`MAX_REQUEST_BYTES`], and a client that does not send it within [`READ_TIMEOUT`] is
//! dropped, so a stuck client cannot hold the socket.
//!
//! Without a running server the same command opens the data directory itself (its lock says
//! nobody else has it) and writes the same backup ([`backup`]).

use crate::config::Config;
use crate::store::file::backup::{Backup, Written};
use crate::store::file::FileStores;
use crate::store::{DataDir, StoreError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

/// The socket's file name in the data directory.
pub const SOCKET: &str = "control.sock";
/// The longest request line.
pub const MAX_REQUEST_BYTES: u64 = 4096;
/// How long a client has to send its request.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What a client asks.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// A backup of the file store into this new directory (an absolute path).
    Backup { to: PathBuf },
}

/// What the server answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    BackedUp(Written),
    Failed(String),
}

/// Binds the socket in the data directory (one left by a server that stopped is removed: the
/// directory's lock, held by this process, says it is stale), readable by the owner only.
pub fn bind(data: &DataDir) -> Result<UnixListener, StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let path = data.file(SOCKET);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(&path, e)),
    }
    let listener = UnixListener::bind(&path).map_err(|e| StoreError::io(&path, e))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| StoreError::io(&path, e))?;
    Ok(listener)
}

/// Answers requests one at a time until `shutdown`. `backup` is `None` on PostgreSQL, whose
/// backups are the database's (`pg_dump`).
pub async fn serve(
    listener: UnixListener,
    backup: Option<Arc<Backup>>,
    shutdown: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("the control socket failed to accept: {e}");
                    continue;
                }
            },
            () = shutdown.cancelled() => return,
        };
        if let Err(e) = answer(stream, backup.clone()).await {
            tracing::warn!("a control request failed: {e}");
        }
    }
}

/// Reads one request, does it, writes one answer.
async fn answer(stream: UnixStream, backup: Option<Arc<Backup>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(MAX_REQUEST_BYTES));
    let answer = match tokio::time::timeout(READ_TIMEOUT, reader.read_line(&mut line)).await {
        Err(_) => Answer::Failed(format!("no request within {} s", READ_TIMEOUT.as_secs())),
        Ok(read) => {
            read?;
            match serde_json::from_str::<Request>(&line) {
                Err(e) => Answer::Failed(format!("not a request: {e}")),
                Ok(Request::Backup { to }) => backup_here(backup, to).await,
            }
        }
    };
    let mut bytes = serde_json::to_vec(&answer).expect("answers serialize");
    bytes.push(b'\n');
    write.write_all(&bytes).await
}

async fn backup_here(backup: Option<Arc<Backup>>, to: PathBuf) -> Answer {
    let Some(backup) = backup else {
        return Answer::Failed(
            "this node keeps its data in PostgreSQL: back it up with pg_dump (docs/operations.md)"
                .into(),
        );
    };
    if !to.is_absolute() {
        return Answer::Failed(format!("{} is not an absolute path", to.display()));
    }
    tracing::info!(to = %to.display(), "backing up the file store");
    match tokio::task::spawn_blocking(move || backup.write(&to)).await {
        Ok(Ok(written)) => {
            tracing::info!(
                files = written.files,
                bytes = written.bytes,
                held_ms = written.held_ms,
                ms = written.ms,
                "backed up the file store"
            );
            Answer::BackedUp(written)
        }
        Ok(Err(e)) => Answer::Failed(e.to_string()),
        Err(e) => Answer::Failed(format!("the backup task failed: {e}")),
    }
}

/// `minitalk backup --to DIR`: asks the server running on `config.data_dir` for a backup, or,
/// when none runs, opens the data directory and writes it here.
pub async fn backup(config: &Config, to: &Path) -> anyhow::Result<Written> {
    let to = std::path::absolute(to)?;
    let data = match DataDir::open(&config.data_dir) {
        Ok(data) => data,
        Err(StoreError::Locked(_)) => return ask(&config.data_dir.join(SOCKET), to).await,
        Err(e) => return Err(e.into()),
    };
    if config.database().is_some() {
        anyhow::bail!(
            "this node keeps its data in PostgreSQL: back it up with pg_dump (docs/operations.md)"
        );
    }
    let config = config.messages();
    let written = tokio::task::spawn_blocking(move || {
        let stores = FileStores::open(&data, config, crate::clock::now_ms())?;
        let written = stores.backup.write(&to)?;
        drop((stores, data));
        Ok::<_, anyhow::Error>(written)
    })
    .await??;
    Ok(written)
}

/// Sends one request to the server's control socket and reads its answer.
async fn ask(socket: &Path, to: PathBuf) -> anyhow::Result<Written> {
    let stream = UnixStream::connect(socket).await.map_err(|e| {
        anyhow::anyhow!(
            "the data directory is locked by a running server, but its control socket {} does not answer: {e}",
            socket.display()
        )
    })?;
    let (read, mut write) = stream.into_split();
    let mut request = serde_json::to_vec(&Request::Backup { to })?;
    request.push(b'\n');
    write.write_all(&request).await?;
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    match serde_json::from_str(&line)? {
        Answer::BackedUp(written) => Ok(written),
        Answer::Failed(reason) => anyhow::bail!("the server did not back up: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Sends `bytes` (or nothing) and reads the answer line.
    async fn exchange(socket: &Path, bytes: Option<&[u8]>) -> Answer {
        let stream = UnixStream::connect(socket).await.unwrap();
        let (read, mut write) = stream.into_split();
        if let Some(bytes) = bytes {
            write.write_all(bytes).await.unwrap();
        }
        let mut line = String::new();
        BufReader::new(read).read_line(&mut line).await.unwrap();
        serde_json::from_str(&line).unwrap()
    }

    fn failed(answer: Answer) -> String {
        match answer {
            Answer::Failed(reason) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_is_one_short_line_sent_in_time() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        let listener = bind(&data).unwrap();
        let socket = data.file(SOCKET);
        let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let stop = CancellationToken::new();
        let served = tokio::spawn(serve(listener, None, stop.clone()));

        // Longer than the limit: only its first 4 KiB are read, which are no request.
        let long = format!("{{\"backup\":{{\"to\":\"/{}\"}}}}\n", "x".repeat(5000));
        assert!(failed(exchange(&socket, Some(long.as_bytes())).await).starts_with("not a request"));
        // Silent: dropped after the read timeout, and the next client is served.
        assert!(failed(exchange(&socket, None).await).starts_with("no request within"));
        // A well-formed request to a node without a file store is refused, saying what to do.
        let request = b"{\"backup\":{\"to\":\"/tmp/b\"}}\n";
        assert!(failed(exchange(&socket, Some(request)).await).contains("pg_dump"));
        stop.cancel();
        served.await.unwrap();
    }
}
