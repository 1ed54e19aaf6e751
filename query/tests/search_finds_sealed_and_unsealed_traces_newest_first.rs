//! A small shop: searches over sealed blocks and the unsealed builder, structural operators,
//! trace assembly through the store, and the Tempo JSON / table renderings.

mod common;

use common::*;
use spandb_query::builder::{attr, field, spanset};
use spandb_query::{cli, json, metrics, parse, search, trace, MetricsRequest, TimeRange};
use spandb_storage::{KeyValue, SpanKind, StatusCode, Value};

const S: u64 = 1_000_000_000;

/// Trace t: web GET /checkout -> api POST /pay -> db SELECT; trace 2's db call fails.
fn shop() -> Vec<spandb_storage::Span> {
    let web = resource(Some("web"), "eu");
    let api = resource(Some("api"), "eu");
    let db = resource(Some("db"), "us");
    let mut spans = Vec::new();
    for t in 0..4u32 {
        let base = BASE_NS + u64::from(t) * 60 * S;
        let id = t * 10;
        let err = if t == 2 {
            StatusCode::Error
        } else {
            StatusCode::Ok
        };
        let route = vec![KeyValue::new("http.route", Value::Str("/checkout".into()))];
        spans.push(span(
            t,
            id,
            None,
            &web,
            "GET /checkout",
            SpanKind::Server,
            StatusCode::Ok,
            base,
            900_000_000,
            route,
        ));
        spans.push(span(
            t,
            id + 1,
            Some(id),
            &api,
            "POST /pay",
            SpanKind::Server,
            err,
            base + 10_000_000,
            800_000_000,
            vec![],
        ));
        let code = vec![KeyValue::new("db.rows", Value::Int(i64::from(t)))];
        spans.push(span(
            t,
            id + 2,
            Some(id + 1),
            &db,
            "SELECT",
            SpanKind::Client,
            err,
            base + 20_000_000,
            700_000_000 + u64::from(t),
            code,
        ));
    }
    spans
}

