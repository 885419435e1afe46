//! Writing a message: the composer, and the line saying who else is typing.
//!
//! The draft is kept in the browser as it is typed (`client::saved`), per room: it survives
//! going to another room, a reload and a closed tab, and leaves when it is sent. Typing `@`
//! offers the room's members ([`autocomplete`]).

use super::autocomplete;
use crate::api::ApiError;
use crate::client::{now_ms, saved, Chat, RoomFeed, TYPING_THROTTLE_MS};
use crate::clock::Hydrated;
use crate::model::{Member, MessageBody};
use leptos::html;
use leptos::prelude::*;

#[component]
pub fn TypingLine(feed: RoomFeed, me_key: Option<String>) -> impl IntoView {
    let text = move || {
        let names: Vec<String> = feed.typing.with(|typing| {
            typing
                .iter()
                .filter(|(user, _)| Some(user.key()) != me_key)
                .map(|(user, _)| user.to_string())
                .collect()
        });
        match names.as_slice() {
            [] => String::new(),
            [one] => format!("{one} is typing…"),
            [one, two] => format!("{one} and {two} are typing…"),
            [one, ..] => format!("{one} and {} others are typing…", names.len() - 1),
        }
    };
    view! { <p class="typing" aria-live="polite">{text}</p> }
}

#[component]
pub fn Composer(
    feed: RoomFeed,
    /// The room's members, for `@name` completion.
    members: Resource<Result<Vec<Member>, ApiError>>,
) -> impl IntoView {
    let chat = Chat::expect();
    let hydrated = Hydrated::expect();
    let draft = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let last_typing = StoredValue::new(f64::MIN);
    let room = feed.room_id;
    // The draft this browser kept for the room (a reload, another room meanwhile), once the
    // page is in the browser (the server renders an empty composer, and so does hydration) and
    // the person is known (the connection's start says so).
    Effect::new(move |_| {
        chat.state.track();
        if let Some(me) = chat.me() {
            let kept = saved::draft(&me, room);
            if !kept.is_empty() && draft.get_untracked().is_empty() {
                draft.set(kept);
            }
        }
    });
    let keep = move |text: &str| {
        if let Some(me) = chat.me() {
            saved::keep_draft(&me, room, text);
        }
    };
    let send = move || {
        let text = draft.get_untracked();
        let reply_to = feed.replying.with_untracked(|m| m.as_ref().map(|m| m.seq));
        let sent = MessageBody::parse(&text).map_err(|e| e.0).and_then(|body| {
            chat.send(feed, String::from(body), reply_to)
                .map_err(|full| full.to_string())
        });
        match sent {
            Ok(()) => {
                draft.set(String::new());
                feed.replying.set(None);
                keep("");
                error.set(None);
            }
            // The draft stays, so nothing the person wrote is lost.
            Err(why) => error.set(Some(why)),
        }
    };
    // `@name` completion: the names offered, the one chosen, and the mention they complete
    // (where its `@` is and where the caret was, in bytes).
    let textarea = NodeRef::<html::Textarea>::new();
    let offered = RwSignal::new(Vec::<String>::new());
    let chosen = RwSignal::new(0usize);
    let completing = StoredValue::new((0usize, 0usize));
    let offer = move |text: &str| {
        let Some(el) = textarea.get_untracked() else {
            return;
        };
        let caret = el
            .selection_start()
            .ok()
            .flatten()
            .map_or(text.len(), |units| {
                autocomplete::byte_index(text, units as usize)
            });
        let names = match autocomplete::query(text, caret) {
            Some((at, typed)) => {
                completing.set_value((at, caret));
                let members = members
                    .get_untracked()
                    .and_then(Result::ok)
                    .unwrap_or_default();
                autocomplete::candidates(&members, typed, chat.me().as_ref())
            }
            None => Vec::new(),
        };
        chosen.set(0);
        offered.set(names);
    };
    let pick = move |name: String| {
        let (at, caret) = completing.get_value();
        let text = draft.get_untracked();
        if caret > text.len() || at > caret {
            return;
        }
        let (text, caret) = autocomplete::complete(&text, at, caret, &name);
        let units = autocomplete::utf16_index(&text, caret) as u32;
        keep(&text);
        draft.set(text);
        offered.set(Vec::new());
        request_animation_frame(move || {
            if let Some(el) = textarea.get_untracked() {
                let _placed = el.set_selection_range(units, units);
                let _focused = el.focus();
            }
        });
    };
    let on_input = move |ev: leptos::ev::Event| {
        let text = event_target_value(&ev);
        keep(&text);
        offer(&text);
        draft.set(text);
        let now = now_ms();
        if now - last_typing.get_value() >= TYPING_THROTTLE_MS && chat.is_linked() {
            last_typing.set_value(now);
            chat.typing(feed.room_id);
        }
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        let names = offered.get_untracked();
        if !names.is_empty() && !ev.is_composing() {
            let step = |by: usize| chosen.update(|c| *c = (*c + by) % names.len());
            match ev.key().as_str() {
                "ArrowDown" => step(1),
                "ArrowUp" => step(names.len() - 1),
                "Enter" | "Tab" => pick(names[chosen.get_untracked().min(names.len() - 1)].clone()),
                "Escape" => offered.set(Vec::new()),
                _ => return,
            }
            ev.prevent_default();
            return;
        }
        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            send();
        }
    };
    view! {
        <form
            class="composer"
            on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                send();
            }
        >
            {move || feed.replying.get().map(|m| view! {
                <div class="replying" role="group" aria-label="Replying">
                    <span class="replying-to">"Replying to " <b>{m.sender.to_string()}</b></span>
                    // What the message says now, as the list holds it: deleted meanwhile, its
                    // words are not shown here either.
                    <span class="quote-text">{move || {
                        feed.with_window(|w| w.get(m.seq).map(|now| super::message::quoted(now)))
                    }}</span>
                    <button type="button" class="small secondary" aria-label="Cancel reply"
                        on:click=move |_| feed.replying.set(None)>"✕"</button>
                </div>
            })}
            <label for="composer" class="visually-hidden">"Message"</label>
            <textarea
                id="composer"
                rows="2"
                placeholder="Write a message…"
                prop:value=draft
                node_ref=textarea
                on:input=on_input
                on:keydown=on_keydown
                on:blur=move |_| offered.set(Vec::new())
                aria-describedby="composer-hint composer-error"
                aria-autocomplete="list"
                aria-controls="mention-list"
                aria-expanded=move || (!offered.with(Vec::is_empty)).to_string()
                aria-activedescendant=move || {
                    (!offered.with(Vec::is_empty)).then(|| format!("mention-{}", chosen.get()))
                }
            ></textarea>
            {move || (!offered.with(Vec::is_empty)).then(|| view! {
                <ul class="mention-list" id="mention-list" role="listbox" aria-label="Mention someone">
                    {offered.get().into_iter().enumerate().map(|(i, name)| {
                        let picked = name.clone();
                        view! {
                            <li
                                id=format!("mention-{i}")
                                role="option"
                                aria-selected=move || (chosen.get() == i).to_string()
                                // Before the textarea loses its focus (which closes the list).
                                on:mousedown=move |ev| { ev.prevent_default(); pick(picked.clone()); }
                            >
                                "@" {name}
                            </li>
                        }
                    }).collect_view()}
                </ul>
            })}
            <button type="submit" disabled=move || !hydrated.get()>"Send"</button>
            <p id="composer-hint" class="hint">"Enter sends · Shift+Enter starts a new line"</p>
            <p id="composer-error" class="error" role="alert">{move || error.get()}</p>
        </form>
    }
    .into_any()
}
