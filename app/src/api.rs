//! Server functions: accounts, rooms, history and stats, at fixed endpoints under `/api/`.
//!
//! Each function takes and returns JSON (`input = Json`), so other clients can call them as
//! `POST /api/<name>` with a JSON body. The signed-in user always comes from the
//! `minitalk_session` cookie, never from the body. The server crate supplies the real work as an
//! [`ssr::Backend`] in Leptos context; keeping that a trait lets this crate stay free of the
//! server's storage code while still owning the endpoints the browser calls.
//!
//! [`ApiError`] (what every endpoint may answer instead) is in `api/error.rs`, the server half
//! ([`ssr`]) in `api/ssr.rs`.

mod error;
#[cfg(feature = "ssr")]
pub mod ssr;

pub use error::ApiError;

use crate::model::{
    DirectoryPage, Member, NotifyLevel, Role, RoomId, RoomSummary, StatsSnapshot, UserInfo,
    Visibility,
};
use crate::timeline::Entry;
use leptos::prelude::*;
use leptos::server_fn::codec::{GetUrl, Json};
use serde::{Deserialize, Serialize};

/// Name of the session cookie on plain HTTP.
pub const SESSION_COOKIE: &str = "minitalk_session";
/// Name of the session cookie when the server is configured for HTTPS (`--secure-cookies`).
pub const SECURE_SESSION_COOKIE: &str = "__Host-minitalk_session";
/// Most messages one `history` call returns.
pub const HISTORY_MAX: u32 = 100;
/// Most rooms one `room_directory` call returns.
pub const DIRECTORY_MAX: u32 = 50;
/// Most other people in one direct conversation.
pub const DIRECT_MAX_OTHERS: usize = 9;
/// Most hits one `search` call returns.
pub const SEARCH_MAX: u32 = 30;
/// The longest search, in characters.
pub const SEARCH_MAX_CHARS: usize = 200;

/// What to search for: words in the rooms you are in, optionally in one room, by one sender,
/// within a time (ms since the epoch, inclusive).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchQuery {
    pub words: String,
    #[serde(default)]
    pub room_id: Option<RoomId>,
    #[serde(default)]
    pub sender: Option<String>,
    #[serde(default)]
    pub from_ts: Option<i64>,
    #[serde(default)]
    pub until_ts: Option<i64>,
}

/// One message a search found, as it reads now, with its room's title.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    pub room_title: String,
    pub message: crate::model::ChatMessage,
}

#[server(endpoint = "register", input = Json)]
pub async fn register(username: String, password: String) -> Result<UserInfo, ApiError> {
    ssr::answer(async move {
        let username = crate::model::Username::parse(&username)?;
        ssr::check_password(&password)?;
        let jar = ssr::CookieJar::take();
        let (user, token) = ssr::backend()
            .register(ssr::peer_ip(), username, password)
            .await?;
        jar.set_session(&token);
        Ok(user)
    })
    .await
}

#[server(endpoint = "login", input = Json)]
pub async fn login(username: String, password: String) -> Result<UserInfo, ApiError> {
    ssr::answer(async move {
        let username =
            crate::model::Username::parse(&username).map_err(|_| ApiError::InvalidCredentials)?;
        if password.chars().count() > crate::model::MAX_PASSWORD_CHARS {
            return Err(ApiError::InvalidCredentials);
        }
        let jar = ssr::CookieJar::take();
        let (user, token) = ssr::backend()
            .login(ssr::peer_ip(), username, password)
            .await?;
        jar.set_session(&token);
        Ok(user)
    })
    .await
}

#[server(endpoint = "logout", input = Json)]
pub async fn logout() -> Result<(), ApiError> {
    ssr::answer(async move {
        let jar = ssr::CookieJar::take();
        if let Some(token) = ssr::session_token() {
            ssr::backend().logout(&token).await?;
        }
        jar.clear_session();
        Ok(())
    })
    .await
}

/// Ends every session of the signed-in user, in every browser, and closes their sockets.
#[server(endpoint = "logout_everywhere", input = Json)]
pub async fn logout_everywhere() -> Result<(), ApiError> {
    ssr::answer(async move {
        let jar = ssr::CookieJar::take();
        let (backend, user) = ssr::signed_in().await?;
        backend.logout_everywhere(&user).await?;
        jar.clear_session();
        Ok(())
    })
    .await
}

#[server(endpoint = "me", input = Json)]
pub async fn me() -> Result<UserInfo, ApiError> {
    ssr::answer(async move { Ok(ssr::signed_in().await?.1) }).await
}

/// The rooms the signed-in user is a member of.
#[server(endpoint = "list_rooms", input = Json)]
pub async fn list_rooms() -> Result<Vec<RoomSummary>, ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        backend.list_rooms(&user).await
    })
    .await
}

