//! Nodes as real processes on one PostgreSQL database, and what happens when one of them, or the
//! database, dies mid-burst: every acknowledged message is stored once, every subscriber sees
//! its room gapless and in order, nothing is delivered that is not stored, and no node acks
//! what the database did not commit.
//!
//! Clients behave as the browser's does: a socket that closes is opened again on another node
//! (here: the next one alive), the room is subscribed again from the last seq seen, and a send
//! without an answer is sent again with the same client_id.

mod support;

use app::model::RoomId;
use app::protocol::{ClientFrame, ErrorCode, ServerFrame};
use app::timeline::Entry;
use minitalk_client::{Api, Socket};
use minitalk_server::store::postgres::scratch;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest any step waits; every loop below is bounded by it.
const DEADLINE: Duration = Duration::from_secs(60);

struct Node {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `minitalk` process on `url`, once it says it is ready.
async fn node(url: &str) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", scratch::free_port())
        .parse()
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_minitalk"))
        .args(["--addr", &addr.to_string(), "--database-url", url])
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--search", "false", "--flush-interval-ms", "5"])
        .args(["--sign-ins-per-ip-per-min", "0", "--sign-ins-per-sec", "0"])
        .args([
            "--membership-changes-per-min",
            "0",
            "--room-creations-per-hour",
            "0",
        ])
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .expect("the minitalk binary starts");
    let started = Instant::now();
    while ready(addr).await != Some(200) {
        assert!(
            started.elapsed() < DEADLINE,
            "node {addr} never became ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Node {
        child,
        addr,
        _dir: dir,
    }
}

async fn ready(addr: SocketAddr) -> Option<u16> {
    let response = reqwest::get(format!("http://{addr}/readyz")).await.ok()?;
    Some(response.status().as_u16())
}

/// The nodes a client may use, and which are alive.
#[derive(Clone)]
struct Nodes(Arc<Mutex<Vec<(SocketAddr, bool)>>>);

impl Nodes {
    /// The first node alive at or after `from` (wrapping).
    fn alive_from(&self, from: usize) -> (usize, SocketAddr) {
        let nodes = self.0.lock().unwrap();
        (0..nodes.len())
            .map(|i| (from + i) % nodes.len())
            .find(|i| nodes[*i].1)
            .map(|i| (i, nodes[i].0))
            .expect("a node alive")
    }

