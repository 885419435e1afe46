//! Minitalk's shared crate: compiled into the server (feature `ssr`) and into the browser's
//! WASM (feature `hydrate`).
//!
//! - [`model`]: the validated nouns (users, rooms, messages) both sides agree on.
//! - [`protocol`]: the `/ws` frames.
//! - [`api`]: server functions at `/api/*`.
//! - [`pages`]: one file per page; [`App`] routes between them.

pub mod api;
pub mod model;
pub mod pages;
pub mod protocol;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    StaticSegment,
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

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    view! {
        <Stylesheet id="leptos" href="/pkg/minitalk.css"/>
        <Title text="Minitalk"/>
        <Router>
            <main>
                <Routes fallback=pages::not_found::NotFound>
                    <Route path=StaticSegment("") view=pages::home::HomePage/>
                </Routes>
            </main>
        </Router>
    }
}
