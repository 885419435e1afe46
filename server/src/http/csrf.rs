//! The guard in front of `/api/*`: state-changing calls must come from this site's own pages
//! and carry a JSON body.
//!
//! Why: the session cookie is `SameSite=Lax`, which still lets another site sign a visitor in
//! as the attacker with a top-level form POST (login CSRF), and lets sibling origins on the
//! same site (another port, a subdomain) call every server function with the visitor's cookie
//! (audit M3). Both need a "simple" request, which a browser sends cross-origin without asking:
//! only `text/plain`, form or multipart bodies. So the guard refuses, for every method but
//! `GET`/`HEAD`/`OPTIONS` (`GET /api/stats` stays public):
//!
//! 1. an `Origin` that is not this host ([`super::origin::same_origin`], the rule `/ws` uses);
//! 2. a `Sec-Fetch-Site` other than `same-origin` or `none`: `cross-site` obviously, and
//!    `same-site` too, because a sibling origin on the same site is exactly the attacker above
//!    and the app's own pages are always `same-origin`;
//!
//! answering `403 {"code":"cross_site"}`; then
//!
//! 3. a `Content-Type` that is not `application/json` (parameters such as `charset` allowed),
//!    answering `415 {"code":"unsupported_media_type"}`, before the body is read. A browser
//!    only sends `application/json` cross-origin after a CORS preflight, which this server never
//!    grants. The Leptos client sends `application/json` for every `input = Json` function.
//!
//! Clients that are not browsers send neither `Origin` nor `Sec-Fetch-Site` and keep working
//! as long as they send JSON.

use app::api::ApiError;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Where the server functions live.
pub const API_PREFIX: &str = "/api/";

/// Axum middleware for the whole router (`axum::middleware::from_fn(csrf::guard)`); it only
/// looks at paths under [`API_PREFIX`]. It has to sit on the router rather than on the
/// `/api/{*name}` route, because leptos_axum's `leptos_routes_with_context` adds a route of its
/// own for every server function (`/api/login`, …), and axum prefers those to the wildcard.
pub async fn guard(request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with(API_PREFIX) {
        return next.run(request).await;
    }
    match check(request.method(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refused(&refusal),
    }
}

/// The guard's decision, apart from the plumbing, so it can be tested without a server.
pub fn check(method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    if !super::origin::same_origin(headers) || !fetched_by_this_site(headers) {
        return Err(ApiError::CrossSite);
    }
    if !is_json(headers) {
        return Err(ApiError::UnsupportedMediaType);
    }
    Ok(())
}

/// `Sec-Fetch-Site` is absent (not a browser, or an old one: `Origin` decides) or names this
/// origin (`same-origin`) or the user (`none`: typed URL, bookmark).
fn fetched_by_this_site(headers: &HeaderMap) -> bool {
    match headers.get("sec-fetch-site") {
        None => true,
        Some(site) => matches!(site.as_bytes(), b"same-origin" | b"none"),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// The refusal in the same shape as a server function's own errors.
fn refused(error: &ApiError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::FORBIDDEN);
    let body = serde_json::to_vec(error).unwrap_or_default();
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        Body::from(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("chat.example:3000"));
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    const JSON: (&str, &str) = ("content-type", "application/json");

    #[test]
    fn reads_are_never_refused() {
        let cross = headers(&[
            ("origin", "http://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert_eq!(check(&Method::GET, &cross), Ok(()));
    }

    #[test]
    fn same_origin_and_non_browser_json_posts_pass() {
        let page = headers(&[
            ("origin", "http://chat.example:3000"),
            ("sec-fetch-site", "same-origin"),
            ("content-type", "application/json; charset=utf-8"),
        ]);
        assert_eq!(check(&Method::POST, &page), Ok(()));
        assert_eq!(check(&Method::POST, &headers(&[JSON])), Ok(()));
    }

    #[test]
    fn cross_site_and_same_site_posts_are_refused() {
        for pairs in [
            &[("origin", "http://evil.example"), JSON][..],
            &[("sec-fetch-site", "cross-site"), JSON],
            &[("sec-fetch-site", "same-site"), JSON],
        ] {
            assert_eq!(
                check(&Method::POST, &headers(pairs)),
                Err(ApiError::CrossSite),
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn a_body_that_is_not_json_is_refused() {
        for pairs in [&[("content-type", "text/plain")][..], &[]] {
            assert_eq!(
                check(&Method::POST, &headers(pairs)),
                Err(ApiError::UnsupportedMediaType),
                "{pairs:?}"
            );
        }
    }
}