    fn kill(&self, i: usize) {
        self.0.lock().unwrap()[i].1 = false;
    }
}

async fn open(api: &Api, nodes: &Nodes, from: usize) -> (usize, Socket) {
    let started = Instant::now();
    loop {
        let (i, addr) = nodes.alive_from(from);
        let cookie = api.cookie().expect("signed in");
        if let Ok(socket) = Socket::connect(&Api::at(addr).with_cookie(cookie)).await {
            return (i, socket);
        }
        assert!(started.elapsed() < DEADLINE, "no node takes a socket");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `count` messages one after another, each until it is acked, failing over to the next
/// node alive when its socket dies; returns client_id → acked seq.
async fn sender(
    api: Api,
    nodes: Nodes,
    home: usize,
    room: RoomId,
    name: String,
    count: usize,
) -> BTreeMap<String, u64> {
    let (mut at, mut socket) = open(&api, &nodes, home).await;
    let mut acked = BTreeMap::new();
    let started = Instant::now();
    for k in 0..count {
        let client_id = format!("{name}-{k}");
        let frame = ClientFrame::Send {
            room_id: room,
            client_id: client_id.as_str().into(),
            content: format!("{name} says {k}"),
            reply_to: None,
        };
        'attempt: loop {
            assert!(started.elapsed() < DEADLINE, "{client_id} never acked");
            if socket.send(&frame).await.is_err() {
                (at, socket) = open(&api, &nodes, at + 1).await;
                continue;
            }
            loop {
                let next = tokio::time::timeout(Duration::from_secs(5), socket.next_frame()).await;
                match next {
                    Ok(Ok(ServerFrame::Ack(ack))) if ack.client_id == client_id => {
                        acked.insert(client_id.clone(), ack.seq);
                        break 'attempt;
                    }
                    Ok(Ok(ServerFrame::Error(e))) if e.client_id.as_deref() == Some(&client_id) => {
                        // Overloaded, shutting down, or the store failed: nothing was stored
                        // under an ack; the same message goes again.
                        assert_ne!(e.code, ErrorCode::Invalid, "{e:?}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue 'attempt;
                    }
                    Ok(Ok(_)) => {}
                    // Closed, broken, or silent: another node.
                    _ => {
                        (at, socket) = open(&api, &nodes, at + 1).await;
                        continue 'attempt;
                    }
                }
            }
        }
    }
    acked
}

/// Follows `room` from its start until it has seen `until` (read from `done` once the senders
/// finished), resubscribing from its last seq on another node when its socket dies; returns
/// every entry it was sent, in order.
async fn listener(
    api: Api,
    nodes: Nodes,
    home: usize,
    room: RoomId,
    done: Arc<Mutex<Option<u64>>>,
) -> Vec<(u64, Option<String>)> {
    let mut got: Vec<(u64, Option<String>)> = Vec::new();
    let started = Instant::now();
    let (mut at, mut socket) = open(&api, &nodes, home).await;
    let mut subscribed = false;
    loop {
        assert!(started.elapsed() < DEADLINE, "the listener never caught up");
        let last = got.last().map(|(seq, _)| *seq);
        if let Some(head) = *done.lock().unwrap() {
            if last >= Some(head) {
                return got;
            }
        }
        if !subscribed {
            let frame = ClientFrame::Subscribe {
                room_id: room,
                after_seq: Some(last.unwrap_or(0)),
            };
            if socket.send(&frame).await.is_err() {
                (at, socket) = open(&api, &nodes, at + 1).await;
                continue;
            }
            subscribed = true;
        }
        match tokio::time::timeout(Duration::from_millis(500), socket.next_frame()).await {
            Ok(Ok(ServerFrame::Message(m))) => got.push((m.seq, Some(m.client_id))),
            Ok(Ok(ServerFrame::Member(e))) => got.push((e.seq, None)),
            // The store failed while catching up: subscribe again, as the browser does.
            Ok(Ok(ServerFrame::Error(e))) if e.code == ErrorCode::Internal => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                subscribed = false;
            }
            Ok(Ok(ServerFrame::Error(e))) => panic!("the listener was refused: {e:?}"),
            Ok(Ok(_)) | Err(_) => {}
            Ok(Err(_)) => {
                (at, socket) = open(&api, &nodes, at + 1).await;
                subscribed = false;
            }
        }
    }
}

/// Three nodes; users on each send a burst to one room while listeners on each follow it;
/// node 2 is killed (`kill -9`) mid-burst.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_node_mid_burst_loses_duplicates_and_reorders_nothing() {
    let url = scratch::fresh_database().await;
    let mut running = Vec::new();
    for _ in 0..3 {
        running.push(node(&url).await);
    }
    let burst = Burst::start(&running, 6, 40).await;
    // Mid-burst: once the room holds 60 entries, node 2 dies at once.
    let stored = burst.until_stored(60).await;
    assert!(stored < burst.total, "mid-burst, not after it");
    burst.nodes.kill(2);
    running[2].child.kill().unwrap();
    running[2].child.wait().unwrap();
    burst.finish().await;
}

type Senders = Vec<tokio::task::JoinHandle<BTreeMap<String, u64>>>;
type Listeners = Vec<tokio::task::JoinHandle<Vec<(u64, Option<String>)>>>;

/// A burst under way: users, each sending `per_user` messages to one room through node
/// `i % nodes` and listening to it there, failing over when their node dies.
struct Burst {
    nodes: Nodes,
    /// The first user's session on the first node: the history check reads through it.
    admin: Api,
    room: RoomId,
    total: usize,
    senders: Senders,
    listeners: Listeners,
    /// The room's head once the senders are done: the listeners stop there.
    done: Arc<Mutex<Option<u64>>>,
}

impl Burst {
    async fn start(running: &[Node], users: usize, per_user: usize) -> Self {
        let nodes = Nodes(Arc::new(Mutex::new(
            running.iter().map(|n| (n.addr, true)).collect(),
        )));
        let names: Vec<String> = (0..users).map(|i| format!("user{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let (users, room) = support::members_of(running[0].addr, &refs, "burst").await;
        let room = RoomId(room);
        let done = Arc::new(Mutex::new(None));
        let mut listeners = Vec::new();
        let mut senders = Vec::new();
        for (i, user) in users.iter().enumerate() {
            let (api, home) = (user.api.clone(), i % running.len());
            let listening = listener(api.clone(), nodes.clone(), home, room, done.clone());
            listeners.push(tokio::spawn(listening));
            let sending = sender(api, nodes.clone(), home, room, user.name.clone(), per_user);
            senders.push(tokio::spawn(sending));
        }
        Self {
            nodes,
            admin: users[0].api.clone(),
            room,
            total: users.len() * per_user,
            senders,
            listeners,
            done,
        }
    }

    /// Waits (bounded) until the room holds at least `entries`; answers how many it holds.
    async fn until_stored(&self, entries: usize) -> usize {
        let started = Instant::now();
        loop {
            let held = self.admin.history_after(self.room, 0).await.unwrap().len();
            if held >= entries {
                return held;
            }
            assert!(started.elapsed() < DEADLINE, "the burst never got going");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the burst to end and checks what it promised: every message acked, each
    /// stored once at its acked seq, the room's seqs dense, every listener gapless and in
    /// order, and nothing delivered that is not stored.
    async fn finish(self) {
        let Self {
            admin,
            room,
            total,
            senders,
            listeners,
            done,
            ..
        } = self;
        // client_id → the seq its ack named.
        let mut acked = BTreeMap::new();
        for sender in senders {
            acked.extend(sender.await.unwrap());
        }
        let stored = admin.history_after(room, 0).await.unwrap();
        let head = stored.last().map(Entry::seq).unwrap();
        *done.lock().unwrap() = Some(head);

        // Every acked message is stored once, at the seq its ack named.
        assert_eq!(acked.len(), total);
        let mut stored_ids = BTreeMap::new();
        for entry in &stored {
            if let Entry::Message(m) = entry {
                let again = stored_ids.insert(m.client_id.clone(), m.seq);
                assert!(again.is_none(), "{} stored twice", m.client_id);
            }
        }
        assert_eq!(acked, stored_ids, "acks name what is stored, and all of it");
        let seqs: Vec<u64> = stored.iter().map(Entry::seq).collect();
        assert_eq!(
            seqs,
            (1..=head).collect::<Vec<_>>(),
            "the room's seqs are dense"
        );

        // Every listener saw the room gapless and in order, and only what is stored.
        let by_seq: BTreeMap<u64, Option<String>> = stored
            .iter()
            .map(|e| (e.seq(), e.clone().into_message().map(|m| m.client_id)))
            .collect();
        for (i, listener) in listeners.into_iter().enumerate() {
            let got = listener.await.unwrap();
            let seqs: Vec<u64> = got.iter().map(|(seq, _)| *seq).collect();
            let first = seqs[0];
            assert_eq!(seqs, (first..=head).collect::<Vec<_>>(), "listener {i}");
            for (seq, client_id) in got {
                assert_eq!(
                    by_seq.get(&seq),
                    Some(&client_id),
                    "listener {i}: no phantom"
                );
            }
        }
    }
}

/// Two nodes on a PostgreSQL of the test's own, which is stopped as a crash would stop it
/// mid-burst and started again a moment later: meanwhile the nodes answer errors (and say they
/// are not ready), never acks; afterwards they carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_postgresql_mid_burst_acks_nothing_it_did_not_commit() {
    let dir = std::env::temp_dir().join(format!("minitalk-pg-kill-{}", std::process::id()));
    let port = scratch::free_port().to_string();
    let script = scratch::script();
    let postgres = |args: &[&str]| {
        let out = Command::new("bash")
            .arg(&script)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let pid = std::process::id().to_string();
    let dir_arg = dir.to_string_lossy().into_owned();
    let url = postgres(&["start", &dir_arg, &port, &pid]);
    let running = [node(&url).await, node(&url).await];
    let burst = Burst::start(&running, 4, 40).await;
    burst.until_stored(40).await;
    postgres(&["kill", &dir_arg]);
    // Readiness is read at most once a second: within a few, each node says it is not ready.
    for node in &running {
        until_ready_is(node.addr, 503).await;
    }
    postgres(&["start", &dir_arg, &port]);
    burst.finish().await;
    for node in &running {
        until_ready_is(node.addr, 200).await;
    }
}

/// Waits (bounded) until `/readyz` answers `status`.
async fn until_ready_is(addr: SocketAddr, status: u16) {
    let started = Instant::now();
    while ready(addr).await != Some(status) {
        assert!(
            started.elapsed() < DEADLINE,
            "{addr} never answered {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
