//! Jaeger's query API v3 (the HTTP gateway of `api_v3.QueryService`) under
//! `/jaeger/api/v3/...`, for the same reason as v1 (see [`crate::jaeger`]): services,
//! operations, a trace by id and trace search, traces as OTLP JSON in Jaeger's
//! `{"result": {"resourceSpans": [...]}}` wrapper, errors as
//! `{"error": {"httpCode": n, "message": "..."}}`.
//!
//! Parameters take Jaeger's canonical camelCase names (`query.serviceName`) and its older
//! snake_case aliases (`query.service_name`).

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use spandb::{Span, TimeRange};

use crate::http::{query, ApiError, AppState};
use crate::jaeger::{attribute_conds, fetch_traces, operation_names, services_sorted};
use crate::tempo::{go_duration, parse_trace_id};

/// Jaeger's default `query.searchDepth`.
const DEFAULT_SEARCH_DEPTH: usize = 100;
const MAX_SEARCH_DEPTH: usize = 1_500;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/jaeger/api/v3/services", get(services))
        .route("/jaeger/api/v3/operations", get(operations))
        .route("/jaeger/api/v3/traces", get(find_traces))
        .route("/jaeger/api/v3/traces/{id}", get(trace))
}

/// An [`ApiError`] in the gateway's error shape.
struct V3Error(ApiError);

impl From<ApiError> for V3Error {
    fn from(e: ApiError) -> Self {
        V3Error(e)
    }
}

impl IntoResponse for V3Error {
    fn into_response(self) -> Response {
        let status = self.0.status;
        let retry = self.0.retry_after_s;
        let mut r = (
            status,
            Json(json!({"error": {"httpCode": status.as_u16(), "message": self.0.message}})),
        )
            .into_response();
        if let Some(s) = retry {
            r.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, s.into());
        }
        r
    }
}

type Params = HashMap<String, String>;

/// The canonical parameter, else its deprecated alias; empty counts as absent.
fn param<'a>(p: &'a Params, canonical: &str, deprecated: &str) -> Option<&'a str> {
    [canonical, deprecated]
        .iter()
        .find_map(|k| p.get(*k).map(String::as_str).filter(|v| !v.is_empty()))
}

async fn services(State(state): State<AppState>) -> Result<Json<serde_json::Value>, V3Error> {
    Ok(Json(json!({ "services": services_sorted(&state).await? })))
}

/// `?service=&spanKind=` (or `span_kind`); each operation with its span kind.
async fn operations(
    State(state): State<AppState>,
    Query(p): Query<Params>,
) -> Result<Json<serde_json::Value>, V3Error> {
    let service = p.get("service").cloned().unwrap_or_default();
    let kind = param(&p, "spanKind", "span_kind").map(str::to_owned);
    let ops = operation_names(&state, service, kind).await?;
    let ops: Vec<_> = ops
        .into_iter()
        .map(|(name, kind)| {
            // Jaeger answers `internal` for a span without a kind.
            let kind = if kind == "unspecified" || kind.is_empty() {
                "internal".to_owned()
            } else {
                kind
            };
            json!({ "name": name, "spanKind": kind })
        })
        .collect();
    Ok(Json(json!({ "operations": ops })))
}

fn result(spans: &[Span]) -> Response {
    Json(json!({ "result": spandb::otlp::json::encode_json_request(spans) })).into_response()
}

