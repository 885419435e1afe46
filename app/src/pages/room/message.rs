//! One message in the list: its row (sender, time, quote, text, reactions) and the tools a
//! person uses on it (actions, the editor, the emoji picker, the deletion's second step), and
//! a send still on its way ([`PendingItem`]).
//!
//! Why its own module: the list ([`super::log`]) decides which rows there are, in what order
//! and where the view is; this decides what one row is and does. A busy room builds many rows
//! a second, so what a row costs is written down here ([`MessageItem`]).
//!
//! Longer than 400 lines on purpose: a row and its four tools share one [`Open`] signal and the
//! row's message, and are read together; each tool is its own component below.

use super::active_rows::ActiveRows;
use super::log::{Quote, Row};
use super::text::{excerpt, message_text};
use crate::api::{delete_message, edit_message, react};
use crate::client::{new_client_id, Chat, Outgoing, RoomFeed, SendState, Window};
use crate::clock::{self, iso_utc, time_of_day, Hydrated};
use crate::model::{ChatMessage, Username, MAX_CONTENT_CHARS};
use crate::reactions::{Emoji, Reaction, EMOJI};
use leptos::prelude::*;
use std::sync::Arc;

/// What a quote of `target` says of it: the start of its text as it is now, or that it was
/// deleted (never its words then). The row's quote and the composer's reply bar both say this.
pub(super) fn quoted(target: &ChatMessage) -> String {
    if Window::is_deleted(target) {
        "message deleted".to_owned()
    } else {
        excerpt(&target.content)
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
pub(super) fn MessageItem(
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
    /// Where the row says whether the pointer or the focus is on it (the list listens).
    active_rows: ActiveRows,
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
    // The text is made once: while the message is being edited the editor goes below it and
    // the style hides it (`.msg:has(> .edit-message)`), one reactive part a row less.
    let text = if deleted {
        view! { <p class="msg-text deleted">"Message deleted"</p> }.into_any()
    } else {
        let edited = m.edited.is_some();
        view! {
            {message_text(&m.content, me_key.as_deref())}
            {edited.then(|| view! { <span class="edited">"(edited)"</span> })}
        }
        .into_any()
    };
    // The actions exist only while the pointer or the keyboard focus is on the row (or one of
    // them is open): a busy room's rows are one "⋯" button each, not four. A deleted message
    // has none.
    let actions = (!deleted).then(|| {
        let m = m.clone();
        // A memo: the actions are made anew only when they appear, never under a click (a
        // focus landing on a button must not replace it before its click).
        let shown = Memo::new(move |_| active.get() || open.get() != Open::Nothing);
        view! {
            <button type="button" class="msg-more" aria-label="Message actions"
                aria-expanded=move || shown.get().to_string()>"⋯"</button>
            {move || shown.get().then(|| {
                let replied = m.clone();
                let reply = move || feed.replying.set(Some(replied.clone()));
                view! { <MessageActions mine moderates open reply/> }
            })}
        }
    });
    // Below the text: the editor, the emoji picker or the deletion's second step, while open.
    let tool = (!deleted).then(|| {
        let m = m.clone();
        let me_key = me_key.clone();
        move || match open.get() {
            Open::Editing => view! { <EditForm m=m.clone() open/> }.into_any(),
            Open::Picking => {
                view! { <ReactionPicker m=m.clone() open me_key=me_key.clone()/> }.into_any()
            }
            Open::Confirming => view! { <ConfirmDelete m=m.clone() open/> }.into_any(),
            Open::Nothing => ().into_any(),
        }
    });
    active_rows.register(m.seq, active);
    view! {
        <li class="msg" class:grouped=grouped class:mine=mine class:focused=focused data-seq=m.seq>
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
            {tool}
            {reactions}
        </li>
    }
    .into_any()
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
pub(super) fn PendingItem(o: Outgoing, feed: RoomFeed, sender: String) -> impl IntoView {
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