#[test]
fn search_trace_and_render() {
    let spans = shop();
    let dir = tempfile::tempdir().unwrap();
    let db = db_with(dir.path(), &spans, 9, 3); // traces 0-2 sealed, trace 3 in the builder
    let snap = db.snapshot().unwrap();
    assert_eq!(snap.blocks().count(), 1);
    assert_eq!(snap.unsealed_spans().count(), 3);

    // Every trace, newest first; the unsealed one (3) included.
    let all = search(&snap, &parse("{ }").unwrap(), TimeRange::ALL, 10).unwrap();
    let starts: Vec<u64> = all
        .iter()
        .map(|t| (t.start_ns - BASE_NS) / (60 * S))
        .collect();
    assert_eq!(starts, vec![3, 2, 1, 0]);
    assert!(all.iter().all(|t| t.root_service.as_deref() == Some("web")
        && t.span_count == 3
        && t.duration_ns == 900_000_000));
    assert_eq!(all[0].root_name.as_deref(), Some("GET /checkout"));

    // Limit keeps the newest.
    let two = search(&snap, &parse("{ }").unwrap(), TimeRange::ALL, 2).unwrap();
    assert_eq!(two, all[..2].to_vec());

    // Service and error, through the builder.
    let q = spanset(
        field::service()
            .eq("db")
            .and(field::status().eq(StatusCode::Error)),
    )
    .query();
    let hits = search(&snap, &q, TimeRange::ALL, 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].matched.len(), 1);
    assert_eq!(hits[0].matched[0].name, "SELECT");

    // Indexed attribute equality and an integer attribute range.
    let route = search(
        &snap,
        &parse(r#"{ span.http.route = "/checkout" }"#).unwrap(),
        TimeRange::ALL,
        10,
    )
    .unwrap();
    assert_eq!(route.len(), 4);
    let rows = search(
        &snap,
        &spanset(attr::span("db.rows").ge(2)).query(),
        TimeRange::ALL,
        10,
    )
    .unwrap();
    assert_eq!(rows.len(), 2);

    // Time window: only traces 1 and 2 start inside [1m, 3m).
    let w = TimeRange::new(BASE_NS + 60 * S, BASE_NS + 180 * S);
    let windowed = search(&snap, &parse("{ kind = server }").unwrap(), w, 10).unwrap();
    assert_eq!(windowed.len(), 2);

    // Structural: errors below web (descendant), and as a direct child of api.
    let desc = search(
        &snap,
        &parse(r#"{ resource.service.name = "web" } >> { status = error }"#).unwrap(),
        TimeRange::ALL,
        10,
    )
    .unwrap();
    assert_eq!(desc.len(), 1);
    assert_eq!(desc[0].matched.len(), 2, "api and db spans of trace 2");
    let child = search(
        &snap,
        &parse(r#"{ resource.service.name = "web" } > { status = error }"#).unwrap(),
        TimeRange::ALL,
        10,
    )
    .unwrap();
    assert_eq!(
        child[0].matched.len(),
        1,
        "only the api span is a direct child"
    );
    let none = search(
        &snap,
        &parse(r#"{ name = "SELECT" } > { }"#).unwrap(),
        TimeRange::ALL,
        10,
    )
    .unwrap();
    assert!(none.is_empty(), "SELECT spans have no children");
    let both = search(
        &snap,
        &parse(
            r#"{ trace:rootService = "web" && trace:duration >= 900ms } && { span.db.rows = 3 }"#,
        )
        .unwrap(),
        TimeRange::ALL,
        10,
    )
    .unwrap();
    assert_eq!(both.len(), 1);
    assert_eq!(
        both[0].matched.len(),
        3,
        "every span of trace 3 matches the first spanset"
    );

    // Trace assembly through the store, for a sealed and an unsealed trace.
    for t in [0usize, 3] {
        let tree = trace(&snap, &all[3 - t].trace_id).unwrap().unwrap();
        assert_eq!(tree.spans.len(), 3);
        let root = tree.root_span().unwrap();
        assert_eq!(root.name, "GET /checkout");
        assert_eq!(
            tree.depth_first()
                .iter()
                .map(|&i| tree.nodes[i].depth)
                .collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert_eq!(tree.services.len(), 3);
    }

    // Tempo JSON shape.
    let j = json::search_json(&hits);
    let t0 = &j["traces"][0];
    assert_eq!(t0["traceID"], hits[0].trace_id.to_string());
    assert_eq!(t0["rootServiceName"], "web");
    assert_eq!(t0["rootTraceName"], "GET /checkout");
    assert_eq!(t0["startTimeUnixNano"], (BASE_NS + 120 * S).to_string());
    assert_eq!(t0["durationMs"], 900);
    assert_eq!(t0["spanSet"]["matched"], 1);

    // Table: a header, one aligned row per trace, a count.
    let table = cli::render_search_table(&all);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("TRACE ID"), "{table}");
    assert_eq!(lines.len(), 6, "{table}");
    let col = lines[0].find("ROOT SERVICE").unwrap();
    assert!(
        lines[1..5].iter().all(|l| &l[col..col + 3] == "web"),
        "{table}"
    );

    // Metrics JSON and table.
    let req = MetricsRequest::aligned(BASE_NS, BASE_NS + 240 * S, 60 * S);
    let m = metrics(
        &snap,
        &parse("{ status = error } | count_over_time() by (resource.service.name)").unwrap(),
        req,
    )
    .unwrap();
    let mj = json::metrics_json(&m);
    let series = mj["series"].as_array().unwrap();
    assert_eq!(series.len(), 2);
    assert_eq!(series[0]["labels"][0]["key"], "resource.service.name");
    assert_eq!(series[0]["labels"][0]["value"]["stringValue"], "api");
    let samples = series[0]["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 4);
    assert_eq!(
        samples[2]["timestampMs"],
        ((BASE_NS + 120 * S) / 1_000_000).to_string()
    );
    assert_eq!(samples[2]["value"], 1.0);
    assert_eq!(samples[1]["value"], 0.0);
    let mt = cli::render_metrics_table(&m);
    assert!(
        mt.lines().next().unwrap().contains("resource.service.name"),
        "{mt}"
    );
    assert_eq!(mt.lines().count(), 1 + 8, "{mt}");
}

#[test]
fn queries_and_requests_that_cannot_run_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_with(dir.path(), &shop(), 100, 100);
    let snap = db.snapshot().unwrap();
    let e = search(&snap, &parse("{ } | rate()").unwrap(), TimeRange::ALL, 5).unwrap_err();
    assert!(e.to_string().contains("metrics pipeline"), "{e}");
    let e = metrics(
        &snap,
        &parse("{ }").unwrap(),
        MetricsRequest::aligned(0, 10, 1),
    )
    .unwrap_err();
    assert!(e.to_string().contains("pipeline"), "{e}");
    let bad = MetricsRequest {
        start_ns: 10,
        end_ns: 10,
        step_ns: 1,
    };
    assert!(metrics(&snap, &parse("{ } | rate()").unwrap(), bad).is_err());
    let e = parse("{ status = error } |").unwrap_err();
    assert!(
        matches!(
            e,
            spandb_query::Error::Query {
                line: 1,
                column: 21,
                ..
            }
        ),
        "{e:?}"
    );
}
