//! The member list beside the conversation: who is in the room, online first, with their
//! roles. It is loaded once when the page opens; then membership changes (timeline entries, so
//! none is missed across a reconnect) and presence frames are applied live on top of it. No
//! polling.
//!
//! Owners and moderators also see what they may do to each person of a lower role (remove,
//! ban; owners also give and take the moderator role) and a form to invite or unban someone by
//! name. The server decides: a button shown is a convenience, never the permission.

use crate::api::{moderate, ApiError, Moderation};
use crate::client::{Chat, ConnState, RoomFeed};
use crate::clock::Hydrated;
use crate::model::{Member, Role, RoomId, Username};
use crate::timeline::Membership;
use leptos::prelude::*;

#[component]
pub fn Members(
    feed: RoomFeed,
    members: Resource<Result<Vec<Member>, ApiError>>,
    me_key: Option<String>,
    /// A direct conversation: nobody moderates it.
    direct: bool,
) -> impl IntoView {
    view! {
        <aside class="members" aria-labelledby="members-heading">
            <h2 id="members-heading">"Members"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    let me_key = me_key.clone();
                    Suspend::new(async move {
                        match members.await {
                            Ok(list) => view! { <MemberList list feed me_key direct/> }.into_any(),
                            Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                        }
                    })
                }}
            </Transition>
        </aside>
    }
    .into_any()
}

/// One row of the list.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    user: Username,
    online: bool,
    role: Role,
}

#[component]
fn MemberList(
    list: Vec<Member>,
    feed: RoomFeed,
    me_key: Option<String>,
    direct: bool,
) -> impl IntoView {
    let chat = Chat::expect();
    let error = RwSignal::new(None::<String>);
    let me_key_rows = me_key.clone();
    let rows = Memo::new(move |_| {
        let mut merged: Vec<Row> = list
            .iter()
            .map(|m| Row {
                user: m.username.clone(),
                online: m.online,
                role: m.role,
            })
            .collect();
        feed.membership.with(|changes| {
            for (key, event) in changes {
                let listed = merged.iter().position(|r| &r.user.key() == key);
                match (event.membership, listed) {
                    (Membership::Join, None) => merged.push(Row {
                        user: event.user.clone(),
                        online: false,
                        role: event.role,
                    }),
                    (Membership::Join, Some(at)) => merged[at].role = event.role,
                    (Membership::Leave | Membership::Ban, Some(at)) => {
                        merged.remove(at);
                    }
                    _ => {}
                }
            }
        });
        feed.presence.with(|presence| {
            for (key, (_, online)) in presence {
                if let Some(row) = merged.iter_mut().find(|r| &r.user.key() == key) {
                    row.online = *online;
                }
            }
        });
        let connected = chat.state.get() == ConnState::Connected;
        for row in &mut merged {
            if Some(row.user.key()) == me_key_rows {
                row.online = connected;
            }
        }
        merged.sort_by(|a, b| {
            b.online
                .cmp(&a.online)
                .then_with(|| b.role.cmp(&a.role))
                .then_with(|| a.user.key().cmp(&b.user.key()))
        });
        merged
    });
    let me_key_for_role = me_key.clone();
    // My role, as the list says now (it follows role changes live).
    let my_role = Memo::new(move |_| {
        rows.with(|rows| {
            rows.iter()
                .find(|r| Some(r.user.key()) == me_key_for_role)
                .map(|r| r.role)
        })
    });
    let moderator = move || !direct && my_role.get() >= Some(Role::Moderator);
    let room = feed.room_id;
    view! {
        <ul class="member-list">
            {move || rows.get()
                .into_iter()
                .map(|row| {
                    let mine = Some(row.user.key()) == me_key;
                    let actions = (!mine && my_role.get().is_some_and(|me| me >= Role::Moderator && row.role < me) && !direct)
                        .then(|| view! { <MemberActions room row=row.clone() owner=my_role.get() == Some(Role::Owner) error/> });
                    view! {
                        <li class="member" class:online=row.online>
                            <span class="dot" aria-hidden="true"></span>
                            <span class="member-name">{row.user.to_string()}</span>
                            {(row.role > Role::Member).then(|| view! { <span class="tag">{row.role.label()}</span> })}
                            <span class="visually-hidden">{if row.online { " (online)" } else { " (offline)" }}</span>
                            {actions}
                        </li>
                    }
                })
                .collect_view()}
        </ul>
        {move || moderator().then(|| view! { <InviteForm room error/> })}
        <p class="error" role="alert">{move || error.get()}</p>
    }
    .into_any()
}

/// Sends one moderation action; a refusal is shown as the server words it.
fn act(room: RoomId, user: String, action: Moderation, error: RwSignal<Option<String>>) {
    error.set(None);
    leptos::task::spawn_local(async move {
        if let Err(e) = moderate(room, user, action).await {
            error.set(Some(e.to_string()));
        }
    });
}

/// What a moderator may do to one person of a lower role.
#[component]
fn MemberActions(
    room: RoomId,
    row: Row,
    owner: bool,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let hydrated = Hydrated::expect();
    let name = row.user.to_string();
    let button = move |label: &'static str, action: Moderation| {
        let who = name.clone();
        view! {
            <button
                type="button"
                class="secondary small"
                disabled=move || !hydrated.get()
                aria-label=format!("{label} {who}")
                on:click=move |_| act(room, who.clone(), action, error)
            >
                {label}
            </button>
        }
    };
    let role_change = owner.then(|| match row.role {
        Role::Member => button(
            "Make moderator",
            Moderation::SetRole {
                role: Role::Moderator,
            },
        ),
        _ => button("Make member", Moderation::SetRole { role: Role::Member }),
    });
    view! {
        <span class="member-actions">
            {role_change}
            {button("Remove", Moderation::Kick)}
            {button("Ban", Moderation::Ban)}
        </span>
    }
}

/// Invite someone by name (or lift their ban).
#[component]
fn InviteForm(room: RoomId, error: RwSignal<Option<String>>) -> impl IntoView {
    let hydrated = Hydrated::expect();
    let name = RwSignal::new(String::new());
    let submit = move |action: Moderation| {
        let who = name.get_untracked().trim().to_owned();
        if !who.is_empty() {
            act(room, who, action, error);
            name.set(String::new());
        }
    };
    view! {
        <form class="invite-form" on:submit=move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            submit(Moderation::Invite);
        }>
            <label for="invite-name">"Invite someone"</label>
            <input id="invite-name" maxlength="32" bind:value=name placeholder="username"/>
            <button type="submit" class="small" disabled=move || !hydrated.get()>"Invite"</button>
            <button
                type="button"
                class="secondary small"
                disabled=move || !hydrated.get()
                on:click=move |_| submit(Moderation::Unban)
            >
                "Unban"
            </button>
        </form>
    }
}
