//! The room's heading: its name and topic, live, and for owners and moderators a form to change
//! them.
//!
//! Why from the room list: a rename is a `room` entry in the room's timeline, and the server
//! sends every member's row of the room again on the user stream, so the sidebar, this heading
//! and every other tab follow from one source. Until the stream's first snapshot (and on the
//! server), the heading shows what the page was rendered with, so hydration matches.

use crate::api::update_room;
use crate::client::Chat;
use crate::clock::Hydrated;
use crate::model::{Role, RoomId, RoomSummary, Visibility, MAX_ROOM_NAME_CHARS, MAX_TOPIC_CHARS};
use leptos::prelude::*;

#[component]
pub fn Heading(
    id: RoomId,
    /// The title and topic the page was rendered with.
    title: String,
    topic: String,
) -> impl IntoView {
    let chat = Chat::expect();
    let row = Memo::new(move |_| chat.room_list()?.into_iter().find(|r| r.id == id));
    let shown_title = move || row.get().map_or_else(|| title.clone(), |r| r.title());
    let shown_topic = move || row.get().map_or_else(|| topic.clone(), |r| r.topic);
    let may_edit = move || row.with(|r| r.as_ref().is_some_and(may_edit));
    let editing = RwSignal::new(false);
    view! {
        <div class="room-title">
            <h1>{shown_title}</h1>
            {move || {
                let topic = shown_topic();
                (!topic.is_empty()).then(|| view! { <p class="topic">{topic}</p> })
            }}
            {move || (may_edit() && !editing.get()).then(|| view! {
                <button type="button" class="small secondary" on:click=move |_| editing.set(true)>
                    "Edit name and topic"
                </button>
            })}
            {move || (editing.get()).then(|| {
                let current = row.get_untracked();
                view! { <SettingsForm id current editing/> }
            })}
        </div>
    }
    .into_any()
}

/// Owners and moderators of a room (a direct conversation has no name to change).
fn may_edit(row: &RoomSummary) -> bool {
    row.visibility != Visibility::Direct && matches!(row.role, Some(Role::Owner | Role::Moderator))
}

#[component]
fn SettingsForm(
    id: RoomId,
    current: Option<RoomSummary>,
    editing: RwSignal<bool>,
) -> impl IntoView {
    let hydrated = Hydrated::expect();
    let (name, topic) = current.map_or_else(Default::default, |r| (r.name, r.topic));
    let name = RwSignal::new(name);
    let topic = RwSignal::new(topic);
    let saving = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        saving.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            let answer =
                update_room(id, Some(name.get_untracked()), Some(topic.get_untracked())).await;
            saving.try_set(false);
            match answer {
                // The heading follows from the room's row on the user stream.
                Ok(_) => {
                    editing.try_set(false);
                }
                Err(e) => {
                    error.try_set(Some(e.to_string()));
                }
            }
        });
    };
    view! {
        <form class="room-settings" on:submit=save aria-label="Room name and topic">
            <label>
                "Name"
                <input type="text" required maxlength=MAX_ROOM_NAME_CHARS.to_string() bind:value=name/>
            </label>
            <label>
                "Topic"
                <input type="text" maxlength=MAX_TOPIC_CHARS.to_string() bind:value=topic placeholder="What this room is about"/>
            </label>
            <div class="actions">
                <button type="submit" class="small" disabled=move || !hydrated.get() || saving.get()>"Save"</button>
                <button type="button" class="small secondary" on:click=move |_| editing.set(false)>"Cancel"</button>
            </div>
            <p class="error" role="alert">{move || error.get()}</p>
        </form>
    }
}
