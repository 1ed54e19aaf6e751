//! The service graph, anomaly detection and trace explanations through `Db`, on an hour of
//! steady synthetic traffic (web -> api -> pay, api -> postgres) in which `pay` starts
//! failing for ten minutes.

use std::sync::Arc;

use spandb::analysis::{EdgeKind, Metric, NodeKind};
use spandb::{
    Event, KeyValue, Options, Resource, Span, SpanId, SpanKind, StatusCode, TimeRange, TraceId,
    Value,
};

/// A whole minute (unix ns).
const T0: u64 = 1_750_000_020_000_000_000;
const MIN: u64 = 60_000_000_000;
const MS: u64 = 1_000_000;
/// Minutes of the hour in which pay fails half its requests.
const FAILING: std::ops::Range<u64> = 30..40;

fn res(service: &str) -> Arc<Resource> {
    Arc::new(Resource {
        attributes: vec![KeyValue::new("service.name", Value::Str(service.into()))],
        ..Resource::default()
    })
}

#[allow(clippy::too_many_arguments)]
fn span(
    t: u32,
    id: u8,
    parent: Option<u8>,
    service: &str,
    name: &str,
    kind: SpanKind,
    start: u64,
    dur_ms: u64,
) -> Span {
    let mut trace = [7u8; 16];
    trace[12..].copy_from_slice(&t.to_be_bytes());
    Span {
        trace_id: TraceId(trace),
        span_id: SpanId([id, 0, 0, 0, 0, 0, 0, 1]),
        parent_span_id: parent.map(|p| SpanId([p, 0, 0, 0, 0, 0, 0, 1])),
        name: name.into(),
        kind,
        start_ns: start,
        end_ns: start + dur_ms * MS,
        resource: res(service),
        ..Span::default()
    }
}

/// One request: web GET /checkout -> (client) -> api POST /order -> (client) -> pay charge,
/// and api's query to postgres. In the failing minutes every second charge fails with an
/// exception, and the failure propagates up to web.
fn request(t: u32, minute: u64) -> Vec<Span> {
    let start = T0 + minute * MIN + u64::from(t % 50) * 1_000 * MS;
    let fails = FAILING.contains(&minute) && t % 2 == 0;
    let mut spans = vec![
        span(
            t,
            1,
            None,
            "web",
            "GET /checkout",
            SpanKind::Server,
            start,
            40 + u64::from(t % 7),
        ),
        span(
            t,
            2,
            Some(1),
            "web",
            "POST /order",
            SpanKind::Client,
            start + MS,
            35,
        ),
        span(
            t,
            3,
            Some(2),
            "api",
            "POST /order",
            SpanKind::Server,
            start + 2 * MS,
            33,
        ),
        span(
            t,
            4,
            Some(3),
            "api",
            "charge",
            SpanKind::Client,
            start + 3 * MS,
            20,
        ),
        span(
            t,
            5,
            Some(4),
            "pay",
            "charge",
            SpanKind::Server,
            start + 4 * MS,
            18,
        ),
        span(
            t,
            6,
            Some(3),
            "api",
            "SELECT orders",
            SpanKind::Client,
            start + 25 * MS,
            5,
        ),
    ];
    spans[5]
        .attributes
        .push(KeyValue::new("db.system", Value::Str("postgresql".into())));
    spans[4].attributes.push(KeyValue::new(
        "payment.provider",
        Value::Str(if fails { "acme" } else { "bank" }.into()),
    ));
    if fails {
        for s in &mut spans[..5] {
            s.status_code = StatusCode::Error;
        }
        let at = spans[4].end_ns - MS;
        spans[4].events.push(Event {
            time_ns: at,
            name: "exception".into(),
            attributes: vec![
                KeyValue::new("exception.type", Value::Str("CardDeclined".into())),
                KeyValue::new("exception.message", Value::Str("card 4242 declined".into())),
            ],
            ..Event::default()
        });
    }
    spans
}

fn hour() -> Vec<Span> {
    let mut spans = Vec::new();
    let mut t = 0;
    for minute in 0..60 {
        for _ in 0..40 {
            spans.extend(request(t, minute));
            t += 1;
        }
    }
    spans
}

