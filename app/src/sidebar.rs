//! The sidebar beside every signed-in page: the person's rooms, direct conversations and
//! invitations with live unread badges, and the total unread count in the tab's title. On a
//! phone it is a drawer, opened from the header.
//!
//! Why it reads the socket and not a server function: the list comes from the user stream
//! (`subscribe_user`, see [`crate::client`]), which the server keeps current, counts included,
//! across tabs. The server renders the empty frame (it has no socket); the browser fills it once
//! the stream's snapshot arrives, so the first render is the same on both sides.
//!
//! What counts: a room's `unread` as the server says, except for the room on screen, which is
//! being read (its read mark follows a moment later).

use crate::client::Chat;
use crate::model::{RoomId, RoomSummary, Visibility};
use crate::Session;
use leptos::prelude::*;
use leptos_router::hooks::use_location;

/// Whether the phone drawer is open; provided by [`crate::App`], toggled by the header.
#[derive(Debug, Clone, Copy)]
pub struct Drawer(pub RwSignal<bool>);

impl Drawer {
    pub fn expect() -> Self {
        expect_context::<Self>()
    }
}

/// Unread messages in every room but the one on screen; the tab's title shows it.
#[derive(Debug, Clone, Copy)]
pub struct UnreadTotal(pub RwSignal<u64>);

impl UnreadTotal {
    pub fn expect() -> Self {
        expect_context::<Self>()
    }
}

/// The sidebar's three lists, each in the order it is shown.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sections {
    pub invitations: Vec<RoomSummary>,
    pub rooms: Vec<RoomSummary>,
    pub direct: Vec<RoomSummary>,
}

impl Sections {
    /// Splits `list` and sorts each part: rooms that mention you first, then rooms with unread
    /// messages, then the most
    /// recently active, then by title. `current` (the room on screen) shows no unread.
    pub fn of(list: Vec<RoomSummary>, current: Option<RoomId>) -> Self {
        let mut sections = Self::default();
        for mut room in list {
            if Some(room.id) == current {
                room.unread = 0;
                room.mentions = 0;
            }
            let part = if room.invited {
                &mut sections.invitations
            } else if room.visibility == Visibility::Direct {
                &mut sections.direct
            } else {
                &mut sections.rooms
            };
            part.push(room);
        }
        for part in [
            &mut sections.invitations,
            &mut sections.rooms,
            &mut sections.direct,
        ] {
            part.sort_by_cached_key(|room| {
                (
                    room.mentions == 0,
                    room.unread == 0,
                    std::cmp::Reverse(room.last_activity),
                    room.title().to_lowercase(),
                )
            });
        }
        sections
    }

    /// Unread messages over every room and conversation.
    pub fn unread(&self) -> u64 {
        self.rooms
            .iter()
            .chain(&self.direct)
            .map(|r| r.unread)
            .sum()
    }
}

/// The room on screen, from the path (`/rooms/ID`).
pub(crate) fn room_on_screen(path: &str) -> Option<RoomId> {
    path.strip_prefix("/rooms/")?.parse().ok().map(RoomId)
}

#[component]
pub fn Sidebar() -> impl IntoView {
    let session = Session::expect();
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                session.0.await.ok().map(|_| view! { <RoomNav/> })
            })}
        </Transition>
    }
}

#[component]
fn RoomNav() -> impl IntoView {
    let chat = Chat::expect();
    let drawer = Drawer::expect().0;
    let total = UnreadTotal::expect().0;
    let path = use_location().pathname;
    let current = Memo::new(move |_| room_on_screen(&path.get()));
    let sections = Memo::new(move |_| {
        chat.room_list()
            .map(|list| Sections::of(list, current.get()))
    });
    Effect::new(move |_| {
        total.set(sections.with(|s| s.as_ref().map_or(0, Sections::unread)));
    });
    // Following a link closes the drawer.
    Effect::new(move |_| {
        path.track();
        drawer.set(false);
    });
    view! {
        <div class="drawer-backdrop" class:open=move || drawer.get() on:click=move |_| drawer.set(false)></div>
        <nav id="sidebar" class="sidebar" class:open=move || drawer.get() aria-label="Rooms and conversations">
            <crate::notifications::Notifications/>
            {move || match sections.get() {
                None => view! { <p class="muted side-note">"Loading your rooms…"</p> }.into_any(),
                Some(s) => view! {
                    <Section title="Invitations" rooms=s.invitations current empty=None/>
                    <Section title="Rooms" rooms=s.rooms current empty=Some("No rooms yet: join one from the directory.")/>
                    <Section title="Direct messages" rooms=s.direct current empty=Some("No conversations yet.")/>
                }
                    .into_any(),
            }}
        </nav>
    }
}

