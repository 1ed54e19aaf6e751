//! spandb's own query API under `/api/spandb/`: the analyses Tempo's and Jaeger's APIs have
//! no place for (docs/HTTP.md, "spandb's API"): the service graph, the critical path of a
//! trace and aggregated over a query, self time, error groups, anomalies, trace health and
//! explain, plus the SVG renderings the web UI shows (service map, metrics chart) and the
//! data of the trace waterfall page.
//!
//! Parameters follow the Tempo endpoints: `start`/`end` in unix seconds (or nanoseconds),
//! `q` a TraceQL query, `limit`. Answers are the facade's types as JSON (the shapes of the
//! CLI's `--output json`), with lists cut to bounded lengths. Every read runs through
//! [`crate::http::query`]: the query concurrency bound and the request timeout apply.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use spandb::render::{chart, graph_map, table, trace_html};
use spandb::{MetricsRequest, TimeRange};

use crate::http::{query, ApiError, AppState};
use crate::tempo::{go_duration, parse_trace_id, range_of, time_param};

/// Traces an aggregate (breakdown, health scan) looks at unless `limit` says otherwise.
const DEFAULT_TRACES: usize = spandb::DEFAULT_BREAKDOWN_TRACES;
/// Most traces an aggregate may look at.
const MAX_TRACES: usize = 10_000;
/// Rows of an aggregate's tables unless `top` says otherwise, and at most.
const DEFAULT_ROWS: usize = 50;
const MAX_ROWS: usize = 1_000;
/// The anomaly window without a range: the last hour of the data (as `spandb anomalies`).
const DEFAULT_ANOMALY_WINDOW_NS: u64 = 3_600_000_000_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/spandb/stats", get(stats))
        .route("/api/spandb/graph", get(graph))
        .route("/api/spandb/metrics/state", get(metrics_state))
        .route("/api/spandb/graph.svg", get(graph_svg))
        .route("/api/spandb/critical-path", get(critical_path_aggregate))
        .route("/api/spandb/self-time", get(self_time))
        .route("/api/spandb/breakdown", get(breakdown))
        .route("/api/spandb/health", get(health_scan))
        .route("/api/spandb/errors", get(errors))
        .route("/api/spandb/anomalies", get(anomalies))
        .route("/api/spandb/chart.svg", get(chart_svg))
        .route(
            "/api/spandb/traces/{id}/critical-path",
            get(trace_critical_path),
        )
        .route("/api/spandb/traces/{id}/health", get(trace_health))
        .route("/api/spandb/traces/{id}/explain", get(trace_explain))
        .route("/api/spandb/traces/{id}/waterfall", get(trace_waterfall))
}

type Params = Query<HashMap<String, String>>;

/// A non-negative integer parameter, `default` when absent, clamped to 1..=`max`.
fn count_param(
    params: &HashMap<String, String>,
    key: &str,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match params.get(key).filter(|v| !v.is_empty()) {
        Some(v) => Ok(v
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("{key} must be a number")))?
            .clamp(1, max)),
        None => Ok(default),
    }
}

/// `q`, or every trace (`{ }`).
fn traceql(params: &HashMap<String, String>) -> String {
    params
        .get("q")
        .filter(|q| !q.trim().is_empty())
        .cloned()
        .unwrap_or_else(|| "{ }".into())
}

/// `baseline`: a duration before the range (`24h`, `30m`, `7d`, Go's `1h30m` too).
fn baseline_param(params: &HashMap<String, String>) -> Result<Option<u64>, ApiError> {
    let Some(text) = params
        .get("baseline")
        .map(|b| b.trim())
        .filter(|b| !b.is_empty())
    else {
        return Ok(None);
    };
    let ns = match humantime::parse_duration(text) {
        Ok(d) => u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
        Err(_) => go_duration(text).map_err(|_| {
            ApiError::bad_request(format!(
                "baseline: {text:?} is not a duration such as 30m, 24h or 7d"
            ))
        })?,
    };
    if ns == 0 {
        return Err(ApiError::bad_request("baseline must be positive"));
    }
    Ok(Some(ns))
}

