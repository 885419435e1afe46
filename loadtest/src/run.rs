//! One run, phase by phase, under one deadline: setup (accounts, rooms, memberships), connecting,
//! midnight, the burst and its drain, then the checks.
//!
//! The deadline stops the phase it falls in, not the run: users are told to stop and hand in what
//! they measured, and the report counts it, so a run cut short by its deadline still says how
//! many messages were acked and delivered, how fast, and what was left undone.

use crate::report::{BurstCpu, Report};
use crate::user::{self, Outcome};
use crate::{cpu, setup};
use app::model::RoomId;
use app::timeline::Entry;
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use minitalk_client::Api;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::{timeout_at, Instant};

#[derive(Debug, Parser)]
#[command(
    name = "minitalk-loadtest",
    about = "The New Year's Eve burst against a Minitalk server"
)]
pub struct Scenario {
    /// Server to test (loopback unless you name another). Given several times (the nodes of a
    /// cluster), users are spread over them round-robin; setup goes through the first
    #[arg(long = "url", default_value = "http://127.0.0.1:3000")]
    pub urls: Vec<String>,
    #[arg(long, default_value_t = 2000)]
    pub users: usize,
    #[arg(long, default_value_t = 200)]
    pub rooms: usize,
    #[arg(long, default_value_t = 1)]
    pub rooms_per_user: usize,
    /// Messages each user sends at midnight
    #[arg(long, default_value_t = 20)]
    pub messages: usize,
    /// Unacknowledged messages one user may have at once
    #[arg(long, default_value_t = 5)]
    pub window: usize,
    /// Total send rate to aim for, messages/s (default: as fast as acks allow)
    #[arg(long)]
    pub rate: Option<f64>,
    /// The whole run, setup included, ends by this many seconds
    #[arg(long, default_value_t = 300)]
    pub deadline_secs: u64,
    /// How long to wait for deliveries after the last ack
    #[arg(long, default_value_t = 15)]
    pub drain_secs: u64,
    /// Names of accounts (`{prefix}{i}`) and rooms (`{prefix}-room-{j}`), reused across runs
    #[arg(long, default_value = "lt")]
    pub prefix: String,
    /// Concurrent sign-ins and connections during setup
    #[arg(long, default_value_t = 32)]
    pub setup_concurrency: usize,
    /// Every user also follows its own rooms (`subscribe_user`), as the browser's sidebar does:
    /// the server then sends each user its rooms' coalesced counts during the burst
    #[arg(long)]
    pub user_stream: bool,
    /// Write the full report here as JSON
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The server's process id, when it runs on this machine: the report then says how much CPU
    /// it used during the burst, next to the generator's own. Given several times (nodes, and a
    /// database), the figure is their sum
    #[arg(long = "server-pid")]
    pub server_pids: Vec<u32>,
}

impl Scenario {
    /// The rooms user `i` is a member of, out of the scenario's `rooms`.
    fn rooms_of(&self, rooms: &[RoomId], i: usize) -> Vec<RoomId> {
        let mut mine: Vec<RoomId> = (0..self.rooms_per_user)
            .map(|k| rooms[(i * self.rooms_per_user + k) % self.rooms])
            .collect();
        mine.dedup();
        mine
    }
}

/// Once the run stops, how long users get to hand in what they measured; a user still busy
/// after that (stuck writing to a server that no longer reads, say) counts as failed.
const HAND_IN: Duration = Duration::from_secs(5);

