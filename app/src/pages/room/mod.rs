//! `/rooms/:id`: one room's conversation; `?at=SEQ` opens it at that message (a notification
//! leads there), shown highlighted.
//!
//! The newest page of history comes from the `history` server function as a `Resource`, so it
//! is in the server's HTML. Once hydrated, the page opens the room's [`RoomFeed`] on the tab's
//! WebSocket, which replays everything after the feed's cursor and then goes live; both land in
//! the feed's seq-keyed, bounded [`crate::client::Window`], so the list has no gap and no
//! duplicate. The parts:
//!
//! - [`heading`]: the room's name and topic, live, and the form owners and moderators change
//!   them with;
//! - [`log`]: the message list (windowed, keyed, following the newest while at the bottom);
//! - [`message`]: one message's row and the tools used on it (actions, editor, reactions);
//! - [`active_rows`]: which row the pointer or the focus is on, heard once by the list;
//! - [`composer`]: writing and sending, and who is typing;
//! - [`members`]: the member list with live presence;
//! - [`read_mark`]: moving the read mark as messages arrive;
//! - [`scroll_back`]: loading older pages as the reader scrolls up.

mod active_rows;
mod autocomplete;
mod composer;
mod heading;
mod log;
mod members;
mod message;
mod read_mark;
mod scroll_back;
pub(crate) mod text;

use crate::api::{history, join_room, room_info, room_members, ApiError, HISTORY_MAX};
use crate::client::{Chat, RoomFeed};
use crate::clock::Hydrated;
use crate::model::{Member, RoomId, Username, Visibility};
use crate::timeline::{MemberChange, Membership};
use crate::Session;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::{use_params_map, use_query_map};
use std::future::IntoFuture;

#[component]
pub fn RoomPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let room_id = move || {
        params
            .read()
            .get("id")
            .and_then(|id| id.parse::<u64>().ok())
            .map(RoomId)
    };
    let focus = move || {
        query
            .read()
            .get("at")
            .and_then(|seq| seq.parse::<u64>().ok())
    };
    // Keyed by the id and the message: moving to another room (or to a message from a
    // notification) builds a fresh view with its own resources.
    move || match (room_id(), focus()) {
        (Some(id), focus) => view! { <RoomView id focus/> }.into_any(),
        (None, _) => view! { <crate::pages::not_found::NotFound/> }.into_any(),
    }
}

