//! Metrics arithmetic and comparisons on wrapped pipelines (`({ } | rate()) * 100`,
//! `(a | count_over_time() by (x)) / (b | count_over_time() by (x))`, `... > 10`): hand-worked
//! answers on a small store, and the engine against the full-scan reference on a larger one.

mod common;

use common::*;
use spandb_query::{
    metrics, parse, reference, Error, LabelValue, MetricsFn, MetricsRequest, Series,
};
use spandb_storage::{Span, SpanKind, StatusCode};

/// Two one-minute steps: `web` has 3 spans (1 error) in the first, 1 in the second; `api` has
/// 2 spans (both errors) in the first only.
fn small() -> Vec<Span> {
    let web = resource(Some("web"), "eu");
    let api = resource(Some("api"), "eu");
    let mut out = Vec::new();
    let rows: [(&std::sync::Arc<_>, u64, StatusCode); 6] = [
        (&web, 0, StatusCode::Ok),
        (&web, 1, StatusCode::Ok),
        (&web, 2, StatusCode::Error),
        (&web, 61, StatusCode::Ok),
        (&api, 3, StatusCode::Error),
        (&api, 4, StatusCode::Error),
    ];
    for (i, (res, sec, status)) in rows.into_iter().enumerate() {
        out.push(span(
            i as u32,
            i as u32,
            None,
            res,
            "op",
            SpanKind::Server,
            status,
            BASE_NS + sec * S,
            S,
            vec![],
        ));
    }
    out
}

/// (labels as `k=v,...`, sample values) per series, sorted.
type Table = Vec<(String, Vec<f64>)>;

