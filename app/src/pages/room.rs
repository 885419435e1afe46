//! `/rooms/:id`: one room's conversation.
//!
//! The newest page of history comes from the `history` server function as a `Resource`, so it
//! is in the server's HTML; "Load older" pages back from the smallest seq shown. Once hydrated,
//! the page opens the room's [`RoomFeed`] on the tab's WebSocket, which replays everything after
//! the newest seq shown and then goes live; both land in the same seq-keyed map, so the list
//! has no gap and no duplicate. The page also keeps the reader at the newest message while they
//! are at the bottom, and moves their read mark (debounced) as new messages arrive.

use crate::api::{history, join_room, room_info, room_members, ApiError, HISTORY_MAX};
use crate::client::{now_ms, Chat, Outgoing, RoomFeed, SendState, TYPING_THROTTLE_MS};
use crate::clock::{iso_utc, time_of_day, Hydrated};
use crate::model::{ChatMessage, Member, MessageBody, RoomId, Username};
use crate::Session;
use leptos::html;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_params_map;
use std::future::IntoFuture;
use std::time::Duration;

/// How long the read mark waits for more messages before it is sent.
const MARK_READ_DEBOUNCE: Duration = Duration::from_millis(300);
/// How close to the bottom (px) still counts as "at the newest message".
const STICK_SLACK_PX: i32 = 48;
/// The member list is reloaded at least this often…
const MEMBERS_REFRESH_EVERY: Duration = Duration::from_secs(30);
/// …and, when strangers appear, at most once per this many ms.
const MEMBERS_REFRESH_MIN_MS: f64 = 2_000.0;
/// Consecutive messages by one sender within this many ms are shown as one group.
const GROUP_WINDOW_MS: i64 = 5 * 60_000;

#[component]
pub fn RoomPage() -> impl IntoView {
    let params = use_params_map();
    let room_id = move || {
        params
            .read()
            .get("id")
            .and_then(|id| id.parse::<u64>().ok())
            .map(RoomId)
    };
    // Keyed by the id: moving to another room builds a fresh view with its own resources.
    move || match room_id() {
        Some(id) => view! { <RoomView id/> }.into_any(),
        None => view! { <crate::pages::not_found::NotFound/> }.into_any(),
    }
}

