//! The `/api/*` guard against cross-site requests (audit M3), through the real server: what a
//! hostile page can make a browser send is refused, what our pages and other clients send works.

mod support;

use app::api::{CreateRoom, Login};
use serde_json::Value;
use std::net::SocketAddr;
use support::{register, start};

/// POSTs `body` to `/api/<name>` with the given headers; returns the status, the `Set-Cookie`
/// header if any, and the JSON answer.
async fn post(
    addr: SocketAddr,
    name: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Option<String>, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}/api/{name}"))
        .body(body.to_owned());
    for (header, value) in headers {
        request = request.header(*header, *value);
    }
    let response = request.send().await.expect("server answers");
    let status = response.status().as_u16();
    let cookie = response
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, cookie, value)
}

/// Mallory's sign-in as JSON text, to send with whatever content type a test chooses.
fn credentials() -> String {
    serde_json::to_string(&Login {
        username: "mallory".into(),
        password: support::PASSWORD.into(),
    })
    .unwrap()
}

#[tokio::test]
async fn a_text_plain_login_is_refused_with_415_and_sets_no_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    register(server.addr, "mallory").await;

    let (status, cookie, answer) = post(
        server.addr,
        "login",
        &[("content-type", "text/plain")],
        &credentials(),
    )
    .await;
    assert_eq!(status, 415, "{answer}");
    assert_eq!(answer["code"], "unsupported_media_type");
    assert_eq!(cookie, None);
}

#[tokio::test]
async fn a_call_from_a_foreign_origin_is_refused_with_403() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    register(server.addr, "mallory").await;

    for origin in ["http://evil.example", "null", "http://127.0.0.1:1"] {
        let (status, cookie, answer) = post(
            server.addr,
            "login",
            &[("content-type", "application/json"), ("origin", origin)],
            &credentials(),
        )
        .await;
        assert_eq!(status, 403, "{origin}: {answer}");
        assert_eq!(answer["code"], "cross_site", "{origin}");
        assert_eq!(cookie, None, "{origin}");
    }
}

#[tokio::test]
async fn a_cross_site_fetch_is_refused_with_403() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let ana = register(server.addr, "ana").await;

    for site in ["cross-site", "same-site"] {
        let (status, _, answer) = post(
            server.addr,
            "create_room",
            &[
                ("content-type", "application/json"),
                ("sec-fetch-site", site),
                ("cookie", ana.cookie()),
            ],
            &serde_json::to_string(&CreateRoom {
                name: "planted".into(),
                visibility: None,
            })
            .unwrap(),
        )
        .await;
        assert_eq!(status, 403, "{site}: {answer}");
        assert_eq!(answer["code"], "cross_site", "{site}");
    }
    assert_eq!(
        ana.api.list_rooms().await,
        Ok(vec![]),
        "no room was created"
    );
}

#[tokio::test]
async fn same_origin_and_originless_json_calls_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    register(server.addr, "mallory").await;
    let own = format!("http://{}", server.addr);

    for headers in [
        &[("content-type", "application/json")][..],
        &[
            ("content-type", "application/json"),
            ("origin", own.as_str()),
            ("sec-fetch-site", "same-origin"),
        ],
    ] {
        let (status, cookie, answer) = post(server.addr, "login", headers, &credentials()).await;
        assert_eq!(status, 200, "{headers:?}: {answer}");
        assert!(cookie.is_some(), "{headers:?}: signed in");
    }

    // Reading the public figures needs no body and is open to any page.
    let response = reqwest::Client::new()
        .get(format!("http://{}/api/stats", server.addr))
        .header("origin", "http://evil.example")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
