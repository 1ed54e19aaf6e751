//! The query front (`spandb serve --peers URL,URL`): Tempo's and Jaeger's query APIs answered
//! by fanning each request out to every spandb node (concurrently, each with its own timeout)
//! and merging the answers:
//! - trace by id: the spans of every node that has some, deduplicated by span id;
//! - search: newest first, the top `limit` across nodes (a trace found on two nodes once);
//! - tags and tag values, Jaeger services and operations: unions;
//! - metrics (`/api/metrics/query_range`, `/api/metrics/query`): every node's mergeable state
//!   (`/api/spandb/metrics/state`) merged and finished as one node holding every span would:
//!   counts, rates, sums, averages, min/max, histograms and sketch quantiles, exactly;
//!   metrics arithmetic from each pipeline's merged state; `compare()` is refused with 501
//!   (see [`unmerged`]);
//! - service graph (Jaeger `/api/dependencies`, spandb `/api/spandb/graph`): calls and errors
//!   summed edge by edge (`crate::front_graph`).
//!
//! A node that does not answer (connection refused, timeout, 5xx) never silently shrinks an
//! answer: Tempo responses get a `spandbFront` object (`nodes`, `failed`: node and reason) and
//! the header `X-Spandb-Failed-Nodes`, Jaeger responses an entry per node in `errors`. When no
//! node answers the front answers 502. A node's 4xx (a bad query) is passed through.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use spandb::query::MetricsFn;
use spandb::render::tempo::{QueryInstantResponse, QueryRangeResponse};
use tokio::net::TcpListener;

use crate::front_graph;

/// Largest node answer the front reads.
const MAX_NODE_BODY: u64 = 256 << 20;

/// Settings of a query front.
#[derive(Clone, Debug)]
pub struct FrontConfig {
    /// Where the front listens (Tempo's and Jaeger's APIs).
    pub listen: SocketAddr,
    /// Base URLs of the nodes' query APIs, e.g. `http://10.0.0.5:3200`.
    pub peers: Vec<String>,
    /// Longest the front waits for one node. Defaults to 10 s.
    pub peer_timeout: Duration,
    /// Bearer token clients must give; forwarded to the nodes.
    pub token: Option<String>,
}

struct Front {
    config: FrontConfig,
    agent: ureq::Agent,
}

/// One node's answer, or why there is none.
enum Answer {
    Ok(u16, Vec<u8>),
    Failed(String),
}

/// Serves the front until SIGINT/SIGTERM.
pub fn run_until_signal(config: FrontConfig) -> Result<(), std::io::Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("spandb-front")
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(config.listen).await?;
        tracing::info!(
            addr = %listener.local_addr()?,
            nodes = config.peers.len(),
            "spandb query front serving"
        );
        let app = router(config);
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                crate::wait_for_signal().await;
            })
            .await
    })
}

/// The front's routes.
pub fn router(config: FrontConfig) -> Router {
    let agent = ureq::AgentBuilder::new()
        .timeout(config.peer_timeout)
        .build();
    let state = Arc::new(Front { config, agent });
    Router::new()
        .route("/ready", get(|| async { "ready" }))
        .fallback(handle)
        .with_state(state)
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// Answers one request and logs it as the nodes' server does (method, path without the
/// query string, status, latency), plus how many nodes failed to answer.
async fn handle(State(front): State<Arc<Front>>, req: Request) -> Response {
    let started = std::time::Instant::now();
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let r = answer(front, req).await;
    let failed = r
        .headers()
        .get("x-spandb-failed-nodes")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = r.status().as_u16();
    if status >= 500 || failed > 0 {
        tracing::warn!(%method, path, status, latency_ms, failed_nodes = failed, "request");
    } else {
        tracing::info!(%method, path, status, latency_ms, "request");
    }
    r
}

async fn answer(front: Arc<Front>, req: Request) -> Response {
    let auth = req.headers().get(header::AUTHORIZATION).cloned();
    if let Some(token) = &front.config.token {
        let ok = auth
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| t == token);
        if !ok {
            return error(StatusCode::UNAUTHORIZED, "a bearer token is required");
        }
    }
    if req.method() != axum::http::Method::GET {
        return error(StatusCode::METHOD_NOT_ALLOWED, "the front answers GET only");
    }
    let path = req.uri().path().to_owned();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| path.clone());
    let Some(kind) = Kind::of(&path) else {
        return error(
            StatusCode::NOT_FOUND,
            "the front answers Tempo's and Jaeger's query APIs only",
        );
    };
    let params: BTreeMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            url_pairs(q)
                .into_iter()
                .collect::<BTreeMap<String, String>>()
        })
        .unwrap_or_default();
    if let Kind::Metrics { instant } = kind {
        return metrics(&front, &params, instant, auth).await;
    }
    // A node's graph carries every edge with its latency sketches, which the merge adds up.
    let path_and_query = match kind {
        Kind::Graph => format!(
            "{path}?{}",
            query_string(params.iter().filter(|(k, _)| k.as_str() != "latency_state"))
                + "&latency_state=true"
        ),
        _ => path_and_query,
    };
    let answers = fan_out(&front, &path_and_query, auth).await;
    let (ok, failed) = match collect(&front, &kind, answers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let merged = merge(&kind, &params, ok);
    finish(&front, &kind, merged, failed)
}

