//! What the server's error frames mean to the tab, as steps of the [`ChatState`]:
//!
//! - `overloaded` / `rate_limited` for a send: keep it pending and resend when the server says
//!   (never sooner than [`RESEND_AFTER_MIN`]); any other error for a send: it failed, and the
//!   person may retry it;
//! - `not_member` / `no_such_room` for a room: stop listening and say why;
//! - `internal` for a room: the server could not read its history and dropped it, so ask again
//!   from the cursor after [`RESUBSCRIBE_AFTER`];
//! - `unauthorized` without a room: the session ended, sign in again.

use super::ChatState;
use crate::client::command::{Command, Part};
use crate::protocol::{ErrorCode, ErrorFrame};
use std::time::Duration;

/// How long to wait before resubscribing to a room the server dropped after a failed read.
pub const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(1);
/// The shortest wait before resending after `overloaded` / `rate_limited`.
const RESEND_AFTER_MIN: Duration = Duration::from_millis(50);

impl ChatState {
    pub(super) fn on_error(&mut self, error: ErrorFrame) -> Vec<Command> {
        if let Some(client_id) = &error.client_id {
            return self.on_send_error(client_id, &error);
        }
        let Some(room_id) = error.room_id else {
            return match error.code {
                ErrorCode::Unauthorized => vec![Command::SignIn],
                _ => Vec::new(),
            };
        };
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return Vec::new();
        };
        match error.code {
            ErrorCode::NotMember | ErrorCode::NoSuchRoom => {
                room.open = false;
                room.denied = Some(error.message);
                vec![Command::Redraw(room_id, Part::Access)]
            }
            // The server could not read the room's history and dropped it: ask again from the
            // cursor, after a moment.
            ErrorCode::Internal if room.open => vec![Command::ResubscribeAfter {
                after: RESUBSCRIBE_AFTER,
                room_id,
            }],
            _ => Vec::new(),
        }
    }

    /// An error answering one of our sends: in its room, or (without a room) wherever the
    /// `client_id` is held.
    fn on_send_error(&mut self, client_id: &str, error: &ErrorFrame) -> Vec<Command> {
        let mut commands = Vec::new();
        for (&room_id, room) in self.rooms.iter_mut() {
            if error.room_id.is_some_and(|r| r != room_id) || !room.outbox.holds(client_id) {
                continue;
            }
            match (error.code, error.retry_after_ms) {
                // Busy, not broken: keep it pending and try again when the server says.
                (ErrorCode::RateLimited | ErrorCode::Overloaded, Some(after)) => {
                    commands.push(Command::ResendAfter {
                        after: Duration::from_millis(after).max(RESEND_AFTER_MIN),
                        room_id,
                        client_id: client_id.to_owned(),
                    });
                }
                _ => {
                    room.outbox.fail(client_id, error.message.clone());
                    commands.push(Command::Redraw(room_id, Part::Outbox));
                }
            }
        }
        commands
    }
}
