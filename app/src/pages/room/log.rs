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
//! When they read back, new messages are still appended while the window has room; once it is
//! full, or they paged back past it (scrolling up loads older pages, see [`super::scroll_back`]),
//! the list stops taking live messages and offers "N new messages — Jump to latest", which
//! loads the newest page again.

use super::scroll_back::{Anchor, ScrollBack};
use super::text::{excerpt, message_text};
use crate::api::{delete_message, edit_message, history, react, HISTORY_MAX};
use crate::client::{new_client_id, Chat, Outgoing, RoomFeed, SendState, Window};
use crate::clock::{self, iso_utc, time_of_day, Hydrated};
use crate::model::{ChatMessage, Username, MAX_CONTENT_CHARS};
use crate::reactions::{Emoji, Reaction, EMOJI};
use leptos::html;
use leptos::prelude::*;
use leptos::web_sys::HtmlDivElement;
use std::sync::Arc;

/// How close to the bottom (px) still counts as "at the newest message".
const STICK_SLACK_PX: i32 = 48;
/// Consecutive messages by one sender within this many ms are shown as one group.
const GROUP_WINDOW_MS: i64 = 5 * 60_000;

/// One row of the list.
#[derive(Clone)]
struct Row {
    m: Arc<ChatMessage>,
    /// It continues the group above (same sender, within [`GROUP_WINDOW_MS`], same day).
    grouped: bool,
    mine: bool,
    /// The "new messages" divider goes above it.
    divider: bool,
    /// A date separator goes above it, for this day of the reader's (see [`clock::local_day`]).
    day: Option<i64>,
    /// What it replies to, as the window shows it.
    quote: Option<Quote>,
}

/// The message a reply answers, as the window holds it (`None`: not held).
#[derive(Clone)]
struct Quote {
    seq: u64,
    target: Option<Arc<ChatMessage>>,
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

/// What a quote of `target` says of it: the start of its text as it is now, or that it was
/// deleted (never its words then). The row's quote and the composer's reply bar both say this.
pub(super) fn quoted(target: &ChatMessage) -> String {
    if Window::is_deleted(target) {
        "message deleted".to_owned()
    } else {
        excerpt(&target.content)
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
        let first = window.messages().find(|m| m.seq > read)?.seq;
        let oldest = window.oldest_seq()?;
        (oldest < first || oldest <= read + 1 || oldest <= 1).then_some(first)
    });
    let mut previous: Option<(&ChatMessage, Option<i64>)> = None;
    window
        .messages()
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
        feed.with_window(Window::start)
            .is_none_or(|start| start <= 1)
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
                <ul class="messages">
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
                            view! { <MessageItem row focused moderates me_key feed jump_to/> }
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

/// Which of a row's tools is open: one at a time (opening one closes another).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Nothing,
    Editing,
    Confirming,
    Picking,
}