/// `GET /api/spandb/stats`: spans, traces, spans per service and the time the data covers.
async fn stats(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let s = query(&state, |db| db.stats()).await?;
    Ok(Json(json!({
        "spans": s.spans,
        "traces": s.traces,
        "start_ns": s.min_start_ns,
        "end_ns": s.max_end_ns,
        "services": s.services,
    })))
}

fn svg(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The graph with its edges cut to the busiest `limit` and, unless `per_minute=true`, without
/// the per-minute series.
async fn graph_of(
    state: &AppState,
    params: &HashMap<String, String>,
) -> Result<spandb::analysis::ServiceGraph, ApiError> {
    let range = range_of(params)?;
    let filter = params
        .get("q")
        .filter(|q| !q.trim().is_empty() && q.trim() != "{}" && q.trim() != "{ }")
        .cloned();
    let limit = count_param(params, "limit", 500, 5_000)?;
    let per_minute = params.get("per_minute").is_some_and(|v| v == "true");
    // For the query front: every edge (no `limit`), each with its latency sketches.
    let mergeable = params.get("latency_state").is_some_and(|v| v == "true");
    let mut graph = query(state, move |db| {
        let snap = db.snapshot()?;
        // An open end is the data's, so the map's title and per-minute rates are of the
        // time the data covers, not of 1970..2554.
        let range = match snap.time_range() {
            Some(data) => {
                let start = range.start_ns.max(data.start_ns);
                let end = range.end_ns.min(data.end_ns.saturating_add(1));
                TimeRange::new(start, end.max(start.saturating_add(1)))
            }
            None => range,
        };
        if mergeable {
            snap.service_graph_mergeable(range, filter.as_deref())
        } else {
            snap.service_graph(range, filter.as_deref())
        }
    })
    .await?;
    if !mergeable && graph.edges.len() > limit {
        graph.edges.sort_by_key(|e| std::cmp::Reverse(e.calls));
        graph.edges.truncate(limit);
        graph.edges.sort_by(|a, b| {
            (a.client.as_str(), a.server.as_str()).cmp(&(b.client.as_str(), b.server.as_str()))
        });
        let keep: std::collections::HashSet<String> = graph
            .edges
            .iter()
            .flat_map(|e| [e.client.clone(), e.server.clone()])
            .collect();
        graph.nodes.retain(|n| keep.contains(&n.name));
    }
    if !per_minute {
        for e in &mut graph.edges {
            e.per_minute = Vec::new();
        }
    }
    Ok(graph)
}

/// `GET /api/spandb/graph`: nodes and edges (calls, errors, latency per side).
async fn graph(State(state): State<AppState>, Query(params): Params) -> Result<Response, ApiError> {
    let graph = graph_of(&state, &params).await?;
    Ok(Json(graph).into_response())
}

/// `GET /api/spandb/metrics/state`: the mergeable state of a TraceQL metrics query (per
/// series and step: span count, duration sum, min/max, histogram buckets, quantile sketch),
/// which the query front merges across nodes. Parameters as `/api/metrics/query_range`, plus
/// `instant=true` for one step over the whole window (`/api/metrics/query`).
async fn metrics_state(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Json<spandb::MetricsState>, ApiError> {
    let (q, mut req) = crate::tempo::metrics_request(&params)?;
    if params.get("instant").is_some_and(|v| v == "true") {
        req.step_ns = req.end_ns - req.start_ns;
    }
    Ok(Json(
        query(&state, move |db| db.metrics_state(q.as_str(), req)).await?,
    ))
}

/// `GET /api/spandb/graph.svg`: the service map as `spandb graph --output svg` draws it.
async fn graph_svg(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let graph = graph_of(&state, &params).await?;
    Ok(svg(graph_map::service_map_svg(&graph)))
}

async fn breakdown_of(
    state: &AppState,
    params: &HashMap<String, String>,
) -> Result<spandb::analysis::TimeBreakdown, ApiError> {
    let q = traceql(params);
    let range = range_of(params)?;
    let limit = count_param(params, "limit", DEFAULT_TRACES, MAX_TRACES)?;
    let top = count_param(params, "top", DEFAULT_ROWS, MAX_ROWS)?;
    let mut b = query(state, move |db| db.time_breakdown(q.as_str(), range, limit)).await?;
    b.critical_path.truncate(top);
    b.self_time.truncate(top);
    Ok(b)
}

/// `GET /api/spandb/critical-path`: critical-path time per (service, operation) over the
/// newest `limit` traces matching `q`.
async fn critical_path_aggregate(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    let b = breakdown_of(&state, &params).await?;
    Ok(Json(json!({
        "traces": b.traces,
        "critical_path_ns": b.critical_path_ns,
        "critical_path": b.critical_path,
    })))
}

/// `GET /api/spandb/self-time`: self time per (service, operation), same parameters.
async fn self_time(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    let b = breakdown_of(&state, &params).await?;
    Ok(Json(json!({
        "traces": b.traces,
        "self_time_ns": b.self_time_ns,
        "self_time": b.self_time,
    })))
}

/// `GET /api/spandb/breakdown`: both tables.
async fn breakdown(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    Ok(Json(breakdown_of(&state, &params).await?).into_response())
}

/// `GET /api/spandb/health`: the unhealthy traces among the newest `limit` matching `q`.
async fn health_scan(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let q = traceql(&params);
    let range = range_of(&params)?;
    let limit = count_param(&params, "limit", DEFAULT_TRACES, MAX_TRACES)?;
    let top = count_param(&params, "top", DEFAULT_ROWS, MAX_ROWS)?;
    let mut scan = query(&state, move |db| db.health_scan(q.as_str(), range, limit)).await?;
    scan.unhealthy.truncate(top);
    Ok(Json(scan).into_response())
}

/// `GET /api/spandb/errors`: error groups in the range; with `baseline` (a duration), the
/// groups absent from that long a period just before `start` are flagged `new`.
async fn errors(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let range = range_of(&params)?;
    let limit = count_param(&params, "limit", DEFAULT_ROWS, MAX_ROWS)?;
    let baseline = match baseline_param(&params)? {
        Some(_) if range.start_ns == 0 => {
            return Err(ApiError::bad_request(
                "a baseline needs a range with a start (the period before it is the baseline)",
            ))
        }
        Some(len) => Some(TimeRange::new(
            range.start_ns.saturating_sub(len),
            range.start_ns,
        )),
        None => None,
    };
    let mut groups = query(&state, move |db| db.error_groups(range, baseline)).await?;
    groups.groups.truncate(limit);
    Ok(Json(groups).into_response())
}

/// `GET /api/spandb/anomalies`: incidents in the window (default: the last hour of the
/// data) against `baseline` (a duration before the window; default: the window itself).
async fn anomalies(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let start = time_param(&params, "start")?;
    let end = time_param(&params, "end")?;
    let baseline = baseline_param(&params)?;
    let limit = count_param(&params, "limit", 20, 200)?;
    let found = query(&state, move |db| {
        let snap = db.snapshot()?;
        let window = match (start, end) {
            (None, None) => {
                let Some(data) = snap.time_range() else {
                    return Ok(None);
                };
                TimeRange::new(
                    data.end_ns
                        .saturating_sub(DEFAULT_ANOMALY_WINDOW_NS)
                        .max(data.start_ns),
                    data.end_ns,
                )
            }
            (s, e) => {
                let data = snap.time_range();
                let end = e.unwrap_or_else(|| data.map_or(u64::MAX, |d| d.end_ns));
                let start = s.unwrap_or_else(|| end.saturating_sub(DEFAULT_ANOMALY_WINDOW_NS));
                if end <= start {
                    return Err(spandb::Error::invalid("end must be after start"));
                }
                TimeRange::new(start, end)
            }
        };
        let baseline =
            baseline.map(|b| TimeRange::new(window.start_ns.saturating_sub(b), window.start_ns));
        db.anomalies(window, baseline).map(Some)
    })
    .await?;
    let Some(mut found) = found else {
        return Ok(
            Json(json!({ "incidents": [], "note": "the database holds no spans" })).into_response(),
        );
    };
    found.incidents.truncate(limit);
    Ok(Json(found).into_response())
}

/// `GET /api/spandb/chart.svg?q=<metrics query>&start&end&step`: the series of a TraceQL
/// metrics query drawn as `spandb metrics --output svg` draws them (the UI's RED charts).
async fn chart_svg(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let text = params
        .get("q")
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("q is required"))?
        .clone();
    let parsed = spandb::query::parse(&text).map_err(spandb::Error::from)?;
    let range = range_of(&params)?;
    let step = match params.get("step").filter(|s| !s.is_empty()) {
        Some(s) => match s.parse::<u64>() {
            Ok(secs) => secs.saturating_mul(1_000_000_000),
            Err(_) => go_duration(s)?,
        },
        None => 0,
    };
    let width = count_param(&params, "width", 1100, 4000)?.max(200) as u32;
    let height = count_param(&params, "height", 520, 3000)?.max(120) as u32;
    let title = params.get("title").cloned().unwrap_or_else(|| text.clone());
    let unit = table::ValueUnit::of(&parsed);
    let (result, step) = query(&state, move |db| {
        let snap = db.snapshot()?;
        let Some(data) = snap.time_range() else {
            return Ok(None);
        };
        // An open range is the data's own.
        let start = range.start_ns.max(data.start_ns);
        let end = range.end_ns.min(data.end_ns.saturating_add(1));
        if end <= start {
            return Ok(None);
        }
        // About 60 points unless a step is given, at least a second.
        let step = if step == 0 {
            ((end - start) / 60).max(1_000_000_000)
        } else {
            step
        };
        if (end - start) / step > 11_000 {
            return Err(spandb::Error::invalid(
                "step gives more than 11000 points; use a larger step",
            ));
        }
        let req = MetricsRequest::aligned(start, end, step);
        Ok(Some((snap.metrics(&parsed, req)?, step)))
    })
    .await?
    .map_or((None, 0), |(r, s)| (Some(r), s));
    let Some(result) = result else {
        return Ok(svg(format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"40\">\
             <text x=\"8\" y=\"24\" font-family=\"sans-serif\" font-size=\"13\">no spans in the range</text></svg>"
        )));
    };
    let mut opts = chart::ChartOptions::new(unit, step);
    opts.title = title;
    opts.width = width;
    opts.height = height;
    Ok(svg(chart::metrics_chart_svg(&result, &opts)))
}

