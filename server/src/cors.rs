//! CORS: off by default (no `Access-Control-*` header on any answer). With origins
//! configured (`--cors-origin`), pages from exactly those origins may call the APIs from a
//! browser: preflights are answered for GET and POST with the headers the APIs read, and
//! `Retry-After` is readable. Credentials (cookies) are never allowed; the APIs use bearer
//! tokens, which a page must send itself.

use std::time::Duration;

use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Whether `origin` is `*` or `scheme://host[:port]` (what a browser sends in `Origin`).
pub fn valid_origin(origin: &str) -> bool {
    if origin == "*" {
        return true;
    }
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// `router` with CORS for `origins`, or unchanged when there are none.
pub fn apply<S: Clone + Send + Sync + 'static>(router: Router<S>, origins: &[String]) -> Router<S> {
    if origins.is_empty() {
        return router;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(&o.to_ascii_lowercase()).ok()),
        )
    };
    let layer = CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
            header::ACCEPT,
            HeaderName::from_static("mcp-protocol-version"),
            HeaderName::from_static("mcp-session-id"),
        ])
        .expose_headers([header::RETRY_AFTER])
        .max_age(Duration::from_secs(3600));
    router.layer(layer)
}

#[cfg(test)]
mod tests {
    use super::valid_origin;

    #[test]
    fn origins_are_scheme_host_port() {
        for ok in [
            "*",
            "http://localhost:3000",
            "https://grafana.example.com",
            "http://[::1]:8080",
        ] {
            assert!(valid_origin(ok), "{ok}");
        }
        for bad in [
            "",
            "localhost",
            "https://",
            "https://a.b/path",
            "ftp://x",
            "http://a b",
        ] {
            assert!(!valid_origin(bad), "{bad}");
        }
    }
}
