//! What the client is told when something goes wrong: error frames from domain errors, and close
//! codes from broken frames. One place, so a code means the same thing wherever it is sent.

use crate::access::Refusal;
use crate::processor::SendError;
use app::api::ApiError;
use app::protocol::{ErrorCode, ErrorFrame};

/// Close code for a socket whose session ended (sign-out, expiry).
pub const CLOSE_SIGNED_OUT: u16 = 4001;
/// Close code for a server going away (shutdown, a peer that stopped answering pings).
pub const CLOSE_GOING_AWAY: u16 = 1001;

/// How long a sender refused for low disk space is asked to wait: space comes back when an
/// operator acts, not within milliseconds, and the watermark is re-read once a second.
const STORAGE_FULL_RETRY_MS: u64 = 5_000;

/// The error code and message for a refusal from the rooms or accounts.
pub fn api_error_code(error: &ApiError) -> (ErrorCode, String) {
    let code = match error {
        ApiError::NotMember => ErrorCode::NotMember,
        ApiError::NoSuchRoom => ErrorCode::NoSuchRoom,
        ApiError::NotSignedIn | ApiError::InvalidCredentials => ErrorCode::Unauthorized,
        ApiError::Invalid(_) => ErrorCode::Invalid,
        _ => ErrorCode::Internal,
    };
    (code, error.to_string())
}

/// The error frame for a processor refusal, filled into `base` (which names the message).
pub fn send_error_frame(error: &SendError, base: ErrorFrame) -> ErrorFrame {
    let (code, retry_after_ms) = match error {
        SendError::Overloaded { retry_after_ms } => (ErrorCode::Overloaded, Some(*retry_after_ms)),
        SendError::ShuttingDown => (ErrorCode::Overloaded, Some(1000)),
        SendError::Storage => (ErrorCode::Internal, None),
        SendError::ClientIdReused => (ErrorCode::ClientIdReused, None),
        SendError::StorageFull => (ErrorCode::StorageFull, Some(STORAGE_FULL_RETRY_MS)),
        SendError::Refused(Refusal::NoSuchRoom) => (ErrorCode::NoSuchRoom, None),
        // A reply to a message that is not there (deleted meanwhile).
        SendError::Refused(Refusal::NoSuchMessage) => (ErrorCode::NoSuchMessage, None),
        // Otherwise a message is refused only for want of membership (kicked or left
        // meanwhile).
        SendError::Refused(_) => (ErrorCode::NotMember, None),
    };
    ErrorFrame {
        code,
        message: error.to_string(),
        retry_after_ms,
        ..base
    }
}

/// The close code and reason for a frame the socket could not read (its error's text is all
/// the WebSocket layer gives).
pub fn close_code_for(error: &str) -> (u16, &'static str) {
    if error.contains("Space limit exceeded") || error.contains("too long") {
        (1009, "frame too large")
    } else if error.contains("UTF-8") || error.contains("utf-8") {
        (1007, "invalid UTF-8")
    } else {
        (1002, "protocol error")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_frames_close_with_the_code_that_names_the_problem() {
        assert_eq!(
            close_code_for("Space limit exceeded: 70000 > 65536").0,
            1009
        );
        assert_eq!(close_code_for("Could not decode: invalid utf-8").0, 1007);
        assert_eq!(close_code_for("anything else").0, 1002);
    }

    #[test]
    fn a_full_disk_asks_the_sender_to_wait_seconds_not_milliseconds() {
        let base = ErrorFrame {
            client_id: Some("c1".into()),
            room_id: None,
            code: ErrorCode::Internal,
            message: String::new(),
            retry_after_ms: None,
        };
        let frame = send_error_frame(&SendError::StorageFull, base);
        assert_eq!(frame.code, ErrorCode::StorageFull);
        assert_eq!(frame.retry_after_ms, Some(STORAGE_FULL_RETRY_MS));
        assert_eq!(frame.client_id.as_deref(), Some("c1"));
    }
}
