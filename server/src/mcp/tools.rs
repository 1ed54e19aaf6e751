//! The MCP tools: each reads its arguments (JSON schema from [`super::args`]), runs the
//! facade on the blocking pool within the query bound and timeout ([`crate::http::query`]),
//! and answers one JSON text block of bounded size. A failure (a bad TraceQL query, an
//! unknown trace, a timeout) is a tool error carrying the message, so the model can correct
//! itself; internal details never leave the server.

use std::collections::BTreeMap;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{tool, tool_handler, tool_router, ErrorData, ServerHandler};
use serde_json::{json, Value};
use spandb::render::table::{format_duration, format_time};
use spandb::{MetricsRequest, TagScope, TimeRange};

use super::args::{
    bounded, duration_ns, now_ns, AnomaliesArgs, AttributeNamesArgs, AttributeValuesArgs,
    ErrorGroupsArgs, GetTraceArgs, GroupBy, RedMetricsArgs, ScopeArg, SearchArgs, ServiceGraphArgs,
};
use super::trace_summary::{clip, trace_summary};
use crate::http::{query, AppState};

/// Largest answer, in bytes of JSON text; the per-tool limits keep answers well below it.
const MAX_OUTPUT: usize = 200_000;
/// The window `anomalies` looks at without a range: the last hour of the data.
const DEFAULT_ANOMALY_WINDOW_NS: u64 = 3_600_000_000_000;

const INSTRUCTIONS: &str = "spandb holds distributed-tracing spans (OpenTelemetry). Start with \
red_metrics or service_graph for an overview, error_groups and anomalies for what went wrong, \
search_traces (TraceQL) to find traces and get_trace to read one. Time ranges: `since` (\"1h\") \
or `start`/`end` (RFC 3339 or Unix ns); without one, tools look at everything stored \
(anomalies: the last hour of data). Durations in answers are human-readable (12.3ms).";

/// The MCP server of one `spandb serve`: a handle on the shared state. (The tool table is
/// built by `#[tool_handler]` from the `#[tool_router]` block.)
#[derive(Clone)]
pub struct SpandbMcp {
    state: AppState,
}

type ToolResult = Result<CallToolResult, ErrorData>;

/// A tool error: the message, for the model to read.
fn failed(message: impl Into<String>) -> ToolResult {
    Ok(CallToolResult::error(vec![ContentBlock::text(
        message.into(),
    )]))
}

/// A successful answer: `value` as JSON text, cut at [`MAX_OUTPUT`] bytes.
fn answer(value: Value) -> ToolResult {
    let text = serde_json::to_string_pretty(&value).unwrap_or_else(|_| "null".into());
    let text = if text.len() > MAX_OUTPUT {
        format!(
            "{}\n… (answer cut at {MAX_OUTPUT} bytes; ask for fewer items or a narrower range)",
            clip(&text, MAX_OUTPUT)
        )
    } else {
        text
    };
    Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
}

/// Runs `f` on the database as the HTTP API does; its error becomes a tool error.
async fn run<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&spandb::Db) -> spandb::Result<T> + Send + 'static,
) -> Result<T, String> {
    query(state, f).await.map_err(|e| e.message)
}

/// `?` for a `Result<_, String>` inside a tool: the error becomes the tool's answer.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(message) => return failed(message),
        }
    };
}

