//! What a run measured and what it checked, as a table for people and JSON for scripts.
//!
//! A report is always printed, however the run ended: a run stopped by its deadline still shows
//! every ack, delivery and latency measured until then, and says what was left undone (never
//! sent, sent but unanswered, given up) and which phase the deadline cut short.

use crate::user::Outcome;
use app::model::percentile;
use app::model::RoomId;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

#[derive(Debug, Default, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
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
pub struct BurstCpu {
    pub wall_secs: f64,
    pub generator_secs: Option<f64>,
    pub server_secs: Option<f64>,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub users: usize,
    pub rooms: usize,
    pub messages_per_user: usize,
    pub setup_secs: f64,
    pub burst_secs: f64,
    /// Messages the scenario calls for (users × messages).
    pub sent: u64,
    pub acked: u64,
    pub acked_per_sec: f64,
    pub deliveries: u64,
    pub expected_deliveries: u64,
    pub deliveries_per_sec: f64,
    pub ack_ms: Latency,
    pub delivery_ms: Latency,
    pub errors: BTreeMap<String, u64>,
    /// Sent, but neither acked nor given up when the run stopped.
    pub unanswered: u64,
    /// Refused for good, or refused as often as a message may be; no longer sent.
    pub given_up: u64,
    /// Never sent: the run stopped first.
    pub unsent: u64,
    /// Users that stopped early, and why (the first few).
    pub failed_users: u64,
    pub failures: Vec<String>,
    pub lost: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    /// Whether every room was read back through `history` (not when the deadline came first).
    pub history_checked: bool,
    pub history_missing: u64,
    pub history_duplicates: u64,
    pub history_wrong_seq: u64,
    pub cpu: BurstCpu,
    /// Room rows the user streams sent during the run (0 without `--user-stream`).
    pub room_rows: u64,
    pub timed_out: bool,
    /// The phase the deadline cut short, when it did.
    pub timed_out_during: Option<&'static str>,
}

/// How many users' failures a report names.
const FAILURES_NAMED: usize = 5;

impl Report {
    pub fn passed(&self) -> bool {
        !self.timed_out
            && self.history_checked
            && self.lost == 0
            && self.duplicates == 0
            && self.out_of_order == 0
            && self.history_missing == 0
            && self.history_duplicates == 0
            && self.history_wrong_seq == 0
            && self.unanswered == 0
            && self.given_up == 0
            && self.unsent == 0
            && self.failed_users == 0
    }

