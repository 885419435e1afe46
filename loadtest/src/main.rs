//! `minitalk-loadtest`: the New Year's Eve burst against a running Minitalk server.
//!
//! Every user signs in, connects and subscribes; then, at one synchronised "midnight", all of them
//! send their messages at once. The run ends by itself (after every ack and delivery, or at the
//! deadline) and checks what a chat must never do: lose, duplicate or reorder a message. It reads
//! every room back through `history` to check each acked message is stored once, with its seq.
//! The exit status is non-zero when any check fails.

mod cpu;
mod frame;
mod setup;
mod user;

use anyhow::Context;
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use minitalk_server::stats::percentile;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Parser)]
#[command(
    name = "minitalk-loadtest",
    about = "The New Year's Eve burst against a Minitalk server"
)]
struct Scenario {
    /// Server to test (loopback unless you name another)
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    url: String,
    #[arg(long, default_value_t = 2000)]
    users: usize,
    #[arg(long, default_value_t = 200)]
    rooms: usize,
    #[arg(long, default_value_t = 1)]
    rooms_per_user: usize,
    /// Messages each user sends at midnight
    #[arg(long, default_value_t = 20)]
    messages: usize,
    /// Unacknowledged messages one user may have at once
    #[arg(long, default_value_t = 5)]
    window: usize,
    /// Total send rate to aim for, messages/s (default: as fast as acks allow)
    #[arg(long)]
    rate: Option<f64>,
    /// The whole run, setup included, ends by this many seconds
    #[arg(long, default_value_t = 300)]
    deadline_secs: u64,
    /// How long to wait for deliveries after the last ack
    #[arg(long, default_value_t = 15)]
    drain_secs: u64,
    /// Names of accounts (`{prefix}{i}`) and rooms (`{prefix}-room-{j}`), reused across runs
    #[arg(long, default_value = "lt")]
    prefix: String,
    /// Concurrent sign-ins and connections during setup
    #[arg(long, default_value_t = 32)]
    setup_concurrency: usize,
    /// Write the full report here as JSON
    #[arg(long)]
    json: Option<PathBuf>,
    /// The server's process id, when it runs on this machine: the report then says how much CPU
    /// it used during the burst, next to the generator's own
    #[arg(long)]
    server_pid: Option<u32>,
}

#[derive(Debug, Default, Serialize)]
struct Latency {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

impl Latency {
    fn of(samples: &[f64]) -> Self {
        let at = |q| percentile(samples.to_vec(), q);
        Self {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: samples.iter().copied().fold(0.0, f64::max),
        }
    }
}

/// CPU seconds used from midnight until every delivery was in (or the drain ended).
#[derive(Debug, Default, Serialize)]
struct BurstCpu {
    wall_secs: f64,
    generator_secs: Option<f64>,
    server_secs: Option<f64>,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    users: usize,
    rooms: usize,
    messages_per_user: usize,
    setup_secs: f64,
    burst_secs: f64,
    sent: u64,
    acked: u64,
    acked_per_sec: f64,
    deliveries: u64,
    expected_deliveries: u64,
    deliveries_per_sec: f64,
    ack_ms: Latency,
    delivery_ms: Latency,
    errors: BTreeMap<String, u64>,
    unanswered: u64,
    lost: u64,
    duplicates: u64,
    out_of_order: u64,
    history_missing: u64,
    history_duplicates: u64,
    history_wrong_seq: u64,
    cpu: BurstCpu,
    timed_out: bool,
}

impl Report {
    fn passed(&self) -> bool {
        !self.timed_out
            && self.lost == 0
            && self.duplicates == 0
            && self.out_of_order == 0
            && self.history_missing == 0
            && self.history_duplicates == 0
            && self.history_wrong_seq == 0
            && self.unanswered == 0
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let scenario = Scenario::parse();
    let deadline = Duration::from_secs(scenario.deadline_secs);
    let report = match tokio::time::timeout(deadline, run(&scenario)).await {
        Ok(report) => report?,
        Err(_) => {
            eprintln!("deadline of {deadline:?} reached; the run did not complete");
            Report {
                timed_out: true,
                ..Report::default()
            }
        }
    };
    print(&report);
    if let Some(path) = &scenario.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if !report.passed() {
        std::process::exit(1);
    }
    Ok(())
}

async fn run(s: &Scenario) -> anyhow::Result<Report> {
    anyhow::ensure!(
        s.users >= 1 && s.rooms >= 1 && s.rooms_per_user >= 1,
        "empty scenario"
    );
    let base = s.url.trim_end_matches('/').to_owned();
    let ws_url = format!("{}/ws", base.replacen("http", "ws", 1));
    let http = reqwest::Client::new();

    let setup_started = Instant::now();
    eprintln!("setup: signing in {} users", s.users);
    let cookies = setup::accounts(&http, &base, &s.prefix, s.users, s.setup_concurrency).await?;
    let room_ids = setup::rooms(&http, &base, &cookies[0], &s.prefix, s.rooms).await?;
    let rooms_of = |i: usize| -> Vec<u64> {
        let mut mine: Vec<u64> = (0..s.rooms_per_user)
            .map(|k| room_ids[(i * s.rooms_per_user + k) % s.rooms])
            .collect();
        mine.dedup();
        mine
    };
    eprintln!("setup: joining rooms");
    futures::stream::iter((0..s.users).map(|i| {
        let (http, base, cookie, rooms) = (&http, &base, &cookies[i], rooms_of(i));
        async move { setup::join(http, base, cookie, &rooms).await }
    }))
    .buffer_unordered(s.setup_concurrency.max(1))
    .try_collect::<Vec<()>>()
    .await?;

    let total = (s.users * s.messages) as u64;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let progress = indicatif::ProgressBar::new(total);
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} acked {per_sec} {elapsed}")
            .expect("valid template"),
    );
    let send_gap = s.rate.map_or(Duration::ZERO, |rate| {
        Duration::from_secs_f64(s.users as f64 / rate.max(0.001))
    });
    // Members per room, to know how many deliveries each acked message should make.
    let mut members: HashMap<u64, u64> = HashMap::new();
    for i in 0..s.users {
        for room in rooms_of(i) {
            *members.entry(room).or_default() += 1;
        }
    }
    let shared = Arc::new(user::Shared {
        ws_url,
        members,
        expected: Default::default(),
        epoch: Instant::now(),
        connecting: tokio::sync::Semaphore::new(s.setup_concurrency.max(1)),
        midnight: tokio::sync::Barrier::new(s.users + 1),
        stop: stop_rx,
        acked: Default::default(),
        delivered: Default::default(),
        progress: progress.clone(),
        run_tag: format!("{:x}", std::time::UNIX_EPOCH.elapsed()?.as_millis()),
        window: s.window.max(1),
        send_gap,
        messages: s.messages,
    });
    eprintln!("setup: connecting and subscribing");
    let tasks: Vec<_> = (0..s.users)
        .map(|i| {
            tokio::spawn(user::run(
                shared.clone(),
                i,
                cookies[i].clone(),
                rooms_of(i),
            ))
        })
        .collect();
    shared.midnight.wait().await;
    let setup_secs = setup_started.elapsed().as_secs_f64();
    let burst_started = Instant::now();
    let cpu_at_midnight = (cpu::used(None), cpu::used(s.server_pid));