/// Runs the scenario and reports it. An error means the run could not start (the server refused
/// the setup); a deadline, failing users or a failed history check still give a report.
pub async fn run(s: &Scenario) -> anyhow::Result<Report> {
    anyhow::ensure!(
        s.users >= 1 && s.rooms >= 1 && s.rooms_per_user >= 1,
        "empty scenario"
    );
    let deadline = Instant::now() + Duration::from_secs(s.deadline_secs);
    let total = (s.users * s.messages) as u64;
    let mut report = Report {
        users: s.users,
        rooms: s.rooms,
        messages_per_user: s.messages,
        sent: total,
        ..Report::default()
    };
    let cut_short = |report: &mut Report, phase: &'static str| {
        eprintln!(
            "deadline of {} s reached during {phase}; reporting what was measured",
            s.deadline_secs
        );
        report.timed_out = true;
        report.timed_out_during = Some(phase);
    };
    anyhow::ensure!(!s.urls.is_empty(), "no --url");
    let server = Api::new(&s.urls[0]);

    let setup_started = Instant::now();
    let Ok(prepared) = timeout_at(deadline, prepare(s, &server)).await else {
        report.setup_secs = setup_started.elapsed().as_secs_f64();
        report.unsent = total;
        cut_short(&mut report, "setup");
        return Ok(report);
    };
    let (users, room_ids) = prepared?;

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
    let mut members: HashMap<RoomId, u64> = HashMap::new();
    for i in 0..s.users {
        for room in s.rooms_of(&room_ids, i) {
            *members.entry(room).or_default() += 1;
        }
    }
    let shared = Arc::new(user::Shared {
        members,
        expected: Default::default(),
        epoch: Instant::now(),
        connecting: tokio::sync::Semaphore::new(s.setup_concurrency.max(1)),
        midnight: tokio::sync::Barrier::new(s.users + 1),
        stop: stop_rx,
        acked: Default::default(),
        settled: Default::default(),
        delivered: Default::default(),
        progress: progress.clone(),
        run_tag: format!("{:x}", std::time::UNIX_EPOCH.elapsed()?.as_millis()),
        window: s.window.max(1),
        send_gap,
        messages: s.messages,
        user_stream: s.user_stream,
    });
    eprintln!("setup: connecting and subscribing");
    let tasks: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, user)| {
            let rooms = s.rooms_of(&room_ids, i);
            tokio::spawn(user::run(shared.clone(), i, user.clone(), rooms))
        })
        .collect();
    if timeout_at(deadline, shared.midnight.wait()).await.is_err() {
        report.setup_secs = setup_started.elapsed().as_secs_f64();
        cut_short(&mut report, "connecting");
        let outcomes = hand_in(tasks, Instant::now(), s.messages).await;
        report.count(&outcomes, &shared.members);
        return Ok(report);
    }
    report.setup_secs = setup_started.elapsed().as_secs_f64();
    let burst_started = Instant::now();
    let cpu_at_midnight = (cpu::used(None), cpu::used_by(&s.server_pids));

    let mut settled_at = None;
    let mut drain_until = None;
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let settled = shared.settled.load(Ordering::Relaxed);
        if settled == total && settled_at.is_none() {
            settled_at = Some(burst_started.elapsed());
            drain_until = Some(Instant::now() + Duration::from_secs(s.drain_secs));
        }
        let delivered_all = settled == total
            && shared.delivered.load(Ordering::Relaxed) >= shared.expected.load(Ordering::Relaxed);
        let drained = drain_until.is_some_and(|until| Instant::now() >= until);
        let all_failed = tasks.iter().all(|t| t.is_finished());
        if delivered_all || drained || all_failed {
            break;
        }
        if Instant::now() >= deadline {
            cut_short(&mut report, "the burst");
            break;
        }
    }
    report.burst_secs = settled_at
        .unwrap_or_else(|| burst_started.elapsed())
        .as_secs_f64();
    let since_midnight = |before: Option<Duration>, now: Option<Duration>| {
        Some(now?.saturating_sub(before?).as_secs_f64())
    };
    report.cpu = BurstCpu {
        wall_secs: burst_started.elapsed().as_secs_f64(),
        generator_secs: since_midnight(cpu_at_midnight.0, cpu::used(None)),
        server_secs: since_midnight(cpu_at_midnight.1, cpu::used_by(&s.server_pids)),
    };
    let _ = stop_tx.send(true);
    progress.finish();

    let outcomes = hand_in(tasks, Instant::now() + HAND_IN, s.messages).await;
    report.count(&outcomes, &shared.members);
    if report.timed_out {
        return Ok(report);
    }
    let rooms_of = |i: usize| s.rooms_of(&room_ids, i);
    match timeout_at(
        deadline,
        check_history(&users, &outcomes, &rooms_of, &mut report),
    )
    .await
    {
        Ok(Ok(())) => {}
        Ok(Err(err)) => report.failures.push(format!("history check: {err:#}")),
        Err(_) => cut_short(&mut report, "the history check"),
    }
    Ok(report)
}

