//! Jaeger's query API v1 under `/jaeger/api/...` (Jaeger UI with `--query.base-path=/jaeger`,
//! Grafana's Jaeger data source with URL `http://host:3200/jaeger`): services, operations,
//! trace search and trace by id in Jaeger's `{data, total, limit, offset, errors}` envelope
//! and span model. Prefixed because Tempo's `/api/traces/{id}` answers the same path in
//! another shape.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value as Json_};
use spandb::{KeyValue, LabelValue, MetricsRequest, Span, SpanKind, StatusCode, TimeRange, Value};

use crate::http::{query, ApiError, AppState};
use crate::tempo::{go_duration, parse_trace_id};

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 1_500;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/jaeger/api/services", get(services))
        .route("/jaeger/api/services/{service}/operations", get(operations))
        .route("/jaeger/api/operations", get(operations_v2))
        .route("/jaeger/api/traces", get(find_traces))
        .route("/jaeger/api/traces/{id}", get(trace))
        .route("/jaeger/api/dependencies", get(dependencies))
}

fn envelope(data: Json_, total: usize) -> Json<Json_> {
    Json(json!({ "data": data, "total": total, "limit": 0, "offset": 0, "errors": null }))
}

async fn services(State(state): State<AppState>) -> Result<Json<Json_>, ApiError> {
    let names = services_sorted(&state).await?;
    let n = names.len();
    Ok(envelope(json!(names), n))
}

/// Every service name, sorted.
pub(crate) async fn services_sorted(state: &AppState) -> Result<Vec<String>, ApiError> {
    let stats = query(state, |db| db.stats()).await?;
    let mut names: Vec<String> = stats.services.into_iter().map(|s| s.service).collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// Operation names of a service with their span kinds (of one kind when given), sorted,
/// from the rollups: a metrics count by name and kind over all time, which needs no span
/// decoding.
pub(crate) async fn operation_names(
    state: &AppState,
    service: String,
    kind: Option<String>,
) -> Result<Vec<(String, String)>, ApiError> {
    let mut cond = format!(
        "resource.service.name = {}",
        serde_json::to_string(&service).unwrap_or_default()
    );
    if let Some(k) = kind.filter(|k| !k.is_empty()) {
        if !matches!(
            k.as_str(),
            "server" | "client" | "producer" | "consumer" | "internal"
        ) {
            return Err(ApiError::bad_request(format!("unknown spanKind {k:?}")));
        }
        cond.push_str(&format!(" && kind = {k}"));
    }
    let q = format!("{{ {cond} }} | count_over_time() by (name, kind)");
    let result = query(state, move |db| {
        let Some(range) = db.snapshot()?.time_range() else {
            return Ok(None);
        };
        let step = (range.end_ns - range.start_ns).max(1);
        let req = MetricsRequest::aligned(range.start_ns, range.end_ns, step);
        db.metrics(q.as_str(), req).map(Some)
    })
    .await?;
    let label = |labels: &[(String, LabelValue)], key: &str| {
        labels.iter().find_map(|(k, v)| match v {
            LabelValue::Str(s) if k == key => Some(s.clone()),
            _ => None,
        })
    };
    let mut ops: Vec<(String, String)> = result
        .iter()
        .flat_map(|r| r.series.iter())
        .filter_map(|series| {
            let name = label(&series.labels, "name")?;
            Some((name, label(&series.labels, "kind").unwrap_or_default()))
        })
        .collect();
    ops.sort();
    ops.dedup();
    Ok(ops)
}

async fn operations(
    State(state): State<AppState>,
    Path(service): Path<String>,
) -> Result<Json<Json_>, ApiError> {
    let mut names: Vec<String> = operation_names(&state, service, None)
        .await?
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    names.dedup();
    let n = names.len();
    Ok(envelope(json!(names), n))
}

/// `/api/operations?service=&spanKind=` (Jaeger's newer endpoint).
async fn operations_v2(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Json_>, ApiError> {
    let service = params
        .get("service")
        .cloned()
        .ok_or_else(|| ApiError::bad_request("service is required"))?;
    let kind = params.get("spanKind").cloned().unwrap_or_default();
    let ops = operation_names(&state, service, Some(kind.clone())).await?;
    let data: Vec<Json_> = ops
        .iter()
        .map(|(name, k)| json!({ "name": name, "spanKind": if kind.is_empty() { k } else { &kind } }))
        .collect();
    let n = data.len();
    Ok(envelope(json!(data), n))
}

async fn trace(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Json_>, ApiError> {
    let trace_id = parse_trace_id(&id)?;
    let spans = query(&state, move |db| db.trace(&trace_id)).await?;
    if spans.is_empty() {
        return Err(ApiError::not_found(format!("trace {trace_id} not found")));
    }
    Ok(envelope(json!([jaeger_trace(&spans)]), 1))
}

/// `/api/traces?service=&operation=&tags={json}&start=&end=&lookback=&minDuration=&maxDuration=&limit=`
/// (times in microseconds).
async fn find_traces(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Json_>, ApiError> {
    let service = params
        .get("service")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("service is required"))?;
    let mut conds = vec![format!(
        "resource.service.name = {}",
        serde_json::to_string(service).unwrap_or_default()
    )];
    if let Some(op) = params.get("operation").filter(|o| !o.is_empty()) {
        conds.push(format!(
            "name = {}",
            serde_json::to_string(op).unwrap_or_default()
        ));
    }
    if let Some(tags) = params.get("tags").filter(|t| !t.is_empty()) {
        let map: BTreeMap<String, String> = serde_json::from_str(tags)
            .map_err(|_| ApiError::bad_request("tags must be a JSON object of strings"))?;
        conds.extend(attribute_conds(map));
    }
    for (param, op) in [("minDuration", ">="), ("maxDuration", "<=")] {
        if let Some(d) = params.get(param).filter(|d| !d.is_empty()) {
            conds.push(format!("duration {op} {}ns", go_duration(d)?));
        }
    }
    let micros = |key: &str| -> Result<Option<u64>, ApiError> {
        params
            .get(key)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<u64>()
                    .map(|us| us.saturating_mul(1_000))
                    .map_err(|_| ApiError::bad_request(format!("{key} must be microseconds")))
            })
            .transpose()
    };
    let start = micros("start")?.unwrap_or(0);
    let end = micros("end")?.unwrap_or(u64::MAX);
    if end <= start {
        return Err(ApiError::bad_request("end must be after start"));
    }
    let limit = match params.get("limit").filter(|l| !l.is_empty()) {
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request("limit must be a number"))?
            .clamp(1, MAX_LIMIT),
        None => DEFAULT_LIMIT,
    };
    let q = format!("{{ {} }}", conds.join(" && "));
    let traces = fetch_traces(&state, q, TimeRange::new(start, end), limit).await?;
    let data: Vec<Json_> = traces.iter().map(|s| jaeger_trace(s)).collect();
    let n = data.len();
    Ok(envelope(json!(data), n))
}

