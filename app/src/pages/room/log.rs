//! The message list: the room's [`crate::client::Window`] rendered as a keyed list.
//!
//! Why keyed and windowed: each row is keyed by its seq (and whether it is grouped with the
//! one above), and rows hold a shared reference to their message, so a redraw costs one new
//! row per new message and a key comparison per held message, never a re-render or a clone of
//! the list; the window bounds the rows, so a busy room's DOM stays the same size all evening;
//! and the list redraws at most once per animation frame however many messages arrived in it
//! (see [`crate::client`]).
//!
//! While the reader is at the bottom the list follows the newest message (the window slides).
//! When one redraw brings more messages than the view shows (a flood), only the newest
//! screenful is drawn ([`Window::skip_unseen`]; the view measures how many rows it shows at
//! most); the rest stays held, and scrolling up draws it before any older page is loaded.
//! When they read back, new messages are still appended while the window has room; once it is
//! full, or they paged back past it (scrolling up loads older pages, see [`super::scroll_back`]),
//! the list stops taking live messages and offers "N new messages — Jump to latest", which
//! loads the newest page again.
//!
//! Longer than 400 lines on purpose (about 440 without its tests): where the view is, following the
//! newest, reading back and the three jumps (to a quote, to the first unread, to the latest) are
//! one state over one scrolling element; split, the parts would pass every signal between them. One
//! row is [`super::message`].

use super::active_rows::ActiveRows;
use super::message::{MessageItem, PendingItem};
use super::scroll_back::{Anchor, ScrollBack};
use crate::api::{history, HISTORY_MAX};
use crate::client::{RoomFeed, SendState, Window};
use crate::clock::{self, Hydrated};
use crate::model::{ChatMessage, Username};
use leptos::html;
use leptos::prelude::*;
use leptos::web_sys::HtmlDivElement;
use std::sync::Arc;

/// How close to the bottom (px) still counts as "at the newest message".
const STICK_SLACK_PX: i32 = 48;
/// Consecutive messages by one sender within this many ms are shown as one group.
const GROUP_WINDOW_MS: i64 = 5 * 60_000;
/// No row is shorter (px): a grouped one-line message is about 32 px (its text's line and
/// padding, see `.msg.grouped` in the style). The view's height over it bounds the rows a view
/// can show, for leaving out the rest of a flood ([`Window::skip_unseen`]); an underestimate
/// only keeps a few rows more.
const MIN_ROW_PX: i32 = 24;

/// One row of the list.
#[derive(Clone)]
pub(super) struct Row {
    pub(super) m: Arc<ChatMessage>,
    /// It continues the group above (same sender, within [`GROUP_WINDOW_MS`], same day).
    pub(super) grouped: bool,
    pub(super) mine: bool,
    /// The "new messages" divider goes above it.
    pub(super) divider: bool,
    /// A date separator goes above it, for this day of the reader's (see [`clock::local_day`]).
    pub(super) day: Option<i64>,
    /// What it replies to, as the window shows it.
    pub(super) quote: Option<Quote>,
}

/// The message a reply answers, as the window holds it (`None`: not held).
#[derive(Clone)]
pub(super) struct Quote {
    pub(super) seq: u64,
    pub(super) target: Option<Arc<ChatMessage>>,
}

impl Quote {
    fn of(window: &Window, seq: u64) -> Self {
        Self {
            seq,
            target: window.get(seq).cloned(),
        }
    }

    /// What the row's key needs of it: whether it is held, and its edit and deletion.
    fn key(&self) -> (u64, Option<(Option<u64>, bool)>) {
        let target = self.target.as_deref();
        (
            self.seq,
            target.map(|t| (t.edited.map(|e| e.seq), Window::is_deleted(t))),
        )
    }
}