async fn trace(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, V3Error> {
    let trace_id = parse_trace_id(&id)?;
    let spans = query(&state, move |db| db.trace(&trace_id)).await?;
    if spans.is_empty() {
        return Err(ApiError::not_found(format!("trace {trace_id} not found")).into());
    }
    Ok(result(&spans))
}

/// `?query.serviceName=&query.operationName=&query.attributes={json}&query.startTimeMin=
/// &query.startTimeMax=&query.durationMin=&query.durationMax=&query.searchDepth=`: the
/// found traces' spans in one `resourceSpans` list; 404 when nothing matched, as Jaeger.
async fn find_traces(
    State(state): State<AppState>,
    Query(p): Query<Params>,
) -> Result<Response, V3Error> {
    let mut conds = Vec::new();
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
    if let Some(s) = param(&p, "query.serviceName", "query.service_name") {
        conds.push(format!("resource.service.name = {}", quoted(s)));
    }
    if let Some(op) = param(&p, "query.operationName", "query.operation_name") {
        conds.push(format!("name = {}", quoted(op)));
    }
    if let Some(attrs) = param(&p, "query.attributes", "query.attributes") {
        let map: BTreeMap<String, String> = serde_json::from_str(attrs).map_err(|_| {
            ApiError::bad_request(
                "malformed parameter query.attributes: a JSON object of strings is expected",
            )
        })?;
        conds.extend(attribute_conds(map));
    }
    for (canonical, deprecated, op) in [
        ("query.durationMin", "query.duration_min", ">="),
        ("query.durationMax", "query.duration_max", "<="),
    ] {
        if let Some(d) = param(&p, canonical, deprecated) {
            let ns = go_duration(d).map_err(|e| {
                ApiError::bad_request(format!("malformed parameter {canonical}: {}", e.message))
            })?;
            conds.push(format!("duration {op} {ns}ns"));
        }
    }
    let time = |canonical: &str, deprecated: &str| -> Result<u64, ApiError> {
        let text = param(&p, canonical, deprecated).ok_or_else(|| {
            ApiError::bad_request("query.startTimeMin and query.startTimeMax are required")
        })?;
        rfc3339_ns(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "malformed parameter {canonical}: an RFC 3339 time is expected"
            ))
        })
    };
    let start = time("query.startTimeMin", "query.start_time_min")?;
    let end = time("query.startTimeMax", "query.start_time_max")?;
    if start >= end {
        return Err(
            ApiError::bad_request("query.startTimeMin must be before query.startTimeMax").into(),
        );
    }
    let depth = match param(&p, "query.searchDepth", "query.search_depth")
        .or_else(|| param(&p, "query.num_traces", "query.num_traces"))
    {
        Some(n) => n
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request("malformed parameter query.searchDepth"))?
            .clamp(1, MAX_SEARCH_DEPTH),
        None => DEFAULT_SEARCH_DEPTH,
    };
    let q = format!("{{ {} }}", conds.join(" && "));
    let traces = fetch_traces(
        &state,
        q,
        TimeRange::new(start, end.saturating_add(1)),
        depth,
    )
    .await?;
    if traces.is_empty() {
        return Err(V3Error(ApiError {
            status: StatusCode::NOT_FOUND,
            message: "No traces found".into(),
            retry_after_s: None,
        }));
    }
    let spans: Vec<Span> = traces.into_iter().flatten().collect();
    Ok(result(&spans))
}

/// Unix nanoseconds of an RFC 3339 time (`2025-06-01T12:00:00.5Z`, or with an offset
/// `+02:00`), as Go's `time.RFC3339Nano` reads it.
pub(crate) fn rfc3339_ns(text: &str) -> Option<u64> {
    let text = text.trim();
    let (local, offset_s): (&str, i64) = if let Some(t) = text.strip_suffix(['Z', 'z']) {
        (t, 0)
    } else {
        let at = text.len().checked_sub(6)?;
        let (t, off) = (text.get(..at)?, text.get(at..)?.as_bytes());
        let sign = match off.first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let digits = |r: std::ops::Range<usize>| -> Option<i64> {
            std::str::from_utf8(off.get(r)?).ok()?.parse().ok()
        };
        if off.get(3) != Some(&b':') {
            return None;
        }
        (t, sign * (digits(1..3)? * 3600 + digits(4..6)? * 60))
    };
    if !local.contains('T') && !local.contains('t') {
        return None;
    }
    let t = humantime::parse_rfc3339_weak(&format!("{local}Z")).ok()?;
    let ns = i128::try_from(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos()).ok()?;
    u64::try_from(ns - i128::from(offset_s) * 1_000_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::rfc3339_ns;

    #[test]
    fn rfc3339_times_with_zones() {
        assert_eq!(rfc3339_ns("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(rfc3339_ns("1970-01-01T00:00:01.5Z"), Some(1_500_000_000));
        assert_eq!(rfc3339_ns("1970-01-01T01:00:01+01:00"), Some(1_000_000_000));
        assert_eq!(
            rfc3339_ns("1970-01-01T00:00:01-01:00"),
            Some(3_601_000_000_000)
        );
        assert_eq!(rfc3339_ns("1970-01-01 00:00:01Z"), None);
        assert_eq!(rfc3339_ns("yesterday"), None);
        assert_eq!(rfc3339_ns("1970-01-01T00:00:01+0100"), None);
    }
}