/// A message row.
///
/// Why it is built lean: a busy room builds every row it receives, several per redraw, and each
/// reactive part is a closure, an effect and often a placeholder node. So what never changes is
/// built once without them (a change of the message makes the row anew, see the list's key),
/// and the tools (actions, editor, emoji picker, deletion) exist only while they are open,
/// from one signal per row.
#[component]
fn MessageItem(
    row: Row,
    /// The message the room was opened at.
    focused: bool,
    /// Whether the reader may delete it though it is not theirs.
    moderates: Signal<bool>,
    /// The reader's name key: their mentions are highlighted, their reactions marked.
    me_key: Option<String>,
    feed: RoomFeed,
    /// Shows the message at this seq (a quote leads there).
    jump_to: Callback<u64>,
) -> impl IntoView {
    let Row {
        m,
        grouped,
        mine,
        divider,
        day,
        quote,
    } = row;
    let ts = m.ts;
    let deleted = Window::is_deleted(&m);
    let open = RwSignal::new(Open::Nothing);
    // The pointer or the keyboard focus is on the row.
    let active = RwSignal::new(false);
    let reactions = (!deleted)
        .then(|| m.reactions.as_ref().filter(|r| !r.emoji.is_empty()))
        .flatten()
        .map(|r| view! { <ReactionBar m=m.clone() shown=r.emoji.clone() me_key=me_key.clone()/> });
    let text = if deleted {
        view! { <p class="msg-text deleted">"Message deleted"</p> }.into_any()
    } else {
        let message = m.clone();
        let me_key = me_key.clone();
        (move || {
            if open.get() == Open::Editing {
                view! { <EditForm m=message.clone() open/> }.into_any()
            } else {
                let edited = message.edited.is_some();
                view! {
                    {message_text(&message.content, me_key.as_deref())}
                    {edited.then(|| view! { <span class="edited">"(edited)"</span> })}
                }
                .into_any()
            }
        })
        .into_any()
    };
    // The actions exist only while the pointer or the keyboard focus is on the row (or one of
    // them is open): a busy room's rows are one "⋯" button each, not four. A deleted message
    // has none.
    let row = NodeRef::<html::Li>::new();
    let actions = (!deleted).then(|| {
        let m = m.clone();
        // A memo: the actions are made anew only when they appear, never under a click (a
        // focus landing on a button must not replace it before its click).
        let shown = Memo::new(move |_| active.get() || open.get() != Open::Nothing);
        view! {
            <button type="button" class="msg-more" aria-label="Message actions"
                aria-expanded=move || shown.get().to_string()
                on:click=move |_| active.update(|on| *on = !*on)>"⋯"</button>
            {move || shown.get().then(|| {
                let replied = m.clone();
                let reply = move || feed.replying.set(Some(replied.clone()));
                view! { <MessageActions mine moderates open reply/> }
            })}
        }
    });
    // Below the text: the emoji picker or the deletion's second step, while open.
    let tool = (!deleted).then(|| {
        let m = m.clone();
        let me_key = me_key.clone();
        move || match open.get() {
            Open::Picking => {
                view! { <ReactionPicker m=m.clone() open me_key=me_key.clone()/> }.into_any()
            }
            Open::Confirming => view! { <ConfirmDelete m=m.clone() open/> }.into_any(),
            Open::Nothing | Open::Editing => ().into_any(),
        }
    });
    // Focus moving within the row keeps its actions; leaving it hides them.
    let left = move |ev: leptos::ev::FocusEvent| {
        let inside = ev
            .related_target()
            .and_then(|to| wasm_bindgen::JsCast::dyn_into::<leptos::web_sys::Node>(to).ok())
            .zip(row.get_untracked())
            .is_some_and(|(to, li)| li.contains(Some(&to)));
        if !inside {
            active.set(false);
        }
    };
    let enter = move || {
        if !active.get_untracked() {
            active.set(true);
        }
    };
    view! {
        <li class="msg" class:grouped=grouped class:mine=mine class:focused=focused data-seq=m.seq
            node_ref=row
            on:pointerenter=move |ev| if by_mouse(&ev) { enter() }
            on:pointerleave=move |ev| if by_mouse(&ev) { active.set(false) }
            on:focusin=move |_| enter()
            on:focusout=left>
            {day.map(|day| view! {
                <div class="day-divider" role="separator">{clock::day_label(ts, day)}</div>
            })}
            {divider.then(|| view! { <div class="new-divider" role="separator">"New messages"</div> })}
            <div class="msg-head">
                <span class="sender">{m.sender.to_string()}</span>
                <MessageTime ts/>
                {actions}
            </div>
            {quote.map(|quote| view! { <QuoteLine quote jump_to/> })}
            {text}
            {reactions}
            {tool}
        </li>
    }
    .into_any()
}

/// Whether a pointer event comes from a mouse. A touch is no hover: a tap on "⋯" enters the
/// row as well as clicks the button, and showing the actions on the first would have the click
/// hide them again at once (on a phone the actions never opened).
fn by_mouse(ev: &leptos::ev::PointerEvent) -> bool {
    ev.pointer_type() == "mouse"
}

