//! The read mark: the newest seq shown, sent (debounced) as messages arrive while the person is
//! actually reading them (the tab visible, the list at the newest message), so the sidebar and
//! the rooms page count what is unread, and the other tabs follow (the server tells them).

use crate::client::RoomFeed;
use crate::model::RoomId;
use leptos::prelude::*;
use std::time::Duration;

/// How long the read mark waits for more messages before it is sent.
const MARK_READ_DEBOUNCE: Duration = Duration::from_millis(300);

/// Whether the person is reading the newest messages right now: the tab is visible (Page
/// Visibility API) and the list is scrolled to the newest message. Only then does the read mark
/// move, so a room open in a background tab, or scrolled back, keeps its unread count.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    pub at_bottom: RwSignal<bool>,
    pub visible: RwSignal<bool>,
}

impl Default for Reading {
    fn default() -> Self {
        Self::new()
    }
}

impl Reading {
    /// Starts at the bottom, and visible as the document says (and follows it).
    pub fn new() -> Self {
        let visible = RwSignal::new(true);
        #[cfg(feature = "hydrate")]
        {
            let is_visible =
                || document().visibility_state() == leptos::web_sys::VisibilityState::Visible;
            visible.set(is_visible());
            // Fired at the document, and it bubbles to the window.
            let listener = window_event_listener_untyped("visibilitychange", move |_| {
                visible.try_set(is_visible());
            });
            on_cleanup(move || listener.remove());
        }
        Self {
            at_bottom: RwSignal::new(true),
            visible,
        }
    }

    fn now(&self) -> bool {
        self.at_bottom.get() && self.visible.get()
    }
}

/// Sends the newest seq shown as the read mark while the person is [`Reading`], once messages
/// stop arriving for a moment, and when the page goes away (navigation or unload) with a mark
/// still waiting.
///
/// One timer at a time, however busy the room: a new message only moves the waiting mark, and
/// a timer that finds the mark moved since it was set waits once more for the newer one.
pub fn mark_read_as_messages_arrive(feed: RoomFeed, reading: Reading) {
    let id = feed.room_id;
    let marked = StoredValue::new(0u64);
    let waiting = StoredValue::new(None::<u64>);
    let timer_set = StoredValue::new(false);
    let flush = move || {
        if let Some(Some(seq)) = waiting.try_get_value() {
            waiting.set_value(None);
            marked.set_value(seq);
            send_read_mark(id, seq);
        }
    };
    Effect::new(move |_| {
        let newest = feed.newest_seq();
        // Not looking at the newest messages: nothing more counts as read.
        if !reading.now() {
            waiting.set_value(None);
            return;
        }
        let Some(newest) = newest else {
            return;
        };
        if newest <= marked.get_value() {
            return;
        }
        waiting.set_value(Some(newest));
        if !timer_set.get_value() {
            timer_set.set_value(true);
            flush_when_quiet(newest, waiting, timer_set, flush);
        }
    });
    #[cfg(feature = "hydrate")]
    {
        let unload = window_event_listener(leptos::ev::pagehide, move |_| flush());
        on_cleanup(move || unload.remove());
    }
    on_cleanup(flush);
}

/// Flushes the mark after [`MARK_READ_DEBOUNCE`] if it is still `seq`; otherwise waits again
/// for the newer one.
fn flush_when_quiet(
    seq: u64,
    waiting: StoredValue<Option<u64>>,
    timer_set: StoredValue<bool>,
    flush: impl Fn() + Copy + 'static,
) {
    set_timeout(
        move || match waiting.try_get_value().flatten() {
            Some(now) if now != seq => flush_when_quiet(now, waiting, timer_set, flush),
            Some(_) => {
                timer_set.set_value(false);
                flush();
            }
            None => {
                timer_set.try_set_value(false);
            }
        },
        MARK_READ_DEBOUNCE,
    );
}

/// Calls the `mark_read` server function as a keep-alive request, so it is delivered even when
/// the page is being unloaded (the generated client's request would be cancelled with the
/// page). The body is the server function's own typed arguments (`MarkRead`) at its own
/// path, so the two cannot drift apart. Best effort: a lost mark only leaves the unread count
/// high until the next one.
fn send_read_mark(room_id: RoomId, seq: u64) {
    #[cfg(feature = "hydrate")]
    {
        use crate::api::MarkRead;
        use leptos::server_fn::ServerFn;
        use wasm_bindgen::JsValue;
        let body = serde_json::to_string(&MarkRead { room_id, seq })
            .expect("two numbers always serialize");
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_body(&JsValue::from_str(&body));
        let headers = js_sys::Object::new();
        let _set =
            js_sys::Reflect::set(&headers, &"content-type".into(), &"application/json".into());
        init.set_headers(&headers);
        let _set = js_sys::Reflect::set(&init, &"keepalive".into(), &JsValue::TRUE);
        let request = window().fetch_with_str_and_init(MarkRead::PATH, &init);
        // Await the answer so a failure is handled here instead of surfacing as an unhandled
        // rejection in the console.
        let answer = wasm_bindgen_futures::JsFuture::from(request);
        leptos::task::spawn_local(async move {
            let _best_effort = answer.await;
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _only_browsers_read = (room_id, seq);
}
