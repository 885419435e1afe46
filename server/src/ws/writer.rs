//! The socket's writer: how the frames one connection sends become WebSocket messages, and when
//! they are written.
//!
//! Why it is its own part: a browser pays for every WebSocket message it receives (the message
//! crosses from the network process, becomes an event, enters the page's script). On the
//! busy-room benchmark that alone was 0.44 ms of the viewer's main thread a message at 100
//! messages a second, with nothing drawn: more than the page's whole budget. So a client that
//! offers [`LINES_PROTOCOL`] gets several frames in one message, one per line:
//!
//! - Every frame of one step of the connection's loop goes out in one message (a replay chunk,
//!   the messages queued for it, the answers that are ready). This costs no time.
//! - While the socket is busy (it was written less than [`HOLD`] ago), a room's messages and
//!   events are held until [`HOLD`] after that write, so one message carries what arrived
//!   meanwhile: about five at 100 messages a second. A conversation is never held: the first
//!   message after a quiet spell is written at once. The browser draws a busy room at most
//!   every 100 ms anyway (`app/src/client/pace.rs`), so a hold of 50 ms is not seen.
//! - What the client waits for is never held: a step that answers it (an ack, a pong,
//!   `subscribed`, the user stream's rows) or sends an error (also one about a room, from a
//!   delivery step) writes everything held with it, at once. Frames never change order, and a
//!   close frame goes after everything held.
//! - A message carries at most [`MAX_MESSAGE_BYTES`] of frames. What a hold gathers is bounded
//!   by that too: a full message is handed to the socket's buffer (which writes what passes its
//!   size) and the next one begun.
//!
//! A client that did not offer the subprotocol (the native client, the load test, an older tab)
//! gets one frame per message, written at the end of each step, as before.

use super::connection::{bounded_write, Closed, WRITE_TIMEOUT};
use app::protocol::LINES_PROTOCOL;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures::{Sink, SinkExt};
use tokio::time::{Duration, Instant};

/// How long past its last write a busy socket's room messages may wait to share a message.
pub const HOLD: Duration = Duration::from_millis(50);
/// The most frame bytes one message carries (the socket's write buffer is as big).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// How a connection puts frames into WebSocket messages, as the client chose at the upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One frame per message.
    Single,
    /// Several frames per message, one per line ([`LINES_PROTOCOL`]).
    Lines,
}

impl Framing {
    /// The framing of a socket whose upgrade selected `protocol`.
    pub fn of(protocol: Option<&[u8]>) -> Self {
        match protocol {
            Some(p) if p == LINES_PROTOCOL.as_bytes() => Self::Lines,
            _ => Self::Single,
        }
    }
}

/// Whether what a step queued may wait for more (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// A room's messages or events: may be held while the socket is busy.
    MayWait,
    /// Anything else, an answer above all: written now, with whatever is held.
    Now,
}

/// One socket's sending half, with the frames not yet handed to it.
pub struct Writer<W> {
    sink: W,
    framing: Framing,
    /// Frames of the message being gathered ([`Framing::Lines`]), newline-separated.
    gathered: String,
    /// When the socket was last written, while it may still count as busy.
    last_write: Option<Instant>,
    /// When what is held must be written.
    held_until: Option<Instant>,
    /// This step queued something that must not wait (an error about a room, say, sent from
    /// a delivery step).
    expedited: bool,
}

impl<W> Writer<W>
where
    W: Sink<Message> + Unpin,
{
    pub fn new(sink: W, framing: Framing) -> Self {
        Self {
            sink,
            framing,
            gathered: String::new(),
            last_write: None,
            held_until: None,
            expedited: false,
        }
    }

    /// When the frames held now must be written, if any are held.
    pub fn held_until(&self) -> Option<Instant> {
        self.held_until
    }

    /// Queues a frame (JSON text); it is written at the end of the step, or later if held.
    pub async fn text(&mut self, json: Utf8Bytes) -> Result<(), Closed> {
        match self.framing {
            Framing::Single => self.feed(Message::Text(json)).await,
            Framing::Lines => {
                if self.gathered.len() + json.len() >= MAX_MESSAGE_BYTES {
                    self.hand_over().await?;
                }
                if !self.gathered.is_empty() {
                    self.gathered.push('\n');
                }
                self.gathered.push_str(&json);
                Ok(())
            }
        }
    }

    /// Makes this step's end write everything at once, whatever the step was.
    pub fn expedite(&mut self) {
        self.expedited = true;
    }

    /// Queues a ping.
    pub async fn ping(&mut self) -> Result<(), Closed> {
        self.feed(Message::Ping(Default::default())).await
    }

    /// Ends one step of the loop: writes what it queued, or holds it when it may wait and the
    /// socket is busy.
    pub async fn end_step(&mut self, urgency: Urgency) -> Result<(), Closed> {
        let urgency = match std::mem::take(&mut self.expedited) {
            true => Urgency::Now,
            false => urgency,
        };
        match (self.framing, urgency) {
            (Framing::Single, _) => self.flush().await,
            (Framing::Lines, Urgency::Now) => self.write(Instant::now()).await,
            (Framing::Lines, Urgency::MayWait) if self.held_until.is_some() => Ok(()),
            (Framing::Lines, Urgency::MayWait) => {
                let now = Instant::now();
                let busy_until = self.last_write.map(|at| at + HOLD);
                match busy_until {
                    Some(due) if now < due && !self.gathered.is_empty() => {
                        self.held_until = Some(due);
                        Ok(())
                    }
                    _ => self.write(now).await,
                }
            }
        }
    }

    /// Writes everything gathered and held, and flushes the socket.
    async fn write(&mut self, now: Instant) -> Result<(), Closed> {
        if !self.gathered.is_empty() {
            self.hand_over().await?;
            // Only a write of frames makes the socket busy (not a ping, not an empty step).
            self.last_write = Some(now);
        }
        self.held_until = None;
        self.flush().await
    }

    async fn flush(&mut self) -> Result<(), Closed> {
        bounded_write(self.sink.flush()).await
    }

    /// Sends a close frame after everything queued (best effort: the socket may be gone).
    pub async fn close(&mut self, code: u16, reason: &'static str) {
        if self.hand_over().await.is_err() {
            return;
        }
        let close = self.sink.send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })));
        let _closing = tokio::time::timeout(WRITE_TIMEOUT, close).await;
    }

    /// Hands the gathered frames to the socket as one message (written at its next flush).
    async fn hand_over(&mut self) -> Result<(), Closed> {
        if self.gathered.is_empty() {
            return Ok(());
        }
        let message = std::mem::take(&mut self.gathered);
        self.feed(Message::Text(message.into())).await
    }

    async fn feed(&mut self, message: Message) -> Result<(), Closed> {
        bounded_write(self.sink.feed(message)).await
    }
}
