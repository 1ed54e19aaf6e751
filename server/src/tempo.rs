//! Grafana Tempo's HTTP API, the endpoints Grafana's Tempo data source calls, with Tempo's
//! parameters and response shapes (docs/HTTP.md): trace by id (v1 and v2, JSON or Tempo's
//! protobuf), search, metrics query_range and instant query, build info.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use opentelemetry_proto::tonic::trace::v1::TracesData;
use prost::Message;
use spandb::render::tempo::{QueryInstantResponse, QueryRangeResponse, SearchResponse};
use spandb::{MetricsRequest, Span, TagScope, TagValue, TimeRange, TraceId};

use crate::http::{query, ApiError, AppState};

/// Tempo's default search limit.
const DEFAULT_LIMIT: usize = 20;
/// Largest `limit` a search may ask for.
const MAX_LIMIT: usize = 10_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/status/buildinfo", get(buildinfo))
        .route("/api/traces/{id}", get(trace_v1))
        .route("/api/v2/traces/{id}", get(trace_v2))
        .route("/api/search", get(search))
        .route("/api/search/tags", get(tags_v1))
        .route("/api/v2/search/tags", get(tags_v2))
        .route("/api/search/tag/{tag}/values", get(tag_values_v1))
        .route("/api/v2/search/tag/{tag}/values", get(tag_values_v2))
        .route("/api/metrics/query_range", get(query_range))
        .route("/api/metrics/query", get(instant_query))
}

async fn buildinfo() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": "",
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    }))
}

/// `tempopb.TraceByIDResponse`: the trace (field 1, a `tempopb.Trace`, which is wire-equal to
/// OTLP's `TracesData`).
#[derive(Clone, PartialEq, prost::Message)]
struct TraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    trace: Option<TracesData>,
}

fn wants_protobuf(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/protobuf"))
}

async fn fetch_trace(state: &AppState, id: &str) -> Result<Vec<Span>, ApiError> {
    let trace_id = parse_trace_id(id)?;
    let spans = query(state, move |db| db.trace(&trace_id)).await?;
    if spans.is_empty() {
        return Err(ApiError::not_found(format!("trace {trace_id} not found")));
    }
    Ok(spans)
}

/// Tempo accepts ids of up to 32 hex characters, left-padded with zeros.
pub fn parse_trace_id(id: &str) -> Result<TraceId, ApiError> {
    let id = id.trim();
    if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(
            "a trace id is 1 to 32 hexadecimal characters",
        ));
    }
    format!("{id:0>32}")
        .parse()
        .map_err(|_| ApiError::bad_request("invalid trace id"))
}

/// `GET /api/traces/{id}`: `{"batches":[ResourceSpans...]}`, or `tempopb.Trace` in protobuf.
async fn trace_v1(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let spans = fetch_trace(&state, &id).await?;
    if wants_protobuf(&headers) {
        let body = spandb::otlp::proto::to_traces_data(&spans).encode_to_vec();
        return Ok(protobuf(body));
    }
    let mut doc = spandb::otlp::json::encode_json_request(&spans);
    let batches = doc
        .as_object_mut()
        .and_then(|o| o.remove("resourceSpans"))
        .unwrap_or_default();
    Ok(Json(serde_json::json!({ "batches": batches })).into_response())
}

/// `GET /api/v2/traces/{id}`: `{"trace":{"resourceSpans":[...]}}`, or
/// `tempopb.TraceByIDResponse` in protobuf.
async fn trace_v2(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let spans = fetch_trace(&state, &id).await?;
    if wants_protobuf(&headers) {
        let body = TraceByIdResponse {
            trace: Some(spandb::otlp::proto::to_traces_data(&spans)),
        }
        .encode_to_vec();
        return Ok(protobuf(body));
    }
    let doc = spandb::otlp::json::encode_json_request(&spans);
    Ok(Json(serde_json::json!({ "trace": doc })).into_response())
}

fn protobuf(body: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/protobuf")],
        body,
    )
        .into_response()
}

/// Seconds since the epoch (Tempo's `start`/`end`), or nanoseconds when the number is too
/// large to be seconds (as Tempo's metrics endpoints also take).
pub(crate) fn time_param(
    params: &HashMap<String, String>,
    key: &str,
) -> Result<Option<u64>, ApiError> {
    let Some(v) = params.get(key).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let n: u64 = v
        .parse()
        .map_err(|_| ApiError::bad_request(format!("{key}: {v:?} is not a unix time")))?;
    Ok(Some(if n < 100_000_000_000 {
        n.saturating_mul(1_000_000_000)
    } else {
        n
    }))
}

