//! spandb's own API (`/api/spandb/...`) and the web UI over real HTTP on loopback, over a
//! dataset whose answers are known: an hour of `frontend GET /checkout -> payment POST /pay ->
//! charge` traces, 20 a minute, where for ten minutes every other payment fails with
//! `CardDeclined: card <n> declined` (propagated to the frontend).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;
use spandb::{
    Event, KeyValue, Options, Resource, Span, SpanId, SpanKind, StatusCode, TraceId, Value,
};
use spandb_server::{Server, ServerConfig};

/// 2025-06-15T15:00:00Z, on a minute.
const T0: u64 = 1_750_000_000_000_000_000 - 1_750_000_000_000_000_000 % 60_000_000_000;
const MIN: u64 = 60_000_000_000;
const MS: u64 = 1_000_000;
const PER_MINUTE: u64 = 20;
const MINUTES: u64 = 60;
/// Minutes [40, 50): every other payment fails.
const INCIDENT: std::ops::Range<u64> = 40..50;

fn trace_id(minute: u64, k: u64) -> TraceId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&(minute * 100 + k + 1).to_be_bytes());
    id[8..].copy_from_slice(&0x5eed_u64.to_be_bytes());
    TraceId(id)
}

fn span_id(minute: u64, k: u64, n: u64) -> SpanId {
    SpanId((((minute * 100 + k) << 8) | n).to_be_bytes())
}

fn resource(service: &str) -> Arc<Resource> {
    Arc::new(Resource {
        attributes: vec![KeyValue::new("service.name", Value::Str(service.into()))],
        ..Resource::default()
    })
}

/// The dataset: per trace, root 0..100ms, client 10..90, payment server 15..85, charge
/// 20..80 (so the critical path is 60ms charge, 20ms root, 10ms client, 10ms server).
fn dataset() -> Vec<Span> {
    let frontend = resource("frontend");
    let payment = resource("payment");
    let mut spans = Vec::new();
    for minute in 0..MINUTES {
        for k in 0..PER_MINUTE {
            let t = T0 + minute * MIN + k * 3_000 * MS;
            let failed = INCIDENT.contains(&minute) && k % 2 == 0;
            let status = if failed {
                StatusCode::Error
            } else {
                StatusCode::Unset
            };
            let id = trace_id(minute, k);
            let base = Span {
                trace_id: id,
                ..Span::default()
            };
            spans.push(Span {
                span_id: span_id(minute, k, 1),
                name: "GET /checkout".into(),
                kind: SpanKind::Server,
                start_ns: t,
                end_ns: t + 100 * MS,
                status_code: status,
                resource: frontend.clone(),
                attributes: vec![KeyValue::new("http.route", Value::Str("/checkout".into()))],
                ..base.clone()
            });
            spans.push(Span {
                span_id: span_id(minute, k, 2),
                parent_span_id: Some(span_id(minute, k, 1)),
                name: "POST /pay".into(),
                kind: SpanKind::Client,
                start_ns: t + 10 * MS,
                end_ns: t + 90 * MS,
                status_code: status,
                resource: frontend.clone(),
                ..base.clone()
            });
            spans.push(Span {
                span_id: span_id(minute, k, 3),
                parent_span_id: Some(span_id(minute, k, 2)),
                name: "POST /pay".into(),
                kind: SpanKind::Server,
                start_ns: t + 15 * MS,
                end_ns: t + 85 * MS,
                status_code: status,
                resource: payment.clone(),
                events: if failed {
                    vec![Event {
                        time_ns: t + 84 * MS,
                        name: "exception".into(),
                        attributes: vec![
                            KeyValue::new("exception.type", Value::Str("CardDeclined".into())),
                            KeyValue::new(
                                "exception.message",
                                Value::Str(format!("card {} declined", 4000 + k)),
                            ),
                        ],
                        dropped_attributes_count: 0,
                    }]
                } else {
                    Vec::new()
                },
                ..base.clone()
            });
            spans.push(Span {
                span_id: span_id(minute, k, 4),
                parent_span_id: Some(span_id(minute, k, 3)),
                name: "charge".into(),
                kind: SpanKind::Internal,
                start_ns: t + 20 * MS,
                end_ns: t + 80 * MS,
                resource: payment.clone(),
                ..base
            });
        }
    }
    spans
}

struct Running {
    runtime: tokio::runtime::Runtime,
    server: Option<Server>,
    _dir: tempfile::TempDir,
}

