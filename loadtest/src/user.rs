//! One simulated person: a WebSocket that subscribes to its rooms, waits for midnight, sends its
//! messages with a bounded in-flight window, resends refused ones with the same client_id, and
//! records everything it receives for the checks at the end.

use crate::frame::{self, Frame};
use anyhow::{bail, Context};
use app::protocol::{ErrorCode, ServerFrame};
use futures::{FutureExt, SinkExt, StreamExt};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Barrier, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// What the whole run shares with each user.
pub struct Shared {
    pub ws_url: String,
    /// Load-test members per room.
    pub members: HashMap<u64, u64>,
    /// Deliveries the acks so far call for (each ack: the room's other members).
    pub expected: AtomicU64,
    /// Latencies are measured from this instant.
    pub epoch: Instant,
    /// Bounds how many users connect and subscribe at once during setup.
    pub connecting: Semaphore,
    /// Released at midnight, when every user is connected and subscribed.
    pub midnight: Barrier,
    /// Set when the run is over (all acks in and deliveries drained, or the deadline).
    pub stop: watch::Receiver<bool>,
    pub acked: AtomicU64,
    pub delivered: AtomicU64,
    pub progress: indicatif::ProgressBar,
    /// Marks client_ids of this run, so resends across runs do not hit the server's dedupe.
    pub run_tag: String,
    pub window: usize,
    /// Seconds between two sends of one user (0: as fast as the window allows).
    pub send_gap: Duration,
    pub messages: usize,
}

/// One acknowledged message.
pub struct Acked {
    pub room: u64,
    pub seq: u64,
    pub client_id: String,
    pub ack_ms: f64,
}

/// What one user saw.
#[derive(Default)]
pub struct Outcome {
    pub acked: Vec<Acked>,
    /// Per room, every seq received (own messages included).
    pub seen: HashMap<u64, HashSet<u64>>,
    /// Per room, the highest seq received so far.
    pub newest: HashMap<u64, u64>,
    /// Per room, the newest seq when the subscription started.
    pub start_seq: HashMap<u64, u64>,
    pub delivery_ms: Vec<f64>,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub errors: HashMap<String, u64>,
    pub unanswered: u64,
}

/// How many attempts a message gets before it counts as failed.
const MAX_ATTEMPTS: u32 = 100;
/// Socket read buffer per user.
const READ_BUFFER_BYTES: usize = 16 * 1024;

pub async fn run(
    shared: Arc<Shared>,
    index: usize,
    cookie: String,
    rooms: Vec<u64>,
) -> anyhow::Result<Outcome> {
    let connecting = shared.connecting.acquire().await?;
    let mut request = shared.ws_url.as_str().into_client_request()?;
    request.headers_mut().insert("cookie", cookie.parse()?);
    // tungstenite zeroes its whole read buffer before every read (128 KiB by default): with
    // thousands of sockets that memset was the generator's biggest single cost.
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
    let (socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
        .await
        .context("websocket connect")?;
    let (mut sink, mut stream) = socket.split();
    let mut outcome = Outcome::default();

    for room in &rooms {
        let frame = json!({"type": "subscribe", "room_id": room, "after_seq": null});
        sink.send(Message::Text(frame.to_string().into())).await?;
    }
    while outcome.start_seq.len() < rooms.len() {
        let message = stream
            .next()
            .await
            .context("socket closed while subscribing")??;
        if let Message::Text(text) = message {
            match serde_json::from_str(&text)? {
                ServerFrame::Subscribed {
                    room_id, last_seq, ..
                } => {
                    outcome.start_seq.insert(room_id.0, last_seq);
                }
                ServerFrame::Error(e) => bail!("subscribe refused: {}", e.message),
                _ => {}
            }
        }
    }
    drop(connecting);
    shared.midnight.wait().await;

    // client_id → (room, first sent, attempts); resends wait in `retry` until their time.
    let mut in_flight: HashMap<String, (u64, Instant, u32)> = HashMap::new();
    let mut retry: Vec<(Instant, String)> = Vec::new();
    let mut next_message = 0usize;
    let mut next_send_at = Instant::now();
    let mut stop = shared.stop.clone();
    loop {
        let now = Instant::now();
        // Send what the window, the pacing and the retry times allow.
        let mut fed = false;
        while in_flight.len() < shared.window || retry.iter().any(|(at, _)| *at <= now) {
            let due = retry.iter().position(|(at, _)| *at <= now);
            let (client_id, room) = if let Some(i) = due {
                let (_, client_id) = retry.swap_remove(i);
                let room = in_flight[&client_id].0;
                (client_id, room)
            } else if next_message < shared.messages && next_send_at <= now {
                let room = rooms[next_message % rooms.len()];
                let client_id = format!("{}-{index}-{next_message}", shared.run_tag);
                in_flight.insert(client_id.clone(), (room, now, 0));
                next_message += 1;
                next_send_at = now + shared.send_gap;
                (client_id, room)
            } else {
                break;
            };
            let sent_us = shared.epoch.elapsed().as_micros();
            let frame = json!({
                "type": "send", "room_id": room, "client_id": client_id,
                "content": format!("burst from user {index} @{sent_us}"),
            });
            in_flight.get_mut(&client_id).expect("in flight").2 += 1;
            sink.feed(Message::Text(frame.to_string().into())).await?;
            fed = true;
        }
        // Everything the window let out goes in one write, as a client that batches would.
        if fed {
            sink.flush().await?;
        }
        let wake = retry
            .iter()
            .map(|(at, _)| *at)
            .chain(
                (next_message < shared.messages && in_flight.len() < shared.window)
                    .then_some(next_send_at),
            )
            .min()
            .unwrap_or(now + Duration::from_secs(3600));

        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
            }
            () = tokio::time::sleep_until(wake) => {}
            message = stream.next() => {
                let mut next = Some(message);
                // Frames that are already here are all handled before the window is refilled.
                while let Some(message) = next {
                    let Some(message) = message else { bail!("server closed the socket") };
                    if let Message::Text(text) = message? {
                        let frame = frame::parse(&text)?;
                        handle(&shared, index, &mut outcome, &mut in_flight, &mut retry, frame);
                    }
                    next = stream.next().now_or_never();
                }
            }
        }
    }
    outcome.unanswered = in_flight.len() as u64;
    let _ = sink.close().await;
    Ok(outcome)
}

