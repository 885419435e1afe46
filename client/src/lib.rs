//! `minitalk-client`: Minitalk's protocol spoken once, for every native program that talks to a
//! server — the server's integration tests and the load test.
//!
//! Before this crate each of them wrote the protocol by hand (`json!` frames, server-function
//! bodies with string field names, their own history loops), so a protocol change touched three
//! places and drift showed only at run time. Everything here is built from the `app` crate's
//! types: the frames of [`app::protocol`], the argument structs the `#[server]` functions of
//! [`app::api`] generate, and [`app::api::ApiError`] for refusals.
//!
//! - [`api`]: [`Api`], typed calls to the server functions, carrying the session cookie.
//! - [`socket`]: [`Socket`], the `/ws` connection: sends [`app::protocol::ClientFrame`]s, yields
//!   [`app::protocol::ServerFrame`]s.
//! - [`frame`]: [`FrameRef`], the borrowed reader for the two hot frames (`message`, `ack`), for
//!   clients that must keep up with tens of thousands of frames a second.
//! - [`history`]: paging backwards through a room's history.

pub mod api;
pub mod frame;
pub mod history;
pub mod socket;

pub use api::{Api, CallError};
pub use frame::FrameRef;
pub use socket::{Socket, SocketError};
/// The WebSocket library [`Socket`] speaks through: its `Message` for [`Socket::send_raw`] and
/// [`Socket::recv`], its `WebSocketConfig` for [`Socket::connect_with`].
pub use tokio_tungstenite::tungstenite;