/// Jaeger's tag filters as TraceQL conditions: `error=true` is `status = error`, any other
/// key a span attribute.
pub(crate) fn attribute_conds(map: BTreeMap<String, String>) -> Vec<String> {
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
    map.into_iter()
        .map(|(k, v)| {
            if k == "error" && v == "true" {
                "status = error".to_owned()
            } else {
                format!(".{} = {}", quoted(&k), quoted(&v))
            }
        })
        .collect()
}

/// The spans of the newest `limit` traces matching `q` in `range`, each trace's spans
/// together. One batched read ([`spandb::analysis::fetch::traces`]) reads each block once
/// for all of them instead of one lookup per trace.
pub(crate) async fn fetch_traces(
    state: &AppState,
    q: String,
    range: TimeRange,
    limit: usize,
) -> Result<Vec<Vec<Span>>, ApiError> {
    query(state, move |db| {
        let snap = db.snapshot()?;
        let found = snap.search(q.as_str(), range, limit)?;
        let ids: Vec<_> = found.iter().map(|t| t.trace_id).collect();
        let trees = spandb::analysis::fetch::traces(snap.storage(), &ids)?;
        Ok(trees.into_iter().map(|t| t.spans).collect())
    })
    .await
}

/// `/api/dependencies?endTs=&lookback=` (ms; defaults: now and 24 hours), optionally
/// `service=` (links touching it): the caller-callee links of the service graph with their
/// call counts, `[{"parent","child","callCount"}]` (databases, queues and peers the spans
/// name are children too).
async fn dependencies(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Json_>, ApiError> {
    let millis = |key: &str| -> Result<Option<u64>, ApiError> {
        params
            .get(key)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<u64>()
                    .map(|ms| ms.saturating_mul(1_000_000))
                    .map_err(|_| ApiError::bad_request(format!("{key} must be milliseconds")))
            })
            .transpose()
    };
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let end = millis("endTs")?.unwrap_or(now_ns);
    let lookback = millis("lookback")?.unwrap_or(24 * 3_600 * 1_000_000_000);
    let start = end.saturating_sub(lookback);
    if end <= start {
        return Err(ApiError::bad_request("lookback must be greater than zero"));
    }
    let graph = query(&state, move |db| {
        db.service_graph(TimeRange::new(start, end), None::<&str>)
    })
    .await?;
    let service = params.get("service").filter(|s| !s.is_empty());
    let mut links: BTreeMap<(String, String), u64> = BTreeMap::new();
    for e in graph.edges {
        if service.is_some_and(|s| *s != e.client && *s != e.server) {
            continue;
        }
        *links.entry((e.client, e.server)).or_default() += e.calls;
    }
    let data: Vec<Json_> = links
        .into_iter()
        .map(|((parent, child), n)| json!({"parent": parent, "child": child, "callCount": n}))
        .collect();
    let n = data.len();
    Ok(envelope(json!(data), n))
}

