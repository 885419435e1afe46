//! The HTTP routes: pages, server functions, `/ws`, static files, and the operators' `/healthz`,
//! `/readyz` and `/metrics`.
//!
//! A function of the state alone, so a test can build the whole app without a socket. The
//! layers come from [`crate::http`]: the CSRF guard on `/api/*`, caching and compression, and
//! the security headers; `/ws` sits outside them (see below).

use crate::backend::ChatBackend;
use crate::http;
use crate::state::AppState;
use app::api::ssr::SharedBackend;
use axum::body::Body;
use axum::extract::Request;
use axum::routing::{any, get};
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, handle_server_fns_with_context, LeptosRoutes};
use std::sync::Arc;
use tower_http::set_header::SetResponseHeaderLayer;

/// Every route of the server, behind the layers of [`http`].
pub fn router(state: AppState) -> Router {
    let backend: SharedBackend = Arc::new(ChatBackend(state.clone()));
    let routes = generate_route_list(app::App);
    let options = state.leptos_options().clone();
    let pkg_dir = http::assets::PkgDir::new(&options.site_pkg_dir);
    let for_server_fns = backend.clone();
    // What every page render gets in its Leptos context: the backend for server functions
    // called while rendering, and this response's CSP nonce for the inline scripts.
    let page_context = move || {
        provide_context(backend.clone());
        http::headers::provide_leptos_nonce();
    };
    let mut router = Router::new()
        .route(
            "/api/{*name}",
            any(move |request: Request<Body>| {
                let backend = for_server_fns.clone();
                handle_server_fns_with_context(move || provide_context(backend.clone()), request)
            }),
        )
        .leptos_routes_with_context(&state, routes, page_context.clone(), move || {
            app::shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(page_context, app::shell))
        // Router-wide, not on the `/api/{*name}` route: `leptos_routes_with_context` registers
        // a route of its own for every server function, and those win over the wildcard.
        .layer(axum::middleware::from_fn(http::csrf::guard))
        .layer(axum::middleware::from_fn_with_state(
            pkg_dir,
            http::assets::cache_control,
        ))
        .layer(http::assets::compression())
        .layer(axum::middleware::from_fn_with_state(
            http::headers::CspConfig::new(state.leptos_options()),
            http::headers::content_security_policy,
        ));
    for (name, value) in http::headers::static_headers() {
        router = router.layer(SetResponseHeaderLayer::overriding(name, value));
    }
    // After the layers, so none applies to it: the upgrade checks its own origin, and its 101
    // answer has no body to compress or document to protect.
    router
        .route("/ws", get(crate::connection::upgrade))
        .route("/healthz", get(http::ops::healthz))
        .route("/readyz", get(http::ops::readyz))
        .route("/metrics", get(http::ops::metrics))
        .with_state(state)
}
