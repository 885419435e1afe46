//! The server half of the server functions: the [`Backend`] seam and the cookie plumbing.

use super::{ApiError, Moderation, SECURE_SESSION_COOKIE, SESSION_COOKIE};
use crate::model::{
    ClientId, DirectoryPage, Member, MessageBody, NotifyLevel, RoomId, RoomName, RoomSummary,
    StatsSnapshot, Topic, UserInfo, Username, Visibility, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS,
};
use crate::timeline::Entry;
use futures::future::BoxFuture;
use http::{header, HeaderValue};
use leptos::prelude::*;
use leptos_axum::ResponseOptions;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// What the server functions need from the server. Every call that reaches storage is async:
/// the server decides what blocks and where (a file write on its blocking pool, password
/// work behind its sign-in gate), so no server function here ever blocks a worker thread.
/// Object-safe (`BoxFuture`), so the server puts one `Arc<dyn Backend>` into context.
pub trait Backend: Send + Sync + 'static {
    /// Creates the account and a session; returns the session token.
    fn register(
        &self,
        peer: Option<IpAddr>,
        username: Username,
        password: String,
    ) -> BoxFuture<'static, Result<(UserInfo, String), ApiError>>;
    fn login(
        &self,
        peer: Option<IpAddr>,
        username: Username,
        password: String,
    ) -> BoxFuture<'static, Result<(UserInfo, String), ApiError>>;
    /// Ends the session of `token` and closes its sockets.
    fn logout<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<(), ApiError>>;
    /// Ends every session of `user` and closes all their sockets.
    fn logout_everywhere<'a>(&'a self, user: &'a UserInfo) -> BoxFuture<'a, Result<(), ApiError>>;
    /// The signed-in user of a session token, if it is valid.
    fn session_user<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<UserInfo>, ApiError>>;
    /// Whether the session cookie is `Secure` and named with the `__Host-` prefix (the site
    /// is served over HTTPS). Configuration, so synchronous.
    fn secure_cookies(&self) -> bool;
    /// The rooms `user` is a member of.
    fn list_rooms<'a>(
        &'a self,
        user: &'a UserInfo,
    ) -> BoxFuture<'a, Result<Vec<RoomSummary>, ApiError>>;
    fn room_directory<'a>(
        &'a self,
        user: &'a UserInfo,
        query: &'a str,
        before: Option<RoomId>,
        limit: u32,
    ) -> BoxFuture<'a, Result<DirectoryPage, ApiError>>;
    fn room_info<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
    ) -> BoxFuture<'a, Result<RoomSummary, ApiError>>;
    fn create_room<'a>(
        &'a self,
        user: &'a UserInfo,
        name: RoomName,
        visibility: Visibility,
    ) -> BoxFuture<'a, Result<RoomSummary, ApiError>>;
    /// `user` invites, kicks, bans, unbans or changes the role of `target` in `room`.
    fn moderate<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
        target: Username,
        action: Moderation,
    ) -> BoxFuture<'a, Result<(), ApiError>>;
    fn update_room<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
        name: Option<RoomName>,
        topic: Option<Topic>,
    ) -> BoxFuture<'a, Result<RoomSummary, ApiError>>;
    /// `user` deletes `room` (its owner only; not a direct conversation).
    fn delete_room<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
    ) -> BoxFuture<'a, Result<(), ApiError>>;
    /// `user` changes the text of their message `seq` in `room`.
    fn edit_message<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
        seq: u64,
        content: MessageBody,
        client_id: ClientId,
    ) -> BoxFuture<'a, Result<(), ApiError>>;
    /// `user` deletes message `seq` of `room` (theirs, or anyone's as an owner or moderator).
    fn delete_message<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
        seq: u64,
        client_id: ClientId,
    ) -> BoxFuture<'a, Result<(), ApiError>>;
    /// The hits of `query` (its words checked) in `user`'s rooms, by `sender` when given.
    fn search<'a>(
        &'a self,
        user: &'a UserInfo,
        query: super::SearchQuery,
        sender: Option<crate::model::Username>,
    ) -> BoxFuture<'a, Result<Vec<super::SearchHit>, ApiError>>;
    /// `user` sets their reaction `emoji` to message `seq` of `room` on or off.
    fn react<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
        seq: u64,
        emoji: crate::reactions::Emoji,
        on: bool,
        client_id: ClientId,
    ) -> BoxFuture<'a, Result<(), ApiError>>;
    /// The direct conversation of `user` and `others` (distinct, not `user`).
    fn open_direct<'a>(
        &'a self,
        user: &'a UserInfo,
        others: Vec<Username>,
    ) -> BoxFuture<'a, Result<RoomSummary, ApiError>>;
    fn join_room<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
    ) -> BoxFuture<'a, Result<RoomSummary, ApiError>>;
    fn leave_room<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
    ) -> BoxFuture<'a, Result<(), ApiError>>;
    fn room_members<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
    ) -> BoxFuture<'a, Result<Vec<Member>, ApiError>>;
    fn history<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
        before_seq: Option<u64>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<Entry>, ApiError>>;
    fn mark_read<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
        seq: u64,
    ) -> BoxFuture<'a, Result<(), ApiError>>;
    fn set_notify_level<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
        level: NotifyLevel,
    ) -> BoxFuture<'a, Result<(), ApiError>>;
    /// The processor's live figures (in memory, so synchronous).
    fn stats(&self) -> StatsSnapshot;
}

