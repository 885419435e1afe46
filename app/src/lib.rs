//! Minitalk's shared crate: compiled into the server (feature `ssr`) and into the browser's
//! WASM (feature `hydrate`).
//!
//! - [`model`]: the validated nouns (users, rooms, messages) both sides agree on.
//! - [`timeline`]: what a room's seqs count: messages and membership changes.
//! - [`protocol`]: the `/ws` frames.
//! - [`api`]: server functions at `/api/*`.
//! - [`client`]: the browser's one WebSocket per tab and the live state of each room.
//! - [`clock`]: message times, UTC on the first render and local after hydration.
//! - [`header`]: the bar on top of every page; [`sidebar`]: your rooms beside every signed-in
//!   page, live from the socket's user stream.
//! - [`pages`]: one file per page; [`App`] routes between them.

pub mod api;
pub mod client;
pub mod clock;
pub mod header;
pub mod markdown;
pub mod model;
pub mod notifications;
pub mod pages;
pub mod protocol;
pub mod reactions;
pub mod sidebar;
pub mod timeline;

use crate::api::ApiError;
use crate::model::UserInfo;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    ParamSegment, SsrMode, StaticSegment,
};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                // No favicon file: an empty one keeps the browser from asking for /favicon.ico.
                <link rel="icon" href="data:,"/>
                // The stylesheet is linked here rather than in `App` because its name carries
                // a content hash (cargo-leptos `hash-files`) that only the server knows.
                <HashedStylesheet options=options.clone() id="leptos"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The text of `<title>` for a page called `page` (empty: the home page), with `unread`
/// messages waiting elsewhere shown first, as `(3) general · Minitalk`.
///
/// On the server the result is HTML-escaped, because leptos_meta 0.8 writes the title into the
/// server's HTML verbatim (`<title>` + text + `</title>`, no escaping): a room named
/// `</title><script>…` would otherwise run script on every server-rendered visit (audit H1). In
/// the browser leptos_meta sets `document.title`, which is plain text, so escaping there would
/// show `&lt;` to the reader; the browser build therefore returns the text unchanged.
pub fn page_title(page: String, unread: u64) -> String {
    let title = if page.is_empty() {
        "Minitalk".to_owned()
    } else {
        format!("{page} · Minitalk")
    };
    let title = match unread {
        0 => title,
        n => format!("({n}) {title}"),
    };
    #[cfg(feature = "ssr")]
    let title = escape_html_text(&title);
    title
}

/// Escapes `&`, `<` and `>` so `text` can stand between two tags of the server's HTML.
#[cfg(feature = "ssr")]
fn escape_html_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Who is signed in, loaded once per page load and shared by the header and the pages.
#[derive(Debug, Clone, Copy)]
pub struct Session(pub Resource<Result<UserInfo, ApiError>>);

impl Session {
    pub fn expect() -> Self {
        expect_context::<Self>()
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let session = Session(Resource::new(|| (), |()| api::me()));
    provide_context(session);
    client::Chat::provide();
    let hydrated = clock::Hydrated(RwSignal::new(false));
    provide_context(hydrated);
    provide_context(sidebar::Drawer(RwSignal::new(false)));
    let unread = RwSignal::new(0);
    provide_context(sidebar::UnreadTotal(unread));
    // Effects run only in the browser, after hydration: from here on the page may differ from
    // the server's HTML (local times, live state). The attribute lets tests wait for it.
    Effect::new(move |_| {
        hydrated.0.set(true);
        if let Some(root) = document().document_element() {
            let _set = root.set_attribute("data-hydrated", "");
        }
    });

    view! {
        // The one formatter for every `<Title>` in the app; it escapes on the server (see
        // `page_title`), so pages pass plain text, user-chosen names included. It reads the
        // unread total, so the title follows the sidebar's counts.
        <Title formatter=move |page| page_title(page, unread.get())/>
        <Router>
            <header::Header/>
            <div class="shell">
            <sidebar::Sidebar/>
            <main>
                <Routes fallback=pages::not_found::NotFound>
                    <Route
                        path=StaticSegment("")
                        view=pages::rooms::RoomsPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=StaticSegment("login")
                        view=pages::login::LoginPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(StaticSegment("rooms"), ParamSegment("id"))
                        view=pages::room::RoomPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=StaticSegment("search")
                        view=pages::search::SearchPage
                        ssr=SsrMode::Async
                    />
                    <Route path=StaticSegment("stats") view=pages::stats::StatsPage/>
                </Routes>
            </main>
            </div>
        </Router>
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::page_title;

    #[test]
    fn the_server_escapes_markup_in_page_titles() {
        assert_eq!(
            page_title("</title><script>alert(1)</script> & co".to_owned(), 0),
            "&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; co · Minitalk"
        );
        assert_eq!(page_title(String::new(), 0), "Minitalk");
        assert_eq!(
            page_title("general".to_owned(), 3),
            "(3) general · Minitalk"
        );
    }
}
