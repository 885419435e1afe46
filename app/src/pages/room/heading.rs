//! The room's heading: its name and topic, live, and for owners and moderators a form to change
//! them; for the owner, also a way to delete the room (after typing its name, since it erases
//! every message for everyone).
//!
//! Why from the room list: a rename is a `room` entry in the room's timeline, and the server
//! sends every member's row of the room again on the user stream, so the sidebar, this heading
//! and every other tab follow from one source. Until the stream's first snapshot (and on the
//! server), the heading shows what the page was rendered with, so hydration matches.

use crate::api::{delete_room, update_room};
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
    let may_edit = move || row.with(|r| r.as_ref().is_some_and(moderates));
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
                let owner = current.as_ref().is_some_and(|r| r.role == Some(Role::Owner));
                // Type-erased: the nested view type is otherwise too deep for the compiler.
                view! {
                    <SettingsForm id current=current.clone() editing/>
                    {owner.then(|| view! { <DeleteRoom id name=current.map(|r| r.name).unwrap_or_default()/> })}
                }
                .into_any()
            })}
        </div>
    }
    .into_any()
}

/// Owners and moderators of a room, who change its name and topic and delete anyone's
/// message (nobody moderates a direct conversation).
pub(super) fn moderates(row: &RoomSummary) -> bool {
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

/// The owner's way to delete the room: a second step that asks for the room's name, so that
/// nobody erases a room by one stray click. The server decides who may (the owner only).
#[component]
fn DeleteRoom(id: RoomId, name: String) -> impl IntoView {
    let hydrated = Hydrated::expect();
    let asking = RwSignal::new(false);
    let typed = RwSignal::new(String::new());
    let deleting = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let navigate = leptos_router::hooks::use_navigate();
    let matches = {
        let name = name.clone();
        move || typed.with(|t| t.trim() == name)
    };
    let delete = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        deleting.set(true);
        error.set(None);
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            match delete_room(id).await {
                Ok(()) => navigate("/", Default::default()),
                Err(e) => {
                    deleting.try_set(false);
                    error.try_set(Some(e.to_string()));
                }
            }
        });
    };
    view! {
        <div class="delete-room">
            {move || (!asking.get()).then(|| view! {
                <button type="button" class="small danger" on:click=move |_| asking.set(true)>
                    "Delete room…"
                </button>
            })}
            {
                let matches = matches.clone();
                let name = name.clone();
                move || asking.get().then(|| {
                    let matches = matches.clone();
                    view! {
                        <form on:submit=delete.clone() aria-label="Delete the room">
                            <p>
                                "Deleting removes the room for everyone at once and erases its messages from the server. "
                                "This cannot be undone. Type "<strong>{name.clone()}</strong>" to confirm."
                            </p>
                            <label>
                                "Room name"
                                <input type="text" autocomplete="off" bind:value=typed/>
                            </label>
                            <div class="actions">
                                <button type="submit" class="small danger"
                                    disabled=move || !hydrated.get() || deleting.get() || !matches()>
                                    "Delete for everyone"
                                </button>
                                <button type="button" class="small secondary" on:click=move |_| asking.set(false)>"Keep it"</button>
                            </div>
                        </form>
                    }
                })
            }
            <p class="error" role="alert">{move || error.get()}</p>
        </div>
    }
}
