//! What the chat's state machine ([`super::state`]) asks the reactive layer to do after a step:
//! frames to transmit, timers to set, parts of the page to redraw.
//!
//! Why values and not calls: the state machine stays pure, so its tests read the commands it
//! returns; [`super::Chat`] carries them out in the browser.

use super::notices::Notice;
use crate::model::{RoomId, Username};
use crate::protocol::ClientFrame;
use crate::timeline::{MemberEvent, RoomDeletedEvent};
use std::time::Duration;

/// What a part of the page shows, so only that part redraws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Messages,
    Outbox,
    /// Whether we may listen ([`super::state::RoomState::denied`]).
    Access,
}

/// What the reactive layer must do after a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Transmit(ClientFrame),
    /// Call [`super::state::ChatState::resend_due`] for this send after the wait.
    ResendAfter {
        after: Duration,
        room_id: RoomId,
        client_id: String,
    },
    /// Call [`super::state::ChatState::resubscribe_due`] for this room after the wait.
    ResubscribeAfter {
        after: Duration,
        room_id: RoomId,
    },
    Redraw(RoomId, Part),
    /// The user's room list changed (the sidebar and the tab title redraw).
    RedrawRoomList,
    /// Someone is typing in a room (shown for a while by the page).
    ShowTyping {
        room_id: RoomId,
        user: Username,
    },
    Presence {
        room_id: RoomId,
        user: Username,
        online: bool,
    },
    /// Someone's membership changed (a timeline entry: a join, leave, invitation, kick, ban or
    /// role change): the member list changes.
    Membership(MemberEvent),
    /// The owner deleted the room: the page says so (the sidebar follows from the user
    /// stream's `room_removed`).
    RoomDeleted(RoomDeletedEvent),
    /// A new message calls for a desktop notification (shown if the person allowed them and
    /// is not looking at the room).
    Notify(Notice),
    /// The session ended: go to the sign-in page.
    SignIn,
}
