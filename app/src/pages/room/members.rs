//! The member list beside the conversation: who is in the room, online first, with presence
//! frames applied live on top of the last loaded list.

use crate::api::ApiError;
use crate::client::{now_ms, Chat, ConnState, RoomFeed, Window};
use crate::model::{Member, Username};
use leptos::prelude::*;
use std::time::Duration;

/// The member list is reloaded at least this often…
const MEMBERS_REFRESH_EVERY: Duration = Duration::from_secs(30);
/// …and, when strangers appear, at most once per this many ms.
const MEMBERS_REFRESH_MIN_MS: f64 = 2_000.0;

#[component]
pub fn Members(
    feed: RoomFeed,
    members: Resource<Result<Vec<Member>, ApiError>>,
    me_key: Option<String>,
) -> impl IntoView {
    view! {
        <aside class="members" aria-labelledby="members-heading">
            <h2 id="members-heading">"Members"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    let me_key = me_key.clone();
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
    .into_any()
}

/// Reloads the member list when someone it does not name speaks or types (they joined after
/// the list was loaded; joining sends no frame), and once in a while to notice departures.
pub fn refresh_when_strangers_appear(
    feed: RoomFeed,
    members: Resource<Result<Vec<Member>, ApiError>>,
) {
    let last_refresh = StoredValue::new(0f64);
    Effect::new(move |_| {
        let newest_sender =
            feed.with_window(|w: &Window| w.messages().next_back().map(|m| m.sender.key()));
        let typists: Vec<String> = feed
            .typing
            .with(|t| t.iter().map(|(user, _)| user.key()).collect());
        // Read in place: a busy room runs this every frame, and the list can be long.
        let stranger = members.with(|loaded| match loaded {
            Some(Ok(list)) => newest_sender
                .into_iter()
                .chain(typists)
                .any(|key| !list.iter().any(|m| m.username.key() == key)),
            _ => false,
        });
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
        let connected = chat.state.get() == ConnState::Connected;
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