impl Running {
    fn start(config: ServerConfig) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let db = Options::new()
            .maintenance_interval(None)
            .open(dir.path())
            .unwrap();
        db.write(dataset()).unwrap();
        db.flush().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime
            .block_on(Server::start(Arc::new(db), config))
            .unwrap();
        Running {
            runtime,
            server: Some(server),
            _dir: dir,
        }
    }
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.as_ref().unwrap().query_addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.runtime.block_on(s.shutdown());
        }
    }
}

/// Status, headers we look at, and body of a GET.
fn get(url: &str, token: Option<&str>) -> (u16, String, String, Vec<u8>) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build();
    let mut req = agent.get(url);
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    let response = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{url}: {e}"),
    };
    let status = response.status();
    let ct = response.header("Content-Type").unwrap_or("").to_owned();
    let csp = response
        .header("Content-Security-Policy")
        .unwrap_or("")
        .to_owned();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut body).unwrap();
    (status, ct, csp, body)
}

fn json(s: &Running, path: &str) -> Json {
    let (status, ct, _, body) = get(&s.url(path), None);
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    assert!(ct.starts_with("application/json"), "{path}: {ct}");
    serde_json::from_slice(&body).unwrap()
}

fn error_of(s: &Running, path: &str) -> (u16, String) {
    let (status, _, _, body) = get(&s.url(path), None);
    let v: Json = serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("{path}: {}", String::from_utf8_lossy(&body)));
    (status, v["error"].as_str().unwrap_or_default().to_owned())
}

fn secs(ns: u64) -> u64 {
    ns / 1_000_000_000
}

