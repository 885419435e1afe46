//! The `minitalk` binary: flags, logging, signals. Everything else is in the library.

use clap::Parser;
use leptos::prelude::get_configuration;
use minitalk_server::config::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = Config::parse();
    let mut options = get_configuration(None)?.leptos_options;
    options.site_addr = config.listen_addr();

    let running = minitalk_server::start(config, options).await?;
    tracing::info!("listening on http://{}", running.addr);
    shutdown_signal().await;
    tracing::info!("shutting down: writing queued messages");
    running.shutdown();
    running.stopped().await
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
