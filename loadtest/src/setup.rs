//! Getting the scenario's users and rooms in place over HTTP, reusing what earlier runs made.
//!
//! Accounts are named `{prefix}{i}` with a fixed password: a run signs them in and registers
//! only the missing ones, so a second run against the same server skips most of the argon2 work.

use anyhow::{bail, Context};
use futures::{stream, StreamExt, TryStreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;

const PASSWORD: &str = "loadtest-password";

/// Calls a server function; returns the status, the session cookie if one was set, and the body.
/// How many 429 answers one setup call waits out before giving up.
const MAX_BUSY_RETRIES: usize = 60;

async fn call(
    http: &reqwest::Client,
    base: &str,
    cookie: Option<&str>,
    name: &str,
    body: Value,
) -> anyhow::Result<(u16, Option<String>, Value)> {
    // The server admits only a few password hashes at a time and answers the rest 429 with
    // Retry-After: a crowd signing in waits its turn, a bounded number of times.
    for _ in 0..MAX_BUSY_RETRIES {
        let mut request = http.post(format!("{base}/api/{name}")).json(&body);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("POST /api/{name}"))?;
        let status = response.status().as_u16();
        if status == 429 {
            let secs = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or(1u64);
            tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
            continue;
        }
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::to_owned);
        let body = response.json().await.unwrap_or(Value::Null);
        return Ok((status, cookie, body));
    }
    bail!("POST /api/{name}: still 429 after {MAX_BUSY_RETRIES} waits")
}

/// Calls a server function as `cookie`'s user; anything but 200 is an error naming the call.
async fn call_ok(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    name: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let (status, _, answer) = call(http, base, Some(cookie), name, body.clone()).await?;
    if status != 200 {
        bail!("{name} {body} failed ({status}): {answer}");
    }
    Ok(answer)
}

/// Signs `name` in, registering it first when it does not exist. Returns the session cookie.
async fn account(http: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<String> {
    let credentials = json!({"username": name, "password": PASSWORD});
    let (status, cookie, body) = call(http, base, None, "login", credentials.clone()).await?;
    if status == 200 {
        return cookie.context("login set no cookie");
    }
    let (status, cookie, body2) = call(http, base, None, "register", credentials).await?;
    if status != 200 {
        bail!("cannot sign in or register {name}: {body} / {body2}");
    }
    cookie.context("register set no cookie")
}

/// Session cookies for users `0..users`, in order.
pub async fn accounts(
    http: &reqwest::Client,
    base: &str,
    prefix: &str,
    users: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<String>> {
    stream::iter(0..users)
        .map(|i| async move { account(http, base, &format!("{prefix}{i}")).await })
        .buffered(concurrency.max(1))
        .try_collect()
        .await
}

/// Ids of the rooms `{prefix}-room-{j}` for `j in 0..rooms`, created by `owner` where missing.
pub async fn rooms(
    http: &reqwest::Client,
    base: &str,
    owner: &str,
    prefix: &str,
    rooms: usize,
) -> anyhow::Result<Vec<u64>> {
    let listed = call_ok(http, base, owner, "list_rooms", json!({})).await?;
    let existing: HashMap<String, u64> = listed
        .as_array()
        .context("list_rooms answers a list")?
        .iter()
        .filter_map(|r| Some((r["name"].as_str()?.to_owned(), r["id"].as_u64()?)))
        .collect();
    let mut ids = Vec::with_capacity(rooms);
    for j in 0..rooms {
        let name = format!("{prefix}-room-{j}");
        let id = match existing.get(&name) {
            Some(id) => *id,
            None => {
                let room = call_ok(http, base, owner, "create_room", json!({"name": name})).await?;
                room["id"].as_u64().context("a room id")?
            }
        };
        ids.push(id);
    }
    Ok(ids)
}

/// Makes `cookie`'s user a member of every room in `rooms` (joining twice is harmless).
pub async fn join(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    rooms: &[u64],
) -> anyhow::Result<()> {
    for room in rooms {
        call_ok(http, base, cookie, "join_room", json!({"room_id": room})).await?;
    }
    Ok(())
}

/// Every message of `room` with seq > `after`, read back through `history`, oldest first.
pub async fn history_after(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    room: u64,
    after: u64,
) -> anyhow::Result<Vec<Value>> {
    let mut pages = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        let body = json!({"room_id": room, "before_seq": before, "limit": 100});
        let page = call_ok(http, base, cookie, "history", body).await?;
        let page = page.as_array().cloned().unwrap_or_default();
        let Some(oldest) = page.first().and_then(|m| m["seq"].as_u64()) else {
            break;
        };
        let done = oldest <= after + 1;
        pages.push(page);
        if done {
            break;
        }
        before = Some(oldest);
    }
    Ok(pages
        .into_iter()
        .rev()
        .flatten()
        .filter(|m| m["seq"].as_u64().is_some_and(|s| s > after))
        .collect())
}
