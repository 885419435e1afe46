//! The bar on top of every page: the way home, the stats page, who is signed in, whether the
//! live connection is up, signing out, and on phones the button that opens the rooms drawer.
//!
//! It is also where the tab's WebSocket starts: the first time the header sees a signed-in
//! user in the browser, it starts the [`Chat`] connection.

use crate::api::{logout, logout_everywhere, ApiError};
use crate::client::{Chat, ConnState};
use crate::sidebar::{Drawer, UnreadTotal};
use crate::Session;
use leptos::prelude::*;

#[component]
pub fn Header() -> impl IntoView {
    let session = Session::expect();
    view! {
        <header class="topbar">
            <div class="topbar-inner">
                <a class="brand" href="/">
                    <span class="brand-mark" aria-hidden="true">"m"</span>
                    "Minitalk"
                </a>
                <nav aria-label="Main">
                    <a href="/search">"Search"</a>
                    <a href="/stats">"Stats"</a>
                </nav>
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        match session.0.await {
                            Ok(user) => view! { <SignedIn username=user.username.to_string()/> }
                                .into_any(),
                            Err(_) => view! {
                                <div class="account">
                                    <a class="button-link" href="/login">"Sign in"</a>
                                </div>
                            }
                                .into_any(),
                        }
                    })}
                </Transition>
            </div>
        </header>
    }
}

#[component]
fn SignedIn(username: String) -> impl IntoView {
    let chat = Chat::expect();
    if let Ok(me) = crate::model::Username::parse(&username) {
        Effect::new(move |_| chat.start(me.clone()));
    }
    let signing_out = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let sign_out = move |everywhere: bool| {
        signing_out.set(true);
        leptos::task::spawn_local(async move {
            let done = if everywhere {
                logout_everywhere().await
            } else {
                logout().await
            };
            match done {
                Ok(()) => {
                    // What this browser kept of their drafts and unsent messages goes with
                    // the session: the next person at this browser must not find it.
                    if let Some(me) = chat.me() {
                        crate::client::saved::forget(&me);
                    }
                    // A full load: drops the socket and every room's state with the session.
                    let _navigated = window().location().assign("/login");
                }
                Err(e) => {
                    signing_out.set(false);
                    error.set(Some(e));
                }
            }
        });
    };
    let state = chat.state;
    let hydrated = crate::clock::Hydrated::expect();
    let drawer = Drawer::expect().0;
    let unread = UnreadTotal::expect().0;
    view! {
        // Shown on phones only (the sidebar is a drawer there).
        <button
            type="button"
            class="secondary drawer-toggle"
            aria-controls="sidebar"
            aria-expanded=move || drawer.get().to_string()
            on:click=move |_| drawer.update(|open| *open = !*open)
        >
            "Rooms"
            {move || {
                let n = unread.get();
                (n > 0).then(|| view! { <span class="badge" aria-label=format!("{n} unread")>{n}</span> })
            }}
        </button>
        <div class="account">
            <span
                role="status"
                class="conn"
                class:ok=move || state.get() == ConnState::Connected
                class:down=move || state.get() == ConnState::Reconnecting
            >
                <span class="conn-dot" aria-hidden="true"></span>
                {move || state.get().label()}
            </span>
            <span class="who">
                <span class="visually-hidden">"Signed in as "</span>
                <strong>{username}</strong>
            </span>
            <button type="button" class="secondary" on:click=move |_| sign_out(false) disabled=move || !hydrated.get() || signing_out.get()>
                "Sign out"
            </button>
            <button
                type="button"
                class="secondary"
                title="Ends your sessions in every browser and device"
                on:click=move |_| sign_out(true)
                disabled=move || !hydrated.get() || signing_out.get()
            >
                "Sign out everywhere"
            </button>
            {move || error.get().map(|e| view! { <span role="alert" class="error">{e.to_string()}</span> })}
        </div>
    }
}
