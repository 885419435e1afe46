//! The cost of storing a batch, against the history already stored: Minitalk's append-only log
//! versus the design it replaces (read the whole messages file, append, rewrite it).
//!
//! Run with `cargo bench -p server --bench store`. After criterion's own report it prints a
//! markdown table of medians and the old/new ratio. The log's cost should stay flat as history
//! grows from 10k to 1M messages; the old design's grows with it.

use app::model::{ChatMessage, ClientId, MessageBody, RoomId, Username};
use app::timeline::Entry;
use criterion::{BatchSize, BenchmarkId, Criterion};
use minitalk_server::store::file::log::{LogConfig, MessageLog};
use minitalk_server::store::{Body, NewEntry};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

const HISTORY: [usize; 3] = [10_000, 100_000, 1_000_000];
const BATCHES: [usize; 4] = [1, 10, 100, 1000];
const ROOMS: u64 = 200;

fn new_message(i: usize) -> NewEntry {
    NewEntry {
        room_id: RoomId(i as u64 % ROOMS),
        sender: Username::parse("ana").expect("valid name"),
        client_id: ClientId::parse(&format!("bench-{i}")).expect("valid client id"),
        body: Body::Text(
            MessageBody::parse(
                "Happy New Year! See you all at midnight, the fireworks start at twelve.",
            )
            .expect("valid body"),
        ),
        ts: 1_798_761_600_000 + i as i64,
    }
}

fn batch(size: usize) -> Vec<NewEntry> {
    (0..size).map(new_message).collect()
}

/// A log holding `history` messages.
fn log_with(dir: &Path, history: usize) -> MessageLog {
    let log = MessageLog::open(dir, LogConfig::default())
        .expect("log opens")
        .log;
    for start in (0..history).step_by(10_000) {
        let end = (start + 10_000).min(history);
        log.append((start..end).map(new_message).collect())
            .expect("append");
    }
    log
}

/// The old design: the whole history as one JSON array in one file.
fn old_store(path: &Path, history: usize) {
    let all: Vec<ChatMessage> = (0..history).map(|i| stored(new_message(i), i)).collect();
    fs::write(path, serde_json::to_vec(&all).expect("serializes")).expect("write");
}

fn stored(new: NewEntry, i: usize) -> ChatMessage {
    match new.into_entry(i as u64 + 1, i as u64 + 1) {
        Entry::Message(message) => message,
        _ => unreachable!("the benchmark stores only messages"),
    }
}

/// The old design's write: read everything, append, write a temp file, fsync, rename.
fn old_append(path: &Path, batch: Vec<NewEntry>) {
    let mut all: Vec<ChatMessage> =
        serde_json::from_slice(&fs::read(path).expect("read")).expect("parse");
    let base = all.len();
    all.extend(
        batch
            .into_iter()
            .enumerate()
            .map(|(i, m)| stored(m, base + i)),
    );
    let tmp = path.with_extension("tmp");
    let mut file = fs::File::create(&tmp).expect("create");
    file.write_all(&serde_json::to_vec(&all).expect("serializes"))
        .expect("write");
    file.sync_all().expect("fsync");
    fs::rename(&tmp, path).expect("rename");
}

fn bench_log(c: &mut Criterion) {
    let mut group = c.benchmark_group("log_append");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    for history in HISTORY {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = log_with(dir.path(), history);
        for size in BATCHES {
            group.bench_with_input(
                BenchmarkId::new(format!("batch{size}"), history),
                &size,
                |b, &size| {
                    b.iter_batched(
                        || batch(size),
                        |batch| log.append(batch).expect("append"),
                        BatchSize::SmallInput,
                    )
                },
            );
        }
    }
    group.finish();
}

fn bench_old(c: &mut Criterion) {
    let mut group = c.benchmark_group("old_rewrite");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    for history in HISTORY {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("messages.json");
        old_store(&path, history);
        for size in [1, 100] {
            group.bench_with_input(
                BenchmarkId::new(format!("batch{size}"), history),
                &size,
                |b, &size| {
                    b.iter_batched(
                        || batch(size),
                        |batch| old_append(&path, batch),
                        BatchSize::SmallInput,
                    )
                },
            );
        }
    }
    group.finish();
}

/// Criterion's median estimate for one benchmark, in milliseconds.
fn median_ms(group: &str, function: &str, history: usize) -> Option<f64> {
    let path = format!("../target/criterion/{group}/{function}/{history}/new/estimates.json");
    let estimates: serde_json::Value = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
    Some(estimates["median"]["point_estimate"].as_f64()? / 1e6)
}

fn print_table() {
    println!("\n| history | batch | log append (median) | old rewrite (median) | old / log |");
    println!("|---:|---:|---:|---:|---:|");
    for history in HISTORY {
        for size in BATCHES {
            let new = median_ms("log_append", &format!("batch{size}"), history);
            let old = median_ms("old_rewrite", &format!("batch{size}"), history);
            let cell = |v: Option<f64>| v.map_or("–".to_owned(), |ms| format!("{ms:.3} ms"));
            let ratio = match (new, old) {
                (Some(new), Some(old)) => format!("{:.0}×", old / new),
                _ => "–".to_owned(),
            };
            println!(
                "| {history} | {size} | {} | {} | {ratio} |",
                cell(new),
                cell(old)
            );
        }
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench_log(&mut criterion);
    bench_old(&mut criterion);
    criterion.final_summary();
    print_table();
}