/// One page of every room, newest first, optionally only those whose name contains `query`
/// (ignoring case); `before` is the previous page's `next`.
#[server(endpoint = "room_directory", input = Json)]
pub async fn room_directory(
    query: String,
    before: Option<RoomId>,
    limit: u32,
) -> Result<DirectoryPage, ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        if query.chars().count() > crate::model::MAX_ROOM_NAME_CHARS {
            return Err(ApiError::Invalid(
                "search text is longer than any room name".into(),
            ));
        }
        let limit = limit.clamp(1, DIRECTORY_MAX);
        backend.room_directory(&user, &query, before, limit).await
    })
    .await
}

/// One room, as the signed-in user sees it (members and non-members alike).
#[server(endpoint = "room_info", input = Json)]
pub async fn room_info(room_id: RoomId) -> Result<RoomSummary, ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        backend.room_info(&user, room_id).await
    })
    .await
}

/// Creates a room owned by the signed-in user: public (listed, anyone may join) unless
/// `visibility` says `private` (listed for members and invitees, joined by invitation).
#[server(endpoint = "create_room", input = Json)]
pub async fn create_room(
    name: String,
    visibility: Option<Visibility>,
) -> Result<RoomSummary, ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        let name = crate::model::RoomName::parse(&name)?;
        let visibility = match visibility.unwrap_or_default() {
            Visibility::Direct => {
                return Err(ApiError::Invalid(
                    "a direct conversation is opened with open_direct".into(),
                ))
            }
            other => other,
        };
        backend.create_room(&user, name, visibility).await
    })
    .await
}

/// What an owner or moderator does to someone in a room (see [`moderate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Moderation {
    /// Invite them (they accept with `join_room`, decline with `leave_room`).
    Invite,
    /// Remove a member, or withdraw an invitation. They may join again (a public room).
    Kick,
    /// Remove them and keep them out until unbanned.
    Ban,
    Unban,
    /// Make a member a moderator or a member again (owners only).
    SetRole {
        role: Role,
    },
}

/// Invites, kicks, bans, unbans or changes the role of `username` in a room. Allowed to
/// owners and moderators on people of a lower role (roles: owners only); the rules are in
/// `docs/protocol.md`. Each is an entry in the room's timeline.
#[server(endpoint = "moderate", input = Json)]
pub async fn moderate(
    room_id: RoomId,
    username: String,
    action: Moderation,
) -> Result<(), ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        let target = crate::model::Username::parse(&username)?;
        backend.moderate(&user, room_id, target, action).await
    })
    .await
}

/// Renames a room and/or sets its topic (`None` keeps it): owners and moderators, not in a
/// direct conversation. An entry in the room's timeline (`room`); answers the room's row.
#[server(endpoint = "update_room", input = Json)]
pub async fn update_room(
    room_id: RoomId,
    name: Option<String>,
    topic: Option<String>,
) -> Result<RoomSummary, ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        let name = name
            .as_deref()
            .map(crate::model::RoomName::parse)
            .transpose()?;
        let topic = topic
            .as_deref()
            .map(crate::model::Topic::parse)
            .transpose()?;
        backend.update_room(&user, room_id, name, topic).await
    })
    .await
}

/// Deletes a room: its owner only, not a direct conversation. The room's last timeline entry
/// (`room_deleted`): every member loses it at once, and its messages are erased from the
/// server's disk soon after (`docs/storage.md`).
#[server(endpoint = "delete_room", input = Json)]
pub async fn delete_room(room_id: RoomId) -> Result<(), ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        backend.delete_room(&user, room_id).await
    })
    .await
}

/// Changes the text of your message `seq` in `room_id`: an `edit` entry in the room's timeline
/// (every member sees it live, and history shows the newest edit in the message's place).
/// Only the author edits. `client_id` names the edit (as a `send`'s does): calling again with
/// the same one, after a lost answer, is answered without editing twice.
#[server(endpoint = "edit_message", input = Json)]
pub async fn edit_message(
    room_id: RoomId,
    seq: u64,
    content: String,
    client_id: String,
) -> Result<(), ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        let content = crate::model::MessageBody::parse(&content)?;
        let client_id = crate::model::ClientId::parse(&client_id)?;
        backend
            .edit_message(&user, room_id, seq, content, client_id)
            .await
    })
    .await
}

/// Deletes message `seq` of `room_id`: yours, or anyone's for an owner or moderator (not in a
/// direct conversation). A `message_deleted` entry in the room's timeline; the message and its
/// edits are erased from the server's disk soon after (`docs/storage.md`). `client_id` as for
/// [`edit_message`].
#[server(endpoint = "delete_message", input = Json)]
pub async fn delete_message(room_id: RoomId, seq: u64, client_id: String) -> Result<(), ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        let client_id = crate::model::ClientId::parse(&client_id)?;
        backend.delete_message(&user, room_id, seq, client_id).await
    })
    .await
}

