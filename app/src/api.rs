//! Server functions: accounts, rooms, history and stats, at fixed endpoints under `/api/`.
//!
//! Each function takes and returns JSON (`input = Json`), so other clients can call them as
//! `POST /api/<name>` with a JSON body. The signed-in user always comes from the
//! `minitalk_session` cookie, never from the body. The server crate supplies the real work as an
//! [`ssr::Backend`] in Leptos context; keeping that a trait lets this crate stay free of the
//! server's storage code while still owning the endpoints the browser calls.

use crate::model::{DirectoryPage, Member, RoomId, RoomSummary, StatsSnapshot, UserInfo};
use crate::timeline::Entry;
use leptos::prelude::*;
use leptos::server_fn::codec::{GetUrl, Json, JsonEncoding};
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// Name of the session cookie on plain HTTP.
pub const SESSION_COOKIE: &str = "minitalk_session";
/// Name of the session cookie when the server is configured for HTTPS (`--secure-cookies`).
pub const SECURE_SESSION_COOKIE: &str = "__Host-minitalk_session";
/// Most messages one `history` call returns.
pub const HISTORY_MAX: u32 = 100;
/// Most rooms one `room_directory` call returns.
pub const DIRECTORY_MAX: u32 = 50;

/// What a server function can answer instead of a result. Serialized as
/// `{"code": "...", "message": "..."}`; the HTTP status follows [`ApiError::status`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", content = "message", rename_all = "snake_case")]
pub enum ApiError {
    #[error("{0}")]
    Invalid(String),
    #[error("username taken")]
    UsernameTaken,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("not signed in")]
    NotSignedIn,
    #[error("no such room")]
    NoSuchRoom,
    #[error("you are not a member of this room")]
    NotMember,
    /// Too many attempts (sign-in, room creation, …); the number is the seconds to wait, also
    /// sent as the `Retry-After` header.
    #[error("too many attempts; try again in {0} s")]
    RateLimited(u64),
    /// Signed in, but this action is not allowed (a quota is used up, say).
    #[error("{0}")]
    Forbidden(String),
    /// A state-changing call from another site (its `Origin` or `Sec-Fetch-Site` says so).
    #[error("cross-site request refused")]
    CrossSite,
    /// The body is not `application/json`.
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    /// The server is low on disk space and refuses new content; signing in still works.
    #[error("the server is low on disk space; try again later")]
    StorageFull,
    #[error("something went wrong on the server; try again")]
    Internal,
    /// The request never reached the function (network, decoding).
    #[error("request failed: {0}")]
    Request(String),
}

impl ApiError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Invalid(_) => 400,
            Self::UsernameTaken => 409,
            Self::InvalidCredentials | Self::NotSignedIn => 401,
            Self::NotMember | Self::Forbidden(_) | Self::CrossSite => 403,
            Self::UnsupportedMediaType => 415,
            Self::RateLimited(_) => 429,
            Self::StorageFull => 507,
            Self::NoSuchRoom => 404,
            Self::Internal | Self::Request(_) => 500,
        }
    }
}

impl From<crate::model::Invalid> for ApiError {
    fn from(err: crate::model::Invalid) -> Self {
        Self::Invalid(err.0)
    }
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(text) | ServerFnErrorErr::Deserialization(text) => {
                Self::Invalid(format!("bad request: {text}"))
            }
            other => Self::Request(other.to_string()),
        }
    }
}

#[server(endpoint = "register", input = Json)]
pub async fn register(username: String, password: String) -> Result<UserInfo, ApiError> {
    ssr::answer(async move {
        let username = crate::model::Username::parse(&username)?;
        ssr::check_password(&password)?;
        let jar = ssr::CookieJar::take();
        let (user, token) = ssr::backend()
            .register(ssr::peer_ip(), username, password)
            .await?;
        jar.set_session(&token);
        Ok(user)
    })
    .await
}

#[server(endpoint = "login", input = Json)]
pub async fn login(username: String, password: String) -> Result<UserInfo, ApiError> {
    ssr::answer(async move {
        let username =
            crate::model::Username::parse(&username).map_err(|_| ApiError::InvalidCredentials)?;
        if password.chars().count() > crate::model::MAX_PASSWORD_CHARS {
            return Err(ApiError::InvalidCredentials);
        }
        let jar = ssr::CookieJar::take();
        let (user, token) = ssr::backend()
            .login(ssr::peer_ip(), username, password)
            .await?;
        jar.set_session(&token);
        Ok(user)
    })
    .await
}

