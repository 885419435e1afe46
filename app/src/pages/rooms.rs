//! `/`: the rooms. Invitations waiting for an answer first; then mine, with unread counts and
//! last activity, and a form to create one (public or private); then direct conversations and a
//! form to start one; then the directory of the rooms one may see, newest first, searchable by
//! name and paged (a server may hold more rooms than one page should). Signed-out visitors are
//! sent to `/login`.
//!
//! A little over 400 lines: the page's lists (yours, invitations, the directory) and their row
//! components share the call helpers at the bottom.

use crate::api::{
    create_room, join_room, leave_room, list_rooms, open_direct, room_directory, ApiError,
};
use crate::client::Chat;
use crate::clock::{iso_utc, moment, Hydrated};
use crate::model::{RoomId, RoomSummary, Visibility};
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
    let (invitations, list): (Vec<_>, Vec<_>) = list.into_iter().partition(|r| r.invited);
    let (direct, list): (Vec<_>, Vec<_>) = list
        .into_iter()
        .partition(|r| r.visibility == Visibility::Direct);
    let mine_empty = list.is_empty();
    let direct_empty = direct.is_empty();
    // Bumped when you leave a room, so the directory shows it as joinable again.
    let changed = RwSignal::new(0u32);
    view! {
        <div class="rooms-page">
            {(!invitations.is_empty()).then(|| view! {
                <section class="card invitations" aria-labelledby="invitations">
                    <h2 id="invitations">"Invitations"</h2>
                    <ul class="room-list">
                        {invitations.into_iter().map(|room| view! { <Invitation room rooms changed error/> }).collect_view()}
                    </ul>
                </section>
            })}
            <section class="card my-rooms" aria-labelledby="my-rooms">
                <h1 id="my-rooms">"Your rooms"</h1>
                {if mine_empty {
                    view! { <p class="empty">"You are in no room yet. Find one below, or create one."</p> }
                        .into_any()
                } else {
                    view! {
                        <ul class="room-list">
                            {list.into_iter().map(|room| view! { <MyRoom room rooms changed error/> }).collect_view()}
                        </ul>
                    }
                        .into_any()
                }}
            </section>
            <section class="card" aria-labelledby="new-room">
                <h2 id="new-room">"Create a room"</h2>
                <CreateRoom error/>
            </section>
            <section class="card" aria-labelledby="direct">
                <h2 id="direct">"Direct messages"</h2>
                {if direct_empty {
                    view! { <p class="empty">"No direct conversations yet."</p> }.into_any()
                } else {
                    view! {
                        <ul class="room-list">
                            {direct.into_iter().map(|room| view! { <MyRoom room rooms changed error/> }).collect_view()}
                        </ul>
                    }
                        .into_any()
                }}
                <OpenDirect error/>
            </section>
            <Directory changed error/>
            <p class="error" role="alert">{move || error.get()}</p>
        </div>
    }
}

/// Rooms per directory page.
const DIRECTORY_PAGE: u32 = 20;