/// Sets your reaction `emoji` (one of [`crate::reactions::EMOJI`]) to message `seq` of
/// `room_id` on or off: a `reaction` entry in the room's timeline, seen live by every member
/// and in history as the message's reactions. Setting, not toggling: the same call twice
/// changes nothing more. `client_id` as for [`edit_message`].
#[server(endpoint = "react", input = Json)]
pub async fn react(
    room_id: RoomId,
    seq: u64,
    emoji: String,
    on: bool,
    client_id: String,
) -> Result<(), ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        let emoji = crate::reactions::Emoji::parse(&emoji)?;
        let client_id = crate::model::ClientId::parse(&client_id)?;
        backend
            .react(&user, room_id, seq, emoji, on, client_id)
            .await
    })
    .await
}

/// Opens the direct conversation of the signed-in user and `usernames` (1 to
/// [`DIRECT_MAX_OTHERS`] other people): the same people always get the same conversation.
#[server(endpoint = "open_direct", input = Json)]
pub async fn open_direct(usernames: Vec<String>) -> Result<RoomSummary, ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        if usernames.is_empty() || usernames.len() > DIRECT_MAX_OTHERS {
            return Err(ApiError::Invalid(format!(
                "a direct conversation has 1 to {DIRECT_MAX_OTHERS} other people"
            )));
        }
        let mut others = Vec::with_capacity(usernames.len());
        for name in &usernames {
            let name = crate::model::Username::parse(name)?;
            if name.key() == user.username.key() {
                return Err(ApiError::Invalid(
                    "name the other people, not yourself".into(),
                ));
            }
            if !others
                .iter()
                .any(|o: &crate::model::Username| o.key() == name.key())
            {
                others.push(name);
            }
        }
        backend.open_direct(&user, others).await
    })
    .await
}

#[server(endpoint = "join_room", input = Json)]
pub async fn join_room(room_id: RoomId) -> Result<RoomSummary, ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        backend.join_room(&user, room_id).await
    })
    .await
}

#[server(endpoint = "leave_room", input = Json)]
pub async fn leave_room(room_id: RoomId) -> Result<(), ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        backend.leave_room(&user, room_id).await
    })
    .await
}

#[server(endpoint = "room_members", input = Json)]
pub async fn room_members(room_id: RoomId) -> Result<Vec<Member>, ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        backend.room_members(&user, room_id).await
    })
    .await
}

/// Up to `limit` (at most [`HISTORY_MAX`]) timeline entries (messages, joins and leaves) with
/// seq < `before_seq` (the newest when `None`), in ascending seq order.
#[server(endpoint = "history", input = Json)]
pub async fn history(
    room_id: RoomId,
    before_seq: Option<u64>,
    limit: u32,
) -> Result<Vec<Entry>, ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        let limit = limit.clamp(1, HISTORY_MAX);
        backend.history(&user, room_id, before_seq, limit).await
    })
    .await
}

/// Messages of the rooms you are a member of that hold all of `query.words` (as words,
/// ignoring case), best first, at most [`SEARCH_MAX`]: each as it reads now (a deleted message
/// is never a hit). Found within about a second of being stored.
#[server(endpoint = "search", input = Json)]
pub async fn search(query: SearchQuery) -> Result<Vec<SearchHit>, ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        let words = query.words.trim();
        if words.is_empty() || words.chars().count() > SEARCH_MAX_CHARS {
            return Err(ApiError::Invalid(format!(
                "a search is 1 to {SEARCH_MAX_CHARS} characters"
            )));
        }
        let sender = match query.sender.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(name) => Some(crate::model::Username::parse(name)?),
        };
        backend.search(&user, query.clone(), sender).await
    })
    .await
}

#[server(endpoint = "mark_read", input = Json)]
pub async fn mark_read(room_id: RoomId, seq: u64) -> Result<(), ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        backend.mark_read(&user, room_id, seq).await
    })
    .await
}

/// The message processor's live figures; public, like a status page.
/// When the signed-in member wants desktop notifications of `room_id`'s messages (see
/// [`NotifyLevel`]); their other tabs' room lists follow.
#[server(endpoint = "set_notify_level", input = Json)]
pub async fn set_notify_level(room_id: RoomId, level: NotifyLevel) -> Result<(), ApiError> {
    ssr::answer(async move {
        let (backend, user) = ssr::signed_in().await?;
        backend.set_notify_level(&user, room_id, level).await
    })
    .await
}

#[server(endpoint = "stats", input = GetUrl)]
pub async fn stats() -> Result<StatsSnapshot, ApiError> {
    ssr::answer(async move { Ok(ssr::backend().stats()) }).await
}
