//! Writing a message: the composer, and the line saying who else is typing.
//!
//! The draft is kept in the browser as it is typed (`client::saved`), per room: it survives
//! going to another room, a reload and a closed tab, and leaves when it is sent.

use crate::client::{now_ms, saved, Chat, RoomFeed, TYPING_THROTTLE_MS};
use crate::clock::Hydrated;
use crate::model::MessageBody;
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
pub fn Composer(feed: RoomFeed) -> impl IntoView {
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
        let sent = MessageBody::parse(&text).map_err(|e| e.0).and_then(|body| {
            chat.send(feed, String::from(body))
                .map_err(|full| full.to_string())
        });
        match sent {
            Ok(()) => {
                draft.set(String::new());
                keep("");
                error.set(None);
            }
            // The draft stays, so nothing the person wrote is lost.
            Err(why) => error.set(Some(why)),
        }
    };
    let on_input = move |ev: leptos::ev::Event| {
        let text = event_target_value(&ev);
        keep(&text);
        draft.set(text);
        let now = now_ms();
        if now - last_typing.get_value() >= TYPING_THROTTLE_MS && chat.is_linked() {
            last_typing.set_value(now);
            chat.typing(feed.room_id);
        }
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
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
            <label for="composer" class="visually-hidden">"Message"</label>
            <textarea
                id="composer"
                rows="2"
                placeholder="Write a message…"
                prop:value=draft
                on:input=on_input
                on:keydown=on_keydown
                aria-describedby="composer-hint composer-error"
            ></textarea>
            <button type="submit" disabled=move || !hydrated.get()>"Send"</button>
            <p id="composer-hint" class="hint">"Enter sends · Shift+Enter starts a new line"</p>
            <p id="composer-error" class="error" role="alert">{move || error.get()}</p>
        </form>
    }
    .into_any()
}
