//! Revocation: a left room delivers nothing more, an ended session closes the socket, and a bus
//! resync re-checks both (failing closed when the account store cannot answer).

use super::harness::{subscribed, Harness, Members, Server, ANA, ROOM};
use crate::accounts::Accounts;
use crate::bus::{Bus, BusEvent};
use crate::clock::Clock;
use crate::hub::SessionKey;
use crate::ratelimit::RateLimit;
use crate::signin::{SignInGate, SignInLimits};
use crate::store::accounts::{AccountError, AccountStore, StoredSession, UserRecord};
use crate::store::StoreError;
use crate::ws::Authority;
use app::api::ApiError;
use app::model::{RoomId, RoomSummary, UserId, UserInfo, Username};
use app::protocol::{ErrorCode, ServerFrame};
use futures::future::{ready, BoxFuture, FutureExt};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn a_revoked_room_delivers_nothing_more_not_even_through_catch_up() {
    let mut client = Harness::start(1);
    client.subscribe(None).await;
    assert_eq!(client.next().await, subscribed(0));
    client.members.0.lock().unwrap().remove(&(ANA, ROOM));
    client.bus.publish(BusEvent::MembershipChanged {
        room: ROOM,
        user: ANA,
        member: false,
        through: None,
    });
    client.store(5);
    match client.next().await {
        ServerFrame::Error(e) => {
            assert_eq!((e.code, e.room_id), (ErrorCode::NotMember, Some(ROOM)));
        }
        other => panic!("expected not_member, got {other:?}"),
    }
    client.nothing_more().await;
}

#[tokio::test]
async fn a_resync_revokes_a_room_left_without_its_event() {
    let mut client = Harness::start(64);
    client.subscribe(None).await;
    assert_eq!(client.next().await, subscribed(0));
    // The leave happened (on another node, say) and its bus event was lost.
    client.members.0.lock().unwrap().remove(&(ANA, ROOM));
    client.store(1);
    assert_eq!(client.seqs(1).await, [1]);
    client.bus.publish(BusEvent::Resync);
    client.store(1);
    match client.next().await {
        ServerFrame::Error(e) => {
            assert_eq!((e.code, e.room_id), (ErrorCode::NotMember, Some(ROOM)));
        }
        other => panic!("expected not_member, got {other:?}"),
    }
    client.nothing_more().await;
}

#[tokio::test]
async fn a_resync_closes_a_socket_whose_session_ended_without_its_event() {
    let mut client = Harness::start(64);
    client.members.1.lock().unwrap().clear();
    client.nothing_more().await;
    client.bus.publish(BusEvent::Resync);
    assert!(
        matches!(client.next().await, ServerFrame::Error(e) if e.code == ErrorCode::Unauthorized)
    );
    client.expect_close(4001).await;
}

#[tokio::test]
async fn a_resync_keeps_a_member_subscribed_and_catches_up_what_it_lacks() {
    let mut client = Harness::start(64);
    client.subscribe(None).await;
    assert_eq!(client.next().await, subscribed(0));
    // Stored, but its hand-off to the hub was lost.
    client.log.append(ROOM, 2);
    client.bus.publish(BusEvent::Resync);
    assert_eq!(client.seqs(2).await, [1, 2]);
    client.store(1);
    assert_eq!(client.seqs(1).await, [3]);
    client.nothing_more().await;
}

#[tokio::test]
async fn a_non_member_cannot_subscribe() {
    let mut client = Harness::start(64);
    client.members.0.lock().unwrap().clear();
    client.subscribe(Some(0)).await;
    assert!(matches!(client.next().await, ServerFrame::Error(e) if e.code == ErrorCode::NotMember));
    client.store(1);
    client.nothing_more().await;
}

#[tokio::test]
async fn an_ended_session_is_told_and_closed_with_4001() {
    let mut client = Harness::start(64);
    client.bus.publish(BusEvent::UserSignedOut { user: ANA });
    assert!(
        matches!(client.next().await, ServerFrame::Error(e) if e.code == ErrorCode::Unauthorized)
    );
    client.expect_close(4001).await;
}

/// An account store whose every call fails, as a store that lost its disk or its database.
struct Broken;

fn broken() -> StoreError {
    StoreError::Stopped("the account store is broken".into())
}

impl AccountStore for Broken {
    fn create_user(
        &self,
        _: Username,
        _: String,
        _: i64,
    ) -> BoxFuture<'_, Result<UserInfo, AccountError>> {
        ready(Err(broken().into())).boxed()
    }

    fn user_by_name(&self, _: &Username) -> BoxFuture<'_, Result<Option<UserRecord>, StoreError>> {
        ready(Err(broken())).boxed()
    }

    fn begin_session(
        &self,
        _: SessionKey,
        _: StoredSession,
        _: usize,
    ) -> BoxFuture<'_, Result<Vec<SessionKey>, StoreError>> {
        ready(Err(broken())).boxed()
    }

    fn session(
        &self,
        _: &SessionKey,
        _: i64,
    ) -> BoxFuture<'_, Result<Option<StoredSession>, StoreError>> {
        ready(Err(broken())).boxed()
    }

    fn end_session(&self, _: &SessionKey) -> BoxFuture<'_, Result<bool, StoreError>> {
        ready(Err(broken())).boxed()
    }

    fn end_sessions_of(&self, _: UserId) -> BoxFuture<'_, Result<usize, StoreError>> {
        ready(Err(broken())).boxed()
    }
}

/// The harness's memberships, with sessions asked of the accounts service the way the server's
/// own authority asks it (`ws::fail_closed`).
struct AccountsAuthority {
    members: Arc<Members>,
    accounts: Accounts,
}

impl Authority for AccountsAuthority {
    fn check_member(&self, user: UserId, room: RoomId) -> Result<(), ApiError> {
        self.members.check_member(user, room)
    }

    fn rooms_of(&self, user: UserId) -> Vec<RoomId> {
        self.members.rooms_of(user)
    }

    fn room_list<'a>(
        &'a self,
        user: &'a UserInfo,
    ) -> BoxFuture<'a, Result<Vec<RoomSummary>, ApiError>> {
        self.members.room_list(user)
    }

    fn own_row<'a>(
        &'a self,
        user: &'a UserInfo,
        room: RoomId,
    ) -> BoxFuture<'a, Option<RoomSummary>> {
        self.members.own_row(user, room)
    }

    fn session_active<'a>(&'a self, session: &'a SessionKey) -> BoxFuture<'a, bool> {
        crate::ws::fail_closed(&self.accounts, session).boxed()
    }
}

#[tokio::test]
async fn a_resync_closes_the_socket_when_the_account_store_cannot_answer() {
    let mut server = Server::new(64);
    let off = RateLimit {
        per_sec: 0.0,
        burst: 0.0,
    };
    let limits = SignInLimits {
        per_ip: off,
        global: off,
    };
    let accounts = Accounts::new(
        Arc::new(Broken),
        SignInGate::new(limits, 1),
        Duration::from_secs(3600),
        Clock::system(),
    );
    server.deps.authority = Arc::new(AccountsAuthority {
        members: server.members.clone(),
        accounts,
    });
    let mut client = Harness::connect(server);
    client.subscribe(None).await;
    assert_eq!(client.next().await, subscribed(0));
    client.bus.publish(BusEvent::Resync);
    assert!(
        matches!(client.next().await, ServerFrame::Error(e) if e.code == ErrorCode::Unauthorized)
    );
    client.expect_close(4001).await;
}