/// A Go-style duration (`500ms`, `1.5s`, `2m`) in nanoseconds.
pub fn go_duration(text: &str) -> Result<u64, ApiError> {
    let bad = || ApiError::bad_request(format!("{text:?} is not a duration such as 500ms or 2s"));
    let split = text
        .find(|c: char| c.is_ascii_alphabetic() || c == 'µ')
        .ok_or_else(bad)?;
    let (num, unit) = text.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let scale = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        _ => return Err(bad()),
    };
    if !(n.is_finite() && n >= 0.0) {
        return Err(bad());
    }
    Ok((n * scale) as u64)
}

/// The TraceQL query a Tempo search asks for: `q`, or the older `tags` (logfmt
/// `key=value ...`) with `minDuration`/`maxDuration`.
fn search_query(params: &HashMap<String, String>) -> Result<String, ApiError> {
    if let Some(q) = params.get("q").filter(|q| !q.trim().is_empty()) {
        return Ok(q.clone());
    }
    let mut conds: Vec<String> = Vec::new();
    if let Some(tags) = params.get("tags") {
        for pair in logfmt(tags)? {
            let (k, v) = pair;
            let field = match k.as_str() {
                "name" | "status" | "kind" => k.clone(),
                "service.name" => "resource.service.name".into(),
                _ => format!(".{}", quote_attr(&k)),
            };
            if k == "status" || k == "kind" {
                conds.push(format!("{field} = {v}"));
                continue;
            }
            // Tag values arrive as text; a number or boolean also matches an attribute of
            // that type, as Tempo's tag search does.
            let text = serde_json::to_string(&v).unwrap_or_default();
            let typed = v
                .parse::<i64>()
                .map(|n| n.to_string())
                .ok()
                .or_else(|| {
                    v.parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite())
                        .map(|_| v.clone())
                })
                .or_else(|| matches!(v.as_str(), "true" | "false").then(|| v.clone()));
            match typed {
                Some(t) => conds.push(format!("({field} = {text} || {field} = {t})")),
                None => conds.push(format!("{field} = {text}")),
            }
        }
    }
    if let Some(d) = params.get("minDuration").filter(|d| !d.is_empty()) {
        conds.push(format!("duration >= {}ns", go_duration(d)?));
    }
    if let Some(d) = params.get("maxDuration").filter(|d| !d.is_empty()) {
        conds.push(format!("duration <= {}ns", go_duration(d)?));
    }
    Ok(format!("{{ {} }}", conds.join(" && ")))
}

/// An attribute name as TraceQL reads it: bare when it is made of name characters, quoted
/// otherwise.
fn quote_attr(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
    {
        name.to_owned()
    } else {
        serde_json::to_string(name).unwrap_or_default()
    }
}

/// `key=value key2="value with spaces"`.
fn logfmt(text: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or_else(|| {
            ApiError::bad_request(format!("tags: expected key=value in {rest:?}"))
        })?;
        let key = rest[..eq].trim().to_owned();
        rest = &rest[eq + 1..];
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| ApiError::bad_request("tags: unterminated quote"))?;
            value = quoted[..end].to_owned();
            rest = quoted[end + 1..].trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            value = rest[..end].to_owned();
            rest = rest[end..].trim_start();
        }
        if key.is_empty() {
            return Err(ApiError::bad_request("tags: empty key"));
        }
        out.push((key, value));
    }
    Ok(out)
}

pub(crate) fn range_of(params: &HashMap<String, String>) -> Result<TimeRange, ApiError> {
    let start = time_param(params, "start")?.unwrap_or(0);
    let end = time_param(params, "end")?.unwrap_or(u64::MAX);
    if end <= start {
        return Err(ApiError::bad_request("end must be after start"));
    }
    Ok(TimeRange::new(start, end))
}

/// `GET /api/search`.
async fn search(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<SearchResponse>, ApiError> {
    let q = search_query(&params)?;
    let range = range_of(&params)?;
    let limit = match params.get("limit").filter(|l| !l.is_empty()) {
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request("limit must be a number"))?
            .clamp(1, MAX_LIMIT),
        None => DEFAULT_LIMIT,
    };
    let spss = match params.get("spss").filter(|s| !s.is_empty()) {
        Some(s) => s
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request("spss must be a number"))?,
        None => 3,
    };
    let traces = query(&state, move |db| db.search(q.as_str(), range, limit)).await?;
    let mut response = SearchResponse::new(&traces);
    for t in &mut response.traces {
        t.span_set.spans.truncate(spss);
        for set in &mut t.span_sets {
            set.spans.truncate(spss);
        }
    }
    Ok(Json(response))
}

