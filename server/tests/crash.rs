//! Crash and stop tests against the real `minitalk` binary: `kill -9` mid-burst, restart on the
//! same data directory, and check that nothing acked was lost or duplicated; SIGTERM mid-burst,
//! and check that every sent message was answered.
//!
//! Kill points are drawn from a seeded generator; the seed is printed, and
//! `MINITALK_CRASH_SEED=<seed>` replays a run.

mod support;

use app::model::RoomId;
use app::protocol::{Ack, ClientFrame, ServerFrame};
use app::timeline::Entry;
use minitalk_client::{Api, Socket};
use std::collections::{BTreeMap, HashMap};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::User;

const CLIENTS: usize = 4;
const MESSAGES_PER_CLIENT: usize = 2500;
const WINDOW: usize = 20;

/// A small deterministic generator (xorshift64*), so kill points replay from a seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

fn seed() -> u64 {
    let seed = std::env::var("MINITALK_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::time::UNIX_EPOCH.elapsed().unwrap().as_nanos() as u64 | 1);
    println!("crash test seed: {seed} (replay with MINITALK_CRASH_SEED={seed})");
    seed
}

struct Server {
    child: Child,
}

impl Server {
    async fn start(data_dir: &std::path::Path, addr: std::net::SocketAddr) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_minitalk"))
            .args(["--addr", &addr.to_string(), "--data-dir"])
            .arg(data_dir)
            .args(["--flush-interval-ms", "5", "--rate-limit", "0"])
            .args(["--sign-ins-per-ip-per-min", "0", "--sign-ins-per-sec", "0"])
            .args(["--room-creations-per-hour", "0"])
            .env("LEPTOS_OUTPUT_NAME", "minitalk")
            .env(
                "RUST_LOG",
                std::env::var("MINITALK_TEST_LOG").unwrap_or("warn".into()),
            )
            .stdout(if std::env::var_os("MINITALK_TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("server binary starts");
        let server = Self { child };
        for _ in 0..200 {
            if Api::at(addr).stats().await.is_ok() {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server did not come up on {addr}");
    }

    fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then waits for the exit without blocking the clients' runtime.
    async fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        for _ in 0..1500 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the server did not stop within 30 s of SIGTERM");
    }
}

impl Drop for Server {
    /// A failing test must not leave a server running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// What a client learnt: acks by client_id, and the ids it sent that got no answer.
#[derive(Default)]
struct Ledger {
    acked: HashMap<String, u64>,
    errors: HashMap<String, String>,
    sent: Vec<String>,
}

/// Sends `ids` with a window, recording answers, until all are answered, an error says to back
/// off, or the socket dies.
async fn burst(user: User, room: u64, ids: Vec<String>, ledger: Arc<Mutex<Ledger>>) {
    let Ok(mut socket) = Socket::connect(&user.api).await else {
        return;
    };
    let mut next = 0;
    let mut in_flight = 0;
    while next < ids.len() || in_flight > 0 {
        while in_flight < WINDOW && next < ids.len() {
            let send = ClientFrame::Send {
                room_id: RoomId(room),
                client_id: ids[next].clone(),
                content: ids[next].clone(),
                reply_to: None,
            };
            if socket.send(&send).await.is_err() {
                return;
            }
            ledger.lock().unwrap().sent.push(ids[next].clone());
            next += 1;
            in_flight += 1;
        }
        let Ok(Ok(frame)) = tokio::time::timeout(support::PATIENCE, socket.next_frame()).await
        else {
            return;
        };
        match frame {
            ServerFrame::Ack(Ack { client_id, seq, .. }) => {
                ledger.lock().unwrap().acked.insert(client_id, seq);
                in_flight -= 1;
            }
            ServerFrame::Error(e) => {
                let id = e.client_id.unwrap_or_default();
                ledger.lock().unwrap().errors.insert(id, e.message);
                in_flight -= 1;
                // Like a real client told to back off: send nothing new, await what is in flight.
                next = ids.len();
            }
            _ => {}
        }
    }
}

/// `CLIENTS` new users, all members of one new room.
async fn members_of_one_room(addr: std::net::SocketAddr, name: &str) -> (Vec<User>, u64) {
    let names: Vec<String> = (0..CLIENTS).map(|i| format!("{name}{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    support::members_of(addr, &names, name).await
}

/// One burst task per user, each sending `MESSAGES_PER_CLIENT` ids `{tag}c{user}-m{i}`.
fn start_bursts(
    users: &[User],
    room: u64,
    tag: &str,
) -> (Vec<Arc<Mutex<Ledger>>>, Vec<tokio::task::JoinHandle<()>>) {
    let ledgers: Vec<_> = users
        .iter()
        .map(|_| Arc::new(Mutex::new(Ledger::default())))
        .collect();
    let tasks = users
        .iter()
        .zip(&ledgers)
        .enumerate()
        .map(|(c, (user, ledger))| {
            let ids = (0..MESSAGES_PER_CLIENT)
                .map(|i| format!("{tag}c{c}-m{i}"))
                .collect();
            tokio::spawn(burst(user.clone(), room, ids, ledger.clone()))
        })
        .collect();
    (ledgers, tasks)
}

/// The room's whole timeline as (seq, client_id), oldest first (a join or leave is named
/// `member:` and its client_id, a rename `room:`, so every seq is there).
async fn whole_history(user: &User, room: u64) -> Vec<(u64, String)> {
    let all = user.whole_history(room).await;
    all.into_iter()
        .map(|entry| match entry {
            Entry::Message(m) => (m.seq, m.client_id),
            Entry::Member(e) => (e.seq, format!("member:{}", e.client_id)),
            Entry::Room(e) => (e.seq, format!("room:{}", e.client_id)),
            other => unreachable!("no room is deleted here: {other:?}"),
        })
        .collect()
}

/// Seqs are 1..=N in order, each client_id once; returns client_id → seq.
fn check_contiguous(history: &[(u64, String)]) -> BTreeMap<String, u64> {
    let mut by_id = BTreeMap::new();
    for (i, (seq, client_id)) in history.iter().enumerate() {
        assert_eq!(*seq, i as u64 + 1, "seqs must be contiguous and ordered");
        assert!(
            by_id.insert(client_id.clone(), *seq).is_none(),
            "{client_id} is stored twice"
        );
    }
    by_id
}

#[tokio::test]
async fn acked_messages_survive_kill_9_and_resends_are_stored_once() {
    let mut rng = Rng(seed());
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let mut server = Server::start(dir.path(), addr).await;
    let (users, room) = members_of_one_room(addr, "crash").await;

    for round in 0..3 {
        let (ledgers, tasks) = start_bursts(&users, room, &format!("r{round}-"));
        let kill_after = Duration::from_millis(50 + rng.below(800));
        tokio::time::sleep(kill_after).await;
        server.kill_9();
        for task in tasks {
            task.await.unwrap();
        }
        let acked: usize = ledgers.iter().map(|l| l.lock().unwrap().acked.len()).sum();
        println!("round {round}: killed after {kill_after:?} with {acked} acks");

        server = Server::start(dir.path(), addr).await;
        let stored = check_contiguous(&whole_history(&users[0], room).await);
        for ledger in &ledgers {
            for (client_id, seq) in &ledger.lock().unwrap().acked {
                assert_eq!(
                    stored.get(client_id),
                    Some(seq),
                    "acked {client_id} lost or moved"
                );
            }
        }

        // Every client reconnects and resends everything it sent but saw no ack for.
        let resends: Vec<_> = users
            .iter()
            .zip(&ledgers)
            .map(|(user, ledger)| {
                let unanswered: Vec<String> = {
                    let l = ledger.lock().unwrap();
                    l.sent
                        .iter()
                        .filter(|id| !l.acked.contains_key(*id))
                        .cloned()
                        .collect()
                };
                let after = Arc::new(Mutex::new(Ledger::default()));
                tokio::spawn(burst(user.clone(), room, unanswered, after.clone()));
                after
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut polls = 0;
        let stored = loop {
            polls += 1;
            assert!(
                polls <= 200,
                "resent messages were not all stored within 20 s"
            );
            let stored = check_contiguous(&whole_history(&users[0], room).await);
            let done = ledgers.iter().all(|l| {
                l.lock()
                    .unwrap()
                    .sent
                    .iter()
                    .all(|id| stored.contains_key(id))
            });
            if done {
                break stored;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        for resend in resends {
            assert!(resend.lock().unwrap().errors.is_empty());
        }
        let sent: usize = ledgers.iter().map(|l| l.lock().unwrap().sent.len()).sum();
        assert!(stored.len() >= sent);
    }
    server.terminate().await;
}

#[tokio::test]
async fn sigterm_mid_burst_answers_every_sent_message() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let server = Server::start(dir.path(), addr).await;
    let (users, room) = members_of_one_room(addr, "term").await;
    let (ledgers, tasks) = start_bursts(&users, room, "");
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        server.terminate().await.success(),
        "a graceful stop exits 0"
    );
    for task in tasks {
        task.await.unwrap();
    }

    let server = Server::start(dir.path(), addr).await;
    let stored = check_contiguous(&whole_history(&users[0], room).await);
    for ledger in &ledgers {
        let ledger = ledger.lock().unwrap();
        let unanswered: Vec<_> = ledger
            .sent
            .iter()
            .filter(|id| !ledger.acked.contains_key(*id) && !ledger.errors.contains_key(*id))
            .collect();
        assert!(
            unanswered.is_empty(),
            "sent {}, acked {}, errors {:?}, never answered: {unanswered:?}, of which stored: {:?}",
            ledger.sent.len(),
            ledger.acked.len(),
            ledger.errors,
            unanswered
                .iter()
                .filter(|id| stored.contains_key(**id))
                .collect::<Vec<_>>()
        );
        for (id, seq) in &ledger.acked {
            assert_eq!(stored.get(id), Some(seq));
        }
    }
    server.terminate().await;
}