#[component]
fn RoomView(id: RoomId, focus: Option<u64>) -> impl IntoView {
    let chat = Chat::expect();
    let session = Session::expect();
    let feed = chat.feed(id);
    let info = Resource::new(move || id, room_info);
    let page = Resource::new(move || id, |id| history(id, None, HISTORY_MAX));
    let members = Resource::new(move || id, room_members);
    let refetch = move || {
        info.refetch();
        page.refetch();
        members.refetch();
    };

    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading the room…"</p> }>
            {move || Suspend::new(async move {
                let (info, page, me) = futures::join!(
                    info.into_future(),
                    page.into_future(),
                    session.0.into_future()
                );
                let info = info.ok();
                let read_before = info
                    .as_ref()
                    .and_then(|r| (r.unread > 0).then_some(r.last_read_seq));
                let direct = info.as_ref().is_some_and(|r| r.visibility == Visibility::Direct);
                let topic = info.as_ref().map(|r| r.topic.clone()).unwrap_or_default();
                let title = info.map_or_else(|| format!("Room {id}"), |r| r.title());
                let me = me.ok().map(|user| user.username);
                match page {
                    Err(ApiError::NotSignedIn) => view! { <Redirect path="/login"/> }.into_any(),
                    Err(ApiError::NotMember) => view! {
                        <Title text=title.clone()/>
                        <NotMember id title refetch/>
                    }
                        .into_any(),
                    Err(ApiError::NoSuchRoom) => view! {
                        <Title text="No such room"/>
                        <section class="card narrow">
                            <h1>"No such room"</h1>
                            <p>"This room does not exist (any more)."</p>
                            <p><a href="/">"Back to your rooms"</a></p>
                        </section>
                    }
                        .into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(newest) => {
                        feed.update_window(|window| window.absorb_newest_page(newest));
                        view! {
                            <Title text=title.clone()/>
                            <ChatView feed title topic me members direct read_before focus/>
                        }
                            .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn NotMember(
    id: RoomId,
    title: String,
    refetch: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let hydrated = Hydrated::expect();
    let joining = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let join = move |_| {
        joining.set(true);
        leptos::task::spawn_local(async move {
            match join_room(id).await {
                Ok(_) => refetch(),
                Err(e) => {
                    joining.set(false);
                    error.set(Some(e.to_string()));
                }
            }
        });
    };
    view! {
        <section class="card narrow">
            <h1>{title}</h1>
            <p class="notice" role="alert">
                "You cannot post here: " {ApiError::NotMember.to_string()} "."
            </p>
            <p>"Join the room to read its messages and take part."</p>
            <div class="actions">
                <button type="button" on:click=join disabled=move || !hydrated.get() || joining.get()>
                    "Join room"
                </button>
                <a href="/">"Back to your rooms"</a>
            </div>
            <p class="error" role="alert">{move || error.get()}</p>
        </section>
    }
    .into_any()
}

#[component]
fn ChatView(
    feed: RoomFeed,
    title: String,
    topic: String,
    me: Option<Username>,
    members: Resource<Result<Vec<Member>, ApiError>>,
    direct: bool,
    /// When the room had unread messages as it opened: what was read up to then.
    read_before: Option<u64>,
    /// The message to open the room at (`?at=SEQ`).
    focus: Option<u64>,
) -> impl IntoView {
    let chat = Chat::expect();
    // Live: subscribe once the history is in the feed (only the browser has a socket).
    Effect::new(move |_| chat.open(feed));
    let reading = read_mark::Reading::new();
    read_mark::mark_read_as_messages_arrive(feed, reading);
    let me_key = me.as_ref().map(Username::key);
    let me_key_list = me_key.clone();
    let id = feed.room_id;
    // A memo: every row reads it, and the room list changes with every new message of any room,
    // while this answer almost never does.
    let moderates = Memo::new(move |_| {
        chat.room_list()
            .and_then(|rooms| rooms.into_iter().find(|r| r.id == id))
            .is_some_and(|row| heading::moderates(&row))
    });

    // Each part is type-erased: one nested view type for the whole page is deep enough to
    // overflow the compiler's query depth in the server crate.
    view! {
        <div class="room">
            <div class="room-head">
                <heading::Heading id=feed.room_id title topic/>
                <crate::notifications::NotifyLevelMenu room_id=feed.room_id/>
                <a href="/" class="back">"All rooms"</a>
            </div>
            <div class="room-body">
                <section class="chat" aria-label="Conversation">
                    <log::MessageLog feed me=me.clone() at_bottom=reading.at_bottom read_before focus moderates=moderates/>
                    <composer::TypingLine feed me_key=me_key.clone()/>
                    // A deleted room says only that (its revocation would add "no longer a member").
                    {move || feed.denied().filter(|_| feed.deleted_by.get().is_none()).map(|why| view! {
                        <p class="notice" role="alert">"You cannot post here: " {why} "."</p>
                    })}
                    {move || removed_by_someone(feed, me_key.as_deref()).map(|what| view! {
                        <p class="notice" role="status">{what}</p>
                    })}
                    {move || feed.deleted_by.get().map(|by| view! {
                        <p class="notice" role="status">
                            {by.to_string()} " deleted this room. Its messages are being erased."
                        </p>
                    })}
                    <composer::Composer feed members/>
                </section>
                <members::Members feed members me_key=me_key_list direct/>
            </div>
        </div>
    }
    .into_any()
}

/// "ana removed you", when someone else ended your membership while the page was open.
fn removed_by_someone(feed: RoomFeed, me_key: Option<&str>) -> Option<String> {
    let me_key = me_key?;
    feed.membership.with(|changes| {
        let event = changes.get(me_key)?;
        let removed = matches!(event.membership, Membership::Leave | Membership::Ban);
        (removed && event.change() != MemberChange::Left).then(|| match event.change() {
            MemberChange::Banned => format!("{} banned you from this room.", event.sender),
            _ => format!("{} removed you from this room.", event.sender),
        })
    })
}