/// Values a tag-values request returns at most (Tempo bounds them by bytes).
const MAX_TAG_VALUES: usize = 1_000;

/// The intrinsics a TraceQL query can name, as Tempo lists them.
const INTRINSICS: [&str; 10] = [
    "duration",
    "kind",
    "name",
    "status",
    "statusMessage",
    "span:duration",
    "span:kind",
    "span:name",
    "span:status",
    "trace:rootService",
];

/// `GET /api/search/tags`: every attribute name, span and resource together.
async fn tags_v1(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let range = range_of(&params)?;
    let names = query(&state, move |db| db.tag_names(range)).await?;
    let mut all: Vec<String> = names.span.into_iter().chain(names.resource).collect();
    all.sort();
    all.dedup();
    Ok(Json(serde_json::json!({ "tagNames": all })))
}

/// `GET /api/v2/search/tags?scope=span|resource|intrinsic`: names per scope.
async fn tags_v2(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let range = range_of(&params)?;
    let scope = params.get("scope").map(String::as_str).unwrap_or("all");
    if !matches!(scope, "all" | "" | "span" | "resource" | "intrinsic") {
        return Err(ApiError::bad_request(format!("unknown scope {scope:?}")));
    }
    let names = query(&state, move |db| db.tag_names(range)).await?;
    let mut scopes = Vec::new();
    if matches!(scope, "all" | "" | "span") {
        scopes.push(serde_json::json!({"name": "span", "tags": names.span}));
    }
    if matches!(scope, "all" | "" | "resource") {
        scopes.push(serde_json::json!({"name": "resource", "tags": names.resource}));
    }
    if matches!(scope, "all" | "" | "intrinsic") {
        scopes.push(serde_json::json!({"name": "intrinsic", "tags": INTRINSICS}));
    }
    Ok(Json(serde_json::json!({ "scopes": scopes })))
}

/// `GET /api/search/tag/{tag}/values`: values of an attribute in either scope, as text.
async fn tag_values_v1(
    State(state): State<AppState>,
    Path(tag): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let range = range_of(&params)?;
    let values = query(&state, move |db| {
        db.tag_values(None, &tag, range, MAX_TAG_VALUES)
    })
    .await?;
    let texts: Vec<String> = values.iter().map(TagValue::text).collect();
    Ok(Json(serde_json::json!({ "tagValues": texts })))
}

/// `GET /api/v2/search/tag/{tag}/values`: `tag` as TraceQL names it (`resource.service.name`,
/// `span.http.method`, `.x`, `name`, `status`, `kind`), values typed.
async fn tag_values_v2(
    State(state): State<AppState>,
    Path(tag): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let range = range_of(&params)?;
    let keyword = |values: &[&str]| -> Vec<serde_json::Value> {
        values
            .iter()
            .map(|v| serde_json::json!({"type": "keyword", "value": v}))
            .collect()
    };
    let typed: Vec<serde_json::Value> = match tag.as_str() {
        "status" | "span:status" => keyword(&["error", "ok", "unset"]),
        "kind" | "span:kind" => keyword(&[
            "client",
            "consumer",
            "internal",
            "producer",
            "server",
            "unspecified",
        ]),
        "name" | "span:name" => {
            let names = query(&state, move |db| db.span_names(range, MAX_TAG_VALUES)).await?;
            names
                .into_iter()
                .map(|n| serde_json::json!({"type": "string", "value": n}))
                .collect()
        }
        _ => {
            let (scope, key) = if let Some(k) = tag.strip_prefix("resource.") {
                (Some(TagScope::Resource), k.to_owned())
            } else if let Some(k) = tag.strip_prefix("span.") {
                (Some(TagScope::Span), k.to_owned())
            } else if let Some(k) = tag.strip_prefix('.') {
                (None, k.to_owned())
            } else {
                return Err(ApiError::bad_request(format!(
                    "{tag:?} is not a TraceQL attribute (resource.x, span.x, .x) or a known intrinsic"
                )));
            };
            let key = key.trim_matches('"').to_owned();
            let values = query(&state, move |db| {
                db.tag_values(scope, &key, range, MAX_TAG_VALUES)
            })
            .await?;
            values
                .iter()
                .map(|v| serde_json::json!({"type": v.type_name(), "value": v.text()}))
                .collect()
        }
    };
    Ok(Json(serde_json::json!({ "tagValues": typed })))
}

