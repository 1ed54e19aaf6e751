//! A small shop: searches over sealed blocks and the unsealed builder, structural operators,
//! and trace assembly through the store (the facade's tests render the same shop).

mod common;

use common::*;
use spandb_query::builder::{attr, field, spanset};
use spandb_query::{metrics, parse, search, trace, MetricsRequest, TimeRange};
use spandb_storage::{SpanKind, StatusCode};

#[test]
fn search_and_trace_assembly() {
    let spans = shop();
    let dir = tempfile::tempdir().unwrap();
    let db = db_with(dir.path(), &spans, 9, 3); // traces 0-2 sealed, trace 3 in the builder
    let snap = db.snapshot().unwrap();
    assert_eq!(snap.blocks().count(), 1);
    assert_eq!(snap.unsealed_span_count(), 3);

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

/// `trace:duration` and the root are answered from each block's trace table only for traces
/// wholly in the block: a trace whose short parts lie in two blocks is long as a whole.
#[test]
fn trace_duration_counts_every_part_of_a_split_trace() {
    let web = resource(Some("web"), "eu");
    let part = |id: u32, start_s: u64| {
        span(
            0,
            id,
            (id > 0).then_some(0),
            &web,
            "step",
            SpanKind::Internal,
            StatusCode::Ok,
            BASE_NS + start_s * S,
            100_000_000,
            vec![],
        )
    };
    let short = span(
        1,
        10,
        None,
        &web,
        "quick",
        SpanKind::Server,
        StatusCode::Ok,
        BASE_NS,
        200_000_000,
        vec![],
    );
    let mut other = short.clone();
    other.trace_id.0[15] = 3; // trace 2
                              // Blocks of 2 spans: [trace 0 at 0 s, trace 1], [trace 0 at 5 s and 20 s]; the memtable
                              // holds another trace.
    let spans = vec![part(0, 0), short, part(1, 5), part(2, 20), other];
    let dir = tempfile::tempdir().unwrap();
    let db = db_with(dir.path(), &spans, 2, 1);
    let snap = db.snapshot().unwrap();
    assert_eq!(snap.blocks().count(), 2);
    let find = |q: &str| -> Vec<u32> {
        let mut found: Vec<u32> = search(&snap, &parse(q).unwrap(), TimeRange::ALL, 10)
            .unwrap()
            .iter()
            .map(|t| u32::from_be_bytes(t.trace_id.0[12..].try_into().unwrap()) - 1)
            .collect();
        found.sort_unstable();
        found
    };
    assert_eq!(snap.unsealed_span_count(), 1);
    // Trace 0 lasts 20.1 s, though no block holds more than 15.1 s of it.
    assert_eq!(find("{ trace:duration > 20s }"), vec![0]);
    assert_eq!(find("{ trace:duration >= 20100ms }"), vec![0]);
    assert_eq!(find("{ trace:duration = 20100ms }"), vec![0]);
    assert_eq!(find("{ trace:duration < 1s }"), vec![1, 2]);
    assert_eq!(find("{ trace:duration < 20100ms }"), vec![1, 2]);
    assert_eq!(find("{ trace:duration > 30s }"), Vec::<u32>::new());
    assert_eq!(find("{ trace:duration != 200ms }"), vec![0]);
    // The root of trace 0 is in the first block only.
    assert_eq!(find(r#"{ trace:rootName = "step" }"#), vec![0]);
    assert_eq!(find(r#"{ trace:rootName != "step" }"#), vec![1, 2]);
    assert_eq!(
        find(r#"{ trace:rootService = "web" && trace:duration > 20s }"#),
        vec![0]
    );
}
