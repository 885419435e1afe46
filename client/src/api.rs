//! Typed calls to the server functions at `/api/*`, as the signed-in user of one session cookie.
//!
//! The arguments are the structs `#[server]` generates in [`app::api`] (`CreateRoom { name }`,
//! `History { room_id, before_seq, limit }`, …) and the path and result type come from their
//! [`ServerFn`] impl, so a call cannot name a field or an endpoint the server does not have. A
//! refusal comes back as the HTTP status with the server's [`ApiError`].
//!
//! An [`Api`] holds at most one session cookie and never changes it: signing in returns a new
//! handle carrying the cookie the server set, and signing out leaves the old cookie in place, so
//! a test can check the server no longer honours it.

use app::api::Moderation;
use app::api::{self, ApiError, HISTORY_MAX};
use app::model::{
    DirectoryPage, Member, NotifyLevel, RoomId, RoomSummary, StatsSnapshot, UserInfo, Visibility,
};
use app::timeline::Entry;
use leptos::server_fn::ServerFn;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::net::SocketAddr;

/// A server function call that did not return its result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The server answered with an error status and an [`ApiError`].
    #[error("{status}: {error}")]
    Refused { status: u16, error: ApiError },
    /// The request did not complete (connection refused, reset, …).
    #[error("request failed: {0}")]
    Transport(String),
    /// The answer was neither the function's result nor an [`ApiError`].
    #[error("unreadable answer ({status}): {body}")]
    Unreadable { status: u16, body: String },
}

impl CallError {
    /// The status and error of a refusal; `None` when the server gave no typed answer.
    pub fn refusal(&self) -> Option<(u16, &ApiError)> {
        match self {
            Self::Refused { status, error } => Some((*status, error)),
            _ => None,
        }
    }
}

impl From<reqwest::Error> for CallError {
    fn from(err: reqwest::Error) -> Self {
        Self::Transport(err.to_string())
    }
}

/// One session's view of a server: its address and, once signed in, the session cookie.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