    let mut acked_at_burst_end = None;
    let mut drain_until = None;
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let acked = shared.acked.load(Ordering::Relaxed);
        if acked == total && acked_at_burst_end.is_none() {
            acked_at_burst_end = Some(burst_started.elapsed());
            drain_until = Some(Instant::now() + Duration::from_secs(s.drain_secs));
        }
        let delivered_all = acked == total
            && shared.delivered.load(Ordering::Relaxed) >= shared.expected.load(Ordering::Relaxed);
        let drained = drain_until.is_some_and(|until| Instant::now() >= until);
        let all_failed = tasks.iter().all(|t| t.is_finished());
        if delivered_all || drained || all_failed {
            break;
        }
    }
    let burst_secs = acked_at_burst_end
        .unwrap_or_else(|| burst_started.elapsed())
        .as_secs_f64();
    let since_midnight = |before: Option<Duration>, now: Option<Duration>| {
        Some(now?.saturating_sub(before?).as_secs_f64())
    };
    let burst_cpu = BurstCpu {
        wall_secs: burst_started.elapsed().as_secs_f64(),
        generator_secs: since_midnight(cpu_at_midnight.0, cpu::used(None)),
        server_secs: since_midnight(cpu_at_midnight.1, cpu::used(s.server_pid)),
    };
    let _ = stop_tx.send(true);
    progress.finish();

    let mut outcomes = Vec::with_capacity(s.users);
    for task in tasks {
        outcomes.push(task.await??);
    }
    let mut report = check(s, &outcomes, &shared.members);
    report.setup_secs = setup_secs;
    report.burst_secs = burst_secs;
    report.cpu = burst_cpu;
    report.acked_per_sec = report.acked as f64 / burst_secs.max(1e-9);
    report.deliveries_per_sec = report.deliveries as f64 / burst_secs.max(1e-9);
    check_history(&http, &base, &cookies, &outcomes, &rooms_of, &mut report).await?;
    Ok(report)
}

