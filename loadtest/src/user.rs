//! One simulated person: a WebSocket that subscribes to its rooms, waits for midnight, sends its
//! messages with a bounded in-flight window, resends refused ones with the same client_id, and
//! records everything it receives for the checks at the end.
//!
//! A message leaves the window in one of two ways: acked, or given up (refused for good, or
//! refused [`MAX_ATTEMPTS`] times). Either way it leaves at once, so its slot carries the next
//! message and the run knows it is settled without waiting for the deadline.

use anyhow::{bail, Context};
use app::model::RoomId;
use app::protocol::{ClientFrame, ServerFrame};
use futures::FutureExt;
use minitalk_client::tungstenite::protocol::WebSocketConfig;
use minitalk_client::tungstenite::Message;
use minitalk_client::{Api, FrameRef, Socket};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Barrier, Semaphore};
use tokio::time::Instant;

/// What the whole run shares with each user.
pub struct Shared {
    /// Load-test members per room.
    pub members: HashMap<RoomId, u64>,
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
    /// Messages that left the window: acked or given up.
    pub settled: AtomicU64,
    pub delivered: AtomicU64,
    pub progress: indicatif::ProgressBar,
    /// Marks client_ids of this run, so resends across runs do not hit the server's dedupe.
    pub run_tag: String,
    pub window: usize,
    /// Seconds between two sends of one user (0: as fast as the window allows).
    pub send_gap: Duration,
    pub messages: usize,
    /// Each user follows its rooms' rows (`subscribe_user`) too.
    pub user_stream: bool,
}

/// One acknowledged message.
pub struct Acked {
    pub room: RoomId,
    pub seq: u64,
    pub client_id: String,
    pub ack_ms: f64,
}

/// What one user saw.
#[derive(Default)]
pub struct Outcome {
    pub acked: Vec<Acked>,
    /// Per room, every seq received (own messages included).
    pub seen: HashMap<RoomId, HashSet<u64>>,
    /// Per room, the highest seq received so far.
    pub newest: HashMap<RoomId, u64>,
    /// Per room, the newest seq when the subscription started.
    pub start_seq: HashMap<RoomId, u64>,
    pub delivery_ms: Vec<f64>,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub errors: HashMap<&'static str, u64>,
    /// Sent but neither acked nor given up when the run stopped.
    pub unanswered: u64,
    /// Refused for good, or refused `MAX_ATTEMPTS` times; no longer sent.
    pub given_up: u64,
    /// Never sent: the run stopped first.
    pub unsent: u64,
    /// Rows of its rooms the user stream sent (`room_changed`).
    pub room_rows: u64,
    /// Why this user stopped early (the socket failed, say); what it measured until then counts.
    pub failure: Option<String>,
}

/// How many attempts a message gets before it counts as given up.
pub const MAX_ATTEMPTS: u32 = 100;
/// Socket read buffer per user.
const READ_BUFFER_BYTES: usize = 16 * 1024;

/// A message in the window.
struct Sending {
    room: RoomId,
    first_sent: Instant,
    attempts: u32,
}

/// The user's send window: what is in flight and when refused messages go again.
#[derive(Default)]
struct Window {
    /// client_id → the message.
    in_flight: HashMap<String, Sending>,
    /// Resends wait here until their time.
    retry: Vec<(Instant, String)>,
}

/// Runs one user until the run stops; a failure ends it early but keeps what it measured.
pub async fn run(shared: Arc<Shared>, index: usize, user: Api, rooms: Vec<RoomId>) -> Outcome {
    let mut outcome = Outcome::default();
    if let Err(err) = drive(&shared, index, &user, &rooms, &mut outcome).await {
        outcome.failure = Some(format!("user {index}: {err:#}"));
    }
    outcome
}

