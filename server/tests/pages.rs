//! The server-rendered pages as a browser receives them: what user text may and may not become
//! markup, and the headers every page carries.

mod support;

use support::{register, start};

/// GETs `path` as a signed-in browser would and returns the status and the raw HTML.
async fn get_page(user: &support::User, path: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", user.api.base()))
        .header("cookie", user.cookie())
        .header("accept", "text/html")
        .send()
        .await
        .expect("server answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn a_room_name_with_markup_is_escaped_in_the_server_rendered_title() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let mallory = register(server.addr, "mallory").await;
    let name = "</title><script>alert(1)</script>";
    let room = mallory.create_room(name).await;
    let victim = register(server.addr, "victim").await;

    for (who, user) in [("a member", &mallory), ("a non-member", &victim)] {
        let (status, html) = get_page(user, &format!("/rooms/{room}")).await;
        assert_eq!(status, 200, "{who}: {html}");
        assert!(
            !html.contains("</title><script"),
            "{who}: raw title: {html}"
        );
        assert!(
            !html.contains("<script>alert(1)"),
            "{who}: raw script: {html}"
        );
        assert!(
            html.contains(
                "<title>&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt; · Minitalk</title>"
            ),
            "{who}: the escaped name is the title: {html}"
        );
    }
}

/// The nonce a `Content-Security-Policy` allows inline scripts with.
fn policy_nonce(policy: &str) -> String {
    let start = policy.find("'nonce-").expect("the policy has a nonce") + "'nonce-".len();
    let len = policy[start..].find('\'').expect("the nonce is quoted");
    policy[start..start + len].to_owned()
}

/// The opening tags of every `<script>` in `html`.
fn script_tags(html: &str) -> Vec<&str> {
    html.match_indices("<script")
        .map(|(at, _)| &html[at..at + html[at..].find('>').expect("a closed tag")])
        .collect()
}

#[tokio::test]
async fn each_page_has_its_own_nonce_and_every_script_carries_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let ana = register(server.addr, "ana").await;
    let room = ana.create_room("hall").await;

    let mut seen = Vec::new();
    for path in [
        "/login",
        "/login",
        "/",
        &format!("/rooms/{room}"),
        "/stats",
        "/no-such-page",
    ] {
        let response = reqwest::Client::new()
            .get(format!("http://{}{path}", server.addr))
            .header("cookie", ana.cookie())
            .send()
            .await
            .unwrap();
        let policy = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
        let nonce = policy_nonce(&policy);
        let html = response.text().await.unwrap();
        let scripts = script_tags(&html);
        assert!(!scripts.is_empty(), "{path}: the page has scripts: {html}");
        for tag in scripts {
            assert!(
                tag.contains(&format!("nonce=\"{nonce}\"")),
                "{path}: {tag} lacks the header's nonce {nonce}"
            );
        }
        assert!(!seen.contains(&nonce), "{path}: nonce {nonce} used twice");
        seen.push(nonce);
    }
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    for path in ["/login", "/api/stats", "/no-such-page"] {
        let response = reqwest::get(format!("http://{}{path}", server.addr))
            .await
            .unwrap();
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        let policy = headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'none'",
            "'wasm-unsafe-eval'",
        ] {
            assert!(
                policy.contains(directive),
                "{path}: {directive} in {policy}"
            );
        }
    }
}

/// A site root with a content-hashed bundle file and an unhashed one, both compressible.
fn site_with_bundle() -> tempfile::TempDir {
    let site = tempfile::tempdir().unwrap();
    let pkg = site.path().join("pkg");
    std::fs::create_dir(&pkg).unwrap();
    let wasm: Vec<u8> = (0..64 * 1024).map(|i| (i % 7) as u8).collect();
    std::fs::write(pkg.join("minitalk.Q2hhdC1idW5kbGU.wasm"), wasm).unwrap();
    std::fs::write(pkg.join("minitalk.css"), "body { margin: 0 }\n".repeat(200)).unwrap();
    site
}

async fn get_with(addr: std::net::SocketAddr, path: &str, encoding: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .header("accept-encoding", encoding)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn hashed_bundle_files_are_compressed_and_cached_for_a_year() {
    let dir = tempfile::tempdir().unwrap();
    let site = site_with_bundle();
    let server = support::start_with_site(dir.path(), site.path(), &[]).await;

    for encoding in ["br", "gzip"] {
        let response = get_with(server.addr, "/pkg/minitalk.Q2hhdC1idW5kbGU.wasm", encoding).await;
        assert_eq!(response.status(), 200);
        let headers = response.headers();
        assert_eq!(headers["content-encoding"], encoding);
        assert_eq!(
            headers["cache-control"],
            "public, max-age=31536000, immutable"
        );
        let body = response.bytes().await.unwrap();
        assert!(
            body.len() < 64 * 1024 / 4,
            "{encoding}: {} bytes",
            body.len()
        );
    }
}

#[tokio::test]
async fn pages_and_unhashed_files_must_be_revalidated() {
    let dir = tempfile::tempdir().unwrap();
    let site = site_with_bundle();
    let server = support::start_with_site(dir.path(), site.path(), &[]).await;

    let css = get_with(server.addr, "/pkg/minitalk.css", "gzip").await;
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["cache-control"], "no-cache");
    assert_eq!(css.headers()["content-encoding"], "gzip");
    assert!(css.headers().contains_key("last-modified"));

    for path in ["/login", "/api/stats", "/pkg/minitalk.AAAAAAAAAAAA.wasm"] {
        let response = get_with(server.addr, path, "identity").await;
        assert_eq!(response.headers()["cache-control"], "no-cache", "{path}");
    }
}

/// A server built by plain `cargo` (as these tests and the benchmarks build it) links the bundle
/// cargo-leptos writes, `/pkg/minitalk.js` and `minitalk_bg.wasm`; without the name from
/// .cargo/config.toml it asked for `/pkg/.js` and no page hydrated.
#[tokio::test]
async fn pages_load_the_bundle_cargo_leptos_builds() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let alice = register(server.addr, "alice").await;
    let (status, html) = get_page(&alice, "/").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("/pkg/minitalk"), "no bundle link: {html}");
    assert!(!html.contains("/pkg/."), "unnamed bundle: {html}");
}
