//! Three stores holding disjoint traces, their metrics states (sent through JSON) merged,
//! answer every single-function metrics query exactly as one store holding every span:
//! counts, rates, sums, averages, min/max, histograms and sketch quantiles, on the rollup
//! path and the scan path, range and instant.

mod common;

use common::*;
use spandb_query::{
    metrics, metrics_from_states, metrics_state, parse, MetricsRequest, MetricsState,
};
use spandb_storage::{KeyValue, SpanKind, StatusCode, Value};

fn dataset() -> Vec<spandb_storage::Span> {
    let services = checkout_cart_auth();
    let names = OPERATIONS;
    let mut next = lcg(7);
    (0..4000u32)
        .map(|i| {
            let r = next();
            let dur = (r % 1000 + 1) * 1_000 * if r % 17 == 0 { 1000 } else { 1 };
            let status = if r % 23 == 0 {
                StatusCode::Error
            } else {
                StatusCode::Ok
            };
            span(
                i / 5,
                i,
                None,
                &services[(r % 3) as usize],
                names[((r >> 3) % 3) as usize],
                SpanKind::Server,
                status,
                BASE_NS + u64::from(i) * 150_000_000,
                dur,
                vec![KeyValue::new(
                    "http.status",
                    Value::Int((r % 3) as i64 * 100 + 200),
                )],
            )
        })
        .collect()
}

#[test]
fn merged_states_answer_as_one_store() {
    let spans = dataset();
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let all = db_with(dirs[0].path(), &spans, 900, 200);
    // Three stores, each with whole traces (as Kafka partitions by trace id).
    let parts: Vec<_> = (0..3u32)
        .map(|n| {
            let mine: Vec<_> = spans
                .iter()
                .filter(|s| s.trace_id.0[15] % 3 == n as u8)
                .cloned()
                .collect();
            assert!(!mine.is_empty());
            db_with(dirs[n as usize + 1].path(), &mine, 400, 100)
        })
        .collect();
    let all_snap = all.snapshot().unwrap();
    let snaps: Vec<_> = parts.iter().map(|d| d.snapshot().unwrap()).collect();
    let minute = 60_000_000_000;
    let aligned = MetricsRequest::aligned(BASE_NS, BASE_NS + 600 * 1_000_000_000, minute);
    let odd = MetricsRequest::aligned(BASE_NS + 7, BASE_NS + 590 * 1_000_000_000, 45_000_000_000);
    let instant = MetricsRequest {
        start_ns: BASE_NS,
        end_ns: BASE_NS + 600 * 1_000_000_000,
        step_ns: 600 * 1_000_000_000,
    };
    let queries = [
        "{ } | rate() by (resource.service.name)",
        "{ status = error } | count_over_time() by (name)",
        "{ } | sum_over_time(duration) by (resource.service.name)",
        "{ } | avg_over_time(duration) by (resource.service.name, name)",
        "{ .http.status >= 300 } | avg_over_time(duration) by (.http.status)",
        "{ } | min_over_time(duration) by (name)",
        "{ kind = server } | max_over_time(duration) by (resource.service.name)",
        "{ } | histogram_over_time(duration) by (resource.service.name)",
        "{ } | quantile_over_time(duration, .5, .9, .99) by (resource.service.name)",
        "{ duration > 10us } | quantile_over_time(duration, 0, .25, 1) by (.http.status)",
        "{ } | quantile_over_time(duration, .99) by (name) | topk(2)",
        "({ status = error } | rate() by (name)) / ({ } | rate() by (name)) * 100",
        "({ } | quantile_over_time(duration, .9)) - ({ } | avg_over_time(duration))",
    ];
    for q in queries {
        let query = parse(q).unwrap();
        for req in [aligned, odd, instant] {
            let one = metrics(&all_snap, &query, req).unwrap();
            let states: Vec<MetricsState> = snaps
                .iter()
                .map(|s| {
                    let state = metrics_state(s, &query, req).unwrap();
                    // As the front receives it: through JSON.
                    serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap()
                })
                .collect();
            let merged = metrics_from_states(&query, states).unwrap();
            assert!(!one.series.is_empty(), "{q}: no series");
            assert_eq!(
                sorted(merged.series),
                sorted(one.series),
                "{q} over {req:?}"
            );
        }
    }
    // States of different windows do not merge; compare() has no state.
    let q = parse("{ } | count_over_time()").unwrap();
    let a = metrics_state(&snaps[0], &q, aligned).unwrap();
    let b = metrics_state(&snaps[1], &q, odd).unwrap();
    assert!(metrics_from_states(&q, vec![a, b]).is_err());
    let compare = parse("{ } | compare({ status = error })").unwrap();
    let err = metrics_state(&snaps[0], &compare, aligned).unwrap_err();
    assert!(err.to_string().contains("merge"), "{err}");
    // A state that names an impossible sketch bucket is refused, not trusted.
    let q = parse("{ } | quantile_over_time(duration, .5)").unwrap();
    let state = metrics_state(&snaps[0], &q, aligned).unwrap();
    let text = serde_json::to_string(&state).unwrap();
    let bad = text.replacen("\"offset\":", "\"offset\":-", 1);
    assert_ne!(bad, text);
    let bad: MetricsState = serde_json::from_str(&bad).unwrap();
    assert!(metrics_from_states(&q, vec![bad]).is_err());
}