pub(crate) fn metrics_request(
    params: &HashMap<String, String>,
) -> Result<(String, MetricsRequest), ApiError> {
    let q = params
        .get("q")
        .or_else(|| params.get("query"))
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("q is required"))?
        .clone();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let end = time_param(params, "end")?.unwrap_or(now);
    let start = time_param(params, "start")?.unwrap_or(end.saturating_sub(3_600_000_000_000));
    if end <= start {
        return Err(ApiError::bad_request("end must be after start"));
    }
    let step = match params.get("step").filter(|s| !s.is_empty()) {
        Some(s) => match s.parse::<u64>() {
            Ok(secs) => secs.saturating_mul(1_000_000_000),
            Err(_) => go_duration(s)?,
        },
        // Tempo's default: about 100 points over the range.
        None => ((end - start) / 100).max(1_000_000_000),
    };
    if step == 0 || (end - start) / step > 11_000 {
        return Err(ApiError::bad_request(
            "step gives more than 11000 points; use a larger step",
        ));
    }
    Ok((q, MetricsRequest::aligned(start, end, step)))
}

/// `GET /api/metrics/query_range`.
async fn query_range(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<QueryRangeResponse>, ApiError> {
    let (q, req) = metrics_request(&params)?;
    // Tempo's `exemplars`: at most this many sample spans, spread over the series; the
    // request parameter, else the query's `with(exemplars = ...)` hint.
    let exemplars = match params.get("exemplars").filter(|s| !s.is_empty()) {
        Some(n) => n
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request("exemplars must be a count"))?,
        None => spandb::query::parse_with_hints(&q)
            .ok()
            .and_then(|(_, hints)| spandb::query::exemplars_hint(&hints))
            .unwrap_or(0),
    }
    .min(MAX_EXEMPLARS);
    let response = query(&state, move |db| {
        let result = db.metrics(q.as_str(), req)?;
        if exemplars == 0 {
            return Ok(QueryRangeResponse::new(&result));
        }
        let parsed = spandb::query::parse(&q)?;
        let durations = spandb::render::table::ValueUnit::of(&parsed)
            == spandb::render::table::ValueUnit::Seconds;
        let samples = db.metrics_exemplars(&parsed, req, exemplars)?;
        Ok(QueryRangeResponse::with_exemplars(
            &result,
            &samples,
            req.step_ns,
            durations,
        ))
    })
    .await?;
    Ok(Json(response))
}

/// The most exemplars one request may ask for.
const MAX_EXEMPLARS: usize = 1000;

/// `GET /api/metrics/query`: one value per series for the whole range (a single step).
async fn instant_query(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<QueryInstantResponse>, ApiError> {
    let (q, req) = metrics_request(&params)?;
    let result = query(&state, move |db| {
        db.metrics_instant(q.as_str(), req.start_ns, req.end_ns)
    })
    .await?;
    Ok(Json(QueryInstantResponse::new(&result)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_style_tag_searches_become_traceql() {
        let mut p = HashMap::new();
        p.insert(
            "tags".to_owned(),
            r#"service.name=checkout http.method="GET" status=error"#.to_owned(),
        );
        p.insert("minDuration".to_owned(), "1.5s".to_owned());
        assert_eq!(
            search_query(&p).unwrap(),
            r#"{ resource.service.name = "checkout" && .http.method = "GET" && status = error && duration >= 1500000000ns }"#
        );
        p.insert("tags".to_owned(), "http.status_code=500".to_owned());
        assert_eq!(
            search_query(&p).unwrap(),
            r#"{ (.http.status_code = "500" || .http.status_code = 500) && duration >= 1500000000ns }"#
        );
        p.insert("tags".to_owned(), "noequals".to_owned());
        assert!(search_query(&p).is_err());
    }

    #[test]
    fn trace_ids_are_left_padded_hex() {
        assert_eq!(
            parse_trace_id("abc").unwrap().to_string(),
            "00000000000000000000000000000abc"
        );
        assert!(parse_trace_id("xyz").is_err());
        assert!(parse_trace_id(&"a".repeat(33)).is_err());
    }
}