#[server(endpoint = "logout", input = Json)]
pub async fn logout() -> Result<(), ApiError> {
    ssr::answer(async move {
        let jar = ssr::CookieJar::take();
        if let Some(token) = ssr::session_token() {
            ssr::backend().logout(&token).await?;
        }
        jar.clear_session();
        Ok(())
    })
    .await
}

/// Ends every session of the signed-in user, in every browser, and closes their sockets.
#[server(endpoint = "logout_everywhere", input = Json)]
pub async fn logout_everywhere() -> Result<(), ApiError> {
    ssr::answer(async move {
        let jar = ssr::CookieJar::take();
        let (backend, user) = ssr::signed_in().await?;
        backend.logout_everywhere(&user).await?;
        jar.clear_session();
        Ok(())
    })
    .await
}

#[server(endpoint = "me", input = Json)]
pub async fn me() -> Result<UserInfo, ApiError> {
    ssr::answer(async move { Ok(ssr::signed_in().await?.1) }).await
}

/// The rooms the signed-in user is a member of.
#[server(endpoint = "list_rooms", input = Json)]
pub async fn list_rooms() -> Result<Vec<RoomSummary>, ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        backend.list_rooms(&user).await
    })
    .await
}

/// One page of every room, newest first, optionally only those whose name contains `query`
/// (ignoring case); `before` is the previous page's `next`.
#[server(endpoint = "room_directory", input = Json)]
pub async fn room_directory(
    query: String,
    before: Option<RoomId>,
    limit: u32,
) -> Result<DirectoryPage, ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        if query.chars().count() > crate::model::MAX_ROOM_NAME_CHARS {
            return Err(ApiError::Invalid(
                "search text is longer than any room name".into(),
            ));
        }
        let limit = limit.clamp(1, DIRECTORY_MAX);
        backend.room_directory(&user, &query, before, limit).await
    })
    .await
}

/// One room, as the signed-in user sees it (members and non-members alike).
#[server(endpoint = "room_info", input = Json)]
pub async fn room_info(room_id: RoomId) -> Result<RoomSummary, ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        backend.room_info(&user, room_id).await
    })
    .await
}

#[server(endpoint = "create_room", input = Json)]
pub async fn create_room(name: String) -> Result<RoomSummary, ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        let name = crate::model::RoomName::parse(&name)?;
        backend.create_room(&user, name).await
    })
    .await
}

#[server(endpoint = "join_room", input = Json)]
pub async fn join_room(room_id: RoomId) -> Result<RoomSummary, ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        backend.join_room(&user, room_id).await
    })
    .await
}

#[server(endpoint = "leave_room", input = Json)]
pub async fn leave_room(room_id: RoomId) -> Result<(), ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        backend.leave_room(&user, room_id).await
    })
    .await
}

#[server(endpoint = "room_members", input = Json)]
pub async fn room_members(room_id: RoomId) -> Result<Vec<Member>, ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        backend.room_members(&user, room_id).await
    })
    .await
}

/// Up to `limit` (at most [`HISTORY_MAX`]) timeline entries (messages, joins and leaves) with
/// seq < `before_seq` (the newest when `None`), in ascending seq order.
#[server(endpoint = "history", input = Json)]
pub async fn history(
    room_id: RoomId,
    before_seq: Option<u64>,
    limit: u32,
) -> Result<Vec<Entry>, ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        let limit = limit.clamp(1, HISTORY_MAX);
        backend.history(&user, room_id, before_seq, limit).await
    })
    .await
}

#[server(endpoint = "mark_read", input = Json)]
pub async fn mark_read(room_id: RoomId, seq: u64) -> Result<(), ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        backend.mark_read(&user, room_id, seq).await
    })
    .await
}

/// The message processor's live figures; public, like a status page.
#[server(endpoint = "stats", input = GetUrl)]
pub async fn stats() -> Result<StatsSnapshot, ApiError> {
    ssr::answer(async move { Ok(ssr::backend().stats()) }).await
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! The server half of the server functions: the [`Backend`] seam and the cookie plumbing.

    use super::{ApiError, SECURE_SESSION_COOKIE, SESSION_COOKIE};
    use crate::model::{
        DirectoryPage, Member, RoomId, RoomName, RoomSummary, StatsSnapshot, UserInfo, Username,
        MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS,
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
        fn logout_everywhere<'a>(
            &'a self,
            user: &'a UserInfo,
        ) -> BoxFuture<'a, Result<(), ApiError>>;
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
}
