//! Critical path, time breakdown, error groups and trace health through `Db`, on spans
//! written to a real database: some sealed into blocks (one trace split across two), some
//! still unsealed.

use std::sync::Arc;

use spandb::{
    Durability, Event, KeyValue, Link, LogRecord, Options, Resource, Span, SpanId, SpanKind,
    StatusCode, TimeRange, TraceId, Value,
};

const T0: u64 = 1_750_000_000_000_000_000;
const MS: u64 = 1_000_000;

fn res(service: &str) -> Arc<Resource> {
    Arc::new(Resource {
        attributes: vec![KeyValue::new("service.name", Value::Str(service.into()))],
        ..Resource::default()
    })
}

fn span(
    t: u8,
    id: u8,
    parent: Option<u8>,
    service: &str,
    name: &str,
    start_ms: u64,
    end_ms: u64,
) -> Span {
    Span {
        trace_id: TraceId([t; 16]),
        span_id: SpanId([t, id, 0, 0, 0, 0, 0, 1]),
        parent_span_id: parent.map(|p| SpanId([t, p, 0, 0, 0, 0, 0, 1])),
        name: name.into(),
        kind: SpanKind::Server,
        start_ns: T0 + start_ms * MS,
        end_ns: T0 + end_ms * MS,
        resource: res(service),
        ..Span::default()
    }
}

fn failing(mut s: Span, exception: Option<(&str, &str)>) -> Span {
    s.status_code = StatusCode::Error;
    if let Some((ty, msg)) = exception {
        s.events.push(Event {
            time_ns: s.end_ns - MS,
            name: "exception".into(),
            attributes: vec![
                KeyValue::new("exception.type", Value::Str(ty.into())),
                KeyValue::new("exception.message", Value::Str(msg.into())),
                KeyValue::new(
                    "exception.stacktrace",
                    Value::Str(format!("{ty}: {msg}\n\tat com.shop.Db.query(Db.java:42)\n\tat com.shop.Api.get(Api.java:7)")),
                ),
            ],
            ..Event::default()
        });
    } else {
        s.status_message = "upstream failed".into();
    }
    s
}

/// Trace `t`: checkout [0,100] -> cart [10,90] -> db [20,80 + t]; the db span fails with
/// `order <t> not found`, cart propagates it.
fn checkout_trace(t: u8) -> Vec<Span> {
    vec![
        span(t, 1, None, "checkout", "POST /checkout", 0, 100),
        failing(span(t, 2, Some(1), "cart", "GET /cart", 10, 90), None),
        failing(
            span(t, 3, Some(2), "db", "SELECT", 20, 80 + u64::from(t)),
            Some((
                "SQLException",
                &format!("order {} not found", 1000 + u64::from(t)),
            )),
        ),
    ]
}

/// A log record of service `service` at `at_ms`, in trace `t`'s span `id`.
fn log(t: u8, id: u8, service: &str, at_ms: u64, severity: u8, body: &str) -> LogRecord {
    LogRecord {
        time_ns: T0 + at_ms * MS,
        severity_number: severity,
        body: Value::Str(body.into()),
        trace_id: TraceId([t; 16]),
        span_id: SpanId([t, id, 0, 0, 0, 0, 0, 1]),
        resource: res(service),
        ..LogRecord::default()
    }
}

/// Trace `t`'s records: two on the failing db span (the SQLException group's), one on the
/// checkout root (no error group), and none on the failing cart span. One record names db's
/// span id under another trace id, so it belongs to no span of this data.
fn checkout_logs(t: u8) -> Vec<LogRecord> {
    vec![
        log(
            t,
            3,
            "db",
            21,
            9,
            &format!("SELECT order {}", 1000 + u64::from(t)),
        ),
        log(
            t,
            3,
            "db",
            70 + u64::from(t),
            17,
            "query failed: order missing",
        ),
        log(t, 1, "checkout", 99, 13, "checkout answered 500"),
        LogRecord {
            trace_id: TraceId([t + 100; 16]),
            ..log(t, 3, "db", 50, 17, "same span id, other trace")
        },
    ]
}

