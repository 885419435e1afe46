//! `/login`: sign in, or create an account, with one form.
//!
//! The server functions take JSON, so the form is sent from an `Action` in the submit handler
//! (a native form post would be URL-encoded). Until the page is hydrated the buttons are
//! disabled, so a too-early click cannot post the password in a URL. Success loads `/` afresh,
//! which starts the live connection with the new session cookie.

use crate::api::{login, register, ApiError};
use crate::clock::Hydrated;
use crate::model::UserInfo;
use crate::Session;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Intent {
    SignIn,
    Register,
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let session = Session::expect();
    view! {
        <Title text="Sign in"/>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match session.0.await {
                    Ok(_) => view! { <Redirect path="/"/> }.into_any(),
                    Err(_) => view! { <LoginForm/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn LoginForm() -> impl IntoView {
    let hydrated = Hydrated::expect();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let intent = RwSignal::new(Intent::SignIn);
    let submit = Action::new(|(intent, username, password): &(Intent, String, String)| {
        let (intent, username, password) = (*intent, username.clone(), password.clone());
        async move {
            let answer: Result<UserInfo, ApiError> = match intent {
                Intent::SignIn => login(username, password).await,
                Intent::Register => register(username, password).await,
            };
            if answer.is_ok() {
                let _navigated = window().location().assign("/");
            }
            answer
        }
    });
    let busy = submit.pending();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submit.dispatch((intent.get_untracked(), username.get(), password.get()));
    };
    let error = move || {
        submit
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| e.to_string())
    };

    view! {
        <section class="card narrow auth">
            <h1>"Minitalk"</h1>
            <p class="lede">"Sign in to chat, or create an account: pick a name and a password."</p>
            <form on:submit=on_submit aria-describedby="login-error">
                <label for="username">"Username"</label>
                <input
                    id="username"
                    name="username"
                    autocomplete="username"
                    required
                    bind:value=username
                />
                <label for="password">"Password"</label>
                <input
                    id="password"
                    name="password"
                    type="password"
                    autocomplete="current-password"
                    required
                    bind:value=password
                />
                <p class="hint">"3–32 letters, digits, _ or -; a password of at least 8 characters."</p>
                <p id="login-error" class="error" role="alert">{error}</p>
                <div class="actions">
                    <button
                        type="submit"
                        on:click=move |_| intent.set(Intent::SignIn)
                        disabled=move || !hydrated.get() || busy.get()
                    >
                        "Sign in"
                    </button>
                    <button
                        type="submit"
                        class="secondary"
                        on:click=move |_| intent.set(Intent::Register)
                        disabled=move || !hydrated.get() || busy.get()
                    >
                        "Create account"
                    </button>
                </div>
            </form>
        </section>
    }
}
