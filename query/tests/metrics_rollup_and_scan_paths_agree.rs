//! The same metrics query answered from block rollups and by scanning spans gives the same
//! counts and averages, and quantiles within the sketch's 1% bound; both match the exact
//! reference.

mod common;

use common::*;
use spandb_query::{
    metrics, parse, reference, MetricsPath, MetricsRequest, Series, QUANTILE_RELATIVE_ERROR,
};
use spandb_storage::{KeyValue, SpanKind, StatusCode, Value};

fn dataset() -> Vec<spandb_storage::Span> {
    let services = checkout_cart_auth();
    let names = OPERATIONS;
    let mut spans = Vec::new();
    let mut next = lcg(42);
    for i in 0..6000u32 {
        let r = next();
        let dur = (r % 1000 + 1) * 1_000 * if r % 17 == 0 { 1000 } else { 1 };
        let status = if r % 23 == 0 {
            StatusCode::Error
        } else {
            StatusCode::Ok
        };
        spans.push(span(
            i / 7,
            i,
            None,
            &services[(r % 3) as usize],
            names[((r >> 3) % 3) as usize],
            SpanKind::Server,
            status,
            BASE_NS + u64::from(i) * 100_000_000, // 10 minutes of spans
            dur,
            vec![KeyValue::new(
                "http.status",
                Value::Int(if status == StatusCode::Error {
                    500
                } else {
                    200
                }),
            )],
        ));
    }
    spans
}

fn assert_close(a: &[Series], b: &[Series], rel: f64) {
    assert_eq!(a.len(), b.len(), "series count");
    assert!(!a.is_empty());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.labels, y.labels);
        assert_eq!(x.samples.len(), y.samples.len(), "{:?}", x.labels);
        for ((tx, vx), (ty, vy)) in x.samples.iter().zip(&y.samples) {
            assert_eq!(tx, ty);
            assert!(
                (vx - vy).abs() <= vy.abs() * rel + 1e-12,
                "{:?} at {tx}: {vx} vs {vy}",
                x.labels
            );
        }
    }
}

#[test]
fn rollup_and_scan_agree_within_the_sketch_bound() {
    let spans = dataset();
    let dir = tempfile::tempdir().unwrap();
    // Blocks of 1100 spans (sealed when a write reaches it), the rest unsealed.
    let db = db_with(dir.path(), &spans, 1100, 250);
    let snap = db.snapshot().unwrap();
    assert!(snap.blocks().count() >= 4, "several sealed blocks");
    assert!(snap.unsealed_span_count() > 0, "some unsealed spans");
    let req = MetricsRequest::aligned(BASE_NS, BASE_NS + 600_000_000_000, 60_000_000_000);
    let cases = [
        ("{ } | rate() by (resource.service.name)", "{ duration >= 0ns } | rate() by (resource.service.name)", 1e-9),
        (
            r#"{ resource.service.name != "auth" && status = error } | count_over_time() by (name)"#,
            r#"{ resource.service.name != "auth" && status = error && kind = server } | count_over_time() by (name)"#,
            1e-9,
        ),
        (
            r#"{ name =~ "GET.*|POST.*" } | avg_over_time(duration) by (resource.service.name, name)"#,
            r#"{ name =~ "GET.*|POST.*" && duration >= 0ns } | avg_over_time(duration) by (resource.service.name, name)"#,
            1e-9,
        ),
        (
            "{ } | quantile_over_time(duration, .5, .9, .99) by (resource.service.name)",
            "{ duration >= 0ns } | quantile_over_time(duration, .5, .9, .99) by (resource.service.name)",
            0.0,
        ),
    ];
    for (covered, scanned, rel) in cases {
        let q1 = parse(covered).unwrap();
        let q2 = parse(scanned).unwrap();
        let r1 = metrics(&snap, &q1, req).unwrap();
        let r2 = metrics(&snap, &q2, req).unwrap();
        assert_eq!(r1.path, MetricsPath::Rollup, "{covered}");
        assert_eq!(r2.path, MetricsPath::Scan, "{scanned}");
        // Both paths feed the same sketch, so even quantiles agree exactly.
        assert_close(&sorted(r1.series.clone()), &sorted(r2.series.clone()), rel);
        // And both are within the documented bound of the exact answer.
        let exact = sorted(reference::metrics(&spans, &q1, req).unwrap());
        let bound = if covered.contains("quantile") {
            QUANTILE_RELATIVE_ERROR
        } else {
            1e-9
        };
        assert_close(&sorted(r1.series), &exact, bound);
    }
    // An unaligned window cannot use the per-minute rollups.
    let unaligned = MetricsRequest {
        start_ns: BASE_NS + 1,
        end_ns: BASE_NS + 600_000_000_000,
        step_ns: 60_000_000_000,
    };
    let r = metrics(&snap, &parse("{ } | count_over_time()").unwrap(), unaligned).unwrap();
    assert_eq!(r.path, MetricsPath::Scan);
    let total: f64 = r.series[0].samples.iter().map(|s| s.1).sum();
    assert_eq!(
        total, 5999.0,
        "every span but the one starting exactly at the window start"
    );
}