#[component]
fn Section(
    title: &'static str,
    rooms: Vec<RoomSummary>,
    current: Memo<Option<RoomId>>,
    /// What to say when there is nothing; `None` hides the section instead.
    empty: Option<&'static str>,
) -> impl IntoView {
    if rooms.is_empty() && empty.is_none() {
        return None;
    }
    let rows = if rooms.is_empty() {
        view! { <p class="muted side-note">{empty}</p> }.into_any()
    } else {
        view! {
            <ul class="side-list">
                {rooms.into_iter().map(|room| view! { <Row room current/> }).collect_view()}
            </ul>
        }
        .into_any()
    };
    Some(view! {
        <h2 class="side-heading">{title}</h2>
        {rows}
    })
}

#[component]
fn Row(room: RoomSummary, current: Memo<Option<RoomId>>) -> impl IntoView {
    let id = room.id;
    let unread = room.unread;
    // An invitation is answered on the home page (accept or decline).
    let href = if room.invited {
        "/".to_owned()
    } else {
        format!("/rooms/{id}")
    };
    let badge = if room.invited {
        Some(view! { <span class="tag">"invited"</span> }.into_any())
    } else {
        (unread > 0).then(|| {
            let label = format!("{unread} unread");
            let shown = if unread > 99 {
                "99+".to_owned()
            } else {
                unread.to_string()
            };
            view! { <span class="badge" aria-label=label>{shown}</span> }.into_any()
        })
    };
    let mentions = room.mentions;
    let mention_badge = (!room.invited && mentions > 0).then(|| {
        let plural = if mentions == 1 { "" } else { "s" };
        let label = format!("{mentions} unread mention{plural} of you");
        let shown = format!("@{}", mentions.min(99));
        view! { <span class="badge mention" aria-label=label>{shown}</span> }
    });
    let has_unread = unread > 0;
    view! {
        <li>
            <a
                class="side-row"
                class:has-unread=has_unread
                href=href
                aria-current=move || (current.get() == Some(id)).then_some("page")
            >
                <span class="side-title">{room.title()}</span>
                {mention_badge}
                {badge}
            </a>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NotifyLevel, Role, Username};

    fn room(id: u64, name: &str, unread: u64, active: Option<i64>) -> RoomSummary {
        RoomSummary {
            id: RoomId(id),
            name: name.to_owned(),
            topic: String::new(),
            member_count: 2,
            is_member: true,
            last_read_seq: 0,
            last_seq: unread,
            last_activity: active,
            unread,
            mentions: 0,
            visibility: Visibility::Public,
            role: Some(Role::Member),
            invited: false,
            direct_with: Vec::new(),
            notify: NotifyLevel::Mentions,
            newest_unread: None,
        }
    }

    fn ids(rooms: &[RoomSummary]) -> Vec<u64> {
        rooms.iter().map(|r| r.id.0).collect()
    }

    #[test]
    fn rooms_that_mention_you_come_first_then_unread_ones_then_active_then_by_name() {
        let mut dm = room(5, "", 2, Some(10));
        dm.visibility = Visibility::Direct;
        dm.direct_with = vec![Username::parse("bob").unwrap()];
        let mut invitation = room(6, "secret", 0, None);
        invitation.invited = true;
        invitation.role = None;
        let mut mentioned = room(8, "calm", 1, Some(1));
        mentioned.mentions = 1;
        let list = vec![
            mentioned,
            room(1, "quiet", 0, Some(50)),
            room(2, "busy", 3, Some(20)),
            room(3, "Alpha", 0, None),
            room(4, "new", 1, Some(90)),
            room(7, "beta", 0, None),
            dm,
            invitation,
        ];
        let sections = Sections::of(list, None);
        assert_eq!(ids(&sections.rooms), [8, 4, 2, 1, 3, 7]);
        assert_eq!(ids(&sections.direct), [5]);
        assert_eq!(ids(&sections.invitations), [6]);
        assert_eq!(sections.unread(), 7);
    }

    #[test]
    fn the_room_on_screen_counts_as_read() {
        let list = vec![room(1, "a", 4, Some(1)), room(2, "b", 1, Some(2))];
        let sections = Sections::of(list, room_on_screen("/rooms/1"));
        assert_eq!(sections.unread(), 1);
        assert_eq!(ids(&sections.rooms), [2, 1]);
        assert_eq!(room_on_screen("/rooms/x"), None);
        assert_eq!(room_on_screen("/"), None);
    }
}
