//! The `/ws` connection of one session: typed frames out, typed frames in.
//!
//! Frames are written from [`ClientFrame`] and read into [`ServerFrame`]; nothing here builds
//! JSON by hand. For clients under load, [`Socket::feed`] and [`Socket::flush`] put several
//! frames into one write, and [`Socket::recv`] hands out the raw message so the hot frames can
//! be read borrowed with [`crate::FrameRef`]. [`Socket::send_raw`] exists for tests that must
//! send what no well-behaved client would (bad JSON, binary frames, oversized frames).
//!
//! [`Socket::connect_lines`] offers the [`LINES_PROTOCOL`], as the browser does: a server
//! message may then carry several frames, and a busy room's messages come a moment late to
//! share one. [`Socket::next_frame`] hands them out one by one either way.

use crate::Api;
use app::protocol::{ClientFrame, ServerFrame, LINES_PROTOCOL};
use futures::{SinkExt, StreamExt};
use std::collections::VecDeque;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Why a socket operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("websocket: {0}")]
    Ws(#[from] tungstenite::Error),
    #[error("unreadable frame: {0}")]
    Frame(#[from] serde_json::Error),
    #[error("the server closed the socket")]
    Closed,
    #[error("the session cookie cannot be sent as a header")]
    BadCookie,
}

/// An open `/ws` connection.
pub struct Socket {
    inner: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Frames read from the last message and not handed out yet (the lines protocol).
    unread: VecDeque<ServerFrame>,
}

impl Socket {
    /// Opens the socket as `api`'s session. A refused upgrade is `Ws(Error::Http(response))`,
    /// whose status says why (401 no session, 403 foreign origin, 429 too many sockets).
    pub async fn connect(api: &Api) -> Result<Self, SocketError> {
        Self::connect_with(api, WebSocketConfig::default()).await
    }

    /// [`Socket::connect`] with tungstenite settings (read buffer size, frame limits).
    pub async fn connect_with(api: &Api, config: WebSocketConfig) -> Result<Self, SocketError> {
        Self::open(api, config, None).await
    }

    /// [`Socket::connect`] offering the [`LINES_PROTOCOL`]; fails if the server does not take
    /// it. [`Socket::recv`] then returns messages of several frames, one per line.
    pub async fn connect_lines(api: &Api) -> Result<Self, SocketError> {
        Self::open(api, WebSocketConfig::default(), Some(LINES_PROTOCOL)).await
    }

    async fn open(
        api: &Api,
        config: WebSocketConfig,
        protocol: Option<&'static str>,
    ) -> Result<Self, SocketError> {
        let mut request = api.ws_url().into_client_request()?;
        if let Some(cookie) = api.cookie() {
            let value = cookie.parse().map_err(|_| SocketError::BadCookie)?;
            request.headers_mut().insert("cookie", value);
        }
        if let Some(protocol) = protocol {
            let value = protocol.parse().expect("a protocol name is a valid header");
            request
                .headers_mut()
                .insert("sec-websocket-protocol", value);
        }
        let (inner, _) =
            tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?;
        Ok(Self {
            inner,
            unread: VecDeque::new(),
        })
    }

    /// Sends one frame and flushes it.
    pub async fn send(&mut self, frame: &ClientFrame) -> Result<(), SocketError> {
        self.inner.send(text(frame)?).await?;
        Ok(())
    }

    /// Queues one frame without flushing; [`Socket::flush`] writes everything queued at once.
    pub async fn feed(&mut self, frame: &ClientFrame) -> Result<(), SocketError> {
        self.inner.feed(text(frame)?).await?;
        Ok(())
    }

    pub async fn flush(&mut self) -> Result<(), SocketError> {
        self.inner.flush().await?;
        Ok(())
    }

    /// Sends a message as it is, valid or not.
    pub async fn send_raw(&mut self, message: Message) -> Result<(), SocketError> {
        self.inner.send(message).await?;
        Ok(())
    }

    /// The next message from the server, of any kind; `None` once the socket is closed. (Frames
    /// [`Socket::next_frame`] read with an earlier message and has not handed out yet stay
    /// with it.)
    pub async fn recv(&mut self) -> Option<Result<Message, SocketError>> {
        Some(self.inner.next().await?.map_err(SocketError::from))
    }

    /// The next server frame (close, ping and pong messages are passed over); `Closed` once the
    /// socket is.
    pub async fn next_frame(&mut self) -> Result<ServerFrame, SocketError> {
        loop {
            if let Some(frame) = self.unread.pop_front() {
                return Ok(frame);
            }
            match self.recv().await.ok_or(SocketError::Closed)?? {
                Message::Text(text) => {
                    for line in app::protocol::frames(&text) {
                        self.unread.push_back(serde_json::from_str(line)?);
                    }
                }
                Message::Binary(_) | Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                Message::Close(_) => return Err(SocketError::Closed),
            }
        }
    }

    /// Closes the socket politely.
    pub async fn close(&mut self) -> Result<(), SocketError> {
        self.inner.close(None).await?;
        Ok(())
    }
}

fn text(frame: &ClientFrame) -> Result<Message, SocketError> {
    Ok(Message::Text(serde_json::to_string(frame)?.into()))
}
