//! The HTTP side shared by every API: state, routers, bearer-token checks, request timing,
//! the query concurrency bound and timeout, and error bodies that name what was wrong with
//! the request but never a path or an internal detail.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use spandb::Db;
use tokio::sync::Semaphore;

use crate::config::ServerConfig;
use crate::ingest::Ingest;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    pub db: Arc<Db>,
    pub config: Arc<ServerConfig>,
    pub ingest: Ingest,
    pub metrics: Arc<Metrics>,
    pub queries: Arc<Semaphore>,
}

/// An error answer: a status and a message for the client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub retry_after_s: Option<u32>,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            retry_after_s: None,
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
            retry_after_s: None,
        }
    }
    pub fn unavailable(message: impl Into<String>, retry_after_s: u32) -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
            retry_after_s: Some(retry_after_s),
        }
    }
    pub fn internal() -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "internal error".into(),
            retry_after_s: None,
        }
    }
}

impl From<spandb::Error> for ApiError {
    /// Client mistakes keep their message; everything else is logged and answered with a
    /// generic one (a corruption error names a file path).
    fn from(e: spandb::Error) -> Self {
        match e {
            spandb::Error::InvalidInput { .. } | spandb::Error::Query { .. } => {
                ApiError::bad_request(e.to_string())
            }
            spandb::Error::NotFound { what } => ApiError::not_found(format!("{what} not found")),
            other => {
                tracing::error!(error = %other, "request failed");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if let Some(s) = self.retry_after_s {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

/// Runs a read on the blocking pool, within the concurrency bound and the request timeout.
pub async fn query<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Db) -> spandb::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let timeout = state.config.request_timeout;
    let work = async {
        let _permit = state
            .queries
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::unavailable("shutting down", 1))?;
        let db = state.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|_| ApiError::internal())?
            .map_err(ApiError::from)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(ApiError::unavailable(
            format!("the query did not finish within {}s", timeout.as_secs()),
            1,
        )),
    }
}

/// Tempo's and Jaeger's query APIs, spandb's own, the MCP endpoint, `/metrics`, the probes
/// and the web UI (its pages hold no data and need no token; what they fetch does).
pub fn query_router(state: AppState) -> Router {
    let open = Router::new()
        .route("/ready", get(|| async { "ready" }))
        .route("/api/echo", get(|| async { "echo" }))
        .merge(crate::ui::routes());
    let guarded = crate::tempo::routes()
        .merge(crate::jaeger::routes())
        .merge(crate::spandb_api::routes())
        .merge(crate::jaeger_v3::routes())
        .route("/metrics", get(metrics))
        .route_service("/api/mcp", crate::mcp::service(state.clone()))
        .layer(middleware::from_fn_with_state(state.clone(), query_auth));
    let router = open
        .merge(guarded)
        .layer(middleware::from_fn_with_state(state.clone(), observe));
    crate::cors::apply(router, &state.config.cors_origins).with_state(state)
}

/// `POST /v1/traces` and `POST /v1/logs`.
pub fn otlp_router(state: AppState) -> Router {
    let router = Router::new()
        .route("/v1/traces", post(crate::otlp_http::export_traces))
        .route("/v1/logs", post(crate::otlp_http::export_logs))
        .layer(middleware::from_fn_with_state(state.clone(), ingest_auth))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(axum::extract::DefaultBodyLimit::disable());
    crate::cors::apply(router, &state.config.cors_origins).with_state(state)
}

async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let stats = query(&state, |db| db.stats()).await.ok();
    let text = state.metrics.render(state.ingest.queued(), stats.as_ref());
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

async fn observe(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let endpoint = matched
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().clone();
    // The path only: a query string can carry search terms.
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state.metrics.observe_request(&endpoint, status, elapsed);
    log_request(method.as_str(), &path, status, elapsed);
    response
}

/// One log line per answered request; probes and scrapes only at `debug`.
pub fn log_request(method: &str, path: &str, status: u16, elapsed: std::time::Duration) {
    let latency_ms = elapsed.as_secs_f64() * 1e3;
    if matches!(path, "/ready" | "/metrics" | "/api/echo") {
        tracing::debug!(method, path, status, latency_ms, "request");
    } else if status >= 500 {
        tracing::warn!(method, path, status, latency_ms, "request");
    } else {
        tracing::info!(method, path, status, latency_ms, "request");
    }
}

async fn query_auth(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match check_token(state.config.query_token.as_deref(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

async fn ingest_auth(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = match check_token(state.config.ingest_token.as_deref(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    };
    // A refused upload may not have been read to its end, and the server then drops the
    // connection: saying so keeps clients from sending their next request on it (which fails
    // with an unexpected EOF instead of an answer).
    if response.status().is_client_error() || response.status().is_server_error() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Whether `headers` carry `Authorization: Bearer <expected>` (always true without a token).
/// Compared in constant time, so the answer's timing does not leak the token.
pub fn check_token(expected: Option<&str>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "a valid bearer token is required".into(),
            retry_after_s: None,
        })
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
