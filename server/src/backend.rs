//! The server functions' view of the server: [`app::api::ssr::Backend`] over [`AppState`].

use crate::accounts::{Accounts, SignedIn};
use crate::rooms::RoomRecord;
use crate::state::AppState;
use crate::store::{RoomHead, StoreError};
use app::api::{ssr::Backend, ApiError};
use app::model::{
    ChatMessage, DirectoryPage, Member, RoomId, RoomName, RoomSummary, StatsSnapshot, UserInfo,
    Username,
};
use futures::future::{BoxFuture, FutureExt};
use std::net::IpAddr;

pub struct ChatBackend(pub AppState);

/// The answer to a sign-in: the user and the cookie's token. Sessions it ended to stay within
/// the per-user cap lose their sockets now.
fn signed_in_answer(state: &AppState, signed_in: SignedIn) -> (UserInfo, String) {
    for session in &signed_in.evicted {
        state.hub().end_session(session);
    }
    (signed_in.user, signed_in.token)
}

impl ChatBackend {
    /// Runs password work through the sign-in gate, then ends the sessions it evicted.
    fn sign_in(
        &self,
        peer: Option<IpAddr>,
        work: impl FnOnce(&Accounts) -> Result<SignedIn, ApiError> + Send + 'static,
    ) -> BoxFuture<'static, Result<(UserInfo, String), ApiError>> {
        let state = self.0.clone();
        async move {
            let accounts = state.clone();
            let signed_in = state
                .sign_in()
                .run(peer, move || work(accounts.accounts()))
                .await?;
            Ok(signed_in_answer(&state, signed_in))
        }
        .boxed()
    }

    /// The newest seq of `room` and when it was stored.
    ///
    /// Blocks on the store's future: [`Backend`] is synchronous (the `app` crate runs the calls
    /// that may block on the blocking pool), and the file store answers a head from memory at
    /// once. An async `Backend` would await it instead.
    fn head(&self, room: RoomId) -> Result<RoomHead, StoreError> {
        futures::executor::block_on(self.0.messages().head(room))
    }

    /// A room's row in a list. The lists have no error to give, so a head the store cannot read
    /// shows as an empty room, and the cause is logged.
    fn summary(&self, room: &RoomRecord, user: &UserInfo) -> RoomSummary {
        let RoomHead {
            last_seq,
            last_ts: last_activity,
        } = self.head(room.id).unwrap_or_else(|e| {
            tracing::error!(room = %room.id, "reading a room's head failed: {e}");
            RoomHead::default()
        });
        let membership = room.members.get(&user.id.0);
        RoomSummary {
            id: room.id,
            name: room.name.as_str().to_owned(),
            member_count: room.members.len(),
            is_member: membership.is_some(),
            last_read_seq: membership.map_or(0, |m| m.last_read),
            last_seq,
            last_activity,
        }
    }

    fn summary_of(&self, room: RoomId, user: &UserInfo) -> Result<RoomSummary, ApiError> {
        let rooms = self.0.rooms().read();
        Ok(self.summary(rooms.get(room)?, user))
    }
}

impl Backend for ChatBackend {
    fn register(
        &self,
        peer: Option<IpAddr>,
        username: Username,
        password: String,
    ) -> BoxFuture<'static, Result<(UserInfo, String), ApiError>> {
        self.sign_in(peer, move |accounts| {
            accounts.register(&username, &password)
        })
    }

    fn login(
        &self,
        peer: Option<IpAddr>,
        username: Username,
        password: String,
    ) -> BoxFuture<'static, Result<(UserInfo, String), ApiError>> {
        self.sign_in(peer, move |accounts| accounts.login(&username, &password))
    }

    fn logout(&self, token: &str) -> Result<(), ApiError> {
        if let Some(session) = self.0.accounts().logout(token)? {
            self.0.hub().end_session(&session);
        }
        Ok(())
    }

    fn logout_everywhere(&self, user: &UserInfo) -> Result<(), ApiError> {
        self.0.accounts().logout_everywhere(user.id)?;
        self.0.hub().end_user(user.id);
        Ok(())
    }

    fn secure_cookies(&self) -> bool {
        self.0.config().secure_cookies
    }

    fn session_user(&self, token: &str) -> Option<UserInfo> {
        self.0.accounts().session_user(token)
    }

    fn list_rooms(&self, user: &UserInfo) -> Vec<RoomSummary> {
        let rooms = self.0.rooms().read();
        rooms
            .rooms_of(user.id)
            .map(|room| self.summary(room, user))
            .collect()
    }

    fn room_directory(
        &self,
        user: &UserInfo,
        query: &str,
        before: Option<RoomId>,
        limit: u32,
    ) -> DirectoryPage {
        let rooms = self.0.rooms().read();
        let (page, next) = rooms.directory(query, before, limit as usize);
        DirectoryPage {
            rooms: page
                .into_iter()
                .map(|room| self.summary(room, user))
                .collect(),
            next,
        }
    }

    fn room_info(&self, user: &UserInfo, room: RoomId) -> Result<RoomSummary, ApiError> {
        self.summary_of(room, user)
    }

    fn create_room(&self, user: &UserInfo, name: RoomName) -> Result<RoomSummary, ApiError> {
        self.0
            .limiters()
            .room_creations
            .check(&user.id)
            .map_err(|ms| ApiError::RateLimited(ms.div_ceil(1000).max(1)))?;
        let room = self
            .0
            .rooms()
            .create(user, name, self.0.config().rooms_per_user)?;
        self.summary_of(room, user)
    }

    fn join_room(&self, user: &UserInfo, room: RoomId) -> Result<RoomSummary, ApiError> {
        self.0.rooms().join(user, room)?;
        self.summary_of(room, user)
    }

    fn leave_room(&self, user: &UserInfo, room: RoomId) -> Result<(), ApiError> {
        self.0.rooms().leave(user, room)?;
        self.0.hub().revoke_room(room, user.id);
        Ok(())
    }

    fn room_members(&self, user: &UserInfo, room: RoomId) -> Result<Vec<Member>, ApiError> {
        let rooms = self.0.rooms().read();
        let record = rooms.member_room(user.id, room)?;
        Ok(record
            .members
            .iter()
            .map(|(id, m)| Member {
                username: m.username.clone(),
                online: self.0.hub().is_online(app::model::UserId(*id)),
            })
            .collect())
    }

    fn history(
        &self,
        user: &UserInfo,
        room: RoomId,
        before_seq: Option<u64>,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, ApiError> {
        self.0.rooms().check_member(user.id, room)?;
        // Runs on the blocking pool (see [`app::api::history`]), so it may wait for the read.
        let page = futures::executor::block_on(self.0.history().page(
            self.0.messages().as_ref(),
            room,
            before_seq,
            limit,
        ))?;
        Ok(page.to_vec())
    }

    fn mark_read(&self, user: &UserInfo, room: RoomId, seq: u64) -> Result<(), ApiError> {
        let seq = seq.min(self.head(room)?.last_seq);
        self.0.rooms().mark_read(user, room, seq)
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
