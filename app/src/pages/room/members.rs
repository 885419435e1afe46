//! The member list beside the conversation: who is in the room, online first. It is loaded once
//! when the page opens; then joins and leaves (timeline entries, so none is missed across a
//! reconnect) and presence frames are applied live on top of it. No polling.

use crate::api::ApiError;
use crate::client::{Chat, ConnState, RoomFeed};
use crate::model::{Member, Username};
use crate::timeline::Membership;
use leptos::prelude::*;

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

#[component]
fn MemberList(list: Vec<Member>, feed: RoomFeed, me_key: Option<String>) -> impl IntoView {
    let chat = Chat::expect();
    let rows = move || {
        let mut merged: Vec<(Username, bool)> = list
            .iter()
            .map(|m| (m.username.clone(), m.online))
            .collect();
        feed.membership.with(|changes| {
            for (key, (user, membership)) in changes {
                let listed = merged.iter().position(|(u, _)| &u.key() == key);
                match (membership, listed) {
                    (Membership::Join, None) => merged.push((user.clone(), false)),
                    (Membership::Leave, Some(at)) => {
                        merged.remove(at);
                    }
                    _ => {}
                }
            }
        });
        feed.presence.with(|presence| {
            for (key, (_, online)) in presence {
                if let Some(entry) = merged.iter_mut().find(|(u, _)| &u.key() == key) {
                    entry.1 = *online;
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