/// A node that did not answer, and why.
type FailedNode = (String, String);

/// Sorts the nodes' answers into those to merge and the nodes that failed; a response when
/// there is nothing to merge (a 4xx passed on, 502 when no node answered, 404 for a trace
/// no node has).
#[allow(clippy::result_large_err)]
fn collect(
    front: &Front,
    kind: &Kind,
    answers: Vec<Answer>,
) -> Result<(Vec<Value>, Vec<FailedNode>), Response> {
    let mut ok: Vec<Value> = Vec::new();
    let mut failed: Vec<(String, String)> = Vec::new();
    let mut not_found = 0;
    for (node, answer) in front.config.peers.iter().zip(answers) {
        match answer {
            Answer::Ok(200, body) => match serde_json::from_slice::<Value>(&body) {
                Ok(v) => ok.push(v),
                Err(e) => failed.push((node.clone(), format!("answer is not JSON: {e}"))),
            },
            Answer::Ok(404, _) if kind.is_trace() => not_found += 1,
            Answer::Ok(status, body) if (400..500).contains(&status) => {
                // The request itself is wrong: every node says so; pass it on.
                let mut r = Response::new(Body::from(body));
                *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                return Err(r);
            }
            Answer::Ok(status, _) => failed.push((node.clone(), format!("answered {status}"))),
            Answer::Failed(e) => failed.push((node.clone(), e)),
        }
    }
    if ok.is_empty() && not_found == 0 {
        let detail: Vec<String> = failed.iter().map(|(n, e)| format!("{n}: {e}")).collect();
        return Err(error(
            StatusCode::BAD_GATEWAY,
            &format!("no node answered ({})", detail.join("; ")),
        ));
    }
    if ok.is_empty() && failed.is_empty() {
        return Err(error(StatusCode::NOT_FOUND, "trace not found on any node"));
    }
    Ok((ok, failed))
}

/// The merged answer, saying which nodes did not answer.
fn finish(
    front: &Front,
    kind: &Kind,
    mut merged: Value,
    failed: Vec<(String, String)>,
) -> Response {
    if merged.is_null() {
        return error(
            StatusCode::NOT_FOUND,
            "trace not found on the nodes that answered",
        );
    }
    let n_failed = failed.len();
    if n_failed > 0 {
        if let Some(o) = merged.as_object_mut() {
            if kind.is_jaeger() {
                let errors: Vec<Value> = failed
                    .iter()
                    .map(|(n, e)| json!({"code": 503, "msg": format!("node {n} did not answer: {e}")}))
                    .collect();
                o.insert("errors".into(), Value::Array(errors));
            } else {
                let list: Vec<Value> = failed
                    .iter()
                    .map(|(n, e)| json!({"node": n, "error": e}))
                    .collect();
                o.insert(
                    "spandbFront".into(),
                    json!({"nodes": front.config.peers.len(), "failed": list}),
                );
            }
        }
    }
    let mut r = axum::Json(merged).into_response();
    if n_failed > 0 {
        r.headers_mut()
            .insert("x-spandb-failed-nodes", HeaderValue::from(n_failed));
    }
    r
}