#[test]
fn spandb_api_answers_the_analyses() {
    let s = Running::start(ServerConfig::ephemeral());
    let first = trace_id(0, 0).to_string();
    let failed = trace_id(40, 0).to_string();
    let traces = MINUTES * PER_MINUTE;

    let stats = json(&s, "/api/spandb/stats");
    assert_eq!(stats["spans"], traces * 4);
    assert_eq!(stats["traces"], traces);
    assert_eq!(stats["start_ns"], T0);
    assert_eq!(stats["services"][0]["spans"], traces * 2);

    // The service graph: frontend -> payment, every call, the incident's failures.
    let graph = json(&s, "/api/spandb/graph");
    let edges = graph["edges"].as_array().unwrap();
    let edge = edges
        .iter()
        .find(|e| e["client"] == "frontend" && e["server"] == "payment")
        .unwrap_or_else(|| panic!("no frontend -> payment edge in {graph}"));
    let incident_failures = (INCIDENT.end - INCIDENT.start) * PER_MINUTE / 2;
    assert_eq!(edge["calls"], traces);
    assert_eq!(edge["errors"], incident_failures);
    assert_eq!(edge["per_minute"], serde_json::json!([]));
    let p50 = edge["server_latency"]["p50_ns"].as_f64().unwrap();
    assert!((p50 - 70e6).abs() < 2e6, "server p50 {p50}");
    // Open ranges are the data's.
    assert_eq!(graph["start_ns"], T0);
    assert_eq!(graph["end_ns"], T0 + MINUTES * MIN);
    // A range before the incident: no errors; a filter: only the failed traces.
    let before = json(
        &s,
        &format!(
            "/api/spandb/graph?start={}&end={}&per_minute=true",
            secs(T0),
            secs(T0 + 10 * MIN)
        ),
    );
    let e = &before["edges"][0];
    assert_eq!(
        (e["calls"].as_u64(), e["errors"].as_u64()),
        (Some(200), Some(0))
    );
    assert_eq!(e["per_minute"].as_array().unwrap().len(), 10);
    let filtered = json(&s, "/api/spandb/graph?q=%7B%20status%20%3D%20error%20%7D");
    assert_eq!(filtered["edges"][0]["calls"], incident_failures);

    // Critical path of one trace: charge 60ms, then the root's 20ms.
    let cp = json(&s, &format!("/api/spandb/traces/{first}/critical-path"));
    assert_eq!(cp["trace_id"], first);
    assert_eq!(cp["spans"][0]["name"], "charge");
    assert_eq!(cp["spans"][0]["critical_ns"], 60 * MS);
    assert_eq!(cp["spans"][1]["name"], "GET /checkout");
    assert_eq!(cp["spans"][1]["critical_ns"], 20 * MS);
    let total: u64 = cp["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["end_ns"].as_u64().unwrap() - x["start_ns"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 100 * MS);

    // Aggregated over a query: 100 traces, charge holds 60% of their critical path.
    let agg = json(
        &s,
        "/api/spandb/critical-path?q=%7B%20resource.service.name%20%3D%20%22payment%22%20%7D&limit=100",
    );
    assert_eq!(agg["traces"], 100);
    assert_eq!(agg["critical_path_ns"], 100 * 100 * MS);
    assert_eq!(agg["critical_path"][0]["service"], "payment");
    assert_eq!(agg["critical_path"][0]["operation"], "charge");
    assert!((agg["critical_path"][0]["share"].as_f64().unwrap() - 0.6).abs() < 1e-9);
    let st = json(&s, "/api/spandb/self-time?limit=10&top=2");
    assert_eq!(st["traces"], 10);
    assert_eq!(st["self_time"].as_array().unwrap().len(), 2);
    assert_eq!(st["self_time"][0]["operation"], "charge");
    assert_eq!(st["self_time"][0]["total_ns"], 10 * 60 * MS);
    let both = json(&s, "/api/spandb/breakdown?limit=10");
    assert_eq!(both["traces"], 10);
    assert!(both["critical_path"].is_array() && both["self_time"].is_array());

    // Error groups: one, templated, new against the half hour before.
    let groups = json(
        &s,
        &format!(
            "/api/spandb/errors?start={}&end={}&baseline=30m",
            secs(T0 + 30 * MIN),
            secs(T0 + 60 * MIN)
        ),
    );
    let payment = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["service"] == "payment")
        .unwrap_or_else(|| panic!("no payment group in {groups}"));
    assert_eq!(payment["exception_type"], "CardDeclined");
    assert_eq!(payment["template"], "card <*> declined");
    assert_eq!(payment["count"], incident_failures);
    assert_eq!(payment["new"], true);
    assert_eq!(payment["origins"][0]["service"], "payment");
    let limited = json(&s, "/api/spandb/errors?limit=1");
    assert_eq!(limited["groups"].as_array().unwrap().len(), 1);
    assert_eq!(limited["baseline"], Json::Null);

    // Anomalies (default window: the last hour of data, baseline the window itself): the
    // incident, localized to payment.
    let found = json(&s, "/api/spandb/anomalies");
    let incidents = found["incidents"].as_array().unwrap();
    assert!(!incidents.is_empty(), "no incident in {found}");
    assert_eq!(incidents[0]["origin"]["service"], "payment", "{found}");
    assert!(incidents[0]["kinds"]
        .as_array()
        .unwrap()
        .contains(&Json::from("errors")));
    let start = incidents[0]["start_ns"].as_u64().unwrap();
    assert!(
        (T0 + 39 * MIN..=T0 + 42 * MIN).contains(&start),
        "incident starts at minute {}",
        (start - T0) / MIN
    );
    // A window before the incident held against the one before it: nothing.
    let quiet = json(
        &s,
        &format!(
            "/api/spandb/anomalies?start={}&end={}&baseline=20m",
            secs(T0 + 20 * MIN),
            secs(T0 + 35 * MIN)
        ),
    );
    assert_eq!(quiet["incidents"], serde_json::json!([]));
    assert_eq!(quiet["baseline_start_ns"], T0);

    // Health and explain.
    let health = json(&s, &format!("/api/spandb/traces/{first}/health"));
    assert_eq!(health["spans"], 4);
    assert_eq!(health["roots"], 1);
    assert_eq!(health["missing_root"], false);
    assert_eq!(health["orphans"], serde_json::json!([]));
    let scan = json(&s, "/api/spandb/health?limit=50");
    assert_eq!(scan["examined"], 50);
    assert_eq!(scan["unhealthy"], serde_json::json!([]));
    let explain = json(&s, &format!("/api/spandb/traces/{failed}/explain"));
    assert_eq!(explain["root_service"], "frontend");
    let summary = explain["summary"].as_array().unwrap();
    let text: Vec<&str> = summary.iter().filter_map(Json::as_str).collect();
    assert!(text[0].contains(&failed), "{text:?}");
    assert!(
        text.iter().any(|l| l.contains("CardDeclined")),
        "the failure is told: {text:?}"
    );

    // The renderings the UI shows.
    let (status, ct, _, body) = get(&s.url("/api/spandb/graph.svg"), None);
    let svg = String::from_utf8(body).unwrap();
    assert_eq!(status, 200);
    assert!(ct.starts_with("image/svg+xml"));
    assert!(svg.starts_with("<svg") && svg.contains("payment") && svg.contains("frontend"));
    let (status, _, _, body) = get(
        &s.url("/api/spandb/chart.svg?q=%7B%20%7D%20%7C%20rate()%20by%20(resource.service.name)&width=600&height=200"),
        None,
    );
    let chart = String::from_utf8(body).unwrap();
    assert_eq!(status, 200, "{chart}");
    assert!(chart.contains("width=\"600\"") && chart.contains("payment"));
    let page = json(&s, &format!("/api/spandb/traces/{first}/waterfall"));
    assert!(page["title"].as_str().unwrap().contains(&first));
    assert_eq!(page["data"]["rows"].as_array().unwrap().len(), 4);

    // Bad requests: said what is wrong, never a panic or a path.
    assert_eq!(
        error_of(&s, "/api/spandb/critical-path?q=%7B%20duration%20%3E%20%7D").0,
        400
    );
    let (status, msg) = error_of(&s, "/api/spandb/errors?baseline=1h");
    assert_eq!(status, 400);
    assert!(msg.contains("baseline"), "{msg}");
    let (status, msg) = error_of(&s, "/api/spandb/errors?start=100&baseline=soon");
    assert_eq!(status, 400);
    assert!(msg.contains("soon"), "{msg}");
    assert_eq!(error_of(&s, "/api/spandb/traces/xyz/explain").0, 400);
    assert_eq!(
        error_of(&s, "/api/spandb/traces/0123456789abcdef/critical-path").0,
        404
    );
    assert_eq!(error_of(&s, "/api/spandb/graph?start=10&end=5").0, 400);
    assert_eq!(error_of(&s, "/api/spandb/self-time?limit=many").0, 400);
    assert_eq!(error_of(&s, "/api/spandb/chart.svg").0, 400);
}

