//! `histogram_over_time(duration)`: spans per step in Tempo's power-of-two duration buckets,
//! one series per bucket labelled `__bucket` (its upper bound in seconds), grouped further by
//! `by (...)`; the same from the engine (blocks and unsealed spans) and the reference.

mod common;

use common::*;
use spandb_query::{metrics, parse, reference, LabelValue, MetricsRequest, Series};
use spandb_storage::{Span, SpanKind, StatusCode};

fn spans() -> Vec<Span> {
    let web = resource(Some("web"), "eu");
    let api = resource(Some("api"), "eu");
    // (service, second, duration ns)
    let rows = [
        (&web, 0, 1),              // under 2 ns: no bucket
        (&web, 1, 2),              // 2 ns
        (&web, 2, 3),              // 4 ns
        (&web, 3, 4),              // 4 ns
        (&api, 4, 1_000_000_000),  // 2^30 ns
        (&api, 70, 1_500_000_000), // 2^31 ns
        (&web, 71, 4),             // 4 ns
    ];
    rows.into_iter()
        .enumerate()
        .map(|(i, (res, sec, dur))| {
            span(
                i as u32,
                i as u32,
                None,
                res,
                "op",
                SpanKind::Server,
                StatusCode::Ok,
                BASE_NS + sec * S,
                dur,
                vec![],
            )
        })
        .collect()
}

fn table(series: &[Series]) -> Vec<(Vec<String>, Vec<f64>)> {
    let mut out: Vec<(Vec<String>, Vec<f64>)> = series
        .iter()
        .map(|s| {
            (
                s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                s.samples.iter().map(|(_, v)| *v).collect(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn spans_fall_in_power_of_two_buckets_per_step() {
    let spans = spans();
    let dir = tempfile::tempdir().unwrap();
    let db = db_with(dir.path(), &spans, 4, 2);
    let snap = db.snapshot().unwrap();
    let req = MetricsRequest::aligned(BASE_NS, BASE_NS + 120 * S, 60 * S);
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let q = parse("{ } | histogram_over_time(duration)").unwrap();
    let want = vec![
        (s(&["__bucket=0.000000002"]), vec![1.0, 0.0]),
        (s(&["__bucket=0.000000004"]), vec![2.0, 1.0]),
        (s(&["__bucket=1.073741824"]), vec![1.0, 0.0]),
        (s(&["__bucket=2.147483648"]), vec![0.0, 1.0]),
    ];
    let got = metrics(&snap, &q, req).unwrap();
    assert_eq!(table(&got.series), want);
    assert_eq!(table(&reference::metrics(&spans, &q, req).unwrap()), want);
    assert!(got.series.iter().all(|s| matches!(
        s.labels.last(),
        Some((k, LabelValue::Float(_))) if k == "__bucket"
    )));

    let q = parse("{ } | histogram_over_time(duration) by (resource.service.name)").unwrap();
    let got = table(&metrics(&snap, &q, req).unwrap().series);
    let exact = table(&reference::metrics(&spans, &q, req).unwrap());
    assert_eq!(got, exact);
    assert_eq!(got.len(), 4);
    assert_eq!(
        got[0],
        (
            s(&["resource.service.name=api", "__bucket=1.073741824"]),
            vec![1.0, 0.0]
        )
    );
    // Prints back and parses to the same tree.
    assert_eq!(parse(&q.to_string()).unwrap(), q);
    // Over another attribute than duration: refused, never answered otherwise.
    assert!(matches!(
        parse("{ } | histogram_over_time(span.size)"),
        Err(spandb_query::Error::Unsupported(_))
    ));
}

#[test]
fn histogram_matches_the_reference_on_a_shop() {
    let spans = shop();
    let dir = tempfile::tempdir().unwrap();
    let db = db_with(dir.path(), &spans, 50, 7);
    let snap = db.snapshot().unwrap();
    let (lo, hi) = spans.iter().fold((u64::MAX, 0), |(lo, hi), s| {
        (lo.min(s.start_ns), hi.max(s.start_ns))
    });
    let req = MetricsRequest::aligned(lo, hi + 1, 10 * S);
    for q in [
        "{ } | histogram_over_time(duration) by (name)",
        "{ status = error } | histogram_over_time(duration)",
        "{ } >> { } | histogram_over_time(duration)",
    ] {
        let query = parse(q).unwrap();
        let got = table(&metrics(&snap, &query, req).unwrap().series);
        let want = table(&reference::metrics(&spans, &query, req).unwrap());
        assert!(!want.is_empty(), "{q}");
        assert_eq!(got, want, "{q}");
    }
}
