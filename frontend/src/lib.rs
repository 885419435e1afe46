//! The browser entry point: hydrates the page the server rendered. Everything else lives in
//! the `app` crate, which the server compiles too.
//!
//! The recursion limit: the release build of the whole app's view type (every page's nested
//! elements, as one type for hydration) needs more than the default 128 levels of query depth.
//! Views erase their types at page and part boundaries (`into_any`) to keep it shallow; this is
//! the margin above that.

#![recursion_limit = "256"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
