//! What operators and load balancers ask a node: `/healthz`, `/readyz`, `/metrics`, on the file
//! store and on PostgreSQL (whose readiness follows the database).

mod support;

use minitalk_server::store::postgres::scratch;
use support::{ack_seq, start};

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// The value of the first sample of `name` in a Prometheus text page.
fn sample(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find(|line| line.starts_with(name) && !line.starts_with('#'))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn a_node_says_it_is_alive_ready_and_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    assert_eq!(get(server.addr, "/healthz").await.0, 200);
    assert_eq!(get(server.addr, "/readyz").await.0, 200);
    let (users, room) = support::members_of(server.addr, &["ana"], "ops").await;
    let mut socket = users[0].connect().await;
    ack_seq(&socket.send_and_wait(room, "m1", "counted").await);
    let (status, page) = get(server.addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        sample(&page, "minitalk_messages_stored_total").unwrap() >= 1.0,
        "{page}"
    );
    assert!(
        sample(&page, "minitalk_connections").unwrap() >= 1.0,
        "{page}"
    );
    assert!(page.contains("minitalk_commit_seconds_bucket"), "{page}");
    // An error frame is counted by its code.
    socket.send_and_wait(room, "bad id with spaces", "x").await;
    let (_, page) = get(server.addr, "/metrics").await;
    assert!(
        page.contains(r#"minitalk_errors_total{code="invalid"}"#),
        "{page}"
    );
}

#[tokio::test]
async fn a_node_on_postgresql_reports_the_notification_queue() {
    let url = scratch::fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--database-url", &url]).await;
    assert_eq!(get(server.addr, "/readyz").await.0, 200);
    let (_, page) = get(server.addr, "/metrics").await;
    let usage = sample(&page, "minitalk_notification_queue_usage");
    assert!(usage.is_some_and(|u| (0.0..=1.0).contains(&u)), "{page}");
}