/// A message's time of day, its full date and time as the title. In the reader's time zone
/// once the page is hydrated, as it nearly always is when a row is made (the rows come over
/// the socket): then it is written once; a row the page was rendered with changes with it.
#[component]
fn MessageTime(ts: i64) -> impl IntoView {
    let hydrated = Hydrated::expect();
    if hydrated.get_untracked() {
        view! {
            <time datetime=iso_utc(ts) title=clock::full_moment(ts, true)>
                {time_of_day(ts, true)}
            </time>
        }
        .into_any()
    } else {
        view! {
            <time datetime=iso_utc(ts) title=move || clock::full_moment(ts, hydrated.get())>
                {move || time_of_day(ts, hydrated.get())}
            </time>
        }
        .into_any()
    }
}

/// What a reply answers, above its text: who and the start of what they said; activating it
/// shows that message (loading its stretch of history when the window does not hold it).
#[component]
fn QuoteLine(quote: Quote, jump_to: Callback<u64>) -> impl IntoView {
    let Quote { seq, target } = quote;
    let deleted = target.as_deref().is_some_and(Window::is_deleted);
    let (who, what) = match target.as_deref() {
        Some(target) => (target.sender.to_string(), quoted(target)),
        None => (String::new(), "an earlier message".to_owned()),
    };
    let label = if who.is_empty() {
        "Show the message this replies to".to_owned()
    } else {
        format!("Show {who}'s message this replies to")
    };
    view! {
        <button type="button" class="quote" class:deleted=deleted aria-label=label
            on:click=move |_| jump_to.run(seq)>
            <span class="quote-mark" aria-hidden="true">"↪"</span>
            {(!who.is_empty()).then(|| view! { <b>{who}</b> })}
            <span class="quote-text">{what}</span>
        </button>
    }
    .into_any()
}

/// Reply and React for everyone; Edit for the author; Delete for the author and an owner or
/// moderator (it asks once more, below the message). While the message is being edited only
/// Reply is offered. The row changes when the server's entry arrives (for everyone at once),
/// not before: what it shows is what is stored.
#[component]
fn MessageActions(
    mine: bool,
    /// Whether the reader may delete it though it is not theirs.
    moderates: Signal<bool>,
    open: RwSignal<Open>,
    reply: impl Fn() + Send + Sync + 'static,
) -> impl IntoView {
    let idle = move || !matches!(open.get(), Open::Editing | Open::Confirming);
    // Opening a tool closes the one open, so nothing here may close the editor (and its draft).
    let picking = move || open.get() == Open::Picking;
    view! {
        <span class="msg-actions">
            <button type="button" class="small secondary" aria-label="Reply to message"
                on:click=move |_| reply()>"Reply"</button>
            {move || (open.get() != Open::Editing).then(|| view! {
                <button type="button" class="small secondary" aria-label="React to message"
                    aria-expanded=move || picking().to_string()
                    on:click=move |_| open.set(if picking() { Open::Nothing } else { Open::Picking })>
                    "React"
                </button>
            })}
            {move || (mine && idle()).then(|| view! {
                <button type="button" class="small secondary" aria-label="Edit message"
                    on:click=move |_| open.set(Open::Editing)>"Edit"</button>
            })}
            {move || ((mine || moderates.get()) && idle()).then(|| view! {
                <button type="button" class="small secondary" aria-label="Delete message"
                    on:click=move |_| open.set(Open::Confirming)>"Delete"</button>
            })}
        </span>
    }
    .into_any()
}

/// The call that sets the reader's reaction `emoji` to `m` on or off. A new id each time:
/// setting is idempotent, so a repeat after a lost answer changes nothing.
fn set_reaction(
    m: &ChatMessage,
    emoji: &Emoji,
    on: bool,
) -> impl std::future::Future<Output = Result<(), crate::api::ApiError>> + 'static {
    react(m.room_id, m.seq, emoji.to_string(), on, new_client_id())
}