#[component]
fn RoomView(id: RoomId) -> impl IntoView {
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
                let name = info.ok().map(|r| r.name);
                let title = name.clone().unwrap_or_else(|| format!("Room {id}"));
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
                        absorb_newest_page(feed, newest);
                        view! {
                            <Title text=title.clone()/>
                            <ChatView feed title me members/>
                        }
                            .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

/// Adds the newest history page to the feed. A feed kept from an earlier visit whose newest
/// message is older than this page could not be joined to it without a hole, so it is dropped.
fn absorb_newest_page(feed: RoomFeed, page: Vec<ChatMessage>) {
    let held_newest = feed
        .messages
        .with_untracked(|m| m.keys().next_back().copied());
    if let (Some(held), Some(first)) = (held_newest, page.first()) {
        if first.seq > held + 1 {
            feed.messages.set(Default::default());
        }
    }
    feed.absorb(page);
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
    me: Option<Username>,
    members: Resource<Result<Vec<Member>, ApiError>>,
) -> impl IntoView {
    let chat = Chat::expect();
    let hydrated = Hydrated::expect();
    let id = feed.room_id;
    let log = NodeRef::<html::Div>::new();
    // Whether the reader is at the newest message; updated on every scroll.
    let stick = StoredValue::new(true);

    // Live: subscribe once the history is in the feed (only the browser has a socket).
    Effect::new(move |_| chat.open(feed));

    // Keep the newest message in view while the reader is at the bottom, and bring it into
    // view when they send one themselves.
    Effect::new(move |sent_before: Option<usize>| {
        feed.messages.track();
        let sent = feed.outbox.with(Vec::len);
        let just_sent = sent_before.is_some_and(|before| sent > before);
        if just_sent || stick.try_get_value().unwrap_or(false) {
            request_animation_frame(move || {
                if let Some(el) = log.get_untracked() {
                    el.set_scroll_top(el.scroll_height());
                }
            });
        }
        sent
    });
    let on_scroll = move |_| {
        if let Some(el) = log.get_untracked() {
            let from_bottom = el.scroll_height() - el.scroll_top() - el.client_height();
            stick.set_value(from_bottom <= STICK_SLACK_PX);
        }
    };

    mark_read_as_messages_arrive(feed);
    refresh_members_when_strangers_appear(feed, members);

    let older = RwSignal::new(false);
    let older_error = RwSignal::new(None::<String>);
    let load_older = move |_| {
        let Some(before) = feed.messages.with_untracked(|m| m.keys().next().copied()) else {
            return;
        };
        older.set(true);
        older_error.set(None);
        let from_bottom = log
            .get_untracked()
            .map(|el| el.scroll_height() - el.scroll_top());
        leptos::task::spawn_local(async move {
            match history(id, Some(before), HISTORY_MAX).await {
                Ok(batch) => {
                    feed.absorb(batch);
                    // Keep the messages the reader was looking at where they were.
                    if let Some(from_bottom) = from_bottom {
                        request_animation_frame(move || {
                            if let Some(el) = log.get_untracked() {
                                el.set_scroll_top(el.scroll_height() - from_bottom);
                            }
                        });
                    }
                }
                Err(e) => older_error.set(Some(e.to_string())),
            }
            older.set(false);
        });
    };
    let at_start = move || feed.oldest_seq().is_none_or(|oldest| oldest <= 1);

    let me_key = me.as_ref().map(Username::key);
    let me_name = me.as_ref().map(|u| u.to_string()).unwrap_or_default();
    let rows = {
        let me_key = me_key.clone();
        move || {
            feed.messages.with(|messages| {
                let mut previous: Option<&ChatMessage> = None;
                messages
                    .values()
                    .map(|m| {
                        let grouped = previous.is_some_and(|p| {
                            p.sender.key() == m.sender.key() && m.ts - p.ts < GROUP_WINDOW_MS
                        });
                        previous = Some(m);
                        let mine = me_key.as_deref() == Some(m.sender.key().as_str());
                        (m.clone(), grouped, mine)
                    })
                    .collect::<Vec<_>>()
            })
        }
    };

    // Each part is type-erased: one nested view type for the whole page is deep enough to
    // overflow the compiler's query depth in the server crate.
    let log_view = view! {
        <div
            class="log"
            role="log"
            aria-live="polite"
            aria-label="Messages"
            tabindex="0"
            node_ref=log
            on:scroll=on_scroll
        >
            <div class="log-start">
                <Show
                    when=at_start
                    fallback=move || view! {
                        <button
                            type="button"
                            class="secondary small"
                            on:click=load_older
                            disabled=move || !hydrated.get() || older.get()
                        >
                            {move || if older.get() { "Loading…" } else { "Load older" }}
                        </button>
                    }
                >
                    <p class="muted">"This is the start of the room."</p>
                </Show>
                <p class="error" role="alert">{move || older_error.get()}</p>
            </div>
            <ul class="messages">
                <For
                    each=rows
                    key=|(m, grouped, _)| (m.seq, *grouped)
                    children=move |(m, grouped, mine)| view! { <MessageItem m grouped mine/> }
                />
                <For
                    each=move || feed.outbox.get()
                    key=|o| (o.client_id.clone(), o.state != SendState::Pending)
                    children=move |o| view! { <PendingItem o feed sender=me_name.clone()/> }
                />
            </ul>
        </div>
    }
    .into_any();
    let members_key = me_key.clone();
    let members_view = view! {
        <aside class="members" aria-labelledby="members-heading">
            <h2 id="members-heading">"Members"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    let me_key = members_key.clone();
                    Suspend::new(async move {
                        match members.await {
                            Ok(list) => view! { <MemberList list feed me_key/> }.into_any(),
                            Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                        }
                    })
                }}
            </Transition>
        </aside>
    }
    .into_any();

    view! {
        <div class="room">
            <div class="room-head">
                <h1>{title}</h1>
                <a href="/" class="back">"All rooms"</a>
            </div>
            <div class="room-body">
                <section class="chat" aria-label="Conversation">
                    {log_view}
                    <TypingLine feed me_key=me_key.clone()/>
                    {move || feed.denied.get().map(|why| view! {
                        <p class="notice" role="alert">"You cannot post here: " {why} "."</p>
                    })}
                    <Composer feed/>
                </section>
                {members_view}
            </div>
        </div>
    }
    .into_any()
}

/// Reloads the member list when someone it does not name speaks or types (they joined after
/// the list was loaded; joining sends no frame), and once in a while to notice departures.
fn refresh_members_when_strangers_appear(
    feed: RoomFeed,
    members: Resource<Result<Vec<Member>, ApiError>>,
) {
    let last_refresh = StoredValue::new(0f64);
    Effect::new(move |_| {
        let Some(Ok(list)) = members.get() else {
            return;
        };
        let newest_sender = feed
            .messages
            .with(|m| m.values().next_back().map(|m| m.sender.key()));
        let typists: Vec<String> = feed
            .typing
            .with(|t| t.iter().map(|(user, _)| user.key()).collect());
        let stranger = newest_sender
            .into_iter()
            .chain(typists)
            .any(|key| !list.iter().any(|m| m.username.key() == key));
        if stranger && now_ms() - last_refresh.get_value() > MEMBERS_REFRESH_MIN_MS {
            last_refresh.set_value(now_ms());
            members.refetch();
        }
    });
    Effect::new(move |_| {
        let handle = set_interval_with_handle(move || members.refetch(), MEMBERS_REFRESH_EVERY);
        on_cleanup(move || {
            if let Ok(handle) = handle {
                handle.clear();
            }
        });
    });
}

