//! The `minitalk` binary: flags, logging, signals. Everything else is in the library.

use clap::Parser;
use leptos::prelude::get_configuration;
use minitalk_server::config::{Command, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    return_large_blocks_to_the_os();
    let config = Config::parse();
    // tantivy logs every commit and merge at info: one line a second while messages flow.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,tantivy=warn".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    if config.log_json {
        logs.json().init();
    } else {
        logs.init();
    }
    if let Some(Command::Backup { to }) = &config.command {
        let written = minitalk_server::control::backup(&config, to).await?;
        println!(
            "backed up {} files, {} bytes, into {} in {:.0} ms (writes waited {:.1} ms)",
            written.files,
            written.bytes,
            written.dir.display(),
            written.ms,
            written.held_ms
        );
        return Ok(());
    }
    let mut options = get_configuration(None)?.leptos_options;
    options.site_addr = config.listen_addr();
    options.hash_files |= hash_file_beside_binary(&options);

    let running = minitalk_server::start(config, options).await?;
    tracing::info!("listening on http://{}", running.addr);
    shutdown_signal().await;
    tracing::info!("shutting down: writing queued messages");
    running.shutdown();
    running.stopped().await
}

/// cargo-leptos (`hash-files = true`) names the bundle's files after their contents and writes
/// the hashes to `hash.txt` beside the binary; Leptos reads them only when told the files are
/// hashed (`LEPTOS_HASH_FILES`, which only `cargo leptos serve/watch` sets). Looking for the
/// file lets `make run`, `make e2e` and Playwright start the binary directly.
fn hash_file_beside_binary(options: &leptos::prelude::LeptosOptions) -> bool {
    std::env::current_exe()
        .map(|exe| exe.with_file_name(&*options.hash_file).exists())
        .unwrap_or(false)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("can listen for SIGTERM");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}

/// glibc raises its mmap threshold each time a large block is freed; from then on argon2's
/// 19 MiB blocks are carved out of per-thread arenas and kept after use. Measured here: +9 MiB of
/// resident memory per sign-up that never came back, 13 GiB while 10,000 load-test users signed
/// in. A fixed threshold serves such blocks with mmap and returns them on free.
fn return_large_blocks_to_the_os() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes allocator tuning, and glibc serialises it with allocation.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
