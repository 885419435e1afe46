//! The connection loop: connect, keep alive, read, and reconnect with backoff.

use super::{Chat, ConnState};
use crate::protocol::{frames, ClientFrame, ServerFrame, LINES_PROTOCOL};
use futures::channel::mpsc;
use futures::stream::{self, LocalBoxStream};
use futures::{SinkExt, StreamExt};
use gloo_net::websocket::{futures::WebSocket, Message};
use gloo_timers::future::{IntervalStream, TimeoutFuture};
use leptos::prelude::*;

/// First retry delay; doubles up to [`BACKOFF_MAX_MS`].
const BACKOFF_START_MS: f64 = 500.0;
const BACKOFF_MAX_MS: f64 = 10_000.0;
/// A ping goes out after this long without one.
const PING_EVERY_MS: f64 = 15_000.0;
/// A connection whose pong (or first frame) is this late is treated as dead.
const PONG_DEADLINE_MS: f64 = 10_000.0;

/// What the browser tells us about the network.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Network {
    Online,
    Offline,
}

enum Event {
    Frame(String),
    Closed,
    Out(ClientFrame),
    Tick,
    Network(Network),
    Ignore,
}

fn is_online() -> bool {
    window().navigator().on_line()
}

fn socket_url() -> String {
    let location = window().location();
    let scheme = if location.protocol().as_deref() == Ok("https:") {
        "wss"
    } else {
        "ws"
    };
    let host = location.host().unwrap_or_default();
    format!("{scheme}://{host}/ws")
}

fn encode(frame: &ClientFrame) -> Message {
    Message::Text(serde_json::to_string(frame).expect("client frames always serialize"))
}

/// Runs for the life of the tab.
pub async fn run(chat: Chat) {
    let (network_tx, mut network) = mpsc::unbounded::<Network>();
    for (kind, online) in [("online", true), ("offline", false)] {
        let tx = network_tx.clone();
        let handle = window_event_listener_untyped(kind, move |_| {
            let _closed = tx.unbounded_send(if online {
                Network::Online
            } else {
                Network::Offline
            });
        });
        // The listeners live as long as the tab, like the loop.
        std::mem::forget(handle);
    }
    let mut backoff = BACKOFF_START_MS;
    loop {
        if !is_online() {
            chat.state.set(ConnState::Reconnecting);
            while let Some(event) = network.next().await {
                if event == Network::Online {
                    break;
                }
            }
            backoff = BACKOFF_START_MS;
        }
        if connect_once(chat, &mut network).await {
            backoff = BACKOFF_START_MS;
        }
        chat.on_disconnected();
        // Full jitter on the upper half: spreads a crowd of tabs after a server restart.
        let delay = backoff * (0.5 + js_sys::Math::random() * 0.5);
        backoff = (backoff * 2.0).min(BACKOFF_MAX_MS);
        let wait = TimeoutFuture::new(delay as u32);
        let woken = async {
            while let Some(event) = network.next().await {
                if event == Network::Online {
                    break;
                }
            }
        };
        futures::pin_mut!(wait, woken);
        futures::future::select(wait, woken).await;
    }
}

/// One connection, from open to its end. Returns whether it ever got through.
async fn connect_once(chat: Chat, network: &mut mpsc::UnboundedReceiver<Network>) -> bool {
    // Several frames a message: the browser pays for every message it receives (see
    // `LINES_PROTOCOL`).
    let Ok(socket) = WebSocket::open_with_protocol(&socket_url(), LINES_PROTOCOL) else {
        return false;
    };
    let (mut sink, incoming) = socket.split();
    let (out_tx, out_rx) = mpsc::unbounded::<ClientFrame>();
    let incoming = incoming
        .map(|item| match item {
            Ok(Message::Text(text)) => Event::Frame(text),
            Ok(Message::Bytes(_)) => Event::Ignore,
            Err(_) => Event::Closed,
        })
        .chain(stream::once(async { Event::Closed }));
    let streams: Vec<LocalBoxStream<'_, Event>> = vec![
        incoming.boxed_local(),
        out_rx.map(Event::Out).boxed_local(),
        IntervalStream::new(1_000)
            .map(|()| Event::Tick)
            .boxed_local(),
        network.map(Event::Network).boxed_local(),
    ];
    let mut events = stream::select_all(streams);

    // The first ping waits for the socket to open; its pong proves the connection works.
    let mut pong_due = Some(super::now_ms() + PONG_DEADLINE_MS);
    let mut last_ping = super::now_ms();
    if sink.send(encode(&ClientFrame::Ping)).await.is_err() {
        return false;
    }
    let mut connected = false;
    while let Some(event) = events.next().await {
        match event {
            Event::Frame(text) => {
                for line in frames(&text) {
                    let Ok(frame) = serde_json::from_str::<ServerFrame>(line) else {
                        continue;
                    };
                    if !connected {
                        connected = true;
                        chat.on_connected(out_tx.clone());
                    }
                    if frame == ServerFrame::Pong {
                        pong_due = None;
                    }
                    chat.on_frame(frame);
                }
            }
            Event::Out(frame) => {
                if sink.send(encode(&frame)).await.is_err() {
                    break;
                }
            }
            Event::Tick => {
                let now = super::now_ms();
                match pong_due {
                    Some(due) if now > due => break,
                    Some(_) => {}
                    None if now - last_ping >= PING_EVERY_MS => {
                        if sink.send(encode(&ClientFrame::Ping)).await.is_err() {
                            break;
                        }
                        last_ping = now;
                        pong_due = Some(now + PONG_DEADLINE_MS);
                    }
                    None => {}
                }
            }
            Event::Network(Network::Offline) | Event::Closed => break,
            Event::Network(Network::Online) | Event::Ignore => {}
        }
    }
    connected
}