/// Sends the newest seq shown as the read mark, once messages stop arriving for a moment, and
/// when the page goes away (navigation or unload) with a mark still waiting.
fn mark_read_as_messages_arrive(feed: RoomFeed) {
    let id = feed.room_id;
    let marked = StoredValue::new(0u64);
    let waiting = StoredValue::new(None::<u64>);
    let flush = move || {
        if let Some(Some(seq)) = waiting.try_get_value() {
            waiting.set_value(None);
            marked.set_value(seq);
            send_read_mark(id, seq);
        }
    };
    Effect::new(move |_| {
        let Some(newest) = feed.newest_seq() else {
            return;
        };
        if newest <= marked.get_value() {
            return;
        }
        waiting.set_value(Some(newest));
        set_timeout(
            move || {
                if waiting.try_get_value().flatten() == Some(newest) {
                    flush();
                }
            },
            MARK_READ_DEBOUNCE,
        );
    });
    #[cfg(feature = "hydrate")]
    {
        let unload = window_event_listener(leptos::ev::pagehide, move |_| flush());
        on_cleanup(move || unload.remove());
    }
    on_cleanup(flush);
}

/// `POST /api/mark_read` as a keep-alive request, so it is delivered even when the page is
/// being unloaded (an ordinary request would be cancelled with the page). Best effort: a lost
/// mark only leaves the unread count high until the next one.
fn send_read_mark(room: RoomId, seq: u64) {
    #[cfg(feature = "hydrate")]
    {
        use leptos::server_fn::ServerFn;
        use wasm_bindgen::JsValue;
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_body(&JsValue::from_str(
            &serde_json::json!({ "room_id": room, "seq": seq }).to_string(),
        ));
        let headers = js_sys::Object::new();
        let _set =
            js_sys::Reflect::set(&headers, &"content-type".into(), &"application/json".into());
        init.set_headers(&headers);
        let _set = js_sys::Reflect::set(&init, &"keepalive".into(), &JsValue::TRUE);
        let request = window().fetch_with_str_and_init(crate::api::MarkRead::PATH, &init);
        // Await the answer so a failure is handled here instead of surfacing as an unhandled
        // rejection in the console.
        let answer = wasm_bindgen_futures::JsFuture::from(request);
        leptos::task::spawn_local(async move {
            let _best_effort = answer.await;
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _only_browsers_read = (room, seq);
}

#[component]
fn MessageItem(m: ChatMessage, grouped: bool, mine: bool) -> impl IntoView {
    let hydrated = Hydrated::expect();
    let ts = m.ts;
    view! {
        <li class="msg" class:grouped=grouped class:mine=mine data-seq=m.seq>
            <div class="msg-head">
                <span class="sender">{m.sender.to_string()}</span>
                <time datetime=iso_utc(ts)>{move || time_of_day(ts, hydrated.get())}</time>
            </div>
            <p class="msg-text">{m.content}</p>
        </li>
    }
    .into_any()
}

#[component]
fn PendingItem(o: Outgoing, feed: RoomFeed, sender: String) -> impl IntoView {
    let chat = Chat::expect();
    let client_id = o.client_id.clone();
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
        }
        .into_any(),
    };
    view! {
        <li class="msg mine unsent">
            <div class="msg-head">
                <span class="sender">{sender}</span>
                {state}
            </div>
            <p class="msg-text">{o.content}</p>
        </li>
    }
    .into_any()
}

#[component]
fn TypingLine(feed: RoomFeed, me_key: Option<String>) -> impl IntoView {
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
fn Composer(feed: RoomFeed) -> impl IntoView {
    let chat = Chat::expect();
    let hydrated = Hydrated::expect();
    let draft = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let last_typing = StoredValue::new(f64::MIN);
    let send = move || {
        let text = draft.get_untracked();
        match MessageBody::parse(&text) {
            Ok(body) => {
                chat.send(feed, String::from(body));
                draft.set(String::new());
                error.set(None);
            }
            Err(e) => error.set(Some(e.0)),
        }
    };
    let on_input = move |ev: leptos::ev::Event| {
        draft.set(event_target_value(&ev));
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

#[component]
fn MemberList(list: Vec<Member>, feed: RoomFeed, me_key: Option<String>) -> impl IntoView {
    let chat = Chat::expect();
    let rows = move || {
        let mut merged: Vec<(Username, bool)> = list
            .iter()
            .map(|m| (m.username.clone(), m.online))
            .collect();
        feed.presence.with(|presence| {
            for (key, (user, online)) in presence {
                match merged.iter_mut().find(|(u, _)| &u.key() == key) {
                    Some(entry) => entry.1 = *online,
                    None => merged.push((user.clone(), *online)),
                }
            }
        });
        let connected = chat.state.get() == crate::client::ConnState::Connected;
        for entry in &mut merged {
            if Some(entry.0.key()) == me_key {
                entry.1 = connected;
            }
        }
        merged.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.key().cmp(&b.0.key())));
        merged
    };
    view! {
        <ul class="member-list">
            {move || rows()
                .into_iter()
                .map(|(user, online)| view! {
                    <li class="member" class:online=online>
                        <span class="dot" aria-hidden="true"></span>
                        <span class="member-name">{user.to_string()}</span>
                        <span class="visually-hidden">{if online { " (online)" } else { " (offline)" }}</span>
                    </li>
                })
                .collect_view()}
        </ul>
    }
    .into_any()
}