/// One trace in Jaeger's JSON model: spans with references, tags and logs; processes keyed
/// `p1`, `p2`... one per distinct resource.
pub fn jaeger_trace(spans: &[Span]) -> Json_ {
    let mut processes: Vec<(Json_, String)> = Vec::new();
    let mut process_of = |s: &Span| -> String {
        let process = json!({
            "serviceName": s.service(),
            "tags": tags(s.resource.attributes.iter().filter(|kv| kv.key != "service.name")),
        });
        if let Some((_, id)) = processes.iter().find(|(p, _)| *p == process) {
            return id.clone();
        }
        let id = format!("p{}", processes.len() + 1);
        processes.push((process, id.clone()));
        id
    };
    let trace_id = spans
        .first()
        .map(|s| s.trace_id.to_string())
        .unwrap_or_default();
    let mut out_spans = Vec::with_capacity(spans.len());
    for s in spans {
        let mut references = Vec::new();
        if let Some(p) = s.parent_span_id.filter(|p| !p.is_zero()) {
            references
                .push(json!({"refType": "CHILD_OF", "traceID": trace_id, "spanID": p.to_string()}));
        }
        for l in &s.links {
            references.push(json!({"refType": "FOLLOWS_FROM", "traceID": l.trace_id.to_string(), "spanID": l.span_id.to_string()}));
        }
        let mut span_tags = tags(s.attributes.iter());
        if let Some(kind) = kind_tag(s.kind) {
            span_tags.push(json!({"key": "span.kind", "type": "string", "value": kind}));
        }
        if s.status_code == StatusCode::Error {
            span_tags.push(json!({"key": "error", "type": "bool", "value": true}));
        }
        if !s.status_message.is_empty() {
            span_tags.push(json!({"key": "otel.status_description", "type": "string", "value": s.status_message}));
        }
        let logs: Vec<Json_> = s
            .events
            .iter()
            .map(|e| {
                let mut fields = vec![json!({"key": "event", "type": "string", "value": e.name})];
                fields.extend(tags(e.attributes.iter()));
                json!({"timestamp": e.time_ns / 1_000, "fields": fields})
            })
            .collect();
        out_spans.push(json!({
            "traceID": trace_id,
            "spanID": s.span_id.to_string(),
            "flags": s.flags,
            "operationName": s.name,
            "references": references,
            "startTime": s.start_ns / 1_000,
            "duration": s.duration_ns() / 1_000,
            "tags": span_tags,
            "logs": logs,
            "processID": process_of(s),
            "warnings": null,
        }));
    }
    let processes: serde_json::Map<String, Json_> =
        processes.into_iter().map(|(p, id)| (id, p)).collect();
    json!({ "traceID": trace_id, "spans": out_spans, "processes": processes, "warnings": null })
}

fn kind_tag(kind: SpanKind) -> Option<&'static str> {
    match kind {
        SpanKind::Server => Some("server"),
        SpanKind::Client => Some("client"),
        SpanKind::Producer => Some("producer"),
        SpanKind::Consumer => Some("consumer"),
        SpanKind::Internal => Some("internal"),
        _ => None,
    }
}

fn tags<'a>(kvs: impl Iterator<Item = &'a KeyValue>) -> Vec<Json_> {
    kvs.map(|kv| {
        let (ty, value) = match &kv.value {
            Value::Str(s) => ("string", json!(s)),
            Value::Bool(b) => ("bool", json!(b)),
            Value::Int(i) => ("int64", json!(i)),
            Value::Double(d) => ("float64", json!(d)),
            other => ("string", json!(other.to_string())),
        };
        json!({"key": kv.key, "type": ty, "value": value})
    })
    .collect()
}