#[test]
fn analyses_agree_on_sealed_split_and_unsealed_traces() {
    let dir = tempfile::tempdir().unwrap();
    let db = Options::new()
        .durability(Durability::Sync)
        .maintenance_interval(None)
        .open(dir.path())
        .unwrap();
    // Traces 1..=3 sealed; trace 4's root sealed, its children unsealed (split); trace 5
    // wholly unsealed.
    let mut first: Vec<Span> = (1..=3).flat_map(checkout_trace).collect();
    let t4 = checkout_trace(4);
    first.push(t4[0].clone());
    db.write(first).unwrap();
    // Logs of traces 1..=3 sealed into a log block, those of 4 and 5 unsealed.
    db.write_logs((1..=3).flat_map(checkout_logs).collect())
        .unwrap();
    db.flush().unwrap();
    let mut later: Vec<Span> = t4[1..].to_vec();
    later.extend(checkout_trace(5));
    db.write(later).unwrap();
    db.write_logs((4..=5).flat_map(checkout_logs).collect())
        .unwrap();
    let stats = db.stats().unwrap();
    assert_eq!((stats.logs, stats.log_blocks), (20, 1), "{stats:?}");

    // Critical path of the split trace: checkout, cart, db, cart, checkout.
    let cp = db.critical_path(&TraceId([4; 16])).unwrap();
    let services: Vec<&str> = cp.sections.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(services, ["checkout", "cart", "db", "cart", "checkout"]);
    assert_eq!(cp.sections[0].end_ns, T0 + 100 * MS);
    assert_eq!(cp.sections[2].end_ns - cp.sections[2].start_ns, 64 * MS);
    let on_path: u64 = cp.sections.iter().map(|s| s.end_ns - s.start_ns).sum();
    assert_eq!(on_path, 100 * MS);

    // Breakdown over all five traces: db holds 60+t ms of each trace's path.
    let b = db
        .time_breakdown(
            "{ resource.service.name = \"checkout\" }",
            TimeRange::ALL,
            1000,
        )
        .unwrap();
    assert_eq!(b.traces, 5);
    assert_eq!(b.critical_path_ns, 500 * MS);
    let db_row = b.critical_path.iter().find(|s| s.service == "db").unwrap();
    assert_eq!(db_row.total_ns, (61 + 62 + 63 + 64 + 65) * MS);
    assert_eq!(db_row.p50_ns, 63 * MS);
    assert_eq!(db_row.traces, 5);
    assert_eq!(b.critical_path[0].service, "db", "largest first");
    // The limit keeps the newest matches only.
    let two = db
        .time_breakdown(
            "{ resource.service.name = \"checkout\" }",
            TimeRange::ALL,
            2,
        )
        .unwrap();
    assert_eq!(two.traces, 2);

    // Error groups: one SQLException template in db (origin), one bare-status group in
    // cart whose origin is db.
    let g = db.error_groups(TimeRange::ALL, None).unwrap();
    assert_eq!(g.error_spans, 10);
    assert_eq!(g.groups.len(), 2, "{:#?}", g.groups);
    let sql = g
        .groups
        .iter()
        .find(|e| e.exception_type.as_deref() == Some("SQLException"))
        .unwrap();
    assert_eq!(sql.template, "order <*> not found");
    assert_eq!((sql.count, sql.traces), (5, 5));
    assert_eq!(sql.origin_share, 1.0);
    assert_eq!(sql.origins[0].service, "db");
    assert_eq!(sql.propagated_to[0].name, "cart");
    assert_eq!(sql.stacks.len(), 1);
    assert_eq!(
        sql.stacks[0].top_frames[0],
        "at com.shop.Db.query(Db.java:)"
    );
    assert_eq!(sql.operations[0].name, "SELECT");
    assert_eq!(sql.sample_trace_ids.len(), 5);
    assert!(!sql.new);
    // Its logs: the two records of each db span, sealed (traces 1..=3) and unsealed (4, 5);
    // not the checkout root's, not the other trace's record with the same span id.
    assert_eq!(
        (sql.logs.count, sql.logs.errors),
        (10, 5),
        "{:#?}",
        sql.logs
    );
    let newest: Vec<(u64, &str, &str)> = sql
        .logs
        .examples
        .iter()
        .map(|l| (l.time_ns, l.severity.as_str(), l.body.as_str()))
        .collect();
    assert_eq!(
        newest,
        [
            (T0 + 75 * MS, "ERROR", "query failed: order missing"),
            (T0 + 74 * MS, "ERROR", "query failed: order missing"),
            (T0 + 73 * MS, "ERROR", "query failed: order missing"),
        ]
    );
    assert_eq!(sql.logs.examples[0].trace_id, TraceId([5; 16]).to_string());
    assert_eq!(
        sql.logs.examples[0].span_id,
        SpanId([5, 3, 0, 0, 0, 0, 0, 1]).to_string()
    );
    let cart = g.groups.iter().find(|e| e.service == "cart").unwrap();
    assert_eq!(cart.exception_type, None);
    assert_eq!(cart.template, "upstream failed");
    assert_eq!(cart.origin_share, 0.0);
    assert_eq!(
        cart.logs,
        spandb::analysis::GroupLogs::default(),
        "cart logged nothing"
    );
    assert_eq!(
        (cart.origins[0].service.as_str(), cart.origins[0].count),
        ("db", 5)
    );

    // A baseline before the data: every group is new; one that saw the same spans: none.
    let early = TimeRange::new(T0 - 3_600_000 * MS, T0);
    let g = db
        .error_groups(TimeRange::new(T0, T0 + 3_600_000 * MS), Some(early))
        .unwrap();
    assert!(g.groups.iter().all(|e| e.new));
    let g = db
        .error_groups(
            TimeRange::new(T0, T0 + 3_600_000 * MS),
            Some(TimeRange::new(T0, T0 + 50 * MS)),
        )
        .unwrap();
    assert!(
        g.groups.iter().all(|e| !e.new),
        "the baseline saw the same groups"
    );

    // Health: trace 4 is whole but still has unsealed spans.
    let h = db.trace_health(&TraceId([4; 16])).unwrap();
    assert!(h.is_healthy(), "{h:?}");
    assert_eq!(h.unsealed_spans, 2);
    assert!(db.trace_health(&TraceId([9; 16])).is_err());
    db.close().unwrap();
}