    /// Adds loss, duplicates, order and latencies from what every user acked and received.
    pub fn count(&mut self, outcomes: &[Outcome], members: &HashMap<RoomId, u64>) {
        let mut ack_ms = Vec::new();
        let mut delivery_ms = Vec::new();
        // Per room: (seq, sender index) of every acked message.
        let mut acked: HashMap<RoomId, Vec<(u64, usize)>> = HashMap::new();
        for (sender, outcome) in outcomes.iter().enumerate() {
            for a in &outcome.acked {
                ack_ms.push(a.ack_ms);
                acked.entry(a.room).or_default().push((a.seq, sender));
                self.expected_deliveries += members[&a.room].saturating_sub(1);
            }
            delivery_ms.extend_from_slice(&outcome.delivery_ms);
            self.duplicates += outcome.duplicates;
            self.out_of_order += outcome.out_of_order;
            self.unanswered += outcome.unanswered;
            self.given_up += outcome.given_up;
            self.unsent += outcome.unsent;
            self.room_rows += outcome.room_rows;
            for (code, n) in &outcome.errors {
                *self.errors.entry((*code).to_owned()).or_default() += n;
            }
            if let Some(failure) = &outcome.failure {
                self.failed_users += 1;
                if self.failures.len() < FAILURES_NAMED {
                    self.failures.push(failure.clone());
                }
            }
        }
        self.acked = ack_ms.len() as u64;
        self.deliveries = delivery_ms.len() as u64;
        for (receiver, outcome) in outcomes.iter().enumerate() {
            for (room, start) in &outcome.start_seq {
                let seen = outcome.seen.get(room);
                self.lost += acked
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
        self.ack_ms = Latency::of(&ack_ms);
        self.delivery_ms = Latency::of(&delivery_ms);
        self.acked_per_sec = self.acked as f64 / self.burst_secs.max(1e-9);
        self.deliveries_per_sec = self.deliveries as f64 / self.burst_secs.max(1e-9);
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self;
        writeln!(f, "## Minitalk New Year burst")?;
        writeln!(f)?;
        writeln!(f, "| figure | value |")?;
        writeln!(f, "|---|---|")?;
        writeln!(
            f,
            "| users × messages | {} × {} in {} rooms |",
            r.users, r.messages_per_user, r.rooms
        )?;
        if let Some(phase) = r.timed_out_during {
            writeln!(
                f,
                "| deadline | reached during {phase}: figures are what was measured until then |"
            )?;
        }
        writeln!(f, "| setup | {:.1} s |", r.setup_secs)?;
        writeln!(f, "| burst (midnight → last ack) | {:.2} s |", r.burst_secs)?;
        writeln!(
            f,
            "| acked | {} of {} ({:.0}/s) |",
            r.acked, r.sent, r.acked_per_sec
        )?;
        writeln!(
            f,
            "| deliveries | {} of {} ({:.0}/s) |",
            r.deliveries, r.expected_deliveries, r.deliveries_per_sec
        )?;
        let l = &r.ack_ms;
        writeln!(
            f,
            "| ack latency ms p50/p90/p99/max | {:.1} / {:.1} / {:.1} / {:.1} |",
            l.p50, l.p90, l.p99, l.max
        )?;
        let l = &r.delivery_ms;
        writeln!(
            f,
            "| delivery latency ms p50/p99/max | {:.1} / {:.1} / {:.1} |",
            l.p50, l.p99, l.max
        )?;
        writeln!(f, "| errors | {:?} |", r.errors)?;
        if r.room_rows > 0 {
            writeln!(f, "| user stream rows received | {} |", r.room_rows)?;
        }
        writeln!(
            f,
            "| given up / unanswered / never sent | {} / {} / {} |",
            r.given_up, r.unanswered, r.unsent
        )?;
        if r.failed_users > 0 {
            writeln!(
                f,
                "| users that failed | {}: {} |",
                r.failed_users,
                r.failures.join("; ")
            )?;
        }
        writeln!(
            f,
            "| lost / duplicated / out of order | {} / {} / {} |",
            r.lost, r.duplicates, r.out_of_order
        )?;
        if r.history_checked {
            writeln!(
                f,
                "| history: missing / duplicated / wrong seq | {} / {} / {} |",
                r.history_missing, r.history_duplicates, r.history_wrong_seq
            )?;
        } else {
            writeln!(f, "| history | not checked |")?;
        }
        let secs = |t: Option<f64>| t.map_or("?".to_owned(), |t| format!("{t:.2} s"));
        writeln!(
            f,
            "| CPU from midnight to the last delivery ({:.2} s) | generator {}, server {} |",
            r.cpu.wall_secs,
            secs(r.cpu.generator_secs),
            secs(r.cpu.server_secs)
        )?;
        writeln!(
            f,
            "| verdict | {} |",
            if r.passed() { "PASS" } else { "FAIL" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::Acked;

    #[test]
    fn a_run_cut_short_reports_what_it_measured_and_what_it_left_undone() {
        let mut report = Report {
            users: 2,
            rooms: 1,
            messages_per_user: 3,
            sent: 6,
            burst_secs: 1.0,
            timed_out: true,
            timed_out_during: Some("the burst"),
            ..Report::default()
        };
        let room = RoomId(1);
        let acked = Outcome {
            acked: vec![Acked {
                room,
                seq: 1,
                client_id: "a".into(),
                ack_ms: 4.0,
            }],
            start_seq: HashMap::from([(room, 0)]),
            unanswered: 1,
            unsent: 1,
            ..Outcome::default()
        };
        let waiting = Outcome {
            start_seq: HashMap::from([(room, 0)]),
            seen: HashMap::from([(room, [1].into())]),
            delivery_ms: vec![5.0],
            given_up: 1,
            unsent: 2,
            ..Outcome::default()
        };
        report.count(&[acked, waiting], &HashMap::from([(room, 2)]));
        assert_eq!((report.acked, report.deliveries), (1, 1));
        assert_eq!(report.ack_ms.p50, 4.0);
        assert_eq!(
            (report.given_up, report.unanswered, report.unsent),
            (1, 1, 3)
        );
        let text = report.to_string();
        assert!(
            text.contains("| users × messages | 2 × 3 in 1 rooms |"),
            "{text}"
        );
        assert!(text.contains("reached during the burst"), "{text}");
        assert!(text.contains("| acked | 1 of 6 (1/s) |"), "{text}");
        assert!(
            text.contains("| given up / unanswered / never sent | 1 / 1 / 3 |"),
            "{text}"
        );
        assert!(text.contains("| history | not checked |"), "{text}");
        assert!(text.contains("FAIL"), "{text}");
    }
}