#[test]
fn the_ui_is_served_with_a_same_origin_policy_and_its_data_needs_the_token() {
    let mut config = ServerConfig::ephemeral();
    config.query_token = Some("s3cret".into());
    let s = Running::start(config);

    // The pages and assets hold no data: served without a token, under a CSP that allows
    // nothing from another origin and no inline script.
    for (path, ct) in [
        ("/", "text/html"),
        ("/ui/trace/00000000000000010000000000000001", "text/html"),
        ("/ui/assets/app.js", "text/javascript"),
        ("/ui/assets/app.css", "text/css"),
        ("/ui/assets/trace.js", "text/javascript"),
        ("/ui/assets/trace_loader.js", "text/javascript"),
        ("/ui/assets/trace.css", "text/css"),
    ] {
        let (status, got_ct, csp, body) = get(&s.url(path), None);
        assert_eq!(status, 200, "{path}");
        assert!(got_ct.starts_with(ct), "{path}: {got_ct}");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self';"), "{path}: {csp}");
        assert!(csp.contains("connect-src 'self';"), "{path}: {csp}");
        let text = String::from_utf8(body).unwrap();
        for remote in ["http://", "https://", "//cdn", "@import"] {
            // The SVG namespace is a name, not a load.
            let loads = text
                .matches(remote)
                .count()
                .saturating_sub(text.matches("http://www.w3.org/2000/svg").count());
            assert_eq!(loads, 0, "{path} names {remote}");
        }
    }
    let (_, _, _, index) = get(&s.url("/"), None);
    let index = String::from_utf8(index).unwrap();
    assert!(index.contains("<script src=\"/ui/assets/app.js\"></script>"));
    assert!(!index.contains("<script>"), "no inline script");
    assert_eq!(get(&s.url("/ui/assets/secret.txt"), None).0, 404);

    // The data is behind the token.
    let trace = trace_id(0, 0);
    for path in [
        "/api/spandb/graph".to_owned(),
        "/api/spandb/stats".to_owned(),
        format!("/api/spandb/traces/{trace}/waterfall"),
    ] {
        assert_eq!(get(&s.url(&path), None).0, 401, "{path}");
        assert_eq!(get(&s.url(&path), Some("wrong")).0, 401, "{path}");
        assert_eq!(get(&s.url(&path), Some("s3cret")).0, 200, "{path}");
    }
}