/// Loss, duplicates and order, from what every user acked and received.
fn check(s: &Scenario, outcomes: &[user::Outcome], members: &HashMap<u64, u64>) -> Report {
    let mut report = Report {
        users: s.users,
        rooms: s.rooms,
        messages_per_user: s.messages,
        sent: (s.users * s.messages) as u64,
        ..Report::default()
    };
    let mut ack_ms = Vec::new();
    let mut delivery_ms = Vec::new();
    // Per room: (seq, sender index) of every acked message.
    let mut acked: HashMap<u64, Vec<(u64, usize)>> = HashMap::new();
    for (sender, outcome) in outcomes.iter().enumerate() {
        for a in &outcome.acked {
            ack_ms.push(a.ack_ms);
            acked.entry(a.room).or_default().push((a.seq, sender));
            report.expected_deliveries += members[&a.room].saturating_sub(1);
        }
        delivery_ms.extend_from_slice(&outcome.delivery_ms);
        report.duplicates += outcome.duplicates;
        report.out_of_order += outcome.out_of_order;
        report.unanswered += outcome.unanswered;
        for (code, n) in &outcome.errors {
            *report.errors.entry(code.clone()).or_default() += n;
        }
    }
    report.acked = ack_ms.len() as u64;
    report.deliveries = delivery_ms.len() as u64;
    for (receiver, outcome) in outcomes.iter().enumerate() {
        for (room, start) in &outcome.start_seq {
            let seen = outcome.seen.get(room);
            report.lost += acked
                .get(room)
                .into_iter()
                .flatten()
                .filter(|(seq, sender)| {
                    seq > start
                        && *sender != receiver
                        && !seen.is_some_and(|seen| seen.contains(seq))
                })
                .count() as u64;
        }
    }
    report.ack_ms = Latency::of(&ack_ms);
    report.delivery_ms = Latency::of(&delivery_ms);
    report
}

/// Every acked message is in `history` once, with the seq its ack named.
async fn check_history(
    http: &reqwest::Client,
    base: &str,
    cookies: &[String],
    outcomes: &[user::Outcome],
    rooms_of: &dyn Fn(usize) -> Vec<u64>,
    report: &mut Report,
) -> anyhow::Result<()> {
    // For each room: a member's cookie and the lowest seq any subscriber started from.
    let mut rooms: BTreeMap<u64, (&str, u64)> = BTreeMap::new();
    for (i, outcome) in outcomes.iter().enumerate() {
        for room in rooms_of(i) {
            let start = outcome.start_seq.get(&room).copied().unwrap_or(0);
            let entry = rooms.entry(room).or_insert((&cookies[i], start));
            entry.1 = entry.1.min(start);
        }
    }
    let acked: HashMap<&str, (u64, u64)> = outcomes
        .iter()
        .flat_map(|o| {
            o.acked
                .iter()
                .map(|a| (a.client_id.as_str(), (a.room, a.seq)))
        })
        .collect();
    let mut found: HashSet<&str> = HashSet::new();
    for (room, (cookie, start)) in rooms {
        for message in setup::history_after(http, base, cookie, room, start).await? {
            let client_id = message["client_id"].as_str().unwrap_or_default();
            let Some((client_id, (acked_room, acked_seq))) = acked.get_key_value(client_id) else {
                continue;
            };
            if !found.insert(client_id) {
                report.history_duplicates += 1;
            }
            if (*acked_room, *acked_seq) != (room, message["seq"].as_u64().unwrap_or(0)) {
                report.history_wrong_seq += 1;
            }
        }
    }
    report.history_missing = (acked.len() - found.len()) as u64;
    Ok(())
}

fn print(r: &Report) {
    println!("## Minitalk New Year burst");
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| users × messages | {} × {} in {} rooms |",
        r.users, r.messages_per_user, r.rooms
    );
    println!("| setup | {:.1} s |", r.setup_secs);
    println!("| burst (midnight → last ack) | {:.2} s |", r.burst_secs);
    println!(
        "| acked | {} of {} ({:.0}/s) |",
        r.acked, r.sent, r.acked_per_sec
    );
    println!(
        "| deliveries | {} of {} ({:.0}/s) |",
        r.deliveries, r.expected_deliveries, r.deliveries_per_sec
    );
    let l = &r.ack_ms;
    println!(
        "| ack latency ms p50/p90/p99/max | {:.1} / {:.1} / {:.1} / {:.1} |",
        l.p50, l.p90, l.p99, l.max
    );
    let l = &r.delivery_ms;
    println!(
        "| delivery latency ms p50/p99/max | {:.1} / {:.1} / {:.1} |",
        l.p50, l.p99, l.max
    );
    println!("| errors | {:?} |", r.errors);
    println!("| unanswered sends | {} |", r.unanswered);
    println!(
        "| lost / duplicated / out of order | {} / {} / {} |",
        r.lost, r.duplicates, r.out_of_order
    );
    println!(
        "| history: missing / duplicated / wrong seq | {} / {} / {} |",
        r.history_missing, r.history_duplicates, r.history_wrong_seq
    );
    let secs = |t: Option<f64>| t.map_or("?".to_owned(), |t| format!("{t:.2} s"));
    println!(
        "| CPU from midnight to the last delivery ({:.2} s) | generator {}, server {} |",
        r.cpu.wall_secs,
        secs(r.cpu.generator_secs),
        secs(r.cpu.server_secs)
    );
    println!("| verdict | {} |", if r.passed() { "PASS" } else { "FAIL" });
}
