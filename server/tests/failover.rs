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
use std::collections::{BTreeMap, BTreeSet};
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

/// What the burst saw: acks by client_id, and each listener's entries (seq → client_id).
#[derive(Default)]
struct Seen {
    acked: BTreeMap<String, u64>,
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
    let nodes = Nodes(Arc::new(Mutex::new(
        running.iter().map(|n| (n.addr, true)).collect(),
    )));
    let names: Vec<String> = (0..6).map(|i| format!("user{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (users, room) = support::members_of(running[0].addr, &refs, "burst").await;
    let room = RoomId(room);
    let (per_user, kill_after) = (40, 60);

    let done = Arc::new(Mutex::new(None));
    let listeners: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, user)| {
            tokio::spawn(listener(
                user.api.clone(),
                nodes.clone(),
                i % 3,
                room,
                done.clone(),
            ))
        })
        .collect();
    let senders: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, user)| {
            let name = user.name.clone();
            tokio::spawn(sender(
                user.api.clone(),
                nodes.clone(),
                i % 3,
                room,
                name,
                per_user,
            ))
        })
        .collect();
    // Mid-burst: once the room holds `kill_after` messages, node 2 dies at once.
    let admin = users[0].api.clone();
    let started = Instant::now();
    loop {
        let entries = admin.history_after(room, 0).await.unwrap();
        if entries.len() >= kill_after {
            assert!(
                entries.len() < users.len() * per_user,
                "mid-burst, not after it"
            );
            break;
        }
        assert!(started.elapsed() < DEADLINE, "the burst never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    nodes.kill(2);
    running[2].child.kill().unwrap();
    running[2].child.wait().unwrap();
    finish(
        &admin,
        room,
        users.len() * per_user,
        senders,
        listeners,
        done,
    )
    .await;
}

type Senders = Vec<tokio::task::JoinHandle<BTreeMap<String, u64>>>;
type Listeners = Vec<tokio::task::JoinHandle<Vec<(u64, Option<String>)>>>;

/// Waits for the burst to end and checks what it promised: `total` messages acked, each
/// stored once at its acked seq, the room's seqs dense, every listener gapless and in order,
/// and nothing delivered that is not stored.
async fn finish(
    admin: &Api,
    room: RoomId,
    total: usize,
    senders: Senders,
    listeners: Listeners,
    done: Arc<Mutex<Option<u64>>>,
) {
    let mut seen = Seen::default();
    for sender in senders {
        seen.acked.extend(sender.await.unwrap());
    }
    let stored = admin.history_after(room, 0).await.unwrap();
    let head = stored.last().map(Entry::seq).unwrap();
    *done.lock().unwrap() = Some(head);

    // Every acked message is stored once, at the seq its ack named.
    assert_eq!(seen.acked.len(), total);
    let mut stored_ids = BTreeMap::new();
    for entry in &stored {
        if let Entry::Message(m) = entry {
            let again = stored_ids.insert(m.client_id.clone(), m.seq);
            assert!(again.is_none(), "{} stored twice", m.client_id);
        }
    }
    assert_eq!(
        seen.acked, stored_ids,
        "acks name what is stored, and all of it"
    );
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
    let ids: BTreeSet<&String> = seen.acked.keys().collect();
    assert_eq!(ids.len(), total);
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
    let nodes = Nodes(Arc::new(Mutex::new(
        running.iter().map(|n| (n.addr, true)).collect(),
    )));
    let names: Vec<String> = (0..4).map(|i| format!("user{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (users, room) = support::members_of(running[0].addr, &refs, "burst").await;
    let room = RoomId(room);
    let per_user = 40;
    let done = Arc::new(Mutex::new(None));
    let listeners: Listeners = users
        .iter()
        .enumerate()
        .map(|(i, user)| {
            tokio::spawn(listener(
                user.api.clone(),
                nodes.clone(),
                i % 2,
                room,
                done.clone(),
            ))
        })
        .collect();
    let senders: Senders = users
        .iter()
        .enumerate()
        .map(|(i, user)| {
            let name = user.name.clone();
            tokio::spawn(sender(
                user.api.clone(),
                nodes.clone(),
                i % 2,
                room,
                name,
                per_user,
            ))
        })
        .collect();
    let admin = users[0].api.clone();
    let started = Instant::now();
    while admin.history_after(room, 0).await.unwrap().len() < 40 {
        assert!(started.elapsed() < DEADLINE, "the burst never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    postgres(&["kill", &dir_arg]);
    for node in &running {
        assert_eq!(
            ready(node.addr).await,
            Some(503),
            "not ready without its database"
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    postgres(&["start", &dir_arg, &port]);
    finish(
        &admin,
        room,
        users.len() * per_user,
        senders,
        listeners,
        done,
    )
    .await;
    for node in &running {
        assert_eq!(ready(node.addr).await, Some(200));
    }
}
