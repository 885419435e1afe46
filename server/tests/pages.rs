//! The server-rendered pages as a browser receives them: what user text may and may not become
//! markup, and the headers every page carries.

mod support;

use support::{register, start};

/// GETs `path` as a signed-in browser would and returns the status and the raw HTML.
async fn get_page(user: &support::User, path: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(format!("http://{}{path}", user.addr))
        .header("cookie", &user.cookie)
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
