//! Desktop notifications (the browser's Notification API): the opt-in, showing what the chat
//! decided to notify ([`crate::client::notices`]), and each room's level.
//!
//! Why an explicit opt-in: browsers only let a page ask for permission in answer to a click,
//! and people rightly dislike pages that ask on arrival. So nothing is asked until the person
//! presses "Turn on"; their choice is kept in this browser (`localStorage`), and a permission
//! they refused is named as such, with where to change it.
//!
//! Never for the room being looked at: a notice for the room on screen in a visible tab is
//! dropped (the message is right there). One notification per room at a time (the `tag`
//! replaces the previous one, also across tabs of one browser). Clicking one focuses the tab
//! and opens the room at that message (`/rooms/ID?at=SEQ`).

use crate::api::set_notify_level;
use crate::client::notices::Notice;
use crate::client::Chat;
use crate::model::{NotifyLevel, RoomId};
use leptos::prelude::*;

/// Where the person stands with desktop notifications in this browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// The browser has no Notification API (or the page is rendering on the server).
    Unsupported,
    Off,
    On,
    /// The person refused the permission; only the browser's site settings can undo it.
    Blocked,
}

/// The `localStorage` key of the opt-in (`"on"` when turned on).
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
const OPT_IN_KEY: &str = "minitalk.notifications";

/// The opt-in control and the effect that shows notices; one per page, in the sidebar.
#[component]
pub fn Notifications() -> impl IntoView {
    let chat = Chat::expect();
    let setting = RwSignal::new(Setting::Unsupported);
    let path = leptos_router::hooks::use_location().pathname;
    let navigate = leptos_router::hooks::use_navigate();
    // The browser's state, read once hydrated (the server renders the control hidden).
    Effect::new(move |_| setting.set(browser::setting()));
    Effect::new(move |_| {
        let notices = chat.take_notices();
        if setting.get_untracked() != Setting::On {
            return;
        }
        let on_screen = crate::sidebar::room_on_screen(&path.get_untracked());
        for notice in notices {
            if on_screen == Some(notice.room_id) && browser::visible() {
                continue;
            }
            let navigate = navigate.clone();
            browser::show(&notice, move |room: RoomId, seq: u64| {
                navigate(&format!("/rooms/{room}?at={seq}"), Default::default());
            });
        }
    });
    let turn_on = move |_| {
        leptos::task::spawn_local(async move {
            setting.set(browser::ask().await);
        });
    };
    let turn_off = move |_| setting.set(browser::turn_off());
    move || {
        let said = match setting.get() {
            Setting::Unsupported => return None,
            Setting::Off => "Desktop notifications are off.",
            Setting::On => "Desktop notifications are on.",
            Setting::Blocked => {
                "Notifications are blocked for this site: allow them in the browser's site settings."
            }
        };
        let button = match setting.get() {
            Setting::Off => Some(
                view! { <button type="button" class="small" on:click=turn_on>"Turn on"</button> }
                    .into_any(),
            ),
            Setting::On => Some(
                view! { <button type="button" class="small secondary" on:click=turn_off>"Turn off"</button> }
                    .into_any(),
            ),
            Setting::Unsupported | Setting::Blocked => None,
        };
        Some(view! { <div class="side-notify"><span>{said}</span>{button}</div> })
    }
}

/// The person's level for one room, as a menu; shown once the user stream has the room's row
/// (a member's only).
#[component]
pub fn NotifyLevelMenu(room_id: RoomId) -> impl IntoView {
    let chat = Chat::expect();
    let level = Memo::new(move |_| {
        chat.room_list()?
            .into_iter()
            .find(|row| row.id == room_id && row.role.is_some())
            .map(|row| row.notify)
    });
    let error = RwSignal::new(None::<String>);
    let choose = move |ev: leptos::ev::Event| {
        let Some(chosen) = NotifyLevel::parse(&event_target_value(&ev)) else {
            return;
        };
        error.set(None);
        leptos::task::spawn_local(async move {
            // The row comes back on the user stream, in every tab.
            if let Err(e) = set_notify_level(room_id, chosen).await {
                error.try_set(Some(e.to_string()));
            }
        });
    };
    move || {
        level.get().map(|current| {
            view! {
                <label class="notify-level">
                    "Notify me of "
                    <select on:change=choose>
                        {NotifyLevel::ALL
                            .into_iter()
                            .map(|option| view! {
                                <option value=option.as_str() selected=option == current>
                                    {option.label()}
                                </option>
                            })
                            .collect_view()}
                    </select>
                    <span class="error" role="alert">{move || error.get()}</span>
                </label>
            }
        })
    }
}

/// The browser's side; on the server every call is inert.
#[cfg(feature = "hydrate")]
mod browser {
    use super::{Notice, Setting, OPT_IN_KEY};
    use crate::model::RoomId;
    use wasm_bindgen::prelude::*;
    use web_sys::{Notification, NotificationOptions, NotificationPermission};

    fn supported() -> bool {
        js_sys::Reflect::has(&window(), &JsValue::from_str("Notification")).unwrap_or(false)
    }

    fn window() -> web_sys::Window {
        leptos::prelude::window()
    }

    fn opted_in() -> bool {
        let storage = window().local_storage().ok().flatten();
        storage
            .and_then(|s| s.get_item(OPT_IN_KEY).ok().flatten())
            .as_deref()
            == Some("on")
    }

    fn remember(on: bool) {
        if let Some(storage) = window().local_storage().ok().flatten() {
            let _kept_or_not = if on {
                storage.set_item(OPT_IN_KEY, "on")
            } else {
                storage.remove_item(OPT_IN_KEY)
            };
        }
    }

    pub fn setting() -> Setting {
        if !supported() {
            return Setting::Unsupported;
        }
        match Notification::permission() {
            NotificationPermission::Denied => Setting::Blocked,
            NotificationPermission::Granted if opted_in() => Setting::On,
            _ => Setting::Off,
        }
    }

    /// Asks the browser (this runs in answer to the person's click), and remembers a yes.
    pub async fn ask() -> Setting {
        if let Ok(request) = Notification::request_permission() {
            let _answered = wasm_bindgen_futures::JsFuture::from(request).await;
        }
        if Notification::permission() == NotificationPermission::Granted {
            remember(true);
        }
        setting()
    }

    pub fn turn_off() -> Setting {
        remember(false);
        setting()
    }

    pub fn visible() -> bool {
        leptos::prelude::document().visibility_state() == web_sys::VisibilityState::Visible
    }

    pub fn show(notice: &Notice, open: impl Fn(RoomId, u64) + 'static) {
        let options = NotificationOptions::new();
        options.set_body(&notice.body);
        options.set_tag(&format!("minitalk-room-{}", notice.room_id));
        let Ok(shown) = Notification::new_with_options(&notice.title, &options) else {
            return;
        };
        let (room, seq) = (notice.room_id, notice.seq);
        let closes = shown.clone();
        let on_click = Closure::once_into_js(move || {
            let _focused = window().focus();
            open(room, seq);
            closes.close();
        });
        shown.set_onclick(Some(on_click.unchecked_ref()));
    }
}

#[cfg(not(feature = "hydrate"))]
mod browser {
    use super::{Notice, Setting};
    use crate::model::RoomId;

    pub fn setting() -> Setting {
        Setting::Unsupported
    }

    pub async fn ask() -> Setting {
        Setting::Unsupported
    }

    pub fn turn_off() -> Setting {
        Setting::Unsupported
    }

    pub fn visible() -> bool {
        true
    }

    pub fn show(_notice: &Notice, _open: impl Fn(RoomId, u64) + 'static) {}
}