/// Every room, newest first: a search box, a page, and "More rooms" for the next one.
#[component]
fn Directory(changed: RwSignal<u32>, error: RwSignal<Option<String>>) -> impl IntoView {
    let hydrated = Hydrated::expect();
    let query = RwSignal::new(String::new());
    let typed = RwSignal::new(String::new());
    let first = Resource::new(
        move || (query.get(), changed.get()),
        |(q, _)| room_directory(q, None, DIRECTORY_PAGE),
    );
    // Pages after the first, and where the next one starts; both reset with a new search.
    let more = RwSignal::new(Vec::<RoomSummary>::new());
    let next = RwSignal::new(None::<Option<RoomId>>);
    let loading = RwSignal::new(false);
    Effect::new(move |_| {
        changed.track();
        more.set(Vec::new());
        next.set(None);
    });
    let search = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        more.set(Vec::new());
        next.set(None);
        query.set(typed.get_untracked());
    };
    let load_more = move |cursor: RoomId| {
        loading.set(true);
        leptos::task::spawn_local(async move {
            match room_directory(query.get_untracked(), Some(cursor), DIRECTORY_PAGE).await {
                Ok(page) => {
                    more.update(|m| m.extend(page.rooms));
                    next.set(Some(page.next));
                }
                Err(e) => error.set(Some(e.to_string())),
            }
            loading.set(false);
        });
    };
    view! {
        <section class="card" aria-labelledby="directory">
            <h2 id="directory">"Find a room"</h2>
            <form class="inline-form" role="search" on:submit=search>
                <label for="room-search">"Search rooms by name"</label>
                <input id="room-search" type="search" maxlength="64" bind:value=typed/>
                <button type="submit" class="secondary" disabled=move || !hydrated.get()>"Search"</button>
            </form>
            <Transition fallback=|| view! { <p class="loading">"Loading rooms…"</p> }>
                {move || Suspend::new(async move {
                    match first.await {
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                        Ok(page) => {
                            let first_next = page.next;
                            let empty = page.rooms.is_empty();
                            let cursor = move || next.get().unwrap_or(first_next);
                            view! {
                                {empty.then(|| view! { <p class="empty">"No rooms found."</p> })}
                                <ul class="room-list">
                                    {page.rooms.into_iter().map(|room| view! { <DirectoryRoom room error/> }).collect_view()}
                                    <For
                                        each=move || more.get()
                                        key=|room| room.id
                                        children=move |room| view! { <DirectoryRoom room error/> }
                                    />
                                </ul>
                                {move || cursor().map(|at| view! {
                                    <button
                                        type="button"
                                        class="secondary"
                                        on:click=move |_| load_more(at)
                                        disabled=move || !hydrated.get() || loading.get()
                                    >
                                        "More rooms"
                                    </button>
                                })}
                            }
                                .into_any()
                        }
                    }
                })}
            </Transition>
        </section>
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
    changed: RwSignal<u32>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let hydrated = Hydrated::expect();
    let chat = Chat::expect();
    let unread = room.unread;
    let has_unread = unread > 0;
    let id = room.id;
    let leaving = RwSignal::new(false);
    let leave = move |_| {
        run_call(leaving, error, leave_room(id), move |()| {
            chat.close(id);
            rooms.refetch();
            changed.update(|n| *n += 1);
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
    let title = room.title();
    view! {
        <li class="room-row" class:has-unread=has_unread>
            <div class="room-main">
                <a class="room-name" href=format!("/rooms/{id}")>{title.clone()}</a>
                <span class="room-meta">
                    {private_tag(room.visibility)}
                    <span>{members_text(room.member_count)}</span>
                    {activity}
                </span>
            </div>
            {(unread > 0).then(|| view! { <span class="badge">{format!("{unread} unread")}</span> })}
            {row_button("Leave", format!("Leave {title}"), true, leaving, leave)}
        </li>
    }
}

/// "private", for a room one needs an invitation to join.
fn private_tag(visibility: Visibility) -> Option<impl IntoView> {
    (visibility == Visibility::Private).then(|| view! { <span class="tag">"private"</span> })
}

/// An invitation to a private room: accept (join, and go there) or decline.
#[component]
fn Invitation(
    room: RoomSummary,
    rooms: Resource<Result<Vec<RoomSummary>, ApiError>>,
    changed: RwSignal<u32>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let navigate = use_navigate();
    let id = room.id;
    let busy = RwSignal::new(false);
    let accept = move |_| {
        let navigate = navigate.clone();
        run_call(busy, error, join_room(id), move |_| {
            navigate(&room_path(id), NavigateOptions::default());
        });
    };
    let decline = move |_| {
        run_call(busy, error, leave_room(id), move |()| {
            rooms.refetch();
            changed.update(|n| *n += 1);
        });
    };
    let name = room.title();
    view! {
        <li class="room-row invitation">
            <div class="room-main">
                <span class="room-name">{name.clone()}</span>
                <span class="room-meta">
                    {private_tag(room.visibility)}
                    <span>{members_text(room.member_count)}</span>
                </span>
            </div>
            {row_button("Accept", format!("Accept the invitation to {name}"), false, busy, accept)}
            {row_button("Decline", format!("Decline the invitation to {name}"), true, busy, decline)}
        </li>
    }
}

/// Starts (or finds) a direct conversation with one or a few people, by name.
#[component]
fn OpenDirect(error: RwSignal<Option<String>>) -> impl IntoView {
    let hydrated = Hydrated::expect();
    let names = RwSignal::new(String::new());
    let open = Action::new(|names: &String| {
        let names: Vec<String> = names
            .split([',', ' '])
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect();
        open_direct(names)
    });
    go_to_room_when_done(open, error);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        open.dispatch(names.get());
    };
    view! {
        <form class="inline-form" on:submit=on_submit>
            <label for="direct-names">"Message"</label>
            <input id="direct-names" required maxlength="400" bind:value=names placeholder="usernames, e.g. ana, bob"/>
            <button type="submit" disabled=move || !hydrated.get() || open.pending().get()>
                "Open conversation"
            </button>
        </form>
    }
}

/// A room in the directory: a Join button, or a note that you are in it (its link is in
/// "Your rooms" above).
#[component]
fn DirectoryRoom(room: RoomSummary, error: RwSignal<Option<String>>) -> impl IntoView {
    if room.is_member {
        return view! {
            <li class="room-row">
                <div class="room-main">
                    <span class="room-name">{room.name}</span>
                    <span class="room-meta">
                        {private_tag(room.visibility)}
                        {members_text(room.member_count)} " · you are a member"
                    </span>
                </div>
            </li>
        }
        .into_any();
    }
    view! { <OtherRoom room error/> }.into_any()
}

#[component]
fn OtherRoom(room: RoomSummary, error: RwSignal<Option<String>>) -> impl IntoView {
    let id = room.id;
    let navigate = use_navigate();
    let joining = RwSignal::new(false);
    let join = move |_| {
        let navigate = navigate.clone();
        run_call(joining, error, join_room(id), move |_| {
            navigate(&room_path(id), NavigateOptions::default());
        });
    };
    view! {
        <li class="room-row">
            <div class="room-main">
                <span class="room-name">{room.name.clone()}</span>
                <span class="room-meta">
                    {private_tag(room.visibility)}
                    {members_text(room.member_count)}
                </span>
            </div>
            {row_button("Join", format!("Join {}", room.name), false, joining, join)}
        </li>
    }
}

#[component]
fn CreateRoom(error: RwSignal<Option<String>>) -> impl IntoView {
    let hydrated = Hydrated::expect();
    let name = RwSignal::new(String::new());
    let private = RwSignal::new(false);
    let create = Action::new(|(name, private): &(String, bool)| {
        let visibility = if *private {
            Visibility::Private
        } else {
            Visibility::Public
        };
        create_room(name.clone(), Some(visibility))
    });
    go_to_room_when_done(create, error);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        create.dispatch((name.get(), private.get()));
    };
    view! {
        <form class="inline-form" on:submit=on_submit>
            <label for="room-name">"Room name"</label>
            <input id="room-name" required maxlength="64" bind:value=name placeholder="e.g. new-year-eve"/>
            <label class="check">
                <input type="checkbox" bind:checked=private/>
                " Private (by invitation)"
            </label>
            <button type="submit" disabled=move || !hydrated.get() || create.pending().get()>
                "Create room"
            </button>
        </form>
    }
}

/// A room row's button: disabled until the page has hydrated, and while `busy` (its call runs).
fn row_button(
    label: &'static str,
    aria_label: String,
    secondary: bool,
    busy: RwSignal<bool>,
    on_click: impl FnMut(leptos::ev::MouseEvent) + Send + 'static,
) -> impl IntoView {
    let hydrated = Hydrated::expect();
    view! {
        <button
            type="button"
            class="small"
            class:secondary=secondary
            on:click=on_click
            disabled=move || !hydrated.get() || busy.get()
            aria-label=aria_label
        >
            {label}
        </button>
    }
}

/// Runs `call`, a server call a person started with a button, with `busy` set meanwhile (the
/// button is disabled); a refusal is shown in `error` and frees the button, success runs `done`.
fn run_call<T: 'static>(
    busy: RwSignal<bool>,
    error: RwSignal<Option<String>>,
    call: impl std::future::Future<Output = Result<T, ApiError>> + 'static,
    done: impl FnOnce(T) + 'static,
) {
    busy.set(true);
    leptos::task::spawn_local(async move {
        match call.await {
            Ok(answer) => done(answer),
            Err(e) => {
                busy.set(false);
                error.set(Some(e.to_string()));
            }
        }
    });
}

/// Goes to the room a form's action answered with, or shows its refusal.
fn go_to_room_when_done<I: 'static>(
    action: Action<I, Result<RoomSummary, ApiError>>,
    error: RwSignal<Option<String>>,
) {
    let navigate = use_navigate();
    Effect::new(move |_| match action.value().get() {
        Some(Ok(room)) => navigate(&room_path(room.id), NavigateOptions::default()),
        Some(Err(e)) => error.set(Some(e.to_string())),
        None => {}
    });
}

pub fn room_path(id: RoomId) -> String {
    format!("/rooms/{id}")
}
