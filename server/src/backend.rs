//! The server functions' view of the server: [`app::api::ssr::Backend`] over [`AppState`].
//!
//! Async throughout: each call awaits the `accounts` and `rooms` services, whose stores decide
//! what blocks (the file store's writes run on the blocking pool); password work goes through
//! the sign-in gate inside `accounts`. Domain errors become [`ApiError`]s here, by `From`.
//!
//! Longer than 400 lines on purpose: one method per server function, each a few lines of checks and
//! one call; the checks they share (session, limits, membership) are the helpers at the top.

use crate::accounts::SignedIn;
use crate::bus::BusEvent;
use crate::fasthash::FastMap;
use crate::ratelimit::RateLimiter;
use crate::rooms::Timeline;
use crate::search::{SearchError, Wanted};
use crate::state::AppState;
use crate::store::postgres::SearchRefusal;
use crate::store::rooms::Standing;
use crate::store::{Body, StoreError};
use app::api::{ssr::Backend, ApiError, Moderation, SearchHit, SearchQuery, SEARCH_MAX};
use app::model::{
    ClientId, DirectoryPage, Member, MessageBody, NotifyLevel, RoomId, RoomName, RoomSummary,
    StatsSnapshot, Topic, UserId, UserInfo, Username, Visibility,
};
use app::timeline::Entry;
use futures::future::{BoxFuture, FutureExt};
use std::net::IpAddr;

pub struct ChatBackend(pub AppState);

/// Most invitations one person may have waiting (see `docs/security.md`).
pub const PENDING_INVITATIONS_MAX: usize = 100;

/// The answer to a sign-in: the user and the cookie's token. Sessions it ended to stay within
/// the per-user cap lose their sockets now.
fn signed_in_answer(state: &AppState, signed_in: SignedIn) -> (UserInfo, String) {
    for session in signed_in.evicted.iter().cloned() {
        state.bus().publish(BusEvent::SessionEnded { session });
    }
    (signed_in.user, signed_in.token)
}

/// Takes one of `user`'s tokens from `limiter`, or answers `rate_limited` with the seconds to
/// wait.
fn allowed(limiter: &RateLimiter<UserId>, user: &UserInfo) -> Result<(), ApiError> {
    limiter
        .check(&user.id)
        .map_err(|ms| ApiError::RateLimited(ms.div_ceil(1000).max(1)))
}

impl ChatBackend {
    /// Records an edit or deletion of a message in `room`'s timeline. Counted against the
    /// sender's message rate (each is an entry every member receives); the writer checks
    /// membership and role, the store the message itself.
    async fn change_message(
        &self,
        user: &UserInfo,
        room: RoomId,
        client_id: ClientId,
        body: Body,
    ) -> Result<(), ApiError> {
        allowed(&self.0.limiters().sends, user)?;
        self.0.rooms().confirm_member(user.id, room).await?;
        self.0
            .processor()
            .record(room, user, client_id, body)
            .await
            .map(drop)
            .map_err(Into::into)
    }

    /// The account named `name`, or [`ApiError::NoSuchUser`].
    async fn find_user(&self, name: &Username) -> Result<UserInfo, ApiError> {
        self.0
            .accounts()
            .find(name)
            .await?
            .ok_or(ApiError::NoSuchUser)
    }

    /// Membership changes (joins, leaves, invitations, kicks, bans, role changes) and renames
    /// are timeline entries every member receives: limited per user.
    fn membership_change_allowed(&self, user: &UserInfo) -> Result<(), ApiError> {
        allowed(&self.0.limiters().membership_changes, user)
    }

    /// Read marks and notification levels: each is a journaled write and a row sent to every
    /// tab of the person, so limited per user (a browser marks read at most a few times a
    /// second).
    fn own_row_change_allowed(&self, user: &UserInfo) -> Result<(), ApiError> {
        allowed(&self.0.limiters().own_rows, user)
    }