/// Percent-encodes a query-string value.
fn url_encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len() * 3);
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `k=v&...`, percent-encoded.
fn query_string<'a>(pairs: impl Iterator<Item = (&'a String, &'a String)>) -> String {
    pairs
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A TraceQL metrics query (range or instant) merged exactly: every node returns the
/// mergeable state of the same window (`/api/spandb/metrics/state`: per series and step the
/// span count, duration sum, min/max, histogram buckets and quantile sketch), the front merges
/// the states as a node merges its blocks' and finishes the series with the node's code. So
/// counts, rates, sums, averages, min/max, histograms and quantiles are what one node holding
/// every span answers (quantiles within the sketch's own bound, the same as a node's).
async fn metrics(
    front: &Arc<Front>,
    params: &BTreeMap<String, String>,
    instant: bool,
    auth: Option<HeaderValue>,
) -> Response {
    let kind = Kind::Metrics { instant };
    let q = params
        .get("q")
        .or(params.get("query"))
        .cloned()
        .unwrap_or_default();
    let query = match spandb::query::parse(&q) {
        Ok(query) => query,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if let Some(why) = query.pipeline.as_ref().and_then(|p| unmerged(&p.func)) {
        return error(StatusCode::NOT_IMPLEMENTED, why);
    }
    let mut node_params = params.clone();
    // Exemplars are sample spans, not state: the merged answer has none.
    node_params.remove("exemplars");
    // Every node must cover the same window: an open end is the front's now, not each node's.
    if node_params.get("end").is_none_or(|e| e.is_empty()) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        node_params.insert("end".into(), now.to_string());
    }
    if instant {
        node_params.insert("instant".into(), "true".into());
    }
    let path = format!(
        "/api/spandb/metrics/state?{}",
        query_string(node_params.iter())
    );
    let answers = fan_out(front, &path, auth).await;
    let (ok, failed) = match collect(front, &kind, answers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut states = Vec::with_capacity(ok.len());
    for v in ok {
        match serde_json::from_value::<spandb::MetricsState>(v) {
            Ok(s) => states.push(s),
            Err(e) => {
                return error(
                    StatusCode::BAD_GATEWAY,
                    &format!("a node answered an invalid metrics state: {e}"),
                )
            }
        }
    }
    let result = match spandb::query::metrics_from_states(&query, states) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_GATEWAY,
                &format!("merging the nodes' metrics states: {e}"),
            )
        }
    };
    let body = if instant {
        serde_json::to_value(QueryInstantResponse::new(&result))
    } else {
        serde_json::to_value(QueryRangeResponse::new(&result))
    };
    match body {
        Ok(body) => finish(front, &kind, body, failed),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// Why the front does not merge a metrics function, for the one it does not.
fn unmerged(func: &MetricsFn) -> Option<&'static str> {
    match func {
        MetricsFn::Compare { .. } => Some(
            "the front does not merge compare(): each node ranks its own top attribute values, \
             and its state is not exported yet; query a node",
        ),
        _ => None,
    }
}

/// Sends `path_and_query` to every node at once; answers in node order.
async fn fan_out(
    front: &Arc<Front>,
    path_and_query: &str,
    auth: Option<HeaderValue>,
) -> Vec<Answer> {
    let mut tasks = Vec::new();
    for peer in &front.config.peers {
        let url = format!("{}{path_and_query}", peer.trim_end_matches('/'));
        let agent = front.agent.clone();
        let auth = auth.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            let mut req = agent.get(&url).set("Accept", "application/json");
            if let Some(a) = auth.as_ref().and_then(|a| a.to_str().ok()) {
                req = req.set("Authorization", a);
            }
            let resp = match req.call() {
                Ok(r) => r,
                Err(ureq::Error::Status(_, r)) => r,
                Err(e) => return Answer::Failed(e.to_string()),
            };
            let status = resp.status();
            let mut body = Vec::new();
            match resp
                .into_reader()
                .take(MAX_NODE_BODY)
                .read_to_end(&mut body)
            {
                Ok(_) => Answer::Ok(status, body),
                Err(e) => Answer::Failed(format!("reading the answer: {e}")),
            }
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(
            t.await
                .unwrap_or_else(|e| Answer::Failed(format!("task failed: {e}"))),
        );
    }
    out
}

