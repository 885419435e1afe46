//! How long browsers may keep what we send, and compression of what we send.
//!
//! cargo-leptos builds with `hash-files = true`: the bundle's files are named after a hash of
//! their contents (`/pkg/minitalk.<hash>.wasm`, `.js`, `.css`; the hashes are in `hash.txt`
//! beside the binary, where Leptos reads them to write the `<script>` and `<link>` tags). A
//! hashed name never changes content, so it is cached for a year without asking again
//! ([`IMMUTABLE`]); a new build has new names, so a deploy is never served stale. Everything
//! else (pages, server function answers, unhashed files) is [`REVALIDATE`]: the browser may keep
//! a copy but must ask first (static files answer with `Last-Modified`, so that costs a 304).
//!
//! Compression: the WASM bundle shrinks to about a third with gzip or brotli, so every answer
//! above 32 bytes is compressed on the fly to whatever `Accept-Encoding` allows (brotli at
//! quality 4, tower-http's default). A file that is already compressed on disk (`.br`/`.gz`
//! beside it, as `cargo leptos build --precompress` writes) is sent as is by leptos_axum's file
//! service and not compressed again.

use axum::extract::{Request, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;
use tower_http::compression::CompressionLayer;

/// For files whose name carries their content's hash.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// For everything else: keep if you like, but revalidate before each use.
pub const REVALIDATE: &str = "no-cache";

/// Where the bundle is served from: `/<site_pkg_dir>/`. The state of [`cache_control`].
#[derive(Debug, Clone)]
pub struct PkgDir(Arc<str>);

impl PkgDir {
    pub fn new(site_pkg_dir: &str) -> Self {
        Self(format!("/{}/", site_pkg_dir.trim_matches('/')).into())
    }

    /// Whether `path` is a bundle file named `<name>.<hash>.<js|wasm|css>`.
    pub fn is_hashed(&self, path: &str) -> bool {
        let Some(file) = path.strip_prefix(&*self.0) else {
            return false;
        };
        let mut parts = file.split('.');
        let (Some(name), Some(hash), Some(ext), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        !name.is_empty()
            && hash.len() >= 8
            && hash
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && matches!(ext, "js" | "wasm" | "css")
    }
}

/// Middleware: sets `Cache-Control` on every answer that has none, by [`PkgDir::is_hashed`].
pub async fn cache_control(State(pkg): State<PkgDir>, request: Request, next: Next) -> Response {
    let hashed = pkg.is_hashed(request.uri().path());
    let mut response = next.run(request).await;
    let found = matches!(response.status(), StatusCode::OK | StatusCode::NOT_MODIFIED);
    let policy = if hashed && found {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    response
        .headers_mut()
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static(policy));
    response
}

/// gzip or brotli, as the client accepts.
pub fn compression() -> CompressionLayer {
    CompressionLayer::new()
}

#[cfg(test)]
mod tests {
    use super::PkgDir;

    #[test]
    fn only_bundle_files_with_a_hash_in_their_name_count_as_hashed() {
        let pkg = PkgDir::new("pkg");
        assert!(pkg.is_hashed("/pkg/minitalk.Ab3_x-9Zq1w2e3r4.wasm"));
        assert!(pkg.is_hashed("/pkg/minitalk.0123456789abcdef.css"));
        for path in [
            "/pkg/minitalk.wasm",
            "/pkg/minitalk_bg.wasm",
            "/pkg/minitalk.short.js",
            "/pkg/minitalk.0123456789abcdef.html",
            "/other/minitalk.0123456789abcdef.js",
            "/pkg/../minitalk.0123456789abcdef.js",
            "/rooms/1",
        ] {
            assert!(!pkg.is_hashed(path), "{path}");
        }
    }
}
