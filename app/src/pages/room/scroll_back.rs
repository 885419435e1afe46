//! Reading back: the history page before the oldest held message loads by itself when the
//! reader scrolls near the top of the list (held rows not drawn, after a flood, are drawn
//! first), and the rows they were looking at stay in place.
//!
//! Why automatic: the room's window holds at most [`crate::client::WINDOW`] messages, so
//! reading back is a series of page loads; a person scrolling up should not have to find and
//! press a button for each. The list is focusable, so Home, Page Up and the arrow keys scroll
//! it and load the same way; a list too short to scroll loads until it fills or reaches the
//! start of the room.
//!
//! What it promises:
//! - **One request at a time**, none while the page is loading the newest messages (a jump to
//!   the latest), none past the start of the room, and none while the list follows the newest
//!   message unless its view is at the very top (see [`ScrollBack::measure`]).
//! - **Contiguous.** A page is added only if the oldest held message is still the one it was
//!   asked for; otherwise it is dropped (the window changed meanwhile) and the next scroll asks
//!   again. The window's own rules then keep it bounded ([`Window::absorb_older`]).
//! - **The view holds still.** The row that was the oldest keeps its distance from the top of
//!   the view, whether rows were added above it or the window dropped its newest below.
//! - **A failure waits for the person**: it is shown with "Try again" instead of being retried
//!   in a loop.

use crate::api::{history, HISTORY_MAX};
use crate::client::{RoomFeed, Window};
use leptos::html;
use leptos::prelude::*;
use leptos::web_sys::{HtmlDivElement, HtmlElement};
use wasm_bindgen::JsCast;

/// How close to the top of the list (px) the next older page starts loading: a little ahead,
/// so a reader scrolling steadily rarely reaches the top before it arrives.
const NEAR_TOP_PX: i32 = 400;

/// The reading-back state of one message list. Cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct ScrollBack {
    feed: RoomFeed,
    log: NodeRef<html::Div>,
    /// Whether the view is within [`NEAR_TOP_PX`] of the top, as last measured.
    near_top: RwSignal<bool>,
    /// A page is on its way.
    pub loading: RwSignal<bool>,
    /// Why the last page did not load; loading waits until it is cleared ([`Self::retry`]).
    pub error: RwSignal<Option<String>>,
}

impl ScrollBack {
    /// Loads older pages for `log` whenever its view is near the top, unless `busy`.
    pub fn new(feed: RoomFeed, log: NodeRef<html::Div>, busy: Signal<bool>) -> Self {
        let this = Self {
            feed,
            log,
            near_top: RwSignal::new(false),
            loading: RwSignal::new(false),
            error: RwSignal::new(None),
        };
        Effect::new(move |_| {
            let wanted = this.near_top.get()
                && !this.loading.get()
                && this.error.with(Option::is_none)
                && !busy.get();
            if wanted {
                this.load();
            }
        });
        this
    }

    /// Takes a new measure of the view after it scrolled or the list changed. While the list
    /// follows the newest message it is not read back: it loads only once its view is at the
    /// very top (a list too short to scroll, or a reader gone up within the bottom's slack). A
    /// flood is drawn a screenful at a time ([`Window::skip_unseen`]); near its top but
    /// following, the list would otherwise draw older rows only for the next redraw to leave
    /// out again.
    pub fn measure(&self, log: &HtmlDivElement) {
        let top = log.scroll_top();
        let near = top <= NEAR_TOP_PX && (top == 0 || !self.feed.is_following_untracked());
        if self.near_top.get_untracked() != near {
            self.near_top.set(near);
        }
    }

    /// Clears a failure, so loading resumes while the view is near the top.
    pub fn retry(&self) {
        self.error.set(None);
    }

    fn load(self) {
        // Rows held but not drawn (a flood was drawn a screenful at a time) come first, from
        // memory.
        if self.feed.with_window_untracked(Window::is_partly_drawn) {
            self.loading.set(true);
            let anchor = self.oldest_drawn();
            self.feed
                .update_window(|window| window.reveal(HISTORY_MAX as usize));
            self.settle(anchor);
            return;
        }
        let Some(before) = self
            .feed
            .with_window_untracked(Window::start)
            .filter(|&start| start > 1)
        else {
            return;
        };
        self.loading.set(true);
        leptos::task::spawn_local(async move {
            let answer = history(self.feed.room_id, Some(before), HISTORY_MAX).await;
            let still_below = self.feed.with_window_untracked(Window::start) == Some(before);
            match answer {
                Ok(page) if still_below => {
                    let anchor = self.oldest_drawn();
                    self.feed.update_window(|window| window.absorb_older(page));
                    self.settle(anchor);
                }
                Ok(_) => {
                    self.loading.try_set(false);
                }
                Err(e) => {
                    self.error.try_set(Some(e.to_string()));
                    self.loading.try_set(false);
                }
            }
        });
    }

    /// Where the oldest drawn row is in the view: it stays there while rows come above it.
    fn oldest_drawn(self) -> Option<Anchor> {
        let oldest = self.feed.with_window_untracked(Window::oldest_drawn_seq);
        oldest
            .zip(self.log.get_untracked())
            .and_then(|(oldest, log)| Anchor::at(&log, oldest))
    }

    /// After the list has redrawn with rows above `anchor`: puts the view back, measures it
    /// again, and only then allows the next load (which the new measure may start).
    fn settle(self, anchor: Option<Anchor>) {
        request_animation_frame(move || {
            if let Some(log) = self.log.get_untracked() {
                if let Some(anchor) = anchor {
                    anchor.restore(&log);
                }
                self.measure(&log);
            }
            self.loading.try_set(false);
        });
    }
}

/// Where one row sits in the view, so the view can be put back after the list changed, or
/// told apart from a change of the rows around it (see [`Anchor::view_moved_up`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Anchor {
    seq: u64,
    /// The row's distance from the top of the view, in px.
    from_view_top: i32,
}

impl Anchor {
    pub(super) fn at(log: &HtmlDivElement, seq: u64) -> Option<Self> {
        let row = row(log, seq)?;
        Some(Self {
            seq,
            from_view_top: row.offset_top() - log.scroll_top(),
        })
    }

    fn restore(self, log: &HtmlDivElement) {
        if let Some(row) = row(log, self.seq) {
            log.set_scroll_top(row.offset_top() - self.from_view_top);
        }
    }

    /// The anchor the row would have with the view `px` further down.
    pub(super) fn scrolled_down(self, px: i32) -> Self {
        Self {
            from_view_top: self.from_view_top - px,
            ..self
        }
    }

    /// How far (px) the view moved up over the row since the anchor was taken; `None` once
    /// the row is gone. Rows added or dropped around it, or the browser clamping the view when
    /// the list gets shorter, move the row and the view together and do not count.
    pub(super) fn view_moved_up(self, log: &HtmlDivElement) -> Option<i32> {
        let row = row(log, self.seq)?;
        Some(row.offset_top() - log.scroll_top() - self.from_view_top)
    }
}

fn row(log: &HtmlDivElement, seq: u64) -> Option<HtmlElement> {
    log.query_selector(&format!("li[data-seq=\"{seq}\"]"))
        .ok()
        .flatten()
        .map(JsCast::unchecked_into)
}
