//! [`ApiError`]: the one error type of every server function, with its wire form and its HTTP
//! status. Its own module because browser, server and native client all match on it.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use leptos::server_fn::Decodes;
use serde::{Deserialize, Serialize};

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
    #[error("no such user")]
    NoSuchUser,
    /// An edit or deletion of a message that is not there (never was, was deleted, or is not
    /// a message).
    #[error("no such message")]
    NoSuchMessage,
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
            Self::NoSuchRoom | Self::NoSuchUser | Self::NoSuchMessage => 404,
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

    /// An error answer that is not ours (a proxy's page while the server restarts, say) is
    /// no fault of the request: the caller is told the server did not answer, not shown a
    /// parser's complaint as a "bad request".
    fn de(data: leptos::server_fn::Bytes) -> Self {
        Self::Encoder::decode(data).unwrap_or_else(|_| Self::Request(NO_ANSWER.to_owned()))
    }
}

/// What [`ApiError::Request`] says when an error answer could not be read.
const NO_ANSWER: &str = "no answer from the server; try again";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_answer_reads_back_as_sent_and_one_not_ours_as_no_answer() {
        let sent = ApiError::RateLimited(3);
        assert_eq!(ApiError::de(sent.ser()), sent);
        let proxy_page = leptos::server_fn::Bytes::from_static(b"<html>502 Bad Gateway</html>");
        let read = ApiError::de(proxy_page);
        assert_eq!(read, ApiError::Request(NO_ANSWER.to_owned()));
        assert_eq!(
            read.to_string(),
            "request failed: no answer from the server; try again"
        );
    }
}