    /// Creating a room or opening a direct conversation: limited per user.
    fn room_creation_allowed(&self, user: &UserInfo) -> Result<(), ApiError> {
        allowed(&self.0.limiters().room_creations, user)
    }

    /// Whether `target` may get one more invitation: at most [`PENDING_INVITATIONS_MAX`]
    /// wait at once, so nobody's room list can be filled by strangers.
    async fn invitations_allowed(&self, target: &UserInfo) -> Result<(), ApiError> {
        let rooms = self.0.rooms().rooms_of(target.id).await?;
        let pending = rooms
            .iter()
            .filter(|r| r.viewer == Standing::Invited)
            .count();
        if pending >= PENDING_INVITATIONS_MAX {
            return Err(ApiError::Forbidden(format!(
                "{} has {pending} invitations waiting, the most one person may",
                target.username
            )));
        }
        Ok(())
    }

    async fn summary_of(&self, room: RoomId, user: &UserInfo) -> Result<RoomSummary, ApiError> {
        Ok(self
            .0
            .row(self.0.rooms().room(room, user.id).await?, user)
            .await)
    }
}

impl Backend for ChatBackend {
    fn register(
        &self,
        peer: Option<IpAddr>,
        username: Username,
        password: String,
    ) -> BoxFuture<'static, Result<(UserInfo, String), ApiError>> {
        let state = self.0.clone();
        async move {
            let signed_in = state.accounts().register(peer, &username, password).await?;
            Ok(signed_in_answer(&state, signed_in))
        }
        .boxed()
    }

    fn login(
        &self,
        peer: Option<IpAddr>,
        username: Username,
        password: String,
    ) -> BoxFuture<'static, Result<(UserInfo, String), ApiError>> {
        let state = self.0.clone();
        async move {
            let signed_in = state.accounts().login(peer, &username, password).await?;
            Ok(signed_in_answer(&state, signed_in))
        }
        .boxed()
    }

    fn logout<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<(), ApiError>> {
        async move {
            if let Some(session) = self.0.accounts().logout(token).await? {
                self.0.bus().publish(BusEvent::SessionEnded { session });
            }
            Ok(())
        }
        .boxed()
    }

    fn logout_everywhere<'a>(&'a self, user: &'a UserInfo) -> BoxFuture<'a, Result<(), ApiError>> {
        async move {
            self.0.accounts().logout_everywhere(user.id).await?;
            self.0
                .bus()
                .publish(BusEvent::UserSignedOut { user: user.id });
            Ok(())
        }
        .boxed()
    }

    fn secure_cookies(&self) -> bool {
        self.0.config().secure_cookies
    }

    fn session_user<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<UserInfo>, ApiError>> {
        async move { Ok(self.0.accounts().session_user(token).await?) }.boxed()
    }

    fn list_rooms<'a>(
        &'a self,
        user: &'a UserInfo,
    ) -> BoxFuture<'a, Result<Vec<RoomSummary>, ApiError>> {
        async move {
            let rooms = self.0.rooms().rooms_of(user.id).await?;
            Ok(self.0.rows(rooms, user).await)
        }
        .boxed()
    }

    fn room_directory<'a>(
        &'a self,
        user: &'a UserInfo,
        query: &'a str,
        before: Option<RoomId>,
        limit: u32,
    ) -> BoxFuture<'a, Result<DirectoryPage, ApiError>> {
        async move {
            let rows = self
                .0
                .rooms()
                .directory(user.id, query, before, limit as usize);
            let rows = rows.await?;
            Ok(DirectoryPage {
                rooms: self.0.rows(rows.rooms, user).await,
                next: rows.next,
            })
        }
        .boxed()
    }

    fn room_info<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
    ) -> BoxFuture<'a, Result<RoomSummary, ApiError>> {
        self.summary_of(room, user).boxed()
    }

    fn create_room<'a>(
        &'a self,
        user: &'a UserInfo,
        name: RoomName,
        visibility: Visibility,
    ) -> BoxFuture<'a, Result<RoomSummary, ApiError>> {
        async move {
            self.room_creation_allowed(user)?;
            let quota = self.0.config().rooms_per_user;
            let room = self.0.rooms().create(user, name, visibility, quota).await?;
            let people = vec![user.id];
            self.0.bus().publish(BusEvent::RoomCreated { room, people });
            self.summary_of(room, user).await
        }
        .boxed()
    }

    fn moderate<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
        target: Username,
        action: Moderation,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        async move {
            self.membership_change_allowed(user)?;
            let target = self.find_user(&target).await?;
            if action == Moderation::Invite {
                self.invitations_allowed(&target).await?;
            }
            // Whoever it removes is cut off by the publisher, through the bus, when the entry
            // is broadcast (see `processor::publisher`).
            Ok(self.0.rooms().moderate(user, room, &target, action).await?)
        }
        .boxed()
    }

    fn update_room<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
        name: Option<RoomName>,
        topic: Option<Topic>,
    ) -> BoxFuture<'a, Result<RoomSummary, ApiError>> {
        async move {
            // A timeline entry every member receives, like a moderation action.
            self.membership_change_allowed(user)?;
            self.0.rooms().set_settings(user, room, name, topic).await?;
            let view = self.0.rooms().room(room, user.id).await?;
            Ok(self.0.row(view, user).await)
        }
        .boxed()
    }

    fn delete_room<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        async move {
            // A timeline entry every member receives, like a moderation action.
            self.membership_change_allowed(user)?;
            Ok(self.0.rooms().delete(user, room).await?)
        }
        .boxed()
    }

    fn edit_message<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
        seq: u64,
        content: MessageBody,
        client_id: ClientId,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        let body = Body::Edit {
            target_seq: seq,
            content,
        };
        self.change_message(user, room, client_id, body).boxed()
    }

    fn delete_message<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
        seq: u64,
        client_id: ClientId,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        // Whether they may delete anyone's is decided where the batch is ordered.
        let body = Body::DeleteMessage {
            target_seq: seq,
            any_author: false,
        };
        self.change_message(user, room, client_id, body).boxed()
    }

    fn search<'a>(
        &'a self,
        user: &'a UserInfo,
        query: SearchQuery,
        sender: Option<Username>,
    ) -> BoxFuture<'a, Result<Vec<SearchHit>, ApiError>> {
        async move {
            allowed(&self.0.limiters().searches, user)?;
            let rooms = self.0.rooms().rooms_of(user.id).await?;
            let mut titles: FastMap<RoomId, String> = self
                .0
                .rows(rooms, user)
                .await
                .into_iter()
                .filter(|row| row.is_member)
                .map(|row| (row.id, row.title()))
                .collect();
            if let Some(only) = query.room_id {
                if !titles.contains_key(&only) {
                    return Err(ApiError::NotMember);
                }
                titles.retain(|id, _| *id == only);
            }
            let wanted = Wanted {
                words: query.words.trim().to_owned(),
                rooms: titles.keys().copied().collect(),
                sender: sender.map(|s| s.key()),
                from_ts: query.from_ts,
                until_ts: query.until_ts,
                limit: SEARCH_MAX as usize,
            };
            let found = self.0.search().find(wanted).await.map_err(|e| match e {
                SearchError::Off => ApiError::Forbidden(e.to_string()),
                SearchError::Database(SearchRefusal::TooCostly) => ApiError::Invalid(e.to_string()),
                SearchError::Database(SearchRefusal::Busy) => ApiError::RateLimited(1),
                e => {
                    tracing::error!("search failed: {e}");
                    ApiError::Internal
                }
            })?;
            // As they read now, in one read and in the order found: a message deleted since
            // it was indexed reads as erased, and is no hit.
            let wanted = found.iter().map(|&(room, seq)| (room, seq, seq)).collect();
            let read = self.0.messages().read_ranges(wanted).await?;
            let hits = read
                .into_iter()
                .filter_map(|entry| match entry {
                    Entry::Message(message) => Some(SearchHit {
                        room_title: titles.get(&message.room_id).cloned().unwrap_or_default(),
                        message,
                    }),
                    _ => None,
                })
                .collect();
            Ok(hits)
        }
        .boxed()
    }

    fn react<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
        seq: u64,
        emoji: app::reactions::Emoji,
        on: bool,
        client_id: ClientId,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        let body = Body::React {
            target_seq: seq,
            emoji,
            on,
        };
        self.change_message(user, room, client_id, body).boxed()
    }

    fn open_direct<'a>(
        &'a self,
        user: &'a UserInfo,
        others: Vec<Username>,
    ) -> BoxFuture<'a, Result<RoomSummary, ApiError>> {
        async move {
            self.room_creation_allowed(user)?;
            let mut with = Vec::with_capacity(others.len());
            for name in &others {
                with.push(self.find_user(name).await?);
            }
            let people = with.iter().map(|u| u.id).chain([user.id]).collect();
            let (room, new) = self.0.rooms().open_direct(user, with).await?;
            if new {
                // Everyone in it sees it in their sidebar at once.
                self.0.bus().publish(BusEvent::RoomCreated { room, people });
            }
            self.summary_of(room, user).await
        }
        .boxed()
    }

    fn join_room<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
    ) -> BoxFuture<'a, Result<RoomSummary, ApiError>> {
        async move {
            self.membership_change_allowed(user)?;
            self.0.rooms().join(user, room).await?;
            // The room's members saw the join in the timeline; whether the newcomer is online
            // is presence, which they would otherwise learn only at their next connect. Only a
            // socket here is this node's to announce: one elsewhere is its node's.
            if self.0.hub().has_socket_here(user.id) {
                self.0.bus().publish(BusEvent::Presence {
                    room,
                    user: user.username.clone(),
                    user_id: user.id,
                    online: true,
                });
            }
            self.summary_of(room, user).await
        }
        .boxed()
    }

    fn leave_room<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        async move {
            self.membership_change_allowed(user)?;
            self.0.rooms().leave(user, room).await?;
            Ok(())
        }
        .boxed()
    }

    fn room_members<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
    ) -> BoxFuture<'a, Result<Vec<Member>, ApiError>> {
        async move {
            let members = self.0.rooms().members(user.id, room).await?;
            Ok(members
                .into_iter()
                .map(|(id, username, role)| Member {
                    username,
                    online: self.0.hub().is_online(id),
                    role,
                })
                .collect())
        }
        .boxed()
    }

    fn history<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
        before_seq: Option<u64>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<Entry>, ApiError>> {
        async move {
            self.0.rooms().confirm_member(user.id, room).await?;
            // The store reads pages off the async threads itself.
            let messages = self.0.messages().as_ref();
            let page = self
                .0
                .history()
                .page(messages, room, before_seq, limit)
                .await?;
            Ok(page.to_vec())
        }
        .boxed()
    }

    fn mark_read<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
        seq: u64,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        async move {
            self.own_row_change_allowed(user)?;
            let seq = seq.min(self.0.messages().head(room).await?.last_seq);
            self.0.rooms().mark_read(user, room, seq).await?;
            // The person's other tabs (and this one's sidebar) show the room as read.
            self.0.bus().publish(BusEvent::OwnRowChanged {
                room,
                user: user.id,
            });
            Ok(())
        }
        .boxed()
    }

    fn set_notify_level<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
        level: NotifyLevel,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        async move {
            self.own_row_change_allowed(user)?;
            self.0.rooms().set_notify(user, room, level).await?;
            self.0.bus().publish(BusEvent::OwnRowChanged {
                room,
                user: user.id,
            });
            Ok(())
        }
        .boxed()
    }

    fn stats(&self) -> StatsSnapshot {
        self.0.stats_snapshot()
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        tracing::error!("storage error: {err}");
        ApiError::Internal
    }
}