async fn drive(
    shared: &Shared,
    index: usize,
    user: &Api,
    rooms: &[RoomId],
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let connecting = shared.connecting.acquire().await?;
    // tungstenite zeroes its whole read buffer before every read (128 KiB by default): with
    // thousands of sockets that memset was the generator's biggest single cost.
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
    let mut socket = Socket::connect_with(user, config)
        .await
        .context("websocket connect")?;

    for &room_id in rooms {
        let subscribe = ClientFrame::Subscribe {
            room_id,
            after_seq: None,
        };
        socket.send(&subscribe).await?;
    }
    while outcome.start_seq.len() < rooms.len() {
        match socket.next_frame().await.context("subscribing")? {
            ServerFrame::Subscribed {
                room_id, last_seq, ..
            } => {
                outcome.start_seq.insert(room_id, last_seq);
            }
            ServerFrame::Error(e) => bail!("subscribe refused: {}", e.message),
            _ => {}
        }
    }
    if shared.user_stream {
        socket.send(&ClientFrame::SubscribeUser).await?;
        loop {
            match socket
                .next_frame()
                .await
                .context("following the user's rooms")?
            {
                ServerFrame::UserSubscribed { .. } => break,
                ServerFrame::Error(e) => bail!("subscribe_user refused: {}", e.message),
                _ => {}
            }
        }
    }
    drop(connecting);
    shared.midnight.wait().await;

    let mut window = Window::default();
    let mut next_message = 0usize;
    let mut next_send_at = Instant::now();
    let mut stop = shared.stop.clone();
    let result = 'run: loop {
        let now = Instant::now();
        // Send what the window, the pacing and the retry times allow.
        let mut fed = false;
        while window.in_flight.len() < shared.window
            || window.retry.iter().any(|(at, _)| *at <= now)
        {
            let due = window.retry.iter().position(|(at, _)| *at <= now);
            let (client_id, room) = if let Some(i) = due {
                let (_, client_id) = window.retry.swap_remove(i);
                let room = window.in_flight[&client_id].room;
                (client_id, room)
            } else if next_message < shared.messages && next_send_at <= now {
                let room = rooms[next_message % rooms.len()];
                let client_id = format!("{}-{index}-{next_message}", shared.run_tag);
                let sending = Sending {
                    room,
                    first_sent: now,
                    attempts: 0,
                };
                window.in_flight.insert(client_id.clone(), sending);
                next_message += 1;
                next_send_at = now + shared.send_gap;
                (client_id, room)
            } else {
                break;
            };
            let sent_us = shared.epoch.elapsed().as_micros();
            window
                .in_flight
                .get_mut(&client_id)
                .expect("in flight")
                .attempts += 1;
            let send = ClientFrame::Send {
                room_id: room,
                client_id,
                content: format!("burst from user {index} @{sent_us}"),
                reply_to: None,
            };
            socket.feed(&send).await?;
            fed = true;
        }
        // Everything the window let out goes in one write, as a client that batches would.
        if fed {
            socket.flush().await?;
        }
        let wake = window
            .retry
            .iter()
            .map(|(at, _)| *at)
            .chain(
                (next_message < shared.messages && window.in_flight.len() < shared.window)
                    .then_some(next_send_at),
            )
            .min()
            .unwrap_or(now + Duration::from_secs(3600));

        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break 'run Ok(());
                }
            }
            () = tokio::time::sleep_until(wake) => {}
            message = socket.recv() => {
                let mut next = Some(message);
                // Frames that are already here are all handled before the window is refilled.
                while let Some(message) = next {
                    let Some(message) = message else {
                        break 'run Err(anyhow::anyhow!("server closed the socket"));
                    };
                    if let Message::Text(text) = message? {
                        let frame = FrameRef::parse(&text)?;
                        window.handle(shared, index, outcome, frame);
                    }
                    next = socket.recv().now_or_never();
                }
            }
        }
    };
    outcome.unanswered = window.in_flight.len() as u64;
    outcome.unsent = (shared.messages - next_message) as u64;
    let _ = socket.close().await;
    result
}

