//! CORS is off by default (no `Access-Control-*` header, preflights not answered as CORS);
//! with `cors_origins` set, exactly those origins get preflights and answers with the CORS
//! headers, on the query API and OTLP/HTTP, even when a token guards the API (a preflight
//! carries no token). A malformed origin stops the start.

mod common;

use std::sync::Arc;

use common::{agent, send_full, Running};
use spandb_server::ServerConfig;

const ORIGIN: &str = "http://localhost:3000";

fn cors_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(k, _)| k.starts_with("access-control-"))
        .cloned()
        .collect()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn cors_off_by_default() {
    let mut s = Running::start(ServerConfig::ephemeral());
    let http = agent();
    let (status, headers, _) = send_full(
        http.get(&s.query_url("/api/search?q={}"))
            .set("Origin", ORIGIN),
        None,
    );
    assert_eq!(status, 200);
    assert!(cors_headers(&headers).is_empty(), "{headers:?}");
    let (_, headers, _) = send_full(
        http.request("OPTIONS", &s.query_url("/api/search"))
            .set("Origin", ORIGIN)
            .set("Access-Control-Request-Method", "GET"),
        None,
    );
    assert!(cors_headers(&headers).is_empty(), "{headers:?}");
    s.shutdown();
}

#[test]
fn cors_for_configured_origins_only() {
    let mut s = Running::start(ServerConfig {
        cors_origins: vec![ORIGIN.into(), "https://grafana.example.com".into()],
        query_token: Some("q-secret".into()),
        ..ServerConfig::ephemeral()
    });
    let http = agent();
    let preflight = |url: &str, origin: &str, method: &str, headers: &str| {
        send_full(
            http.request("OPTIONS", url)
                .set("Origin", origin)
                .set("Access-Control-Request-Method", method)
                .set("Access-Control-Request-Headers", headers),
            None,
        )
    };
    let (status, headers, _) =
        preflight(&s.query_url("/api/search"), ORIGIN, "GET", "authorization");
    assert_eq!(status, 200, "a preflight needs no token: {headers:?}");
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some(ORIGIN)
    );
    assert!(header(&headers, "access-control-allow-headers")
        .unwrap()
        .contains("authorization"));
    assert!(header(&headers, "access-control-allow-methods")
        .unwrap()
        .contains("GET"));
    assert_eq!(header(&headers, "access-control-allow-credentials"), None);

    // Another origin gets no CORS headers.
    let (_, headers, _) = preflight(
        &s.query_url("/api/search"),
        "http://evil.example",
        "GET",
        "authorization",
    );
    assert_eq!(header(&headers, "access-control-allow-origin"), None);

    // The real request carries the header; the token is still required.
    let (status, headers, _) = send_full(
        http.get(&s.query_url("/api/search?q={}"))
            .set("Origin", ORIGIN)
            .set("Authorization", "Bearer q-secret"),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some(ORIGIN)
    );
    let (status, headers, _) = send_full(
        http.get(&s.query_url("/api/search?q={}"))
            .set("Origin", ORIGIN),
        None,
    );
    assert_eq!(status, 401);
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some(ORIGIN)
    );

    // OTLP/HTTP from a browser exporter: preflight for a JSON POST.
    let otlp = s.otlp_url();
    let (status, headers, _) = preflight(&otlp, ORIGIN, "POST", "content-type");
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some(ORIGIN)
    );
    s.shutdown();
}

#[test]
fn malformed_origins_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(spandb::Options::new().open(dir.path()).unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config = ServerConfig {
        cors_origins: vec!["localhost:3000/path".into()],
        ..ServerConfig::ephemeral()
    };
    let err = runtime
        .block_on(spandb_server::Server::start(db, config))
        .err()
        .unwrap();
    assert!(err.to_string().contains("CORS origin"), "{err}");
}
