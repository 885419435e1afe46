//! `/`: the rooms. Mine first, with unread counts and last activity; then every other room with
//! a Join button; and a form to create one. Signed-out visitors are sent to `/login`.

use crate::api::{create_room, join_room, leave_room, list_rooms, ApiError};
use crate::client::Chat;
use crate::clock::{iso_utc, moment, Hydrated};
use crate::model::{RoomId, RoomSummary};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_navigate;
use leptos_router::NavigateOptions;

#[component]
pub fn RoomsPage() -> impl IntoView {
    let rooms = Resource::new(|| (), |()| list_rooms());
    let error = RwSignal::new(None::<String>);
    view! {
        <Title text="Rooms"/>
        <Transition fallback=|| view! { <p class="loading">"Loading rooms…"</p> }>
            {move || Suspend::new(async move {
                match rooms.await {
                    Err(ApiError::NotSignedIn) => view! { <Redirect path="/login"/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(list) => view! { <RoomLists list rooms error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn RoomLists(
    list: Vec<RoomSummary>,
    rooms: Resource<Result<Vec<RoomSummary>, ApiError>>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let (mine, others): (Vec<_>, Vec<_>) = list.into_iter().partition(|r| r.is_member);
    let mine_empty = mine.is_empty();
    let others_empty = others.is_empty();
    view! {
        <div class="rooms-page">
            <section class="card" aria-labelledby="my-rooms">
                <h1 id="my-rooms">"Your rooms"</h1>
                {if mine_empty {
                    view! { <p class="empty">"You are in no room yet. Join one below, or create one."</p> }
                        .into_any()
                } else {
                    view! {
                        <ul class="room-list">
                            {mine.into_iter().map(|room| view! { <MyRoom room rooms error/> }).collect_view()}
                        </ul>
                    }
                        .into_any()
                }}
            </section>
            <section class="card" aria-labelledby="new-room">
                <h2 id="new-room">"Create a room"</h2>
                <CreateRoom error/>
            </section>
            <section class="card" aria-labelledby="other-rooms">
                <h2 id="other-rooms">"Other rooms"</h2>
                {if others_empty {
                    view! { <p class="empty">"No other rooms."</p> }.into_any()
                } else {
                    view! {
                        <ul class="room-list">
                            {others.into_iter().map(|room| view! { <OtherRoom room error/> }).collect_view()}
                        </ul>
                    }
                        .into_any()
                }}
            </section>
            <p class="error" role="alert">{move || error.get()}</p>
        </div>
    }
}

fn members_text(count: usize) -> String {
    if count == 1 {
        "1 member".to_owned()
    } else {
        format!("{count} members")
    }
}

#[component]
fn MyRoom(
    room: RoomSummary,
    rooms: Resource<Result<Vec<RoomSummary>, ApiError>>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let hydrated = Hydrated::expect();
    let chat = Chat::expect();
    let unread = room.unread();
    let has_unread = unread > 0;
    let id = room.id;
    let leaving = RwSignal::new(false);
    let leave = move |_| {
        leaving.set(true);
        leptos::task::spawn_local(async move {
            match leave_room(id).await {
                Ok(()) => {
                    chat.close(id);
                    rooms.refetch();
                }
                Err(e) => {
                    leaving.set(false);
                    error.set(Some(e.to_string()));
                }
            }
        });
    };
    let activity = room.last_activity.map(|ts| {
        view! {
            <span class="activity">
                "Last message "
                <time datetime=iso_utc(ts)>{move || moment(ts, hydrated.get())}</time>
            </span>
        }
    });
    view! {
        <li class="room-row" class:has-unread=has_unread>
            <div class="room-main">
                <a class="room-name" href=format!("/rooms/{id}")>{room.name.clone()}</a>
                <span class="room-meta">
                    <span>{members_text(room.member_count)}</span>
                    {activity}
                </span>
            </div>
            {(unread > 0).then(|| view! { <span class="badge">{format!("{unread} unread")}</span> })}
            <button
                type="button"
                class="secondary small"
                on:click=leave
                disabled=move || !hydrated.get() || leaving.get()
                aria-label=format!("Leave {}", room.name)
            >
                "Leave"
            </button>
        </li>
    }
}

#[component]
fn OtherRoom(room: RoomSummary, error: RwSignal<Option<String>>) -> impl IntoView {
    let hydrated = Hydrated::expect();
    let id = room.id;
    let navigate = use_navigate();
    let joining = RwSignal::new(false);
    let join = move |_| {
        joining.set(true);
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            match join_room(id).await {
                Ok(_) => navigate(&format!("/rooms/{id}"), NavigateOptions::default()),
                Err(e) => {
                    joining.set(false);
                    error.set(Some(e.to_string()));
                }
            }
        });
    };
    view! {
        <li class="room-row">
            <div class="room-main">
                <span class="room-name">{room.name.clone()}</span>
                <span class="room-meta">{members_text(room.member_count)}</span>
            </div>
            <button
                type="button"
                class="small"
                on:click=join
                disabled=move || !hydrated.get() || joining.get()
                aria-label=format!("Join {}", room.name)
            >
                "Join"
            </button>
        </li>
    }
}

#[component]
fn CreateRoom(error: RwSignal<Option<String>>) -> impl IntoView {
    let hydrated = Hydrated::expect();
    let name = RwSignal::new(String::new());
    let navigate = use_navigate();
    let create = Action::new(|name: &String| create_room(name.clone()));
    Effect::new(move |_| match create.value().get() {
        Some(Ok(room)) => {
            navigate(&room_path(room.id), NavigateOptions::default());
        }
        Some(Err(e)) => error.set(Some(e.to_string())),
        None => {}
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        create.dispatch(name.get());
    };
    view! {
        <form class="inline-form" on:submit=on_submit>
            <label for="room-name">"Room name"</label>
            <input id="room-name" required maxlength="64" bind:value=name placeholder="e.g. new-year-eve"/>
            <button type="submit" disabled=move || !hydrated.get() || create.pending().get()>
                "Create room"
            </button>
        </form>
    }
}

pub fn room_path(id: RoomId) -> String {
    format!("/rooms/{id}")
}