#[test]
fn health_follows_links_and_reports_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let db = Options::new()
        .maintenance_interval(None)
        .open(dir.path())
        .unwrap();
    let mut consumer = span(7, 1, None, "worker", "consume", 0, 10);
    consumer.links.push(Link {
        trace_id: TraceId([6; 16]),
        span_id: SpanId([6, 1, 0, 0, 0, 0, 0, 1]),
        ..Link::default()
    });
    consumer.links.push(Link {
        trace_id: TraceId([8; 16]),
        span_id: SpanId([8, 1, 0, 0, 0, 0, 0, 1]),
        ..Link::default()
    });
    db.write(vec![
        span(6, 1, None, "api", "publish", 0, 5),
        consumer,
        span(7, 2, Some(9), "worker", "lost", 2, 3),
    ])
    .unwrap();
    db.flush().unwrap();
    let h = db.trace_health(&TraceId([7; 16])).unwrap();
    assert_eq!(h.orphans.len(), 1);
    assert_eq!(h.links.len(), 2);
    assert!(h.links[0].span_found && h.links[0].linked_trace_spans == 1);
    assert!(!h.links[1].trace_found);
    assert_eq!(h.unsealed_spans, 0);
    assert!(!h.is_healthy());

    // A scan finds trace 7 (an orphan) and not trace 6, and a query narrows it.
    let scan = db.health_scan("{ }", TimeRange::ALL, 100).unwrap();
    assert_eq!(scan.examined, 2);
    assert_eq!(scan.with_orphans, 1);
    assert_eq!(scan.unhealthy.len(), 1);
    assert_eq!(scan.unhealthy[0].trace_id, TraceId([7; 16]).to_string());
    let scan = db
        .health_scan("{ resource.service.name = \"api\" }", TimeRange::ALL, 100)
        .unwrap();
    assert_eq!((scan.examined, scan.unhealthy.len()), (1, 0));
    assert!(db.health_scan("{ status = ", TimeRange::ALL, 100).is_err());
    db.close().unwrap();
}