/// The backend the server put into context.
pub type SharedBackend = Arc<dyn Backend>;

pub fn backend() -> SharedBackend {
    expect_context::<SharedBackend>()
}

/// Runs a server function body and, when it fails, sets the HTTP status its error calls for.
///
/// Only when it answers its own `/api/*` request: a page that calls server functions while
/// it renders on the server shares their response, and a signed-out visitor's `/login` must
/// not be answered 401 because the page asked who is signed in.
pub async fn answer<T>(body: impl Future<Output = Result<T, ApiError>>) -> Result<T, ApiError> {
    // Read from the context before awaiting, like everything a server function needs.
    let own_request = use_context::<http::request::Parts>()
        .is_some_and(|parts| parts.uri.path().starts_with("/api/"));
    let options = use_context::<ResponseOptions>();
    let result = body.await;
    if let (Err(err), true) = (&result, own_request) {
        if let Some(options) = options {
            options.set_status(
                http::StatusCode::from_u16(err.status())
                    .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
            );
            if let ApiError::RateLimited(secs) = err {
                options.insert_header(header::RETRY_AFTER, HeaderValue::from(*secs));
            }
        }
    }
    result
}

/// The address the request came from (the TCP peer; a reverse proxy's address when behind
/// one).
pub fn peer_ip() -> Option<IpAddr> {
    let parts = use_context::<http::request::Parts>()?;
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}

pub fn check_password(password: &str) -> Result<(), ApiError> {
    let len = password.chars().count();
    if len < MIN_PASSWORD_CHARS {
        return Err(ApiError::Invalid(format!(
            "password must be at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if len > MAX_PASSWORD_CHARS {
        return Err(ApiError::Invalid(format!(
            "password must be at most {MAX_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

/// The session token from the request's cookie header, if any.
pub fn session_token() -> Option<String> {
    let parts = use_context::<http::request::Parts>()?;
    // No backend in context (a page rendered outside the app's routes): nobody is signed in.
    let secure = use_context::<SharedBackend>()?.secure_cookies();
    session_token_from_headers(&parts.headers, secure)
}

/// The session cookie's name: with `Secure`, the `__Host-` prefix makes the browser refuse
/// it unless it was set over HTTPS by this host with `Path=/` and no `Domain`, so a sibling
/// subdomain cannot plant one.
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// Finds the session cookie in request headers. Shared with the WebSocket upgrade, which
/// authenticates the same way. Several cookies of that name (one planted for a narrower
/// path or a parent domain: "cookie tossing") mean no session at all, rather than a guess
/// at which is the user's own.
pub fn session_token_from_headers(headers: &http::HeaderMap, secure: bool) -> Option<String> {
    let wanted = session_cookie_name(secure);
    let mut found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == wanted)
        .map(|(_, token)| token.to_owned());
    let token = found.next()?;
    found.next().is_none().then_some(token)
}

/// The backend and the signed-in user of this request. Reads the request's context when
/// called, before anything is awaited (a server function's context is not promised after
/// an await). No backend in context (a page rendered outside the app's routes): nobody is
/// signed in.
pub fn signed_in(
) -> impl Future<Output = Result<(SharedBackend, UserInfo), ApiError>> + Send + 'static {
    let token = session_token();
    let backend = use_context::<SharedBackend>();
    async move {
        let (Some(token), Some(backend)) = (token, backend) else {
            return Err(ApiError::NotSignedIn);
        };
        let user = backend.session_user(&token).await?;
        Ok((backend, user.ok_or(ApiError::NotSignedIn)?))
    }
}

/// Where a server function writes the session cookie. Taken from the request's context
/// when the function starts, before any `.await`, so it never depends on what the context
/// holds when the work comes back.
pub struct CookieJar {
    options: Option<ResponseOptions>,
    secure: bool,
}

impl CookieJar {
    pub fn take() -> Self {
        Self {
            options: use_context::<ResponseOptions>(),
            secure: use_context::<SharedBackend>().is_some_and(|b| b.secure_cookies()),
        }
    }

    pub fn set_session(&self, token: &str) {
        self.set(token, "Max-Age=2592000");
    }

    pub fn clear_session(&self) {
        self.set("", "Max-Age=0");
    }

    fn set(&self, value: &str, age: &str) {
        let name = session_cookie_name(self.secure);
        let flags = if self.secure { "; Secure" } else { "" };
        let cookie = format!("{name}={value}; HttpOnly; SameSite=Lax; Path=/; {age}{flags}");
        if let (Some(options), Ok(value)) = (&self.options, HeaderValue::from_str(&cookie)) {
            options.append_header(header::SET_COOKIE, value);
        }
    }
}
