//! The home page.

use leptos::prelude::*;

#[component]
pub fn HomePage() -> impl IntoView {
    let clicks = RwSignal::new(0u32);
    view! {
        <section class="card narrow">
            <h1>"Minitalk"</h1>
            <p>"The chat that keeps every message, even at midnight on New Year's Eve."</p>
            <button type="button" on:click=move |_| *clicks.write() += 1>
                "Hydration check: clicked " {clicks}
            </button>
        </section>
    }
}