/// Why a reaction was not set, when it was not (no element otherwise: most rows never have
/// one).
fn reaction_error(error: RwSignal<Option<String>>) -> Option<impl IntoView> {
    error
        .get()
        .map(|why| view! { <p class="error" role="alert">{why}</p> })
}

/// The message's reactions: each emoji with its count, pressed when the reader is among those
/// who used it (pressing it again takes theirs back); who reacted is the button's title.
#[component]
fn ReactionBar(m: Arc<ChatMessage>, shown: Vec<Reaction>, me_key: Option<String>) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let buttons = shown
        .into_iter()
        .map(|reaction| {
            let mine = me_key.as_deref().is_some_and(|me| reaction.by(me));
            let names: Vec<&str> = reaction.users.iter().map(Username::as_str).collect();
            let count = reaction.users.len();
            let label = format!(
                "{} {count}, {}{}",
                reaction.emoji,
                if mine { "you reacted, " } else { "" },
                names.join(", ")
            );
            let title = names.join(", ");
            let m = m.clone();
            let emoji = reaction.emoji;
            view! {
                <button type="button" class="reaction" class:mine=mine aria-pressed=mine.to_string()
                    aria-label=label title=title
                    on:click=move |_| {
                        let call = set_reaction(&m, &emoji, !mine);
                        leptos::task::spawn_local(async move {
                            if let Err(e) = call.await {
                                error.try_set(Some(e.to_string()));
                            }
                        });
                    }>
                    {emoji.to_string()} " " {count}
                </button>
            }
        })
        .collect_view();
    view! {
        <div class="reactions" role="group" aria-label="Reactions">
            {buttons}
        </div>
        {move || reaction_error(error)}
    }
    .into_any()
}

/// The emoji a reaction can be, below the message while React is open. Choosing one closes it
/// once the server took it; a refusal stays on screen with the picker.
#[component]
fn ReactionPicker(
    m: Arc<ChatMessage>,
    open: RwSignal<Open>,
    me_key: Option<String>,
) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let buttons = EMOJI
        .iter()
        .filter_map(|raw| Emoji::parse(raw).ok())
        .map(|emoji| {
            let mine = m
                .reactions
                .iter()
                .flat_map(|r| &r.emoji)
                .any(|r| r.emoji == emoji && me_key.as_deref().is_some_and(|me| r.by(me)));
            let label = emoji.to_string();
            let m = m.clone();
            let choose = move |_| {
                if !busy.get_untracked() {
                    act(set_reaction(&m, &emoji, !mine), busy, open, error);
                }
            };
            view! {
                <button type="button" class="reaction-choice" aria-pressed=mine.to_string()
                    on:click=choose>
                    {label}
                </button>
            }
        })
        .collect_view();
    view! {
        <div class="reaction-picker" role="group" aria-label="Pick a reaction">
            {buttons}
        </div>
        {move || reaction_error(error)}
    }
    .into_any()
}

/// The deletion's second step, below the text, in the flow: it covers nothing it asks about.
#[component]
fn ConfirmDelete(m: Arc<ChatMessage>, open: RwSignal<Open>) -> impl IntoView {
    let (room, seq) = (m.room_id, m.seq);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    // One id per deletion, made at the first try (only the browser makes ids): trying again
    // after a lost answer is answered, not refused.
    let client_id = StoredValue::new(None::<String>);
    let delete = move |_| {
        if busy.get_untracked() {
            return;
        }
        let id = client_id.get_value().unwrap_or_else(new_client_id);
        client_id.set_value(Some(id.clone()));
        act(delete_message(room, seq, id), busy, open, error);
    };
    view! {
        <div class="msg-confirm" role="group" aria-label="Confirm deletion">
            "Delete this message for everyone? "
            <button type="button" class="small danger" on:click=delete
                disabled=move || busy.get()>"Delete"</button>
            <button type="button" class="small secondary"
                on:click=move |_| open.set(Open::Nothing)>"Cancel"</button>
            <span class="error" role="alert">{move || error.get()}</span>
        </div>
    }
    .into_any()
}

