//! Test helpers: a real server on 127.0.0.1:0 with a temporary data directory, and signed-in
//! users that talk to it through `minitalk-client` (typed server-function calls and sockets).

#![allow(dead_code)] // each test file uses a different part of this module

use app::model::RoomId;
use app::protocol::{ClientFrame, ServerFrame};
use app::timeline::Entry;
use clap::Parser;
use leptos::prelude::get_configuration;
use minitalk_client::tungstenite::Message;
use minitalk_client::{Api, Socket};
use minitalk_server::config::Config;
use minitalk_server::Running;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

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
    if !extra.contains(&"--membership-changes-per-min") {
        args.extend_from_slice(&["--membership-changes-per-min", "0"]);
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

/// The password every test account has.
pub const PASSWORD: &str = "correct horse";

/// A signed-in user: their name and a session of theirs on one server.
#[derive(Clone)]
pub struct User {
    pub name: String,
    pub api: Api,
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
    let api = Api::at(addr).register(name, PASSWORD).await;
    signed_in(
        name,
        api.unwrap_or_else(|err| panic!("register {name}: {err}")),
    )
}

/// Signs an existing account in again: a second session (another browser).
pub async fn login(addr: SocketAddr, name: &str) -> User {
    let api = Api::at(addr).login(name, PASSWORD).await;
    signed_in(
        name,
        api.unwrap_or_else(|err| panic!("login {name}: {err}")),
    )
}

fn signed_in(name: &str, api: Api) -> User {
    User {
        name: name.to_owned(),
        api,
    }
}

impl User {
    /// The session cookie, as a `Cookie` header carries it.
    pub fn cookie(&self) -> &str {
        self.api
            .cookie()
            .expect("a signed-in user has a session cookie")
    }

    /// The same session against the server now at `addr` (restarted on another port).
    pub fn at(&self, addr: SocketAddr) -> Self {
        signed_in(&self.name, Api::at(addr).with_cookie(self.cookie()))
    }

    pub async fn create_room(&self, name: &str) -> u64 {
        let room = self.api.create_room(name).await;
        room.unwrap_or_else(|err| panic!("create_room {name}: {err}"))
            .id
            .0
    }

    pub async fn join(&self, room: u64) {
        let joined = self.api.join_room(RoomId(room)).await;
        joined.unwrap_or_else(|err| panic!("join_room {room}: {err}"));
    }

    /// The room's newest history page as (seq, content).
    pub async fn history(&self, room: u64) -> Vec<(u64, String)> {
        let page = self.api.newest_history(RoomId(room)).await;
        let page = page.unwrap_or_else(|err| panic!("history {room}: {err}"));
        page.into_iter()
            .filter_map(Entry::into_message)
            .map(|m| (m.seq, m.content))
            .collect()
    }

    /// The room's whole timeline (messages, joins, leaves), oldest first.
    pub async fn whole_history(&self, room: u64) -> Vec<Entry> {
        let all = self.api.history_after(RoomId(room), 0).await;
        all.unwrap_or_else(|err| panic!("history of {room}: {err}"))
    }

    /// A socket of theirs, subscribed to `room` from its start (the replay passed over).
    pub async fn listening(&self, room: u64) -> Client {
        let mut client = self.connect().await;
        client.subscribe(room, None).await;
        client
    }

    pub async fn connect(&self) -> Client {
        let socket = Socket::connect(&self.api).await.expect("websocket opens");
        Client { socket }
    }
}

pub struct Client {
    pub socket: Socket,
}

impl Client {
    pub async fn send_frame(&mut self, frame: &ClientFrame) {
        self.socket.send(frame).await.unwrap();
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.socket.send_raw(message).await.unwrap();
    }

    pub async fn subscribe(&mut self, room: u64, after_seq: Option<u64>) -> Vec<ServerFrame> {
        let room_id = RoomId(room);
        self.send_frame(&ClientFrame::Subscribe { room_id, after_seq })
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
        self.send_reply(room, client_id, content, None).await;
    }

    /// A send replying to the message `reply_to` (none when `None`).
    pub async fn send_reply(
        &mut self,
        room: u64,
        client_id: &str,
        content: &str,
        reply_to: Option<u64>,
    ) {
        self.send_frame(&ClientFrame::Send {
            room_id: RoomId(room),
            client_id: client_id.into(),
            content: content.into(),
            reply_to,
        })
        .await;
    }

    pub async fn ping(&mut self) {
        self.send_frame(&ClientFrame::Ping).await;
    }

    /// The next message from the server, of any kind, within the patience.
    pub async fn recv(&mut self) -> Message {
        tokio::time::timeout(PATIENCE, self.socket.recv())
            .await
            .expect("a frame within the patience")
            .expect("socket open")
            .expect("no socket error")
    }

    /// The next frame from the server, skipping presence and typing hints.
    pub async fn next(&mut self) -> ServerFrame {
        loop {
            let Message::Text(text) = self.recv().await else {
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
            let message = tokio::time::timeout(PATIENCE, self.socket.recv())
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
        self.reply_and_wait(room, client_id, content, None).await
    }

    /// [`Client::send_and_wait`] for a reply to the message `reply_to`.
    pub async fn reply_and_wait(
        &mut self,
        room: u64,
        client_id: &str,
        content: &str,
        reply_to: Option<u64>,
    ) -> ServerFrame {
        self.send_reply(room, client_id, content, reply_to).await;
        loop {
            match self.next().await {
                frame @ ServerFrame::Ack(_) => return frame,
                ServerFrame::Error(e) if e.client_id.as_deref() == Some(client_id) => {
                    return ServerFrame::Error(e)
                }
                _ => {}
            }
        }
    }
}

/// The next frame that is not an ack (the sender's own socket sees both).
pub async fn next_entry(client: &mut Client) -> ServerFrame {
    loop {
        match client.next().await {
            ServerFrame::Ack(_) => continue,
            frame => return frame,
        }
    }
}

/// The seq of an ack, or a panic naming what came instead.
pub fn ack_seq(frame: &ServerFrame) -> u64 {
    match frame {
        ServerFrame::Ack(ack) => ack.seq,
        other => panic!("expected an ack, got {other:?}"),
    }
}

pub fn message_of(frame: &ServerFrame) -> (u64, String) {
    match frame {
        ServerFrame::Message(m) => (m.seq, m.content.clone()),
        other => panic!("expected a message, got {other:?}"),
    }
}

/// Whether any file under `dir` (the data directory, say) holds `text`.
pub fn disk_holds(dir: &std::path::Path, text: &str) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let path = entry.unwrap().path();
        if path.is_dir() {
            return disk_holds(&path, text);
        }
        let bytes = std::fs::read(&path).unwrap_or_default();
        bytes.windows(text.len()).any(|w| w == text.as_bytes())
    })
}