/// `GET /api/spandb/traces/{id}/critical-path`.
async fn trace_critical_path(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let trace_id = parse_trace_id(&id)?;
    let report = query(&state, move |db| db.critical_path(&trace_id)).await?;
    Ok(Json(report).into_response())
}

/// `GET /api/spandb/traces/{id}/health`.
async fn trace_health(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let trace_id = parse_trace_id(&id)?;
    let health = query(&state, move |db| db.trace_health(&trace_id)).await?;
    Ok(Json(health).into_response())
}

/// `GET /api/spandb/traces/{id}/explain`: the trace in sentences (`summary`) and the facts
/// behind them.
async fn trace_explain(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let trace_id = parse_trace_id(&id)?;
    let e = query(&state, move |db| db.explain(&trace_id)).await?;
    Ok(Json(e).into_response())
}

/// `GET /api/spandb/traces/{id}/waterfall`: what the UI's trace page draws: `title` and
/// `data` (the waterfall page's data, see `spandb::render::trace_html`).
async fn trace_waterfall(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let trace_id = parse_trace_id(&id)?;
    let (title, data) = query(&state, move |db| {
        let tree = db.trace_tree(&trace_id)?;
        Ok((
            trace_html::trace_html_title(&tree),
            trace_html::trace_html_data(&tree),
        ))
    })
    .await?;
    // `data` is JSON text already; spliced in rather than parsed and written again.
    let title = serde_json::to_string(&title).map_err(|_| ApiError::internal())?;
    let body = format!("{{\"title\":{title},\"data\":{data}}}");
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
