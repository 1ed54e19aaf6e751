//! Jaeger's v3 API and `/api/dependencies` over real HTTP on loopback: services,
//! operations with their span kinds, a trace by id and a search answered as OTLP JSON in
//! Jaeger's `result` wrapper, errors in the gateway's shape, and the service graph's links
//! in the v1 envelope.

mod common;

use std::sync::Arc;

use common::{agent, json_of, send, Running};
use spandb::{KeyValue, Resource, Span, SpanId, SpanKind, StatusCode, TraceId, Value};
use spandb_server::ServerConfig;

/// An hour boundary in June 2025.
const T0: u64 = 1_750_000_000_000_000_000 - 1_750_000_000_000_000_000 % 3_600_000_000_000;

fn resource(service: &str) -> Arc<Resource> {
    Arc::new(Resource {
        attributes: vec![KeyValue::new("service.name", Value::Str(service.into()))],
        ..Resource::default()
    })
}

/// Trace `t`: frontend `GET /` (server) calls backend `query` over a client span; trace 2
/// fails in the backend.
fn call_trace(t: u8) -> Vec<Span> {
    let trace_id = TraceId([t; 16]);
    let start = T0 + u64::from(t) * 1_000_000_000;
    let span =
        |id: u8, parent: Option<u8>, service: &str, name: &str, kind, off: u64, len: u64| Span {
            trace_id,
            span_id: SpanId([t, id, 0, 0, 0, 0, 0, 1]),
            parent_span_id: parent.map(|p| SpanId([t, p, 0, 0, 0, 0, 0, 1])),
            name: name.into(),
            kind,
            start_ns: start + off,
            end_ns: start + off + len,
            status_code: if t == 2 && id == 3 {
                StatusCode::Error
            } else {
                StatusCode::Unset
            },
            resource: resource(service),
            attributes: vec![KeyValue::new("tenant", Value::Str(format!("t{}", t % 2)))],
            ..Span::default()
        };
    vec![
        span(
            1,
            None,
            "frontend",
            "GET /",
            SpanKind::Server,
            0,
            50_000_000,
        ),
        span(
            2,
            Some(1),
            "frontend",
            "call backend",
            SpanKind::Client,
            1_000_000,
            40_000_000,
        ),
        span(
            3,
            Some(2),
            "backend",
            "query",
            SpanKind::Server,
            2_000_000,
            30_000_000,
        ),
    ]
}

fn rfc3339(ns: u64) -> String {
    humantime::format_rfc3339_nanos(std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns))
        .to_string()
}

