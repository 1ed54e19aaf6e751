//! Measures search and metrics latency on a generated dataset.
//!
//! ```text
//! cargo run --release -p spandb-query --example bench_queries -- /work/data/spans_1m.jsonl /work/data/query_bench_1m
//! ```
//! Imports the OTLP JSON lines file into the database directory on first use, then runs each
//! query repeatedly and prints p50/p99.

use std::io::BufRead;
use std::time::Instant;

use spandb_query::{data_time_range, metrics, parse, search, MetricsRequest, TimeRange};
use spandb_storage::{Options, Span};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (input, dir) = (
        args.get(1)
            .ok_or("usage: bench_queries SPANS.jsonl DB_DIR")?,
        args.get(2).ok_or("DB_DIR")?,
    );
    let fresh = !std::path::Path::new(dir).exists();
    let db = Options::new().open(dir)?;
    if fresh {
        let t = Instant::now();
        let file = std::io::BufReader::new(std::fs::File::open(input)?);
        let mut batch: Vec<Span> = Vec::new();
        for line in file.lines() {
            spandb_storage::otlp::json::decode_json_request(line?.as_bytes(), &mut batch)?;
            if batch.len() >= 10_000 {
                db.write(std::mem::take(&mut batch))?;
            }
        }
        db.write(batch)?;
        db.flush()?;
        eprintln!("imported in {:.1}s", t.elapsed().as_secs_f64());
    }
    let snap = db.snapshot()?;
    let full = data_time_range(&snap).ok_or("empty database")?;
    if std::env::var("BENCH_STATS").is_ok() {
        for b in snap.blocks() {
            let f = b.footer();
            let buckets: usize = f
                .rollup
                .cells
                .values()
                .map(|c| c.durations.buckets().len())
                .sum();
            eprintln!(
                "block {}: rows {} traces {} groups {} rollup cells {} buckets {} span {:.1}..{:.1} min",
                b.id(), f.rows, f.traces.len(), f.groups.len(), f.rollup.cells.len(), buckets,
                (f.min_start_ns - full.start_ns) as f64 / 6e10, (f.max_start_ns - full.start_ns) as f64 / 6e10
            );
        }
    }
    eprintln!(
        "blocks: {}, unsealed: {}",
        snap.blocks().count(),
        snap.unsealed_spans().count()
    );
    let ten_min = TimeRange::new(
        full.start_ns + 20 * 60_000_000_000,
        full.start_ns + 30 * 60_000_000_000,
    );
    let searches = [
        (
            "(a) service && error, 10 min",
            r#"{ resource.service.name = "payment" && status = error }"#,
            ten_min,
        ),
        (
            "(b) attribute equality",
            r#"{ span.db.system = "redis" }"#,
            TimeRange::ALL,
        ),
        (
            "(b2) http.route equality",
            r#"{ span.http.response.status_code = 503 }"#,
            TimeRange::ALL,
        ),
        (
            "(c) duration > 500ms",
            "{ duration > 500ms }",
            TimeRange::ALL,
        ),
        (
            "structural",
            r#"{ resource.service.name = "frontend-proxy" } >> { status = error }"#,
            TimeRange::ALL,
        ),
    ];
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    for (label, q, range) in searches {
        if !label.contains(only.as_str()) {
            continue;
        }
        let query = parse(q)?;
        let n = search(&snap, &query, range, 20)?.len();
        report(label, n, || search(&snap, &query, range, 20).map(|_| ()))?;
    }
    let req = MetricsRequest::aligned(full.start_ns, full.end_ns, 60_000_000_000);
    let pipelines = [
        (
            "RED rate by service (rollup)",
            "{ } | rate() by (resource.service.name)",
        ),
        (
            "p99 by service (rollup)",
            "{ } | quantile_over_time(duration, .99) by (resource.service.name)",
        ),
        (
            "error rate by service (rollup)",
            "{ status = error } | rate() by (resource.service.name)",
        ),
        (
            "p99 by service (scan)",
            "{ kind = server } | quantile_over_time(duration, .99) by (resource.service.name)",
        ),
    ];
    for (label, q) in pipelines {
        if !label.contains(only.as_str()) {
            continue;
        }
        let query = parse(q)?;
        let r = metrics(&snap, &query, req)?;
        eprintln!("  path {:?}, {} series", r.path, r.series.len());
        report(label, r.series.len(), || {
            metrics(&snap, &query, req).map(|_| ())
        })?;
    }
    Ok(())
}

fn report(
    label: &str,
    n: usize,
    mut f: impl FnMut() -> spandb_query::Result<()>,
) -> spandb_query::Result<()> {
    f()?;
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 200 && (times.len() < 5 || start.elapsed().as_secs_f64() < 5.0) {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let p = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "{label:<34} results {n:>4}  p50 {:>8.3} ms  p99 {:>8.3} ms  (n={})",
        p(0.5),
        p(0.99),
        times.len()
    );
    Ok(())
}
