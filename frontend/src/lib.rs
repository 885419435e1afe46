//! The browser entry point: hydrates the page the server rendered. Everything else lives in
//! the `app` crate, which the server compiles too.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