fn handle(
    shared: &Shared,
    index: usize,
    outcome: &mut Outcome,
    in_flight: &mut HashMap<String, (u64, Instant, u32)>,
    retry: &mut Vec<(Instant, String)>,
    frame: Frame,
) {
    match frame {
        Frame::Ack {
            room,
            seq,
            client_id,
        } => {
            if let Some((_, first_sent, _)) = in_flight.remove(client_id.as_ref()) {
                outcome.acked.push(Acked {
                    room,
                    seq,
                    client_id: client_id.into_owned(),
                    ack_ms: first_sent.elapsed().as_secs_f64() * 1000.0,
                });
                let others = shared.members.get(&room).map_or(0, |m| m.saturating_sub(1));
                shared.expected.fetch_add(others, Ordering::Relaxed);
                shared.acked.fetch_add(1, Ordering::Relaxed);
                shared.progress.inc(1);
            }
        }
        Frame::Message { room, seq, content } => {
            let newest = outcome.newest.entry(room).or_default();
            if !outcome.seen.entry(room).or_default().insert(seq) {
                outcome.duplicates += 1;
            } else if seq < *newest {
                outcome.out_of_order += 1;
            }
            *newest = seq.max(*newest);
            // Deliveries count what the other members receive, not the echo of one's own.
            let Some((sender, sent_us)) = parse_content(&content) else {
                return;
            };
            if sender != index {
                let now_us = shared.epoch.elapsed().as_micros();
                outcome
                    .delivery_ms
                    .push(now_us.saturating_sub(sent_us) as f64 / 1000.0);
                shared.delivered.fetch_add(1, Ordering::Relaxed);
            }
        }
        Frame::Other(ServerFrame::Error(error)) => {
            let code = serde_json::to_value(error.code)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            *outcome.errors.entry(code).or_default() += 1;
            let Some(client_id) = error.client_id else {
                return;
            };
            let Some((_, _, attempts)) = in_flight.get(&client_id) else {
                return;
            };
            if error.code.is_retryable() && *attempts < MAX_ATTEMPTS {
                let wait = Duration::from_millis(error.retry_after_ms.unwrap_or(100));
                retry.push((Instant::now() + wait, client_id));
            } else if error.code != ErrorCode::Overloaded {
                in_flight.remove(&client_id);
            }
        }
        _ => {}
    }
}

/// The sender index and send time (µs after the epoch) written into a burst message.
fn parse_content(content: &str) -> Option<(usize, u128)> {
    let rest = content.strip_prefix("burst from user ")?;
    let (sender, sent) = rest.split_once(" @")?;
    Some((sender.parse().ok()?, sent.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_contents_carry_sender_and_send_time() {
        assert_eq!(parse_content("burst from user 7 @1234"), Some((7, 1234)));
        assert_eq!(parse_content("hello @5"), None);
    }
}
