//! Memory after a flood: what a member who floods a room with the largest messages, then pages
//! through all of them, leaves behind in the server.
//!
//! Measured as the resident memory of this process, which runs the server; this file holds one
//! test so no other test's allocations run beside it.

mod support;

use app::model::RoomId;
use support::{ack_seq, register, start};

/// Resident memory of this process, in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .expect("VmRSS in /proc/self/status")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

const MIB: u64 = 1024 * 1024;
/// `--history-cache-mb` for this test.
const CACHE_MB: u64 = 4;
/// Messages flooded: 6,000 of 8,000 bytes, 48 MB of distinct text, twelve times the cache.
const FLOOD: usize = 6_000;
/// Sends in flight at once.
const WINDOW: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_through_a_flood_of_big_messages_keeps_memory_within_the_history_cache_budget() {
    let dir = tempfile::tempdir().unwrap();
    let cache_mb = CACHE_MB.to_string();
    let server = start(
        dir.path(),
        &[
            "--history-cache-mb",
            &cache_mb,
            "--rate-limit",
            "0",
            "--cache-ttl-ms",
            "3600000",
        ],
    )
    .await;
    let mallory = register(server.addr, "mallory").await;
    let room = mallory.create_room("flooded").await;

    // The flood: the largest messages a member may send (4,000 two-byte characters), each one
    // different, so no two history pages share text.
    let mut socket = mallory.connect().await;
    let body = "é".repeat(3_990);
    let mut acked = 0;
    for sent in 0..FLOOD {
        socket
            .send(room, &format!("c{sent}"), &format!("{sent:09}{body}"))
            .await;
        if sent + 1 >= WINDOW {
            ack_seq(&socket.next().await);
            acked += 1;
        }
    }
    while acked < FLOOD {
        ack_seq(&socket.next().await);
        acked += 1;
    }
    drop(socket);

    // Page through everything, newest first, as a client scrolling back would, twice (the
    // second pass meets whatever the first left cached). A cache that kept every page would
    // now hold the whole flood.
    let before = resident_bytes();
    for _ in 0..2 {
        let mut before_seq = FLOOD as u64 + 1;
        while before_seq > 1 {
            let page = mallory
                .api
                .history(RoomId(room), Some(before_seq), 100)
                .await
                .unwrap_or_else(|err| panic!("history before {before_seq}: {err}"));
            let bytes: usize = page
                .into_iter()
                .filter_map(app::timeline::Entry::into_message)
                .map(|m| m.content.len())
                .sum();
            assert!(bytes > 99 * 8_000, "a full page: {bytes} bytes");
            before_seq = before_seq.saturating_sub(100);
        }
    }
    let grown = resident_bytes().saturating_sub(before);

    // The cache's budget plus room for buffers in flight; a cache bounded in pages instead of
    // bytes keeps all 60 pages, 48 MB.
    let allowed = CACHE_MB * MIB + 16 * MIB;
    assert!(
        grown <= allowed,
        "resident memory grew by {} MiB paging through the flood; allowed {} MiB",
        grown / MIB,
        allowed / MIB
    );
    server.shutdown();
    server.stopped().await.unwrap();
}