#[test]
fn graph_anomalies_and_explain_tell_the_story() {
    let dir = tempfile::tempdir().unwrap();
    let db = Options::new()
        .block_max_spans(5000)
        .open(dir.path())
        .unwrap();
    let spans = hour();
    for chunk in spans.chunks(777) {
        db.write(chunk.to_vec()).unwrap();
    }
    db.flush().unwrap();

    // The graph: three services, one database; pay's errors on the api -> pay edge.
    let graph = db.service_graph(TimeRange::ALL, None::<&str>).unwrap();
    let edges: Vec<(&str, &str, EdgeKind, u64, u64)> = graph
        .edges
        .iter()
        .map(|e| {
            (
                e.client.as_str(),
                e.server.as_str(),
                e.kind,
                e.calls,
                e.errors,
            )
        })
        .collect();
    let requests = 60 * 40;
    let failed = 10 * 20;
    assert_eq!(
        edges,
        vec![
            ("api", "pay", EdgeKind::Direct, requests, failed),
            ("api", "postgresql", EdgeKind::Database, requests, 0),
            ("web", "api", EdgeKind::Direct, requests, failed),
        ]
    );
    assert!(graph
        .nodes
        .iter()
        .any(|n| n.name == "postgresql" && n.kind == NodeKind::Database));
    let only_failed = db
        .service_graph(TimeRange::ALL, Some("{ status = error }"))
        .unwrap();
    assert_eq!(only_failed.edges[0].calls, failed);

    // Anomalies: one error incident in minutes 30..40, started in pay, with the provider
    // that sets the failing charges apart.
    let found = db
        .anomalies(TimeRange::new(T0, T0 + 60 * MIN), None)
        .unwrap();
    let errors: Vec<_> = found
        .incidents
        .iter()
        .filter(|i| i.kinds == ["errors"])
        .collect();
    assert_eq!(errors.len(), 1, "{:#?}", found.incidents);
    let inc = errors[0];
    assert!(
        inc.start_ns >= T0 + 30 * MIN && inc.start_ns <= T0 + 32 * MIN,
        "{inc:#?}"
    );
    assert!(
        inc.end_ns >= T0 + 39 * MIN && inc.end_ns <= T0 + 43 * MIN,
        "{inc:#?}"
    );
    let origin = inc.origin.as_ref().unwrap();
    assert_eq!(
        (origin.service.as_str(), origin.operation.as_str()),
        ("pay", "charge")
    );
    assert!(inc
        .deviations
        .iter()
        .any(|d| d.metric == Metric::ErrorRatio && d.service == "web"));
    assert!(
        inc.attributes
            .iter()
            .any(|a| a.key == "payment.provider" && a.value == "acme" && a.anomalous_share == 1.0),
        "{:?}",
        inc.attributes
    );
    assert!(!inc.sample_trace_ids.is_empty());
    assert_eq!(
        found.incidents.len(),
        1,
        "steady traffic has no other incident: {:#?}",
        found.incidents
    );

    // Explain a failed request: pay's charge is the origin, propagated through api and web.
    let failed_trace = spans
        .iter()
        .find(|s| s.is_error() && s.name == "charge" && s.kind == SpanKind::Server)
        .unwrap()
        .trace_id;
    let e = db.explain(&failed_trace).unwrap();
    let f = e.failure.as_ref().unwrap();
    assert_eq!(
        (f.service.as_str(), f.operation.as_str()),
        ("pay", "charge")
    );
    assert_eq!(f.exception_type, "CardDeclined");
    assert_eq!(f.propagated_through, ["api", "web"]);
    assert_eq!(e.rank.as_ref().unwrap().requests, requests);
    assert!(e.critical_path.iter().map(|c| c.critical_ns).sum::<u64>() > 0);
    assert!(
        e.summary
            .iter()
            .any(|s| s.contains("started in pay \"charge\"")),
        "{:?}",
        e.summary
    );
    assert!(db.explain(&TraceId([1; 16])).is_err());
}
