//! Security headers: a Content-Security-Policy with a fresh nonce per response, and the static
//! headers that tell the browser not to sniff types, frame the app or leak its URLs.
//!
//! Why: a CSP without `'unsafe-inline'` turns any markup that slips into a page (audit H1)
//! into inert text: the browser runs only scripts from this origin and inline scripts that
//! carry the response's nonce. Leptos needs inline scripts (the hydration bootstrap, resource
//! data, streamed chunks) and WebAssembly (`'wasm-unsafe-eval'`).
//!
//! How the nonce reaches both ends of one response: [`content_security_policy`] is middleware
//! around every route. It draws 128 random bits, puts them into the request's extensions as a
//! [`CspNonce`], lets the handler run, and writes the policy naming that nonce into the
//! response's headers. Leptos renders with the request's `Parts` in its context, so
//! [`provide_leptos_nonce`], called from the router's additional-context closure, finds the
//! same value there and provides it as `leptos::nonce::Nonce`, which `HydrationScripts`, the
//! resource scripts and `use_nonce()` read. (leptos_axum provides a random nonce of its own
//! just before that closure runs; ours replaces it, so header and tags cannot disagree. Had the
//! middleware not run, Leptos's own nonce would match no policy: no header, no inline script
//! allowed by a CSP — it fails closed.) The middleware owns the header, so every response gets
//! the policy, HTML or not, including the 404 page from the fallback.

use axum::extract::{Request, State};
use axum::http::header::{CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use leptos::prelude::{provide_context, use_context};
use std::fmt::Write;
use std::sync::Arc;

/// One response's CSP nonce: 128 bits from the OS, hex-encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CspNonce(Arc<str>);

impl CspNonce {
    pub fn new() -> Self {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        let mut hex = String::with_capacity(32);
        for byte in bytes {
            let _ = write!(hex, "{byte:02x}");
        }
        Self(hex.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for CspNonce {
    fn default() -> Self {
        Self::new()
    }
}

/// What the policy allows besides this origin. The state of [`content_security_policy`].
#[derive(Debug, Clone, Default)]
pub struct CspConfig {
    /// Extra `connect-src` sources: under `cargo leptos watch` (`LEPTOS_WATCH`), the live-reload
    /// socket on its own port; nothing otherwise.
    extra_connect: Arc<str>,
}

impl CspConfig {
    pub fn new(options: &leptos::prelude::LeptosOptions) -> Self {
        let watching = std::env::var_os("LEPTOS_WATCH").is_some();
        let port = options.reload_external_port.unwrap_or(options.reload_port);
        Self {
            extra_connect: if watching {
                format!(" ws://*:{port} wss://*:{port}").into()
            } else {
                "".into()
            },
        }
    }

    /// The policy for a response whose inline scripts carry `nonce`.
    pub fn policy(&self, nonce: &CspNonce) -> String {
        format!(
            "default-src 'self'; script-src 'self' 'nonce-{}' 'wasm-unsafe-eval'; \
             style-src 'self'; img-src 'self' data:; connect-src 'self'{}; object-src 'none'; \
             base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
            nonce.as_str(),
            self.extra_connect
        )
    }
}

/// Middleware: a fresh nonce for this request, handed to the handler in the request's
/// extensions and named in the response's `Content-Security-Policy`.
pub async fn content_security_policy(
    State(config): State<CspConfig>,
    mut request: Request,
    next: Next,
) -> Response {
    let nonce = CspNonce::new();
    request.extensions_mut().insert(nonce.clone());
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&config.policy(&nonce)) {
        response
            .headers_mut()
            .insert(CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// For Leptos's additional-context closure: makes the request's [`CspNonce`] the nonce Leptos
/// puts on its inline scripts. Does nothing outside a request (route listing, static files).
pub fn provide_leptos_nonce() {
    let nonce = use_context::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<CspNonce>().cloned());
    if let Some(nonce) = nonce {
        provide_context(leptos::nonce::Nonce::from_value(nonce.0));
    }
}

/// Headers that are the same on every response, for `SetResponseHeaderLayer::overriding`.
pub fn static_headers() -> [(HeaderName, HeaderValue); 3] {
    [
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (REFERRER_POLICY, HeaderValue::from_static("same-origin")),
        // For browsers that predate `frame-ancestors`.
        (
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_nonce_is_new_and_the_policy_names_it_without_unsafe_inline() {
        let (a, b) = (CspNonce::new(), CspNonce::new());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        let policy = CspConfig::default().policy(&a);
        assert!(policy.contains(&format!("script-src 'self' 'nonce-{}'", a.as_str())));
        assert!(!policy.contains("unsafe-inline"));
        for directive in [
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'none'",
        ] {
            assert!(policy.contains(directive), "{directive}");
        }
    }
}
