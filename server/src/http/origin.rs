//! Whether a browser request comes from a page this server served.
//!
//! Browsers name the page's origin in `Origin` on every WebSocket handshake and every
//! state-changing `fetch`, and cannot be made to lie about it; comparing it with `Host` (the
//! name the browser used to reach us) tells our own pages from other sites' without a configured
//! list of public names. Used by the `/ws` upgrade and by the `/api/*` guard ([`super::csrf`]),
//! so both draw the line in the same place.

use axum::http::{header, HeaderMap};

/// A browser sends `Origin`; it must name the host the page was served from. Clients that are
/// not browsers send none and are let through (the session cookie still applies).
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, host)| host.trim_end_matches('/'));
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    matches!((origin_host, host), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        headers
    }

    #[test]
    fn only_pages_from_this_host_count_as_same_origin() {
        assert!(same_origin(&headers(
            Some("http://127.0.0.1:3000"),
            "127.0.0.1:3000"
        )));
        assert!(same_origin(&headers(None, "127.0.0.1:3000")));
        assert!(!same_origin(&headers(
            Some("http://evil.example"),
            "127.0.0.1:3000"
        )));
        assert!(!same_origin(&headers(
            Some("http://127.0.0.1:8000"),
            "127.0.0.1:3000"
        )));
        assert!(!same_origin(&headers(Some("null"), "127.0.0.1:3000")));
    }
}
