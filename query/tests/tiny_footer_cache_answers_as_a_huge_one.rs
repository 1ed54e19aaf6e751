//! A database whose footer cache holds (almost) nothing answers every query exactly as one
//! whose cache holds every footer: search, trace lookup, metrics (rollup and scan paths) and
//! tags. The tiny cache really evicts, and the huge one holds every block within its budget.

mod common;

use common::*;
use spandb_query::tags::{tag_names, tag_values};
use spandb_query::{metrics, parse, search, MetricsRequest, TimeRange};
use spandb_storage::{Db, Options, Span, SpanKind, StatusCode};

fn open(dir: &std::path::Path, spans: &[Span], cache_bytes: usize) -> Db {
    let db = Options::new()
        .block_max_spans(700)
        .rows_per_group(64)
        .maintenance_interval(None)
        .cache_bytes(cache_bytes)
        .open(dir)
        .unwrap();
    for chunk in spans.chunks(100) {
        db.write(chunk.to_vec()).unwrap();
    }
    assert!(db.check().unwrap().is_ok());
    db
}

fn dataset() -> Vec<Span> {
    let services = checkout_cart_auth();
    let names = OPERATIONS;
    let mut next = lcg(7);
    (0..5000u32)
        .map(|i| {
            let r = next();
            span(
                i / 5,
                i,
                None,
                &services[(r % 3) as usize],
                names[((r >> 3) % 3) as usize],
                SpanKind::Server,
                if r % 19 == 0 {
                    StatusCode::Error
                } else {
                    StatusCode::Ok
                },
                BASE_NS + u64::from(i) * 100_000_000,
                (r % 1000 + 1) * 1_000_000,
                Vec::new(),
            )
        })
        .collect()
}

#[test]
fn tiny_and_huge_caches_give_the_same_answers() {
    let spans = dataset();
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let tiny = open(d1.path(), &spans, 1);
    let huge = open(d2.path(), &spans, usize::MAX / 2);
    let (st, sh) = (tiny.snapshot().unwrap(), huge.snapshot().unwrap());
    assert!(st.blocks().count() >= 5, "several sealed blocks");
    let all = TimeRange::ALL;
    for q in [
        "{ }",
        "{ duration > 500ms }",
        r#"{ resource.service.name = "cart" && status = error }"#,
        r#"{ name = "SELECT" } >> { duration < 100ms }"#,
    ] {
        let q = parse(q).unwrap();
        assert_eq!(
            format!("{:?}", search(&st, &q, all, usize::MAX).unwrap()),
            format!("{:?}", search(&sh, &q, all, usize::MAX).unwrap())
        );
    }
    for t in [0u32, 17, 500, 999] {
        let id = spans[(t * 5) as usize].trace_id;
        assert_eq!(st.trace(&id).unwrap().len(), 5);
        assert_eq!(
            format!("{:?}", st.trace(&id).unwrap()),
            format!("{:?}", sh.trace(&id).unwrap())
        );
    }
    let req = MetricsRequest::aligned(BASE_NS, BASE_NS + 600_000_000_000, 60_000_000_000);
    for q in [
        "{ } | rate() by (resource.service.name)",
        "{ } | quantile_over_time(duration, .5, .99) by (name)",
        "{ duration >= 0ns } | count_over_time() by (resource.service.name)",
    ] {
        let q = parse(q).unwrap();
        assert_eq!(
            format!("{:?}", metrics(&st, &q, req).unwrap().series),
            format!("{:?}", metrics(&sh, &q, req).unwrap().series)
        );
    }
    assert_eq!(
        format!("{:?}", tag_names(&st, all).unwrap()),
        format!("{:?}", tag_names(&sh, all).unwrap())
    );
    assert_eq!(
        format!(
            "{:?}",
            tag_values(&st, None, "service.name", all, 100).unwrap()
        ),
        format!(
            "{:?}",
            tag_values(&sh, None, "service.name", all, 100).unwrap()
        )
    );
    let (ct, ch) = (tiny.cache_stats(), huge.cache_stats());
    // A budget of one byte holds no footer: every use decoded one again.
    assert_eq!((ct.entries, ct.bytes), (0, 0));
    assert!(ct.misses > ch.misses, "{ct:?} vs {ch:?}");
    // The huge cache holds every block's footer, and counts real sizes (a footer of 700
    // spans takes tens of KiB: dictionary, bitmaps, rollup, trace table).
    assert_eq!(ch.entries, sh.blocks().count() as u64);
    assert!(ch.bytes > ch.entries * 10_000, "{ch:?}");
}

#[test]
fn a_small_budget_evicts_least_recently_used_and_stays_within_it() {
    let spans = dataset();
    let d = tempfile::tempdir().unwrap();
    let huge = open(d.path(), &spans, usize::MAX / 2);
    // Footers are cached when a query first reads them (not when a block is opened).
    let q = parse("{ status = error }").unwrap();
    search(&huge.snapshot().unwrap(), &q, TimeRange::ALL, usize::MAX).unwrap();
    let per_block = huge.cache_stats().bytes / huge.cache_stats().entries;
    drop(huge);
    // Room for about two footers.
    let budget = (per_block * 5 / 2) as usize;
    let db = Options::new()
        .maintenance_interval(None)
        .cache_bytes(budget)
        .open(d.path())
        .unwrap();
    let snap = db.snapshot().unwrap();
    let q = parse("{ status = error }").unwrap();
    search(&snap, &q, TimeRange::ALL, usize::MAX).unwrap();
    let s = db.cache_stats();
    assert!(s.bytes <= budget as u64, "{s:?}");
    assert!(s.entries >= 1 && s.entries <= 3, "{s:?}");
    assert!(s.evictions > 0, "{s:?}");
}