impl Api {
    /// A signed-out handle for the server at `base` (`http://host:port`, no trailing path).
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            cookie: None,
        }
    }

    /// A signed-out handle for `http://{addr}`.
    pub fn at(addr: SocketAddr) -> Self {
        Self::new(&format!("http://{addr}"))
    }

    /// The same server, with `cookie` (`name=value`, as a `Cookie` header carries it) sent on
    /// every call and on [`crate::Socket::connect`].
    pub fn with_cookie(&self, cookie: &str) -> Self {
        Self {
            cookie: Some(cookie.to_owned()),
            ..self.clone()
        }
    }

    /// The session cookie as `name=value`, when signed in.
    pub fn cookie(&self) -> Option<&str> {
        self.cookie.as_deref()
    }

    /// `http://host:port`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The WebSocket endpoint of the same server.
    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.base.replacen("http", "ws", 1))
    }

    /// Calls the server function whose arguments are `args`.
    pub async fn call<F>(&self, args: F) -> Result<F::Output, CallError>
    where
        F: ServerFn<Error = ApiError> + Serialize,
        F::Output: DeserializeOwned,
    {
        Ok(self.post(args).await?.0)
    }

    /// Calls the server function whose arguments are `args` and returns the answer as the
    /// server wrote it, with its status: for tests that check what an answer must not contain,
    /// which a typed reading would silently drop.
    pub async fn call_text<F>(&self, args: F) -> Result<(u16, String), CallError>
    where
        F: ServerFn<Error = ApiError> + Serialize,
    {
        let response = self.request(args).send().await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }

    fn request<F>(&self, args: F) -> reqwest::RequestBuilder
    where
        F: ServerFn<Error = ApiError> + Serialize,
    {
        let request = self
            .http
            .post(format!("{}{}", self.base, F::PATH))
            .json(&args);
        match &self.cookie {
            Some(cookie) => request.header(reqwest::header::COOKIE, cookie),
            None => request,
        }
    }

    /// Calls `args` and also returns the session cookie the answer set, if any.
    async fn post<F>(&self, args: F) -> Result<(F::Output, Option<String>), CallError>
    where
        F: ServerFn<Error = ApiError> + Serialize,
        F::Output: DeserializeOwned,
    {
        let response = self.request(args).send().await?;
        let cookie = response
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(str::to_owned);
        let status = response.status().as_u16();
        let body = response.bytes().await?;
        Ok((read_answer(status, &body)?, cookie))
    }

    /// Signs in with `args` (a login or a registration) and returns the signed-in handle.
    async fn sign_in<F>(&self, args: F) -> Result<Self, CallError>
    where
        F: ServerFn<Error = ApiError, Output = UserInfo> + Serialize,
    {
        let (_, cookie) = self.post(args).await?;
        match cookie {
            Some(cookie) => Ok(self.with_cookie(&cookie)),
            None => Err(CallError::Unreadable {
                status: 200,
                body: "signed in, but no session cookie was set".into(),
            }),
        }
    }

    /// Creates the account and returns a handle signed in as it.
    pub async fn register(&self, username: &str, password: &str) -> Result<Self, CallError> {
        self.sign_in(api::Register {
            username: username.into(),
            password: password.into(),
        })
        .await
    }

    /// Starts a new session of an existing account and returns a handle signed in with it.
    pub async fn login(&self, username: &str, password: &str) -> Result<Self, CallError> {
        self.sign_in(api::Login {
            username: username.into(),
            password: password.into(),
        })
        .await
    }

    pub async fn logout(&self) -> Result<(), CallError> {
        self.call(api::Logout {}).await
    }

    pub async fn logout_everywhere(&self) -> Result<(), CallError> {
        self.call(api::LogoutEverywhere {}).await
    }

    pub async fn me(&self) -> Result<UserInfo, CallError> {
        self.call(api::Me {}).await
    }

    pub async fn list_rooms(&self) -> Result<Vec<RoomSummary>, CallError> {
        self.call(api::ListRooms {}).await
    }

    pub async fn room_directory(
        &self,
        query: &str,
        before: Option<RoomId>,
        limit: u32,
    ) -> Result<DirectoryPage, CallError> {
        self.call(api::RoomDirectory {
            query: query.into(),
            before,
            limit,
        })
        .await
    }

    pub async fn room_info(&self, room_id: RoomId) -> Result<RoomSummary, CallError> {
        self.call(api::RoomInfo { room_id }).await
    }

    /// A public room.
    pub async fn create_room(&self, name: &str) -> Result<RoomSummary, CallError> {
        self.create_room_as(name, Visibility::Public).await
    }

    pub async fn create_room_as(
        &self,
        name: &str,
        visibility: Visibility,
    ) -> Result<RoomSummary, CallError> {
        self.call(api::CreateRoom {
            name: name.into(),
            visibility: Some(visibility),
        })
        .await
    }

    pub async fn moderate(
        &self,
        room_id: RoomId,
        username: &str,
        action: Moderation,
    ) -> Result<(), CallError> {
        self.call(api::Moderate {
            room_id,
            username: username.into(),
            action,
        })
        .await
    }

    pub async fn open_direct(&self, usernames: &[&str]) -> Result<RoomSummary, CallError> {
        let usernames = usernames.iter().map(|u| (*u).to_owned()).collect();
        self.call(api::OpenDirect { usernames }).await
    }

    pub async fn join_room(&self, room_id: RoomId) -> Result<RoomSummary, CallError> {
        self.call(api::JoinRoom { room_id }).await
    }

    pub async fn leave_room(&self, room_id: RoomId) -> Result<(), CallError> {
        self.call(api::LeaveRoom { room_id }).await
    }

    pub async fn room_members(&self, room_id: RoomId) -> Result<Vec<Member>, CallError> {
        self.call(api::RoomMembers { room_id }).await
    }

    /// One page: up to `limit` timeline entries (messages, joins, leaves) with seq <
    /// `before_seq` (the newest when `None`), oldest first. [`Api::history_after`] pages through
    /// all of them.
    pub async fn history(
        &self,
        room_id: RoomId,
        before_seq: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Entry>, CallError> {
        self.call(api::History {
            room_id,
            before_seq,
            limit,
        })
        .await
    }

    /// The newest page of the room's history, as large as the server allows.
    pub async fn newest_history(&self, room_id: RoomId) -> Result<Vec<Entry>, CallError> {
        self.history(room_id, None, HISTORY_MAX).await
    }

    pub async fn mark_read(&self, room_id: RoomId, seq: u64) -> Result<(), CallError> {
        self.call(api::MarkRead { room_id, seq }).await
    }

    /// Changes the text of one of your messages; `client_id` names the edit (a retry with the
    /// same one is answered without a second edit).
    pub async fn edit_message(
        &self,
        room_id: RoomId,
        seq: u64,
        content: &str,
        client_id: &str,
    ) -> Result<(), CallError> {
        self.call(api::EditMessage {
            room_id,
            seq,
            content: content.to_owned(),
            client_id: client_id.to_owned(),
        })
        .await
    }

    /// Deletes a message (yours, or anyone's as an owner or moderator).
    pub async fn delete_message(
        &self,
        room_id: RoomId,
        seq: u64,
        client_id: &str,
    ) -> Result<(), CallError> {
        self.call(api::DeleteMessage {
            room_id,
            seq,
            client_id: client_id.to_owned(),
        })
        .await
    }

    /// Sets your reaction `emoji` to a message on or off; `client_id` as for an edit.
    pub async fn react(
        &self,
        room_id: RoomId,
        seq: u64,
        emoji: &str,
        on: bool,
        client_id: &str,
    ) -> Result<(), CallError> {
        self.call(api::React {
            room_id,
            seq,
            emoji: emoji.to_owned(),
            on,
            client_id: client_id.to_owned(),
        })
        .await
    }

    /// Messages of your rooms holding the query's words, best first (see `app::api::search`).
    pub async fn search(
        &self,
        query: app::api::SearchQuery,
    ) -> Result<Vec<app::api::SearchHit>, CallError> {
        self.call(api::Search { query }).await
    }

    /// Deletes a room (its owner only).
    pub async fn delete_room(&self, room_id: RoomId) -> Result<(), CallError> {
        self.call(api::DeleteRoom { room_id }).await
    }

    pub async fn update_room(
        &self,
        room_id: RoomId,
        name: Option<&str>,
        topic: Option<&str>,
    ) -> Result<RoomSummary, CallError> {
        self.call(api::UpdateRoom {
            room_id,
            name: name.map(str::to_owned),
            topic: topic.map(str::to_owned),
        })
        .await
    }

    pub async fn set_notify_level(
        &self,
        room_id: RoomId,
        level: NotifyLevel,
    ) -> Result<(), CallError> {
        self.call(api::SetNotifyLevel { room_id, level }).await
    }

    /// The server's public figures (`GET /api/stats`, no session needed).
    pub async fn stats(&self) -> Result<StatsSnapshot, CallError> {
        let response = self
            .http
            .get(format!("{}{}", self.base, <api::Stats as ServerFn>::PATH))
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.bytes().await?;
        read_answer(status, &body)
    }
}

