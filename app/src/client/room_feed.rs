//! [`RoomFeed`]: one room as the page sees it, a reactive handle on the room's part of the
//! chat's [`ChatState`].
//!
//! Why its own triggers: a busy room changes many times a second, and each part of the page
//! (the message list, the pending sends, the "cannot post" notice) should redraw only when its
//! own part changed.

use super::feed::Window;
use super::outbox::Outgoing;
use super::state::ChatState;
use crate::model::{ChatMessage, RoomId, Username};
use crate::timeline::MemberEvent;
use leptos::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

/// The reactive view of one room: reads go to the chat's [`ChatState`], and each part has its
/// own trigger so a new message redraws the list, not the composer. Its signals belong to the
/// [`Chat`], so a feed outlives the page that opened it (pending sends keep going while the
/// person looks at another page).
#[derive(Debug, Clone, Copy)]
pub struct RoomFeed {
    pub room_id: RoomId,
    pub(super) core: StoredValue<ChatState>,
    pub(super) messages: Trigger,
    pub(super) outbox: Trigger,
    pub(super) access: Trigger,
    /// Who is typing now, each with the token of their latest hint.
    pub typing: RwSignal<Vec<(Username, u64)>>,
    /// Presence changes seen since the page loaded, by [`Username::key`].
    pub presence: RwSignal<HashMap<String, (Username, bool)>>,
    /// The newest membership change of each user seen since the page loaded (timeline
    /// entries), by [`Username::key`]: the member list applies them on top of the list it
    /// loaded.
    pub membership: RwSignal<HashMap<String, MemberEvent>>,
    /// Who deleted the room, once its deletion arrived while the page was open.
    pub deleted_by: RwSignal<Option<Username>>,
    /// The message the composer replies to (a row's Reply sets it; sending or ✕ clears it).
    pub replying: RwSignal<Option<Arc<ChatMessage>>>,
}

impl RoomFeed {
    /// Reads the room's message window (tracked: reruns when messages change).
    pub fn with_window<T>(&self, f: impl FnOnce(&Window) -> T) -> T {
        self.messages.track();
        self.with_window_untracked(f)
    }

    pub fn with_window_untracked<T>(&self, f: impl FnOnce(&Window) -> T) -> T {
        let room_id = self.room_id;
        self.core.with_value(|core| match core.room(room_id) {
            Some(room) => f(&room.window),
            None => f(&Window::default()),
        })
    }

    /// Changes the window from the page (history pages, jumping to the latest) and redraws.
    pub fn update_window(&self, f: impl FnOnce(&mut Window)) {
        let room_id = self.room_id;
        self.core
            .update_value(|core| f(&mut core.room_mut(room_id).window));
        self.messages.notify();
    }

    /// The newest seq held (tracked).
    pub fn newest_seq(&self) -> Option<u64> {
        self.with_window(Window::newest_seq)
    }

    /// The oldest seq held (tracked).
    pub fn oldest_seq(&self) -> Option<u64> {
        self.with_window(Window::oldest_seq)
    }

    /// Whether the reader is at the newest message: a full window then slides on, otherwise it
    /// stops taking live messages (see [`Window::push_live`]).
    pub fn set_following(&self, following: bool) {
        let room_id = self.room_id;
        self.core
            .update_value(|core| core.room_mut(room_id).following = following);
    }

    /// How many rows the list's view shows at most (it measures itself at every redraw that
    /// ends at the bottom; written only when the view was resized).
    pub fn set_view_rows(&self, rows: usize) {
        let room_id = self.room_id;
        let known = self
            .core
            .with_value(|core| core.room(room_id).and_then(|room| room.view_rows));
        if known != Some(rows) {
            self.core
                .update_value(|core| core.room_mut(room_id).view_rows = Some(rows));
        }
    }

    /// Whether the reader is at the newest message, as the list last said.
    pub fn is_following_untracked(&self) -> bool {
        let room_id = self.room_id;
        self.core
            .with_value(|core| core.room(room_id).is_none_or(|room| room.following))
    }

    /// Before a redraw of the list for new messages: leaves out those that would scroll past
    /// unseen while the reader follows the newest.
    pub(super) fn skip_unseen(&self) {
        let room_id = self.room_id;
        self.core.update_value(|core| {
            let room = core.room_mut(room_id);
            let view_rows = room.view_rows.filter(|_| room.following);
            room.window.skip_unseen(view_rows);
        });
    }

    /// Our unacknowledged sends, oldest first (tracked; at most [`super::outbox::OUTBOX_MAX`]).
    pub fn outbox(&self) -> Vec<Outgoing> {
        self.outbox.track();
        let room_id = self.room_id;
        self.core.with_value(|core| {
            core.room(room_id)
                .map(|room| room.outbox.entries().to_vec())
                .unwrap_or_default()
        })
    }

    /// How many sends wait for their ack (tracked).
    pub fn outbox_len(&self) -> usize {
        self.outbox.track();
        let room_id = self.room_id;
        self.core
            .with_value(|core| core.room(room_id).map_or(0, |room| room.outbox.len()))
    }

    /// Why the server refused to let us listen (tracked).
    pub fn denied(&self) -> Option<String> {
        self.access.track();
        let room_id = self.room_id;
        self.core
            .with_value(|core| core.room(room_id).and_then(|room| room.denied.clone()))
    }
}