/// What a path asks for, which decides how answers merge.
enum Kind {
    TraceV1,
    TraceV2,
    Search,
    TagsV1,
    TagsV2,
    TagValuesV1,
    TagValuesV2,
    Metrics { instant: bool },
    JaegerList,
    JaegerTrace,
    JaegerFind,
    JaegerDependencies,
    Graph,
}

impl Kind {
    fn of(path: &str) -> Option<Kind> {
        let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
        Some(match seg.as_slice() {
            ["api", "traces", _] => Kind::TraceV1,
            ["api", "v2", "traces", _] => Kind::TraceV2,
            ["api", "search"] => Kind::Search,
            ["api", "search", "tags"] => Kind::TagsV1,
            ["api", "v2", "search", "tags"] => Kind::TagsV2,
            ["api", "search", "tag", _, "values"] => Kind::TagValuesV1,
            ["api", "v2", "search", "tag", _, "values"] => Kind::TagValuesV2,
            ["api", "metrics", "query_range"] => Kind::Metrics { instant: false },
            ["api", "metrics", "query"] => Kind::Metrics { instant: true },
            ["jaeger", "api", "services"]
            | ["jaeger", "api", "services", _, "operations"]
            | ["jaeger", "api", "operations"] => Kind::JaegerList,
            ["jaeger", "api", "traces"] => Kind::JaegerFind,
            ["jaeger", "api", "traces", _] => Kind::JaegerTrace,
            ["jaeger", "api", "dependencies"] => Kind::JaegerDependencies,
            ["api", "spandb", "graph"] => Kind::Graph,
            _ => return None,
        })
    }

    fn is_trace(&self) -> bool {
        matches!(self, Kind::TraceV1 | Kind::TraceV2 | Kind::JaegerTrace)
    }

    fn is_jaeger(&self) -> bool {
        matches!(
            self,
            Kind::JaegerList | Kind::JaegerTrace | Kind::JaegerFind | Kind::JaegerDependencies
        )
    }
}

fn limit(params: &BTreeMap<String, String>, default: usize) -> usize {
    params
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(default)
}

