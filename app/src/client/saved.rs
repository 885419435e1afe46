//! What this browser keeps of a person's unfinished work in each room: the composer's draft and
//! the sends not acknowledged yet (see [`super::outbox`]), so that a reload, a closed tab or a
//! crashed one loses nothing typed.
//!
//! Why `localStorage`: it is synchronous (a draft is kept as it is typed, and an outbox as it
//! changes, with nothing in flight when the tab goes), it outlives the tab, and what it holds is
//! small and bounded: a draft is at most one message, an outbox at most
//! [`super::outbox::OUTBOX_MAX`] sends. Keys name the user and the room
//! (`minitalk.draft.<user>.<room>`, `minitalk.outbox.<user>.<room>`), so two people who share a
//! browser profile never get each other's. Signing out in this tab removes the person's
//! ([`forget`]): the next person at a shared computer must not find them (an unsent message
//! then goes with the session, which the person chose to end).
//!
//! Several tabs of one room write the same keys: the last write wins. A send one tab queued and
//! another tab's write dropped is still in the first tab's outbox, and written again at its
//! next change.
//!
//! On the server (no browser) nothing is kept and nothing is found.

use super::outbox::Unsent;
use crate::model::{RoomId, Username};

fn key(kind: &str, user: &Username, room: RoomId) -> String {
    format!("minitalk.{kind}.{}.{}", user.key(), room.0)
}

/// The draft kept for `room` (empty when none).
pub fn draft(user: &Username, room: RoomId) -> String {
    read(&key("draft", user, room)).unwrap_or_default()
}

/// Keeps `text` as `room`'s draft (an empty one is removed).
pub fn keep_draft(user: &Username, room: RoomId, text: &str) {
    write(
        &key("draft", user, room),
        (!text.is_empty()).then_some(text),
    );
}

/// The sends kept for `room`, oldest first (none when nothing is kept, or it does not read).
pub fn unsent(user: &Username, room: RoomId) -> Vec<Unsent> {
    read(&key("outbox", user, room))
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default()
}

/// Keeps `sends` as `room`'s outbox (none: removed).
pub fn keep_unsent(user: &Username, room: RoomId, sends: &[Unsent]) {
    let json =
        (!sends.is_empty()).then(|| serde_json::to_string(sends).expect("sends always serialize"));
    write(&key("outbox", user, room), json.as_deref());
}

/// Removes everything kept for `user` (signing out).
pub fn forget(user: &Username) {
    let prefixes = [
        format!("minitalk.draft.{}.", user.key()),
        format!("minitalk.outbox.{}.", user.key()),
    ];
    for key in keys() {
        if prefixes.iter().any(|p| key.starts_with(p.as_str())) {
            write(&key, None);
        }
    }
}

#[cfg(feature = "hydrate")]
fn keys() -> Vec<String> {
    let Some(storage) = storage() else {
        return Vec::new();
    };
    let count = storage.length().unwrap_or(0);
    (0..count)
        .filter_map(|i| storage.key(i).ok().flatten())
        .collect()
}

#[cfg(not(feature = "hydrate"))]
fn keys() -> Vec<String> {
    Vec::new()
}

#[cfg(feature = "hydrate")]
fn storage() -> Option<web_sys::Storage> {
    leptos::prelude::window().local_storage().ok().flatten()
}

#[cfg(feature = "hydrate")]
fn read(key: &str) -> Option<String> {
    storage()?.get_item(key).ok().flatten()
}

#[cfg(feature = "hydrate")]
fn write(key: &str, value: Option<&str>) {
    if let Some(storage) = storage() {
        // A full or refused storage keeps what it had: the tab's own state still holds it.
        let _kept_or_not = match value {
            Some(value) => storage.set_item(key, value),
            None => storage.remove_item(key),
        };
    }
}

#[cfg(not(feature = "hydrate"))]
fn read(_key: &str) -> Option<String> {
    None
}

#[cfg(not(feature = "hydrate"))]
fn write(_key: &str, _value: Option<&str>) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_the_person_ignoring_case_and_the_room() {
        let ana = Username::parse("Ana").unwrap();
        assert_eq!(key("draft", &ana, RoomId(7)), "minitalk.draft.ana.7");
        // Natively (no browser) nothing is kept.
        keep_draft(&ana, RoomId(7), "hi");
        assert_eq!(draft(&ana, RoomId(7)), "");
        assert!(unsent(&ana, RoomId(7)).is_empty());
    }
}