impl Window {
    fn handle(&mut self, shared: &Shared, index: usize, outcome: &mut Outcome, frame: FrameRef) {
        match frame {
            FrameRef::Ack {
                room,
                seq,
                client_id,
            } => {
                if let Some(sending) = self.in_flight.remove(client_id.as_ref()) {
                    outcome.acked.push(Acked {
                        room,
                        seq,
                        client_id: client_id.into_owned(),
                        ack_ms: sending.first_sent.elapsed().as_secs_f64() * 1000.0,
                    });
                    let others = shared.members.get(&room).map_or(0, |m| m.saturating_sub(1));
                    shared.expected.fetch_add(others, Ordering::Relaxed);
                    shared.acked.fetch_add(1, Ordering::Relaxed);
                    shared.settled.fetch_add(1, Ordering::Relaxed);
                    shared.progress.inc(1);
                }
            }
            FrameRef::Message { room, seq, content } => {
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
            FrameRef::Other(ServerFrame::Error(error)) => {
                *outcome.errors.entry(error.code.as_str()).or_default() += 1;
                let Some(client_id) = error.client_id else {
                    return;
                };
                let Some(sending) = self.in_flight.get(&client_id) else {
                    return;
                };
                if error.code.is_retryable() && sending.attempts < MAX_ATTEMPTS {
                    let wait = Duration::from_millis(error.retry_after_ms.unwrap_or(100));
                    self.retry.push((Instant::now() + wait, client_id));
                } else {
                    // Given up: out of the window now, not at the deadline.
                    self.in_flight.remove(&client_id);
                    outcome.given_up += 1;
                    shared.settled.fetch_add(1, Ordering::Relaxed);
                }
            }
            FrameRef::Other(ServerFrame::RoomChanged { .. }) => outcome.room_rows += 1,
            FrameRef::Other(_) => {}
        }
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
    use app::protocol::{ErrorCode, ErrorFrame};

    #[test]
    fn burst_contents_carry_sender_and_send_time() {
        assert_eq!(parse_content("burst from user 7 @1234"), Some((7, 1234)));
        assert_eq!(parse_content("hello @5"), None);
    }

    fn shared() -> Shared {
        Shared {
            members: HashMap::new(),
            expected: AtomicU64::new(0),
            epoch: Instant::now(),
            connecting: Semaphore::new(1),
            midnight: Barrier::new(1),
            stop: watch::channel(false).1,
            acked: AtomicU64::new(0),
            settled: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            progress: indicatif::ProgressBar::hidden(),
            run_tag: "t".into(),
            window: 1,
            send_gap: Duration::ZERO,
            messages: 1,
            user_stream: false,
        }
    }

    fn refusal(code: ErrorCode) -> FrameRef<'static> {
        FrameRef::Other(ServerFrame::Error(ErrorFrame {
            client_id: Some("m".into()),
            room_id: Some(RoomId(1)),
            code,
            message: String::new(),
            retry_after_ms: Some(1),
        }))
    }

    fn window_with_one_sent_message(attempts: u32) -> Window {
        let mut window = Window::default();
        let sending = Sending {
            room: RoomId(1),
            first_sent: Instant::now(),
            attempts,
        };
        window.in_flight.insert("m".into(), sending);
        window
    }

    #[tokio::test]
    async fn a_message_overloaded_on_its_last_attempt_leaves_the_window_at_once() {
        let shared = shared();
        let mut outcome = Outcome::default();
        let mut window = window_with_one_sent_message(MAX_ATTEMPTS - 1);
        window.handle(&shared, 0, &mut outcome, refusal(ErrorCode::Overloaded));
        assert_eq!(window.retry.len(), 1, "one more attempt is allowed");
        assert!(window.in_flight.contains_key("m"));

        window.retry.clear();
        window.in_flight.get_mut("m").unwrap().attempts = MAX_ATTEMPTS;
        window.handle(&shared, 0, &mut outcome, refusal(ErrorCode::Overloaded));
        assert!(window.in_flight.is_empty(), "its window slot is free");
        assert!(window.retry.is_empty());
        assert_eq!(outcome.given_up, 1);
        assert_eq!(shared.settled.load(Ordering::Relaxed), 1);
        assert_eq!(outcome.errors["overloaded"], 2);
    }

    #[tokio::test]
    async fn a_message_refused_for_good_is_given_up_on_the_first_refusal() {
        let shared = shared();
        let mut outcome = Outcome::default();
        let mut window = window_with_one_sent_message(1);
        window.handle(&shared, 0, &mut outcome, refusal(ErrorCode::NotMember));
        assert!(window.in_flight.is_empty());
        assert_eq!(outcome.given_up, 1);
        assert_eq!(shared.settled.load(Ordering::Relaxed), 1);
    }
}