fn merge(kind: &Kind, params: &BTreeMap<String, String>, answers: Vec<Value>) -> Value {
    match kind {
        Kind::TraceV1 => {
            let batches = dedup_resource_spans(
                answers
                    .into_iter()
                    .flat_map(|mut a| take_array(&mut a, &["batches"])),
            );
            if batches.is_empty() {
                return Value::Null;
            }
            json!({ "batches": batches })
        }
        Kind::TraceV2 => {
            let rs = dedup_resource_spans(
                answers
                    .into_iter()
                    .flat_map(|mut a| take_array(&mut a, &["trace", "resourceSpans"])),
            );
            if rs.is_empty() {
                return Value::Null;
            }
            json!({ "trace": { "resourceSpans": rs } })
        }
        Kind::Search => {
            let mut inspected = 0u64;
            let mut seen = HashSet::new();
            let mut traces = Vec::new();
            for mut a in answers {
                inspected += a
                    .pointer("/metrics/inspectedTraces")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                for t in take_array(&mut a, &["traces"]) {
                    let id = t
                        .get("traceID")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned();
                    if seen.insert(id) {
                        traces.push(t);
                    }
                }
            }
            let start = |t: &Value| -> u128 {
                t.get("startTimeUnixNano")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0)
            };
            traces.sort_by(|a, b| {
                start(b).cmp(&start(a)).then_with(|| {
                    a.get("traceID")
                        .and_then(Value::as_str)
                        .cmp(&b.get("traceID").and_then(Value::as_str))
                })
            });
            traces.truncate(limit(params, 20));
            json!({ "traces": traces, "metrics": { "inspectedTraces": inspected } })
        }
        Kind::TagsV1 => json!({ "tagNames": union_strings(answers, "tagNames") }),
        Kind::TagValuesV1 => json!({ "tagValues": union_strings(answers, "tagValues") }),
        Kind::TagValuesV2 => {
            let mut set = BTreeSet::new();
            for mut a in answers {
                for v in take_array(&mut a, &["tagValues"]) {
                    set.insert(v.to_string());
                }
            }
            let values: Vec<Value> = set
                .into_iter()
                .filter_map(|s| serde_json::from_str(&s).ok())
                .collect();
            json!({ "tagValues": values })
        }
        Kind::TagsV2 => {
            // Names per scope: sorted unions; the fixed intrinsic list keeps its order.
            let mut scopes: Vec<(String, Vec<String>)> = Vec::new();
            for mut a in answers {
                for s in take_array(&mut a, &["scopes"]) {
                    let name = s
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned();
                    let idx = match scopes.iter().position(|(n, _)| *n == name) {
                        Some(i) => i,
                        None => {
                            scopes.push((name, Vec::new()));
                            scopes.len() - 1
                        }
                    };
                    let Some((_, tags)) = scopes.get_mut(idx) else {
                        continue;
                    };
                    for t in s
                        .get("tags")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if let Some(t) = t.as_str() {
                            if !tags.iter().any(|x| x == t) {
                                tags.push(t.to_owned());
                            }
                        }
                    }
                }
            }
            let list: Vec<Value> = scopes
                .into_iter()
                .map(|(n, mut tags)| {
                    if n != "intrinsic" {
                        tags.sort();
                    }
                    json!({"name": n, "tags": tags})
                })
                .collect();
            json!({ "scopes": list })
        }
        // Merged from the nodes' states by `metrics`, never here.
        Kind::Metrics { .. } => Value::Null,
        Kind::JaegerList => {
            let mut set = BTreeSet::new();
            for mut a in answers {
                for v in take_array(&mut a, &["data"]) {
                    set.insert(v.to_string());
                }
            }
            let data: Vec<Value> = set
                .into_iter()
                .filter_map(|s| serde_json::from_str(&s).ok())
                .collect();
            jaeger_envelope(data)
        }
        Kind::JaegerTrace => {
            let traces: Vec<Value> = answers
                .into_iter()
                .flat_map(|mut a| take_array(&mut a, &["data"]))
                .collect();
            match merge_jaeger_traces(traces).into_iter().next() {
                Some(t) => jaeger_envelope(vec![t]),
                None => Value::Null,
            }
        }
        Kind::JaegerFind => {
            let traces: Vec<Value> = answers
                .into_iter()
                .flat_map(|mut a| take_array(&mut a, &["data"]))
                .collect();
            let mut merged = merge_jaeger_traces(traces);
            let newest = |t: &Value| -> u64 {
                t.get("spans")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.get("startTime").and_then(Value::as_u64))
                    .min()
                    .unwrap_or(0)
            };
            merged.sort_by_key(|t| std::cmp::Reverse(newest(t)));
            merged.truncate(limit(params, 20));
            jaeger_envelope(merged)
        }
        Kind::JaegerDependencies => jaeger_envelope(front_graph::merge_dependencies(answers)),
        Kind::Graph => front_graph::merge_graphs(
            answers,
            limit(params, 500),
            params.get("latency_state").is_some_and(|v| v == "true"),
        ),
    }
}

fn jaeger_envelope(data: Vec<Value>) -> Value {
    let n = data.len();
    json!({ "data": data, "total": n, "limit": 0, "offset": 0, "errors": null })
}

fn take_array(v: &mut Value, path: &[&str]) -> Vec<Value> {
    let mut cur = v;
    for p in path {
        match cur.get_mut(*p) {
            Some(next) => cur = next,
            None => return Vec::new(),
        }
    }
    match cur.take() {
        Value::Array(a) => a,
        _ => Vec::new(),
    }
}