/// The result in a 2xx answer, or the [`ApiError`] in any other.
fn read_answer<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, CallError> {
    let unreadable = || CallError::Unreadable {
        status,
        body: String::from_utf8_lossy(body).into_owned(),
    };
    if (200..300).contains(&status) {
        serde_json::from_slice(body).map_err(|_| unreadable())
    } else {
        let error = serde_json::from_slice(body).map_err(|_| unreadable())?;
        Err(CallError::Refused { status, error })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_carries_the_status_and_the_typed_error() {
        let body = br#"{"code":"rate_limited","message":3}"#;
        assert_eq!(
            read_answer::<UserInfo>(429, body),
            Err(CallError::Refused {
                status: 429,
                error: ApiError::RateLimited(3)
            })
        );
        assert!(matches!(
            read_answer::<UserInfo>(502, b"<html>bad gateway</html>"),
            Err(CallError::Unreadable { status: 502, .. })
        ));
    }

    #[test]
    fn an_empty_result_reads_as_unit() {
        assert_eq!(read_answer::<()>(200, b"null"), Ok(()));
    }

    #[test]
    fn the_socket_url_follows_the_scheme() {
        assert_eq!(
            Api::new("http://127.0.0.1:3000/").ws_url(),
            "ws://127.0.0.1:3000/ws"
        );
        assert_eq!(
            Api::new("https://chat.example").ws_url(),
            "wss://chat.example/ws"
        );
    }
}
