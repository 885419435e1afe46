//! `minitalk-loadtest`: the New Year's Eve burst against a running Minitalk server.
//!
//! Every user signs in, connects and subscribes; then, at one synchronised "midnight", all of them
//! send their messages at once. The run ends by itself (after every ack and delivery, or at the
//! deadline) and checks what a chat must never do: lose, duplicate or reorder a message. It reads
//! every room back through `history` to check each acked message is stored once, with its seq.
//! The report is printed however the run ended; the exit status is non-zero when any check fails.

use anyhow::Context;
use clap::Parser;
use loadtest::{run, Scenario};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let scenario = Scenario::parse();
    let report = run(&scenario).await?;
    print!("{report}");
    if let Some(path) = &scenario.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if !report.passed() {
        std::process::exit(1);
    }
    Ok(())
}