/// Runs a message action's call: `busy` while it runs; then the row's open tool (the editor,
/// the picker, the confirmation) closes, since the server's entry will show the change to
/// everyone, or the error shows and it stays open to try again.
fn act(
    call: impl std::future::Future<Output = Result<(), crate::api::ApiError>> + 'static,
    busy: RwSignal<bool>,
    open: RwSignal<Open>,
    error: RwSignal<Option<String>>,
) {
    busy.set(true);
    leptos::task::spawn_local(async move {
        let done = call.await;
        busy.try_set(false);
        match done {
            Ok(()) => {
                open.try_set(Open::Nothing);
            }
            Err(e) => {
                error.try_set(Some(e.to_string()));
            }
        }
    });
}

/// Changing one's message in place: Save sends the edit (Enter does too; Shift+Enter is a new
/// line), Cancel or Escape leaves it as it was.
#[component]
fn EditForm(m: Arc<ChatMessage>, open: RwSignal<Open>) -> impl IntoView {
    let (room, seq) = (m.room_id, m.seq);
    let draft = RwSignal::new(m.content.clone());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    // The text last sent and its id: sending the same text again (after a lost answer) reuses
    // the id, so the server answers it without a second edit; other text gets a new one.
    let sent = StoredValue::new(None::<(String, String)>);
    let save = move || {
        let content = draft.get_untracked();
        if busy.get_untracked() {
            return;
        }
        if content.trim().is_empty() {
            error.set(Some("A message cannot be empty; delete it instead.".into()));
            return;
        }
        let client_id = match sent.get_value() {
            Some((text, id)) if text == content => id,
            _ => new_client_id(),
        };
        sent.set_value(Some((content.clone(), client_id.clone())));
        act(
            edit_message(room, seq, content, client_id),
            busy,
            open,
            error,
        );
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| match ev.key().as_str() {
        "Escape" => open.set(Open::Nothing),
        // Not while an input method is composing a character (Enter ends the composition).
        "Enter" if !ev.shift_key() && !ev.is_composing() => {
            ev.prevent_default();
            save();
        }
        _ => {}
    };
    view! {
        <form class="edit-message" on:submit=move |ev| { ev.prevent_default(); save(); }>
            <textarea
                aria-label="Edit message"
                rows="2"
                maxlength=MAX_CONTENT_CHARS
                prop:value=move || draft.get()
                on:input=move |ev| draft.set(event_target_value(&ev))
                on:keydown=on_key
                autofocus
            ></textarea>
            <div class="edit-buttons">
                <button type="submit" class="small" disabled=move || busy.get()>"Save"</button>
                <button type="button" class="small secondary" on:click=move |_| open.set(Open::Nothing)>
                    "Cancel"
                </button>
                <span class="error" role="alert">{move || error.get()}</span>
            </div>
        </form>
    }
    .into_any()
}

#[component]
fn PendingItem(o: Outgoing, feed: RoomFeed, sender: String) -> impl IntoView {
    let chat = Chat::expect();
    let client_id = o.client_id.clone();
    let discarded = o.client_id.clone();
    let state = match o.state {
        SendState::Pending => view! { <span class="send-state">"pending"</span> }.into_any(),
        SendState::Failed(why) => view! {
            <span class="send-state failed">"failed"</span>
            <span class="why">{why}</span>
            <button
                type="button"
                class="small secondary"
                on:click=move |_| chat.retry(feed, &client_id)
            >
                "Retry"
            </button>
            <button
                type="button"
                class="small secondary"
                on:click=move |_| chat.discard(feed, &discarded)
            >
                "Discard"
            </button>
        }
        .into_any(),
    };
    view! {
        <li class="msg mine unsent">
            <div class="msg-head">
                <span class="sender">{sender}</span>
                {state}
            </div>
            {message_text(&o.content, None)}
        </li>
    }
    .into_any()
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