/// The rows of `window`. `read_before` is what was read when the room opened, if anything was
/// unread then: the divider goes above the first message after it, when the window holds that
/// message and what came just before (or the room's start), so it is never put above a hole.
/// `day_of` gives a message's day in the reader's time zone, once it is known (in the browser):
/// a date separator goes above the first row and above each row on a new day.
fn rows(
    window: &Window,
    me_key: Option<&str>,
    read_before: Option<u64>,
    day_of: impl Fn(i64) -> Option<i64>,
) -> Vec<Row> {
    let first_unread = read_before.and_then(|read| {
        let first = window.drawn().find(|m| m.seq > read)?.seq;
        let oldest = window.oldest_drawn_seq()?;
        (oldest < first || oldest <= read + 1 || oldest <= 1).then_some(first)
    });
    let mut previous: Option<(&ChatMessage, Option<i64>)> = None;
    window
        .drawn()
        .map(|m| {
            let divider = first_unread == Some(m.seq);
            let today = day_of(m.ts);
            let new_day = today.filter(|_| previous.is_none_or(|(_, day)| day != today));
            let grouped = !divider
                && new_day.is_none()
                && previous.is_some_and(|(p, _)| {
                    p.sender.is_same_person(m.sender.as_str()) && m.ts - p.ts < GROUP_WINDOW_MS
                });
            previous = Some((m, today));
            let mine = me_key.is_some_and(|me| m.sender.is_same_person(me));
            Row {
                m: Arc::clone(m),
                grouped,
                mine,
                divider,
                day: new_day,
                quote: m.reply_to.map(|seq| Quote::of(window, seq)),
            }
        })
        .collect()
}

