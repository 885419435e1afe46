//! Test helpers: a real server on 127.0.0.1:0 with a temporary data directory, HTTP calls to its
//! server functions, and WebSocket clients that speak the protocol.

#![allow(dead_code)] // each test file uses a different part of this module

use app::protocol::ServerFrame;
use clap::Parser;
use futures::{SinkExt, StreamExt};
use leptos::prelude::get_configuration;
use minitalk_server::config::Config;
use minitalk_server::Running;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single expected event may take before a test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub async fn start(data_dir: &Path, extra: &[&str]) -> Running {
    start_with_site(data_dir, Path::new("target/site"), extra).await
}

/// [`start`], serving static files from `site_root` (with a `pkg/` inside).
pub async fn start_with_site(data_dir: &Path, site_root: &Path, extra: &[&str]) -> Running {
    let mut args = vec![
        "minitalk",
        "--addr",
        "127.0.0.1:0",
        "--data-dir",
        data_dir.to_str().unwrap(),
    ];
    if !extra.contains(&"--flush-interval-ms") {
        args.extend_from_slice(&["--flush-interval-ms", "5"]);
    }
    // Tests sign many users in from 127.0.0.1 at once and create rooms quickly; the tests of
    // those limits set them.
    if !extra.contains(&"--sign-ins-per-ip-per-min") {
        args.extend_from_slice(&["--sign-ins-per-ip-per-min", "0", "--sign-ins-per-sec", "0"]);
    }
    if !extra.contains(&"--room-creations-per-hour") {
        args.extend_from_slice(&["--room-creations-per-hour", "0"]);
    }
    args.extend_from_slice(extra);
    // The options as the `minitalk` binary reads them (.cargo/config.toml names the bundle).
    let mut options = get_configuration(None)
        .expect("leptos options from the environment")
        .leptos_options;
    options.site_root = site_root.to_str().unwrap().into();
    minitalk_server::start(Config::parse_from(args), options)
        .await
        .expect("server starts")
}

/// A signed-in user: their session cookie and the server's address.
#[derive(Clone)]
pub struct User {
    pub addr: SocketAddr,
    pub name: String,
    pub cookie: String,
}

/// Calls a server function; returns the HTTP status and the JSON body.
pub async fn call(addr: SocketAddr, cookie: Option<&str>, name: &str, body: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}/api/{name}"))
        .json(&body);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.expect("server answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// Calls a server function that must fail; returns the status and the error's code.
pub async fn call_error(addr: SocketAddr, name: &str, body: Value) -> (u16, String) {
    let (status, answer) = call(addr, None, name, body).await;
    let code = answer["code"].as_str().unwrap_or_default().to_owned();
    (status, code)
}

/// New users `names`, all members of one new room (created by the first); returns them and the
/// room's id.
pub async fn members_of(addr: SocketAddr, names: &[&str], room: &str) -> (Vec<User>, u64) {
    let mut users = Vec::new();
    for name in names {
        users.push(register(addr, name).await);
    }
    let room = users[0].create_room(room).await;
    for user in &users[1..] {
        user.join(room).await;
    }
    (users, room)
}

pub async fn register(addr: SocketAddr, name: &str) -> User {
    signed_in(addr, "register", name).await
}

/// Signs an existing account in again: a second session (another browser).
pub async fn login(addr: SocketAddr, name: &str) -> User {
    signed_in(addr, "login", name).await
}

async fn signed_in(addr: SocketAddr, endpoint: &str, name: &str) -> User {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/api/{endpoint}"))
        .json(&json!({"username": name, "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{endpoint} {name}");
    let cookie = response
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    User {
        addr,
        name: name.to_owned(),
        cookie,
    }
}

impl User {
    pub async fn call(&self, name: &str, body: Value) -> (u16, Value) {
        call(self.addr, Some(&self.cookie), name, body).await
    }

    pub async fn create_room(&self, name: &str) -> u64 {
        let (status, room) = self.call("create_room", json!({"name": name})).await;
        assert_eq!(status, 200, "{room}");
        room["id"].as_u64().unwrap()
    }

    pub async fn join(&self, room: u64) {
        let (status, body) = self.call("join_room", json!({"room_id": room})).await;
        assert_eq!(status, 200, "{body}");
    }

    /// Contents of the room's newest history page.
    pub async fn history(&self, room: u64) -> Vec<(u64, String)> {
        let (status, page) = self
            .call(
                "history",
                json!({"room_id": room, "before_seq": null, "limit": 100}),
            )
            .await;
        assert_eq!(status, 200, "{page}");
        page.as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["seq"].as_u64().unwrap(),
                    m["content"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    pub async fn connect(&self) -> Client {
        let mut request = format!("ws://{}/ws", self.addr)
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("cookie", self.cookie.parse().unwrap());
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket opens");
        Client { socket }
    }
}

pub struct Client {
    pub socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    pub async fn send_json(&mut self, frame: Value) {
        self.socket
            .send(Message::Text(frame.to_string().into()))
            .await
            .unwrap();
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.socket.send(message).await.unwrap();
    }

    pub async fn subscribe(&mut self, room: u64, after_seq: Option<u64>) -> Vec<ServerFrame> {
        self.send_json(json!({"type": "subscribe", "room_id": room, "after_seq": after_seq}))
            .await;
        let mut replayed = Vec::new();
        loop {
            match self.next().await {
                ServerFrame::Subscribed { .. } => return replayed,
                frame => replayed.push(frame),
            }
        }
    }

    pub async fn send(&mut self, room: u64, client_id: &str, content: &str) {
        self.send_json(
            json!({"type": "send", "room_id": room, "client_id": client_id, "content": content}),
        )
        .await;
    }

    /// The next frame from the server, skipping presence and typing hints.
    pub async fn next(&mut self) -> ServerFrame {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .expect("a frame within the patience")
                .expect("socket open")
                .expect("no socket error");
            let Message::Text(text) = message else {
                continue;
            };
            let frame: ServerFrame = serde_json::from_str(&text).expect("a valid server frame");
            if !matches!(
                frame,
                ServerFrame::Presence { .. } | ServerFrame::Typing { .. }
            ) {
                return frame;
            }
        }
    }

    /// Waits for the server's close frame and returns its code.
    pub async fn close_code(&mut self) -> u16 {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .expect("the server answers");
            match message {
                Some(Ok(Message::Close(frame))) => {
                    return frame.expect("a close code").code.into();
                }
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    /// Sends and waits for the answer to that send, passing over other frames.
    pub async fn send_and_wait(
        &mut self,
        room: u64,
        client_id: &str,
        content: &str,
    ) -> ServerFrame {
        self.send(room, client_id, content).await;
        loop {
            match self.next().await {
                frame @ ServerFrame::Ack { .. } => return frame,
                ServerFrame::Error(e) if e.client_id.as_deref() == Some(client_id) => {
                    return ServerFrame::Error(e)
                }
                _ => {}
            }
        }
    }
}

/// The seq of an ack, or a panic naming what came instead.
pub fn ack_seq(frame: &ServerFrame) -> u64 {
    match frame {
        ServerFrame::Ack { seq, .. } => *seq,
        other => panic!("expected an ack, got {other:?}"),
    }
}

pub fn message_of(frame: &ServerFrame) -> (u64, String) {
    match frame {
        ServerFrame::Message(m) => (m.seq, m.content.clone()),
        other => panic!("expected a message, got {other:?}"),
    }
}
