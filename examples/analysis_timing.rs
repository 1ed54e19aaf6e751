//! Times the analyses on an existing database (docs/ANALYSIS.md, "Figures"):
//! `cargo run --release --example analysis_timing -- <db> [traceql]`.
//! Error groups, the service graph and anomalies over the whole data range, one trace
//! explained, and the time breakdown of the newest 1,000 traces matching the query (default
//! `{ }`), each run five times (`ANALYSIS_RUNS`; `ANALYSIS_ONLY=graph` runs one; the best and the median
//! are printed: the first run pays for page faults).

use std::time::Instant;

fn main() -> spandb::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "./spandb-data".into());
    let query = args.next().unwrap_or_else(|| "{ }".into());
    let db = spandb::Db::open_existing(&dir, spandb::Options::new())?;
    let snap = db.snapshot()?;
    let range = snap.time_range().unwrap_or(spandb::TimeRange::ALL);
    // `ANALYSIS_ONLY=graph` (a word of the label) times one analysis, e.g. under a profiler.
    let only = std::env::var("ANALYSIS_ONLY").ok();
    let runs: usize = std::env::var("ANALYSIS_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
        .max(3);
    let time = |what: &str, f: &mut dyn FnMut() -> spandb::Result<String>| -> spandb::Result<()> {
        if only.as_deref().is_some_and(|o| !what.contains(o)) {
            return Ok(());
        }
        let mut ms = Vec::new();
        let mut note = String::new();
        for _ in 0..runs {
            let t = Instant::now();
            note = f()?;
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "{what}: best {:.1} ms, median {:.1} ms ({note})",
            ms[0],
            ms[runs / 2]
        );
        Ok(())
    };
    time("error groups over the data range", &mut || {
        let g = snap.error_groups(range, None)?;
        Ok(format!(
            "{} error spans, {} groups",
            g.error_spans,
            g.groups.len()
        ))
    })?;
    time("service graph over the data range", &mut || {
        let g = snap.service_graph(spandb::TimeRange::ALL, None::<&str>)?;
        Ok(format!("{} nodes, {} edges", g.nodes.len(), g.edges.len()))
    })?;
    time("anomalies over the data range (self-baseline)", &mut || {
        let a = snap.anomalies(range, None)?;
        Ok(format!("{} incidents", a.incidents.len()))
    })?;
    let trace = snap
        .search("{ status = error }", spandb::TimeRange::ALL, 1)?
        .first()
        .map(|t| t.trace_id);
    if let Some(trace) = trace {
        time("explain one failed trace", &mut || {
            Ok(format!("{} sentences", snap.explain(&trace)?.summary.len()))
        })?;
    }
    time("breakdown of 1000 traces", &mut || {
        let b = snap.time_breakdown(&query, spandb::TimeRange::ALL, 1000)?;
        Ok(format!(
            "{} traces, {} operations",
            b.traces,
            b.critical_path.len()
        ))
    })?;
    Ok(())
}