#[component]
pub fn MessageLog(
    feed: RoomFeed,
    me: Option<Username>,
    /// Kept up to date with whether the list is at the newest message (the read mark needs it).
    at_bottom: RwSignal<bool>,
    /// What was read when the room opened, if anything was unread then (see [`rows`]).
    read_before: Option<u64>,
    /// The message to open at, highlighted (a notification's).
    focus: Option<u64>,
    /// Whether the reader may delete anyone's message here (an owner or moderator of a room).
    #[prop(into)]
    moderates: Signal<bool>,
) -> impl IntoView {
    let id = feed.room_id;
    let log = NodeRef::<html::Div>::new();
    // A jump to the latest is loading its page (reading back waits meanwhile).
    let jumping = RwSignal::new(false);
    let scroll_back = ScrollBack::new(feed, log, jumping.into());
    // Whether the reader is at the newest message; updated on every scroll (see `on_scroll`).
    let stick = StoredValue::new(true);
    feed.set_following(true);
    // Where the newest row sat in the view when the view was last at the bottom: leaving the
    // bottom is measured against it (see `on_scroll`). Taken within the slack of the bottom,
    // it is where the row sits with the view at the bottom itself, so a reader scrolling up in
    // small steps leaves once they are past the slack.
    let bottom_anchor = StoredValue::new(None::<Anchor>);
    let mark_bottom = move |el: &HtmlDivElement| {
        let view_rows = el.client_height().max(0) / MIN_ROW_PX + 2;
        feed.set_view_rows(view_rows as usize);
        let short = el.scroll_height() - el.scroll_top() - el.client_height();
        let anchor = newest_row_seq(el).and_then(|seq| Anchor::at(el, seq));
        bottom_anchor.try_set_value(anchor.map(|a| a.scrolled_down(short.max(0))));
    };
    // One scroll to the bottom per redraw, however many messages arrive in it, made once the
    // list's rows are in the document (`tick`: after the effects this change woke, the list's
    // among them) and still before the browser renders: the rows and the scroll that shows them
    // go out in one frame. (Waiting for the next animation frame instead rendered every redraw
    // twice, the second time only to scroll.)
    let scroll_queued = StoredValue::new(false);
    let scroll_to_bottom = move || {
        if scroll_queued.get_value() {
            return;
        }
        scroll_queued.set_value(true);
        leptos::task::spawn_local(async move {
            leptos::task::tick().await;
            scroll_queued.try_set_value(false);
            if let Some(el) = log.get_untracked() {
                let before = el.scroll_top();
                el.set_scroll_top(el.scroll_height());
                // A scroll is measured by its scroll event (`on_scroll`, in the next frame);
                // a list too short to scroll, or already at the bottom, gets none: measure here.
                if el.scroll_top() == before {
                    mark_bottom(&el);
                    scroll_back.measure(&el);
                }
            }
        });
    };

    // Keep the newest message in view while the reader is at the bottom, and bring it into
    // view when they send one themselves.
    Effect::new(move |sent_before: Option<usize>| {
        feed.with_window(|_| ());
        let sent = feed.outbox_len();
        let just_sent = sent_before.is_some_and(|before| sent > before);
        if just_sent || stick.try_get_value().unwrap_or(false) {
            scroll_to_bottom();
        }
        sent
    });
    // The reader leaves the bottom only by moving the view up over the rows, more than the
    // slack, from where it last was at the bottom. Other scroll events report a view short of
    // the bottom that the reader did not move: rows that arrived after our last scroll to the
    // bottom (a busy room adds several per frame), or the browser pulling the view up because
    // the window slid and the list got shorter. Neither may stop the list following, or a full
    // window would detach from the live end; both move the newest row of that moment together
    // with the view, so measuring against it tells them apart. (The list has no scroll
    // anchoring, see `.log` in the style, so rows dropped from the top do not move the view
    // up either.)
    let on_scroll = move |_| {
        if let Some(el) = log.get_untracked() {
            let from_bottom = el.scroll_height() - el.scroll_top() - el.client_height();
            let following = if from_bottom <= STICK_SLACK_PX {
                mark_bottom(&el);
                true
            } else {
                match bottom_anchor.get_value().and_then(|a| a.view_moved_up(&el)) {
                    Some(moved_up) => moved_up <= STICK_SLACK_PX && stick.get_value(),
                    // No row to measure against (the list was emptied meanwhile).
                    None => stick.get_value(),
                }
            };
            stick.set_value(following);
            feed.set_following(following);
            if at_bottom.get_untracked() != following {
                at_bottom.set(following);
            }
            scroll_back.measure(&el);
        }
    };
    // Nobody reads this window once the page is gone: let it follow the room again.
    on_cleanup(move || feed.update_window(Window::unwatched));

    let jump_error = RwSignal::new(None::<String>);
    let at_start = move || {
        feed.with_window(|w| w.start().is_none_or(|start| start <= 1) && !w.is_partly_drawn())
    };
    let jump = move |_| {
        jumping.set(true);
        jump_error.set(None);
        stick.set_value(true);
        feed.set_following(true);
        at_bottom.set(true);
        feed.update_window(Window::jump_to_latest);
        leptos::task::spawn_local(async move {
            let below = feed.with_window_untracked(Window::oldest_seq);
            match history(id, below, HISTORY_MAX).await {
                Ok(page) => feed.update_window(|window| window.absorb_below(page)),
                Err(e) => {
                    jump_error.try_set(Some(e.to_string()));
                }
            }
            jumping.try_set(false);
            scroll_to_bottom();
        });
    };
    let behind = move || feed.with_window(|w| w.is_detached().then(|| w.unseen()));

    // "Jump to first unread": scrolls to the divider, loading the page that starts at it when
    // the window does not hold it. Offered once per visit of the room.
    let unread_offered = RwSignal::new(read_before.is_some());
    // Shows message `seq` (loading the stretch starting at `first` when the window does not
    // hold it), then scrolls the element `target` selects into view, marked when it is a row.
    // The list stops following the newest.
    let show_at = move |seq: u64, first: u64, target: String| {
        let unfollow = move || {
            stick.set_value(false);
            feed.set_following(false);
            at_bottom.try_set(false);
        };
        unfollow();
        let scroll_to_target = move || {
            request_animation_frame(move || {
                if let Some(el) = log.get_untracked() {
                    if let Ok(Some(found)) = el.query_selector(&target) {
                        found.scroll_into_view();
                        if found.tag_name().eq_ignore_ascii_case("li") {
                            let _marked = found.class_list().add_1("jumped");
                        }
                    }
                }
            });
        };
        let held = feed.with_window_untracked(|w| {
            w.oldest_seq().is_some_and(|o| o <= seq) && w.newest_seq().is_some_and(|n| seq <= n)
        });
        if held {
            // Held but perhaps not drawn (a flood): drawn before the scroll.
            if feed.with_window_untracked(Window::is_partly_drawn) {
                feed.update_window(Window::draw_all);
            }
            scroll_to_target();
            return;
        }
        jumping.set(true);
        leptos::task::spawn_local(async move {
            let before = first + HISTORY_MAX as u64;
            match history(id, Some(before), HISTORY_MAX).await {
                Ok(page) => {
                    // Again: while the page loaded, the list may have scrolled to the newest
                    // (the room opened at the bottom) and started following it.
                    unfollow();
                    feed.update_window(|window| window.show_stretch(page));
                }
                Err(e) => {
                    jump_error.try_set(Some(e.to_string()));
                }
            }
            jumping.try_set(false);
            scroll_to_target();
        });
    };
    // A reply's quote leads to the message it answers, in the middle of its page.
    let jump_to = Callback::new(move |seq: u64| {
        show_at(seq, around(seq), format!(r#"li[data-seq="{seq}"]"#));
    });
    let jump_to_unread = move |_| {
        unread_offered.set(false);
        if let Some(read) = read_before {
            show_at(read + 1, read + 1, ".new-divider".to_owned());
        }
    };
    // Opened at a message: go there once, when the page is in the browser.
    Effect::new(move |_| {
        if let Some(seq) = focus {
            unread_offered.set(false);
            show_at(seq, around(seq), format!(r#"li[data-seq="{seq}"]"#));
        }
    });

    let me_key = me.as_ref().map(Username::key);
    let highlight = me_key.clone();
    let me_name = me.as_ref().map(|u| u.to_string()).unwrap_or_default();
    let hydrated = Hydrated::expect();
    let active_rows = ActiveRows::new();
    let each_row = move || {
        let hydrated = hydrated.get();
        feed.with_window(|window| {
            rows(window, me_key.as_deref(), read_before, |ts| {
                clock::local_day(ts, hydrated)
            })
        })
    };

    // The frame holds the list's place in the page; the list fills it (see `.log-frame` in the
    // style for why it is two boxes).
    view! {
        <div class="log-frame">
            <div
                class="log"
                role="log"
                aria-live="polite"
                aria-label="Messages"
                tabindex="0"
                node_ref=log
                on:scroll=on_scroll
            >
                {move || unread_offered.get().then(|| view! {
                    <div class="jump jump-unread">
                        <span>"You have unread messages here."</span>
                        <button type="button" class="small" on:click=jump_to_unread disabled=move || jumping.get()>
                            "Jump to first unread"
                        </button>
                    </div>
                })}
                <div class="log-start">
                    <Show
                        when=at_start
                        fallback=move || view! {
                            <p class="muted">
                                {move || if scroll_back.loading.get() {
                                    "Loading older messages…"
                                } else {
                                    "Scroll up for older messages."
                                }}
                            </p>
                        }
                    >
                        <p class="muted">"This is the start of the room."</p>
                    </Show>
                    <p class="error" role="alert">
                        {move || scroll_back.error.get().or_else(|| jump_error.get())}
                    </p>
                    {move || scroll_back.error.with(Option::is_some).then(|| view! {
                        <button type="button" class="secondary small" on:click=move |_| scroll_back.retry()>
                            "Try again"
                        </button>
                    })}
                </div>
                <ul
                    class="messages"
                    on:pointerover=move |ev| active_rows.pointer(&ev, true)
                    on:pointerout=move |ev| active_rows.pointer(&ev, false)
                    on:focusin=move |ev| active_rows.focus_in(&ev)
                    on:focusout=move |ev| active_rows.focus_out(&ev)
                    on:click=move |ev| active_rows.click(&ev)
                >
                    <For
                        each=each_row
                        // An edit, a deletion, a reaction, a new date separator or a change in what
                        // a reply quotes makes the row anew.
                        key=|row| {
                            let m = &row.m;
                            let revised = (
                                m.edited.map(|e| e.seq),
                                Window::is_deleted(m),
                                m.reactions.as_ref().map(|r| r.seq),
                            );
                            (m.seq, row.grouped, row.divider, row.day, revised, row.quote.as_ref().map(Quote::key))
                        }
                        children=move |row| {
                            let focused = focus == Some(row.m.seq);
                            let me_key = highlight.clone();
                            view! { <MessageItem row focused moderates me_key feed jump_to active_rows/> }
                        }
                    />
                    <For
                        each=move || feed.outbox()
                        key=|o| (o.client_id.clone(), o.state != SendState::Pending)
                        children=move |o| view! { <PendingItem o feed sender=me_name.clone()/> }
                    />
                </ul>
                {move || behind().map(|unseen| view! {
                    <div class="jump">
                        <span>{new_messages(unseen)}</span>
                        <button type="button" class="small" on:click=jump disabled=move || jumping.get()>
                            "Jump to latest"
                        </button>
                    </div>
                })}
            </div>
        </div>
    }
    .into_any()
}

/// Where the stretch of history that shows message `seq` in context starts: half a page
/// before it.
fn around(seq: u64) -> u64 {
    seq.saturating_sub(u64::from(HISTORY_MAX) / 2).max(1)
}

/// The seq of the newest message row in the list (pending sends come after the rows).
fn newest_row_seq(log: &HtmlDivElement) -> Option<u64> {
    let mut item = log
        .query_selector("ul.messages")
        .ok()??
        .last_element_child();
    while let Some(li) = item {
        if let Some(seq) = li.get_attribute("data-seq") {
            return seq.parse().ok();
        }
        item = li.previous_element_sibling();
    }
    None
}

fn new_messages(unseen: u64) -> String {
    match unseen {
        0 => "Newer messages".into(),
        1 => "1 new message".into(),
        n => format!("{n} new messages"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RoomId;
    use crate::timeline::Entry;

    fn message(seq: u64, sender: &str, ts: i64) -> ChatMessage {
        ChatMessage {
            room_id: RoomId(1),
            seq,
            id: seq,
            sender: Username::parse(sender).expect("valid test name"),
            content: String::new(),
            ts,
            client_id: format!("c{seq}"),
            edited: None,
            reply_to: None,
            reactions: None,
        }
    }

    #[test]
    fn consecutive_messages_by_one_sender_group_and_ours_are_marked() {
        let mut window = Window::default();
        window.absorb_newest_page(vec![
            Entry::Message(message(1, "ana", 0)),
            Entry::Message(message(2, "ana", 1_000)),
            Entry::Message(message(3, "ben", 2_000)),
            Entry::Message(message(4, "ben", 2_000 + GROUP_WINDOW_MS)),
        ]);
        let shown: Vec<(u64, bool, bool)> = rows(&window, Some("ana"), None, |_| None)
            .iter()
            .map(|row| (row.m.seq, row.grouped, row.mine))
            .collect();
        assert_eq!(
            shown,
            [
                (1, false, true),
                (2, true, true),
                (3, false, false),
                (4, false, false)
            ]
        );
    }

    #[test]
    fn the_divider_goes_above_the_first_unread_and_breaks_its_group_never_above_a_hole() {
        let mut window = Window::default();
        window.absorb_newest_page(
            (5..=8)
                .map(|seq| Entry::Message(message(seq, "ben", seq as i64)))
                .collect(),
        );
        let dividers = |window: &Window, read| -> Vec<(u64, bool, bool)> {
            rows(window, None, read, |_| None)
                .iter()
                .map(|row| (row.m.seq, row.grouped, row.divider))
                .collect()
        };
        assert_eq!(
            dividers(&window, Some(6)),
            [
                (5, false, false),
                (6, true, false),
                (7, false, true),
                (8, true, false)
            ]
        );
        // Nothing unread when the room opened: no divider.
        assert!(dividers(&window, None).iter().all(|(_, _, d)| !d));
        // The first unread (3) is not held: no divider over the hole below seq 5.
        assert!(dividers(&window, Some(2)).iter().all(|(_, _, d)| !d));
        // Held from just after the read mark: the divider tops the list.
        assert!(dividers(&window, Some(4))[0].2);
    }

    #[test]
    fn a_date_separator_tops_the_list_and_each_new_day_and_breaks_the_group() {
        let mut window = Window::default();
        let hour = 3_600_000;
        window.absorb_newest_page(vec![
            Entry::Message(message(1, "ana", 22 * hour)),
            Entry::Message(message(2, "ana", 23 * hour)),
            Entry::Message(message(3, "ana", 23 * hour + 60_000)),
            Entry::Message(message(4, "ana", 24 * hour + 60_000)),
        ]);
        let days = |day_of: &dyn Fn(i64) -> Option<i64>| -> Vec<(Option<i64>, bool)> {
            rows(&window, None, None, day_of)
                .iter()
                .map(|row| (row.day, row.grouped))
                .collect()
        };
        assert_eq!(
            days(&|ts| Some(ts.div_euclid(24 * hour))),
            [
                (Some(0), false),
                (None, false),
                (None, true),
                (Some(1), false)
            ]
        );
        // Before the reader's time zone is known (the server, the first render): none.
        assert!(days(&|_| None).iter().all(|(day, _)| day.is_none()));
    }
}
