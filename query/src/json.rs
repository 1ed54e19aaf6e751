//! Grafana Tempo's HTTP API shapes, so tools written for Tempo can read spandb's output.
//!
//! Search (`/api/search`): `{"traces":[{"traceID","rootServiceName","rootTraceName",
//! "startTimeUnixNano","durationMs","spanSet":{"spans":[...],"matched":n}}]}`.
//! Metrics (`/api/metrics/query_range`): `{"series":[{"labels":[{"key","value":{...}}],
//! "promLabels","samples":[{"timestampMs","value"}]}]}`. As in Tempo (protobuf JSON), 64-bit
//! integers are strings.

use serde_json::{json, Value as Json};

use crate::exec::metrics::{LabelValue, MetricsResult};
use crate::exec::search::TraceSummary;

/// What Tempo reports when the root span has not arrived.
pub const ROOT_NOT_RECEIVED: &str = "<root span not yet received>";

/// The search response.
pub fn search_json(traces: &[TraceSummary]) -> Json {
    let traces: Vec<Json> = traces
        .iter()
        .map(|t| {
            let spans: Vec<Json> = t
                .matched
                .iter()
                .map(|s| {
                    json!({
                        "spanID": s.span_id.to_string(),
                        "name": s.name,
                        "startTimeUnixNano": s.start_ns.to_string(),
                        "durationNanos": s.duration_ns.to_string(),
                        "attributes": [
                            {"key": "service.name", "value": {"stringValue": s.service}},
                            {"key": "status", "value": {"stringValue": s.status.as_str()}},
                        ],
                    })
                })
                .collect();
            json!({
                "traceID": t.trace_id.to_string(),
                "rootServiceName": t.root_service.as_deref().unwrap_or(ROOT_NOT_RECEIVED),
                "rootTraceName": t.root_name.as_deref().unwrap_or(""),
                "startTimeUnixNano": t.start_ns.to_string(),
                "durationMs": t.duration_ns / 1_000_000,
                "spanSet": {"spans": spans, "matched": t.matched.len()},
                "spanSets": [{"spans": spans, "matched": t.matched.len()}],
            })
        })
        .collect();
    json!({ "traces": traces, "metrics": { "inspectedTraces": traces.len() } })
}

/// An OTLP `AnyValue` for a label.
fn any_value(v: &LabelValue) -> Json {
    match v {
        LabelValue::Str(s) => json!({ "stringValue": s }),
        LabelValue::Int(i) => json!({ "intValue": i.to_string() }),
        LabelValue::Float(x) => json!({ "doubleValue": x }),
        LabelValue::Bool(b) => json!({ "boolValue": b }),
        LabelValue::Nil => json!({}),
    }
}

fn prom_labels(labels: &[(String, LabelValue)]) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            format!(
                "{}=\"{}\"",
                k.replace(['.', ':', '-', '/'], "_"),
                v.to_string().replace('"', "\\\"")
            )
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// The query_range response.
pub fn metrics_json(result: &MetricsResult) -> Json {
    let series: Vec<Json> = result
        .series
        .iter()
        .map(|s| {
            let labels: Vec<Json> = s
                .labels
                .iter()
                .map(|(k, v)| json!({"key": k, "value": any_value(v)}))
                .collect();
            let samples: Vec<Json> = s
                .samples
                .iter()
                .map(|(t, v)| {
                    let value = if v.is_finite() { json!(v) } else { Json::Null };
                    json!({"timestampMs": (t / 1_000_000).to_string(), "value": value})
                })
                .collect();
            json!({"labels": labels, "promLabels": prom_labels(&s.labels), "samples": samples})
        })
        .collect();
    json!({ "series": series })
}