fn union_strings(answers: Vec<Value>, key: &str) -> Vec<String> {
    let mut set = BTreeSet::new();
    for mut a in answers {
        for v in take_array(&mut a, &[key]) {
            if let Value::String(s) = v {
                set.insert(s);
            }
        }
    }
    set.into_iter().collect()
}

/// OTLP JSON resource spans of several nodes, each span once (by trace and span id).
fn dedup_resource_spans(all: impl Iterator<Item = Value>) -> Vec<Value> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for mut rs in all {
        let mut scopes = Vec::new();
        for mut ss in take_array(&mut rs, &["scopeSpans"]) {
            let spans: Vec<Value> = take_array(&mut ss, &["spans"])
                .into_iter()
                .filter(|s| {
                    let key = (
                        s.get("traceId")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                        s.get("spanId")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                    );
                    seen.insert(key)
                })
                .collect();
            if !spans.is_empty() {
                if let Some(o) = ss.as_object_mut() {
                    o.insert("spans".into(), Value::Array(spans));
                }
                scopes.push(ss);
            }
        }
        if !scopes.is_empty() {
            if let Some(o) = rs.as_object_mut() {
                o.insert("scopeSpans".into(), Value::Array(scopes));
            }
            out.push(rs);
        }
    }
    out
}

/// Jaeger traces from several nodes: one per trace id, spans deduplicated by span id, process
/// keys renamed per node so that they cannot collide.
/// A trace being merged: spans, processes, span ids seen.
type JaegerParts = (Vec<Value>, serde_json::Map<String, Value>, HashSet<String>);

fn merge_jaeger_traces(traces: Vec<Value>) -> Vec<Value> {
    let mut by_id: BTreeMap<String, JaegerParts> = BTreeMap::new();
    let mut order = Vec::new();
    for (i, mut t) in traces.into_iter().enumerate() {
        let id = t
            .get("traceID")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if !by_id.contains_key(&id) {
            order.push(id.clone());
        }
        let entry = by_id.entry(id).or_default();
        let procs = match t.get_mut("processes").map(Value::take) {
            Some(Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        for (k, v) in procs {
            entry.1.insert(format!("n{i}-{k}"), v);
        }
        for mut s in take_array(&mut t, &["spans"]) {
            let sid = s
                .get("spanID")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            if !entry.2.insert(sid) {
                continue;
            }
            if let Some(p) = s
                .get("processID")
                .and_then(Value::as_str)
                .map(str::to_owned)
            {
                if let Some(o) = s.as_object_mut() {
                    o.insert("processID".into(), Value::String(format!("n{i}-{p}")));
                }
            }
            entry.0.push(s);
        }
    }
    order
        .into_iter()
        .filter_map(|id| {
            let (spans, processes, _) = by_id.remove(&id)?;
            Some(json!({"traceID": id, "spans": spans, "processes": processes, "warnings": null}))
        })
        .collect()
}

/// `a=b&c=d` with percent-decoding (`+` as space).
fn url_pairs(q: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            match b {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = bytes
                        .get(i + 1..i + 3)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    match hex {
                        Some(v) => {
                            out.push(v);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                other => out.push(other),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_spans_are_deduplicated_by_span_id() {
        let node = |ids: &[&str]| {
            json!({"batches": [{"resource": {}, "scopeSpans": [{"scope": {}, "spans":
                ids.iter().map(|i| json!({"traceId": "t", "spanId": i})).collect::<Vec<_>>()}]}]})
        };
        let m = merge(
            &Kind::TraceV1,
            &BTreeMap::new(),
            vec![node(&["a", "b"]), node(&["b", "c"])],
        );
        let spans: Vec<&str> = m["batches"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|rs| rs["scopeSpans"][0]["spans"].as_array().unwrap().iter())
            .map(|s| s["spanId"].as_str().unwrap())
            .collect();
        assert_eq!(spans, vec!["a", "b", "c"]);
    }

    #[test]
    fn query_strings_are_decoded() {
        assert_eq!(
            url_pairs("q=%7B+status+%3D+error+%7D&limit=5"),
            vec![
                ("q".into(), "{ status = error }".into()),
                ("limit".into(), "5".into())
            ]
        );
    }
}
