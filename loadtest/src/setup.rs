//! Getting the scenario's users and rooms in place over HTTP, reusing what earlier runs made.
//!
//! Accounts are named `{prefix}{i}` with a fixed password: a run signs them in and registers
//! only the missing ones, so a second run against the same server skips most of the argon2 work.

use anyhow::Context;
use app::api::ApiError;
use app::model::RoomId;
use futures::{stream, StreamExt, TryStreamExt};
use minitalk_client::{Api, CallError};
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

const PASSWORD: &str = "loadtest-password";

/// How many `rate_limited` answers one setup call waits out before giving up.
const MAX_BUSY_RETRIES: usize = 60;

/// Runs `call` until it is not refused as `rate_limited`, waiting as long as each refusal says.
///
/// The server admits only a few password hashes at a time and answers the rest 429 with the
/// seconds to wait: a crowd signing in waits its turn, a bounded number of times.
async fn patiently<T, F>(mut call: impl FnMut() -> F) -> Result<T, CallError>
where
    F: Future<Output = Result<T, CallError>>,
{
    let mut waits = 0;
    loop {
        match call().await {
            Err(CallError::Refused {
                error: ApiError::RateLimited(secs),
                ..
            }) if waits < MAX_BUSY_RETRIES => {
                waits += 1;
                tokio::time::sleep(Duration::from_secs(secs)).await;
            }
            other => return other,
        }
    }
}

/// Signs `name` in, registering it first when it does not exist.
async fn account(server: &Api, name: &str) -> anyhow::Result<Api> {
    let refused = match patiently(|| server.login(name, PASSWORD)).await {
        Ok(user) => return Ok(user),
        Err(refused) => refused,
    };
    patiently(|| server.register(name, PASSWORD))
        .await
        .with_context(|| format!("cannot sign in ({refused}) or register {name}"))
}

/// Signed-in handles for users `0..users`, in order.
pub async fn accounts(
    server: &Api,
    prefix: &str,
    users: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<Api>> {
    stream::iter(0..users)
        .map(|i| async move { account(server, &format!("{prefix}{i}")).await })
        .buffered(concurrency.max(1))
        .try_collect()
        .await
}

/// Ids of the rooms `{prefix}-room-{j}` for `j in 0..rooms`, created by `owner` where missing.
pub async fn rooms(owner: &Api, prefix: &str, rooms: usize) -> anyhow::Result<Vec<RoomId>> {
    let existing: HashMap<String, RoomId> = patiently(|| owner.list_rooms())
        .await
        .context("list_rooms")?
        .into_iter()
        .map(|room| (room.name, room.id))
        .collect();
    let mut ids = Vec::with_capacity(rooms);
    for j in 0..rooms {
        let name = format!("{prefix}-room-{j}");
        let id = match existing.get(&name) {
            Some(id) => *id,
            None => {
                patiently(|| owner.create_room(&name))
                    .await
                    .with_context(|| format!("create_room {name}"))?
                    .id
            }
        };
        ids.push(id);
    }
    Ok(ids)
}

/// Makes `user` a member of every room in `rooms` (joining twice is harmless).
pub async fn join(user: &Api, rooms: &[RoomId]) -> anyhow::Result<()> {
    for &room in rooms {
        patiently(|| user.join_room(room))
            .await
            .with_context(|| format!("join_room {room}"))?;
    }
    Ok(())
}