/// Accounts, rooms and memberships, reusing what earlier runs made.
async fn prepare(s: &Scenario, server: &Api) -> anyhow::Result<(Vec<Api>, Vec<RoomId>)> {
    eprintln!("setup: signing in {} users", s.users);
    let users = setup::accounts(server, &s.prefix, s.users, s.setup_concurrency).await?;
    let rooms = setup::rooms(&users[0], &s.prefix, s.rooms).await?;
    eprintln!("setup: joining rooms");
    futures::stream::iter(users.iter().enumerate())
        .map(|(i, user)| {
            let mine = s.rooms_of(&rooms, i);
            async move { setup::join(user, &mine).await }
        })
        .buffer_unordered(s.setup_concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    // Each user on its node, with the session the first one signed in (a node of a cluster
    // knows every session).
    let users = users
        .into_iter()
        .enumerate()
        .map(|(i, user)| {
            let node = Api::new(&s.urls[i % s.urls.len()]);
            match user.cookie() {
                Some(cookie) => node.with_cookie(cookie),
                None => user,
            }
        })
        .collect();
    Ok((users, rooms))
}

/// Every user's outcome, waiting for each until `until`; a user still running then is stopped
/// and counted as failed, with its `messages` unsent.
async fn hand_in(tasks: Vec<JoinHandle<Outcome>>, until: Instant, messages: usize) -> Vec<Outcome> {
    let mut outcomes = Vec::with_capacity(tasks.len());
    for (i, mut task) in tasks.into_iter().enumerate() {
        let failed = |why: &str| Outcome {
            unsent: messages as u64,
            failure: Some(format!("user {i}: {why}")),
            ..Outcome::default()
        };
        let outcome = match timeout_at(until, &mut task).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(err)) => failed(&format!("task failed: {err}")),
            Err(_) => {
                task.abort();
                failed("still busy when the run stopped")
            }
        };
        outcomes.push(outcome);
    }
    outcomes
}

/// Every acked message is in `history` once, with the seq its ack named.
async fn check_history(
    users: &[Api],
    outcomes: &[Outcome],
    rooms_of: &dyn Fn(usize) -> Vec<RoomId>,
    report: &mut Report,
) -> anyhow::Result<()> {
    // For each room: a member and the lowest seq any subscriber started from.
    let mut rooms: BTreeMap<RoomId, (&Api, u64)> = BTreeMap::new();
    for (i, outcome) in outcomes.iter().enumerate() {
        for room in rooms_of(i) {
            let start = outcome.start_seq.get(&room).copied().unwrap_or(0);
            let entry = rooms.entry(room).or_insert((&users[i], start));
            entry.1 = entry.1.min(start);
        }
    }
    let acked: HashMap<&str, (RoomId, u64)> = outcomes
        .iter()
        .flat_map(|o| {
            o.acked
                .iter()
                .map(|a| (a.client_id.as_str(), (a.room, a.seq)))
        })
        .collect();
    let mut found: HashSet<&str> = HashSet::new();
    for (room, (member, start)) in rooms {
        let entries = member.history_after(room, start).await?;
        for message in entries.into_iter().filter_map(Entry::into_message) {
            let Some((client_id, acked_at)) = acked.get_key_value(message.client_id.as_str())
            else {
                continue;
            };
            if !found.insert(client_id) {
                report.history_duplicates += 1;
            }
            if *acked_at != (room, message.seq) {
                report.history_wrong_seq += 1;
            }
        }
    }
    report.history_missing = (acked.len() - found.len()) as u64;
    report.history_checked = true;
    Ok(())
}