#[test]
fn jaeger_v3_and_dependencies_answer_in_jaegers_shapes() {
    let mut s = Running::start(ServerConfig::ephemeral());
    s.db.write((1..=3).flat_map(call_trace).collect()).unwrap();
    let http = agent();
    let get = |path: &str, query: &[(&str, &str)]| {
        let mut r = http.get(&s.query_url(path));
        for (k, v) in query {
            r = r.query(k, v);
        }
        send(r, None)
    };

    let (status, body) = get("/jaeger/api/v3/services", &[]);
    assert_eq!(status, 200);
    assert_eq!(
        json_of(&body),
        serde_json::json!({"services": ["backend", "frontend"]})
    );
    let (_, body) = get("/jaeger/api/v3/operations", &[("service", "frontend")]);
    assert_eq!(
        json_of(&body),
        serde_json::json!({"operations": [
            {"name": "GET /", "spanKind": "server"},
            {"name": "call backend", "spanKind": "client"},
        ]})
    );
    let (_, body) = get(
        "/jaeger/api/v3/operations",
        &[("service", "frontend"), ("span_kind", "client")],
    );
    assert_eq!(
        json_of(&body)["operations"],
        serde_json::json!([{"name": "call backend", "spanKind": "client"}])
    );

    // A trace by id: OTLP JSON with hex ids and numeric enums, in `result`.
    let id = TraceId([2; 16]).to_string();
    let (status, body) = get(&format!("/jaeger/api/v3/traces/{id}"), &[]);
    assert_eq!(status, 200);
    let doc = json_of(&body);
    let spans: Vec<&serde_json::Value> = doc["result"]["resourceSpans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rs| rs["scopeSpans"].as_array().unwrap())
        .flat_map(|ss| ss["spans"].as_array().unwrap())
        .collect();
    assert_eq!(spans.len(), 3, "{doc}");
    assert!(spans.iter().all(|sp| sp["traceId"] == id.as_str()), "{doc}");
    let failed = spans.iter().find(|sp| sp["name"] == "query").unwrap();
    assert_eq!(failed["kind"], 2, "{doc}");
    assert_eq!(failed["status"]["code"], 2, "{doc}");

    let (status, body) = get(
        "/jaeger/api/v3/traces/00000000000000000000000000000abc",
        &[],
    );
    assert_eq!(status, 404);
    assert_eq!(json_of(&body)["error"]["httpCode"], 404);
    let (status, body) = get("/jaeger/api/v3/traces/xyz", &[]);
    assert_eq!(status, 400);
    assert!(json_of(&body)["error"]["message"].is_string());

    // Search: camelCase and snake_case parameters, attributes, durations, depth.
    let (min, max) = (rfc3339(T0 - 1_000_000_000), rfc3339(T0 + 10_000_000_000));
    let found_traces = |doc: &serde_json::Value| -> Vec<String> {
        let mut ids: Vec<String> = doc["result"]["resourceSpans"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|rs| rs["scopeSpans"].as_array().unwrap())
            .flat_map(|ss| ss["spans"].as_array().unwrap())
            .map(|sp| sp["traceId"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let (status, body) = get(
        "/jaeger/api/v3/traces",
        &[
            ("query.serviceName", "backend"),
            ("query.startTimeMin", &min),
            ("query.startTimeMax", &max),
        ],
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(found_traces(&json_of(&body)).len(), 3);
    let (_, body) = get(
        "/jaeger/api/v3/traces",
        &[
            ("query.service_name", "frontend"),
            ("query.operation_name", "GET /"),
            ("query.attributes", r#"{"tenant":"t0"}"#),
            ("query.start_time_min", &min),
            ("query.start_time_max", &max),
            ("query.duration_min", "45ms"),
        ],
    );
    assert_eq!(
        found_traces(&json_of(&body)),
        vec![TraceId([2; 16]).to_string()]
    );
    let (_, body) = get(
        "/jaeger/api/v3/traces",
        &[
            ("query.serviceName", "backend"),
            ("query.attributes", r#"{"error":"true"}"#),
            ("query.startTimeMin", &min),
            ("query.startTimeMax", &max),
        ],
    );
    assert_eq!(
        found_traces(&json_of(&body)),
        vec![TraceId([2; 16]).to_string()]
    );
    let (_, body) = get(
        "/jaeger/api/v3/traces",
        &[
            ("query.serviceName", "backend"),
            ("query.startTimeMin", &min),
            ("query.startTimeMax", &max),
            ("query.searchDepth", "2"),
        ],
    );
    assert_eq!(found_traces(&json_of(&body)).len(), 2);
    let (status, body) = get(
        "/jaeger/api/v3/traces",
        &[
            ("query.serviceName", "nobody"),
            ("query.startTimeMin", &min),
            ("query.startTimeMax", &max),
        ],
    );
    assert_eq!(status, 404);
    assert_eq!(json_of(&body)["error"]["message"], "No traces found");
    for bad in [
        vec![("query.serviceName", "backend")],
        vec![
            ("query.startTimeMin", "yesterday"),
            ("query.startTimeMax", max.as_str()),
        ],
        vec![
            ("query.startTimeMin", max.as_str()),
            ("query.startTimeMax", min.as_str()),
        ],
        vec![
            ("query.startTimeMin", min.as_str()),
            ("query.startTimeMax", max.as_str()),
            ("query.durationMin", "soon"),
        ],
        vec![
            ("query.startTimeMin", min.as_str()),
            ("query.startTimeMax", max.as_str()),
            ("query.attributes", "[1]"),
        ],
    ] {
        let (status, body) = get("/jaeger/api/v3/traces", &bad);
        assert_eq!(status, 400, "{bad:?}");
        assert_eq!(json_of(&body)["error"]["httpCode"], 400, "{bad:?}");
    }

    // v1 search reads found traces in one batched pass; the answer is unchanged in shape.
    let (_, body) = get(
        "/jaeger/api/traces",
        &[("service", "backend"), ("limit", "5")],
    );
    let v1 = json_of(&body);
    assert_eq!(v1["data"].as_array().unwrap().len(), 3, "{v1}");
    assert!(v1["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["spans"].as_array().unwrap().len() == 3));

    // Dependencies from the service graph, in the v1 envelope.
    let end_ms = (T0 / 1_000_000 + 60_000).to_string();
    let (status, body) = get(
        "/jaeger/api/dependencies",
        &[("endTs", &end_ms), ("lookback", "3600000")],
    );
    assert_eq!(status, 200);
    let deps = json_of(&body);
    assert_eq!(
        deps["data"],
        serde_json::json!([{"parent": "frontend", "child": "backend", "callCount": 3}]),
        "{deps}"
    );
    assert_eq!(deps["total"], 1);
    let (_, body) = get(
        "/jaeger/api/dependencies",
        &[
            ("endTs", &end_ms),
            ("lookback", "3600000"),
            ("service", "other"),
        ],
    );
    assert_eq!(json_of(&body)["data"], serde_json::json!([]));
    // Long before the data: nothing.
    let (_, body) = get(
        "/jaeger/api/dependencies",
        &[("endTs", "1000"), ("lookback", "1000")],
    );
    assert_eq!(json_of(&body)["data"], serde_json::json!([]));
    assert_eq!(get("/jaeger/api/dependencies", &[("endTs", "soon")]).0, 400);
    s.shutdown();
}
