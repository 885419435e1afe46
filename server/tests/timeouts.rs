//! The HTTP connection loop: slow or silent clients are cut off at the header-read deadline
//! (audit M6), while ordinary requests, WebSockets and the peer address keep working.

mod support;

use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::Router;
use minitalk_server::http::serve::{serve, ServeConfig};
use std::net::SocketAddr;
use std::time::Duration;
use support::{start, PATIENCE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Reads until the server closes the connection; panics if it is still open after `PATIENCE`.
async fn wait_until_closed(mut stream: TcpStream) -> Vec<u8> {
    let mut answer = Vec::new();
    match tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer)).await {
        Ok(Ok(_)) => answer,
        Ok(Err(err)) => {
            assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
            answer
        }
        Err(_) => panic!("the connection is still open after {PATIENCE:?}"),
    }
}

#[tokio::test]
async fn a_client_that_stops_halfway_through_its_headers_is_disconnected() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--header-read-timeout-ms", "300"]).await;

    let mut half = TcpStream::connect(server.addr).await.unwrap();
    half.write_all(b"GET /api/stats HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let silent = TcpStream::connect(server.addr).await.unwrap();

    wait_until_closed(half).await;
    wait_until_closed(silent).await;

    // Requests that arrive whole are served as before.
    let response = reqwest::get(format!("http://{}/api/stats", server.addr))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_websocket_outlives_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--header-read-timeout-ms", "300"]).await;
    let (users, room) = support::members_of(server.addr, &["ana"], "hall").await;
    let mut ws = users[0].connect().await;
    ws.subscribe(room, None).await;
    // Twice the header deadline: an upgraded socket is no longer hyper's, so it must not apply.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let ack = ws.send_and_wait(room, "c1", "still here").await;
    assert_eq!(support::ack_seq(&ack), 1);
}

#[tokio::test]
async fn handlers_can_extract_the_peer_address() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new().route(
        "/peer",
        get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
    );
    let shutdown = CancellationToken::new();
    let config = ServeConfig {
        header_read_timeout: Duration::from_secs(10),
    };
    let server = tokio::spawn(serve(listener, router, config, shutdown.clone()));

    let mut client = TcpStream::connect(addr).await.unwrap();
    let me = client.local_addr().unwrap();
    client
        .write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = String::from_utf8(wait_until_closed(client).await).unwrap();
    assert!(answer.ends_with(&me.to_string()), "{answer}");

    shutdown.cancel();
    tokio::time::timeout(PATIENCE, server)
        .await
        .expect("serve returns after shutdown")
        .unwrap();
}