fn by_service(series: &[Series]) -> Table {
    let mut out: Table = series
        .iter()
        .map(|s| {
            let name = s
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            (name, s.samples.iter().map(|(_, v)| *v).collect())
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn arithmetic_matches_series_by_labels_and_applies_numbers_to_every_sample() {
    let spans = small();
    let dir = tempfile::tempdir().unwrap();
    let db = db_with(dir.path(), &spans, 4, 2);
    let snap = db.snapshot().unwrap();
    let req = MetricsRequest::aligned(BASE_NS, BASE_NS + 120 * S, 60 * S);
    let svc = "resource.service.name";
    let cases: Vec<(String, Table)> = vec![
        (
            "({ } | count_over_time()) * 100".into(),
            vec![(String::new(), vec![500.0, 100.0])],
        ),
        (
            "100 - ({ } | count_over_time())".into(),
            vec![(String::new(), vec![95.0, 99.0])],
        ),
        // Folded as Tempo folds: integer division truncates, so this adds 0.
        (
            "(1 / 2) + ({ } | count_over_time())".into(),
            vec![(String::new(), vec![5.0, 1.0])],
        ),
        (
            "5 + ({ } | count_over_time()) * 10".into(),
            vec![(String::new(), vec![55.0, 15.0])],
        ),
        // Error ratio per service: matched by labels; 0/0 is NaN and dropped.
        (
            format!("({{ status = error }} | count_over_time() by ({svc})) / ({{ }} | count_over_time() by ({svc}))"),
            vec![
                (format!("{svc}=api"), vec![1.0]),
                (format!("{svc}=web"), vec![1.0 / 3.0, 0.0]),
            ],
        ),
        // An unlabeled series fans out to every series of the other side.
        (
            format!("({{ }} | count_over_time() by ({svc})) / ({{ }} | count_over_time())"),
            vec![
                (format!("{svc}=api"), vec![0.4, 0.0]),
                (format!("{svc}=web"), vec![0.6, 1.0]),
            ],
        ),
        // Comparisons after arithmetic keep the samples that compare.
        (
            "({ } | count_over_time()) * 10 > 20".into(),
            vec![(String::new(), vec![50.0])],
        ),
        (
            format!("({{ }} | count_over_time() by ({svc})) + ({{ }} | count_over_time() by ({svc})) | topk(1)"),
            vec![
                (format!("{svc}=web"), vec![6.0, 2.0]),
            ],
        ),
        // A comparison inside the parentheses filters that side first.
        (
            "({ } | count_over_time() > 2) * 2".into(),
            vec![(String::new(), vec![10.0])],
        ),
        // A lone wrapped pipeline with a duration comparison (in seconds).
        (
            "({ } | max_over_time(duration)) > 500ms".into(),
            vec![(String::new(), vec![1.0, 1.0])],
        ),
    ];
    for (q, want) in cases {
        let query = parse(&q).unwrap_or_else(|e| panic!("{q}: {e}"));
        let got = metrics(&snap, &query, req).unwrap_or_else(|e| panic!("{q}: {e}"));
        assert_eq!(by_service(&got.series), want, "{q}");
        let exact = reference::metrics(&spans, &query, req).unwrap();
        assert_eq!(by_service(&exact), want, "reference: {q}");
        // The printed query parses back to the same tree.
        assert_eq!(parse(&query.to_string()).unwrap(), query, "{q} -> {query}");
    }
}

#[test]
fn engine_matches_the_reference_on_arithmetic() {
    let spans = shop();
    let dir = tempfile::tempdir().unwrap();
    let db = db_with(dir.path(), &spans, 50, 7);
    let snap = db.snapshot().unwrap();
    let (lo, hi) = spans.iter().fold((u64::MAX, 0), |(lo, hi), s| {
        (lo.min(s.start_ns), hi.max(s.start_ns))
    });
    let req = MetricsRequest::aligned(lo, hi + 1, 10 * S);
    for q in [
        "({ } | rate()) * 60",
        "({ status = error } | rate() by (resource.service.name)) / ({ } | rate() by (resource.service.name))",
        "({ } | avg_over_time(duration) by (name)) - ({ } | min_over_time(duration) by (name))",
        "(({ } | rate()) * ({ } | count_over_time())) + ({ kind = server } | rate())",
        "-2 - 20 / ({ } | count_over_time() by (name))",
        "({ } | quantile_over_time(duration, .5) by (name)) * 1000",
        "({ } | count_over_time() by (name)) + ({ } | count_over_time()) | bottomk(2)",
    ] {
        let query = parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        let got = metrics(&snap, &query, req).unwrap();
        let want = reference::metrics(&spans, &query, req).unwrap();
        let (g, w) = (by_service(&got.series), by_service(&want));
        assert_eq!(g.len(), w.len(), "{q}");
        assert!(!g.is_empty(), "{q}");
        for ((gn, gv), (wn, wv)) in g.iter().zip(&w) {
            assert_eq!(gn, wn, "{q}");
            assert_eq!(gv.len(), wv.len(), "{q} {gn}");
            for (a, b) in gv.iter().zip(wv) {
                // Quantiles come from the sketch: 1% relative.
                assert!((a - b).abs() <= b.abs() * 0.011 + 1e-9, "{q} {gn}: {a} vs {b}");
            }
        }
    }
}

#[test]
fn arithmetic_parses_into_one_math_pipeline_and_bad_forms_are_errors() {
    let q = parse("({ } | rate()) + ({ } | rate()) | topk(5) > 10").unwrap();
    let p = q.pipeline.as_ref().unwrap();
    assert!(matches!(p.func, MetricsFn::Math(_)));
    assert_eq!(p.second.len(), 2);
    // Search refuses a metrics query rather than answering `{ }`.
    let dir = tempfile::tempdir().unwrap();
    let db = db_with(dir.path(), &small(), 4, 2);
    let snap = db.snapshot().unwrap();
    let r = spandb_query::search(&snap, &q, spandb_query::TimeRange::new(0, u64::MAX), 10);
    assert!(matches!(r, Err(Error::InvalidInput(_))));
    for bad in [
        "({ } | rate()) * 10s",
        "1 + 2",
        "(1 + 2) * 3",
        "({ } | rate()) *",
        "({ .a = } | rate()) * 2",
        "-({ } | rate())",
        "({ } | rate()) * (1 / 0)",
        "({ } | rate()) > (10s * 2)",
        "{ } | rate() > 10s + 5s",
        "({ } | compare({ status = error })) * 2",
        "{ } | compare({ status = error }) > 10",
        "{ } | compare({ status = error }) | topk(10)",
    ] {
        assert!(
            matches!(parse(bad), Err(Error::Query { .. })),
            "{bad}: {:?}",
            parse(bad)
        );
    }
    let _ = LabelValue::Nil;
}