fn ns_f(seconds: f64) -> String {
    format_duration((seconds.max(0.0) * 1e9) as u64)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Drops per-minute series and cuts arrays to `max` items, recursively: the shape of an
/// analysis kept, its bulk left out.
fn trimmed(mut v: Value, max: usize) -> Value {
    match &mut v {
        Value::Object(o) => {
            o.remove("per_minute");
            for (_, x) in o.iter_mut() {
                *x = trimmed(x.take(), max);
            }
        }
        Value::Array(a) => {
            a.truncate(max);
            for x in a.iter_mut() {
                *x = trimmed(x.take(), max);
            }
        }
        Value::String(s) if s.len() > 500 => *s = clip(s, 500),
        _ => {}
    }
    v
}

#[tool_router]
impl SpandbMcp {
    pub fn new(state: AppState) -> Self {
        SpandbMcp { state }
    }

    #[tool(
        description = "Find traces with a TraceQL spanset filter, newest first. Returns per trace: \
        trace_id, root service and span name, start time, duration, span count and up to 3 \
        matching spans. Examples: `{ status = error }`, `{ duration > 500ms }`, \
        `{ resource.service.name = \"checkout\" && .http.route = \"/pay\" }`, \
        `{ name =~ \"GET.*\" } && { kind = client }`. Follow up with get_trace."
    )]
    async fn search_traces(&self, Parameters(args): Parameters<SearchArgs>) -> ToolResult {
        let q = args
            .query
            .filter(|q| !q.trim().is_empty())
            .unwrap_or_else(|| "{}".into());
        let range = tri!(args.range.range()).unwrap_or(TimeRange::ALL);
        let limit = bounded(args.limit, 20, 100);
        let traces = tri!(run(&self.state, move |db| db.search(q.as_str(), range, limit)).await);
        let traces: Vec<Value> = traces
            .iter()
            .map(|t| {
                json!({
                    "trace_id": t.trace_id.to_string(),
                    "root_service": t.root_service,
                    "root_name": t.root_name,
                    "start": format_time(t.start_ns),
                    "duration": format_duration(t.duration_ns),
                    "span_count": t.span_count,
                    "matched_spans": t.matched.len(),
                    "matched": t.matched.iter().take(3).map(|m| json!({
                        "span_id": m.span_id.to_string(),
                        "service": m.service,
                        "name": clip(&m.name, 200),
                        "duration": format_duration(m.duration_ns),
                        "error": m.status == spandb::StatusCode::Error,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        answer(json!({ "count": traces.len(), "traces": traces }))
    }

    #[tool(
        description = "Read one trace as a summary: root span, duration, services, the explain \
        sentences (how slow it is against its usual, where the time went, what failed and where \
        it started), the critical path with each operation's share, the error spans with their \
        exception, and the span tree (indented, critical-path spans marked *) trimmed to \
        max_spans."
    )]
    async fn get_trace(&self, Parameters(args): Parameters<GetTraceArgs>) -> ToolResult {
        let trace_id = tri!(crate::tempo::parse_trace_id(&args.trace_id).map_err(|e| e.message));
        let max_spans = bounded(args.max_spans, 40, 300);
        let found = tri!(
            run(&self.state, move |db| {
                let snap = db.snapshot()?;
                let tree = snap.trace_tree(&trace_id)?;
                let path = snap.critical_path(&trace_id)?;
                let explanation = snap.explain(&trace_id)?;
                Ok(trace_summary(&tree, &path, &explanation, max_spans))
            })
            .await
        );
        answer(found)
    }

    #[tool(
        description = "The service graph: services, databases, queues and external peers (nodes) \
        and the calls between them (edges: client -> server, calls, errors, error rate, p50/p99 \
        latency), busiest edges first. Optionally only the traces a TraceQL filter matches."
    )]
    async fn service_graph(&self, Parameters(args): Parameters<ServiceGraphArgs>) -> ToolResult {
        let range = tri!(args.range.range()).unwrap_or(TimeRange::ALL);
        let limit = bounded(args.limit, 100, 500);
        let filter = args.filter.filter(|f| !f.trim().is_empty());
        let graph = tri!(
            run(&self.state, move |db| db
                .service_graph(range, filter.as_deref()))
            .await
        );
        let mut edges = graph.edges.clone();
        edges.sort_by_key(|e| std::cmp::Reverse(e.calls));
        let total = edges.len();
        let edges: Vec<Value> = edges
            .iter()
            .take(limit)
            .map(|e| {
                let latency = e.server_latency.as_ref().or(e.client_latency.as_ref());
                json!({
                    "client": e.client,
                    "server": e.server,
                    "server_kind": e.server_kind,
                    "kind": e.kind,
                    "calls": e.calls,
                    "errors": e.errors,
                    "error_rate": round3(e.error_ratio()),
                    "p50": latency.map(|l| format_duration(l.p50_ns as u64)),
                    "p99": latency.map(|l| format_duration(l.p99_ns as u64)),
                })
            })
            .collect();
        let nodes: Vec<Value> = graph
            .nodes
            .iter()
            .take(limit)
            .map(|n| json!({ "name": n.name, "kind": n.kind, "calls_in": n.calls_in, "errors_in": n.errors_in }))
            .collect();
        answer(json!({
            "start": format_time(graph.start_ns),
            "end": format_time(graph.end_ns),
            "node_count": graph.nodes.len(),
            "edge_count": total,
            "nodes": nodes,
            "edges": edges,
        }))
    }

    #[tool(
        description = "RED metrics over a time range: per service (or per service and operation) \
        the span count, rate per second, error count and ratio, and p50/p99 duration, busiest \
        first. Use filter `{ kind = server }` for inbound requests only."
    )]
    async fn red_metrics(&self, Parameters(args): Parameters<RedMetricsArgs>) -> ToolResult {
        let asked = tri!(args.range.range());
        let limit = bounded(args.limit, 50, 500);
        let filter = args
            .filter
            .filter(|f| !f.trim().is_empty())
            .unwrap_or_else(|| "{}".into());
        let by = match args.group_by {
            GroupBy::Service => "resource.service.name",
            GroupBy::Operation => "resource.service.name, name",
        };
        let counts_q = format!("{filter} | count_over_time() by ({by}, status)");
        let quantiles_q = format!("{filter} | quantile_over_time(duration, .5, .99) by ({by})");
        let found = tri!(
            run(&self.state, move |db| {
                let snap = db.snapshot()?;
                let Some(data) = snap.time_range() else {
                    return Ok(None);
                };
                let window = match asked {
                    Some(r) => TimeRange::new(r.start_ns, r.end_ns.min(now_ns().max(data.end_ns))),
                    None => data,
                };
                if window.end_ns <= window.start_ns {
                    return Ok(None);
                }
                let req = MetricsRequest {
                    start_ns: window.start_ns,
                    end_ns: window.end_ns,
                    step_ns: window.end_ns - window.start_ns,
                };
                let counts = snap.metrics(counts_q.as_str(), req)?;
                let quantiles = snap.metrics(quantiles_q.as_str(), req)?;
                Ok(Some((window, counts, quantiles)))
            })
            .await
        );
        let Some((window, counts, quantiles)) = found else {
            return answer(json!({ "rows": [], "note": "no spans in the range" }));
        };
        #[derive(Default)]
        struct Row {
            spans: f64,
            errors: f64,
            p50: Option<f64>,
            p99: Option<f64>,
        }
        let key_of = |labels: &[(String, spandb::LabelValue)]| {
            let get = |name: &str| {
                labels
                    .iter()
                    .find(|(k, _)| k == name || k.ends_with(&format!(".{name}")))
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_default()
            };
            (get("service.name"), get("name"))
        };
        let label = |labels: &[(String, spandb::LabelValue)], name: &str| {
            labels
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.to_string())
        };
        let mut rows: BTreeMap<(String, String), Row> = BTreeMap::new();
        for s in &counts.series {
            let n: f64 = s.samples.iter().map(|(_, v)| v).sum();
            let row = rows.entry(key_of(&s.labels)).or_default();
            row.spans += n;
            if label(&s.labels, "status").as_deref() == Some("error") {
                row.errors += n;
            }
        }
        for s in &quantiles.series {
            let Some(v) = s.samples.first().map(|(_, v)| *v) else {
                continue;
            };
            let row = rows.entry(key_of(&s.labels)).or_default();
            match label(&s.labels, "p").and_then(|p| p.parse::<f64>().ok()) {
                Some(p) if (p - 0.5).abs() < 1e-9 => row.p50 = Some(v),
                Some(p) if (p - 0.99).abs() < 1e-9 => row.p99 = Some(v),
                _ => {}
            }
        }
        let seconds = (window.end_ns - window.start_ns) as f64 / 1e9;
        let mut rows: Vec<_> = rows.into_iter().filter(|(_, r)| r.spans > 0.0).collect();
        rows.sort_by(|a, b| b.1.spans.total_cmp(&a.1.spans));
        let total = rows.len();
        let out: Vec<Value> = rows
            .iter()
            .take(limit)
            .map(|((service, operation), r)| {
                let mut o = json!({
                    "service": service,
                    "spans": r.spans as u64,
                    "rate_per_s": round3(r.spans / seconds),
                    "errors": r.errors as u64,
                    "error_ratio": round3(if r.spans > 0.0 { r.errors / r.spans } else { 0.0 }),
                    "p50": r.p50.map(ns_f),
                    "p99": r.p99.map(ns_f),
                });
                if args.group_by == GroupBy::Operation {
                    o["operation"] = json!(operation);
                }
                o
            })
            .collect();
        answer(json!({
            "start": format_time(window.start_ns),
            "end": format_time(window.end_ns),
            "row_count": total,
            "rows": out,
        }))
    }

    #[tool(
        description = "Error spans grouped by service, exception type and message template, \
        largest first: count, traces, first/last seen, operations, where the error originated \
        and which services it propagated to, sample trace ids (for get_trace). With `baseline` \
        (e.g. \"24h\"), groups absent from the period before the range are flagged new."
    )]
    async fn error_groups(&self, Parameters(args): Parameters<ErrorGroupsArgs>) -> ToolResult {
        let range = tri!(args.range.range()).unwrap_or(TimeRange::ALL);
        let baseline = match args.baseline.as_deref().filter(|b| !b.trim().is_empty()) {
            Some(b) => {
                let b = tri!(duration_ns(b));
                if range.start_ns == 0 {
                    return failed("a baseline needs a range (since, or start) to come before");
                }
                Some(TimeRange::new(
                    range.start_ns.saturating_sub(b),
                    range.start_ns,
                ))
            }
            None => None,
        };
        let limit = bounded(args.limit, 20, 100);
        let groups = tri!(run(&self.state, move |db| db.error_groups(range, baseline)).await);
        let total = groups.groups.len();
        let list: Vec<Value> = groups
            .groups
            .iter()
            .take(limit)
            .map(|g| {
                let mut v = trimmed(serde_json::to_value(g).unwrap_or(Value::Null), 5);
                if let Some(o) = v.as_object_mut() {
                    o.insert("first_seen".into(), json!(format_time(g.first_seen_ns)));
                    o.insert("last_seen".into(), json!(format_time(g.last_seen_ns)));
                    o.remove("first_seen_ns");
                    o.remove("last_seen_ns");
                }
                v
            })
            .collect();
        answer(json!({
            "error_spans": groups.error_spans,
            "group_count": total,
            "groups": list,
        }))
    }

    #[tool(
        description = "Incidents: error-rate, latency and traffic deviations per operation in a \
        window against a baseline, grouped into incidents localized to the operation where they \
        started, with affected services, attribute values over-represented in the anomalous spans \
        and sample trace ids. Default window: the last hour of stored data."
    )]
    async fn anomalies(&self, Parameters(args): Parameters<AnomaliesArgs>) -> ToolResult {
        let asked = tri!(args.range.range());
        let baseline = match args.baseline.as_deref().filter(|b| !b.trim().is_empty()) {
            Some(b) => Some(tri!(duration_ns(b))),
            None => None,
        };
        let limit = bounded(args.limit, 10, 50);
        let found = tri!(
            run(&self.state, move |db| {
                let window = match asked {
                    Some(r) => r,
                    None => {
                        let Some(data) = db.snapshot()?.time_range() else {
                            return Ok(None);
                        };
                        TimeRange::new(
                            data.end_ns
                                .saturating_sub(DEFAULT_ANOMALY_WINDOW_NS)
                                .max(data.start_ns),
                            data.end_ns,
                        )
                    }
                };
                let baseline = baseline
                    .map(|b| TimeRange::new(window.start_ns.saturating_sub(b), window.start_ns));
                db.anomalies(window, baseline).map(Some)
            })
            .await
        );
        let Some(found) = found else {
            return answer(json!({ "incidents": [], "note": "the database holds no spans" }));
        };
        let incidents: Vec<Value> = found
            .incidents
            .iter()
            .take(limit)
            .map(|i| {
                let mut v = trimmed(serde_json::to_value(i).unwrap_or(Value::Null), 10);
                if let Some(o) = v.as_object_mut() {
                    o.insert("start".into(), json!(format_time(i.start_ns)));
                    o.insert("end".into(), json!(format_time(i.end_ns)));
                }
                v
            })
            .collect();
        answer(json!({
            "window": [format_time(found.start_ns), format_time(found.end_ns)],
            "baseline": [format_time(found.baseline_start_ns), format_time(found.baseline_end_ns)],
            "incident_count": found.incidents.len(),
            "incidents": incidents,
        }))
    }

    #[tool(
        description = "The span and resource attribute names present in a time range, for \
        writing TraceQL (`.name` or `span.name` for span attributes, `resource.name` for \
        resource ones)."
    )]
    async fn attribute_names(
        &self,
        Parameters(args): Parameters<AttributeNamesArgs>,
    ) -> ToolResult {
        let range = tri!(args.range.range()).unwrap_or(TimeRange::ALL);
        let names = tri!(run(&self.state, move |db| db.tag_names(range)).await);
        let cap = |v: &[String]| v.iter().take(1000).cloned().collect::<Vec<_>>();
        answer(json!({
            "span": cap(&names.span),
            "resource": cap(&names.resource),
        }))
    }

    #[tool(
        description = "The distinct values of one attribute in a time range, sorted, e.g. key \
        \"service.name\" with scope \"resource\" lists the services; key \"http.route\" the \
        routes."
    )]
    async fn attribute_values(
        &self,
        Parameters(args): Parameters<AttributeValuesArgs>,
    ) -> ToolResult {
        let range = tri!(args.range.range()).unwrap_or(TimeRange::ALL);
        let limit = bounded(args.limit, 50, 1000);
        let key = args.key.trim().to_owned();
        if key.is_empty() {
            return failed("key must not be empty");
        }
        let scope = args.scope.map(|s| match s {
            ScopeArg::Span => TagScope::Span,
            ScopeArg::Resource => TagScope::Resource,
        });
        let values = tri!(
            run(&self.state, move |db| db
                .tag_values(scope, &key, range, limit))
            .await
        );
        let values: Vec<String> = values.iter().map(|v| clip(&v.text(), 500)).collect();
        answer(json!({ "key": args.key, "count": values.len(), "values": values }))
    }
}

#[tool_handler]
impl ServerHandler for SpandbMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("spandb", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }
}
