//! Figures for log records (docs/ARCHITECTURE.md, "Log blocks"): bytes on disk per record,
//! the body trigram bloom against a word bloom, a word search, a trace's logs p50/p99 and
//! pattern mining over the last hour.
//!
//! `cargo run --release --example logs_figures -- <db>`

use std::time::Instant;

use spandb::{Db, Options, TimeRange};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p) as usize]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: logs_figures <db>")?;
    let db = Db::open_existing(&dir, Options::new())?;
    let snap = db.snapshot()?;
    let st = snap.stats()?;
    let (mut bytes, mut rows, mut bloom, mut words) = (0u64, 0u64, 0u64, 0u64);
    let mut traces = Vec::new();
    for b in snap.storage().log_blocks() {
        bytes += b.file_len();
        rows += u64::from(b.footer().rows);
        traces.extend(b.trace_ids());
        for (gi, g) in b.footer().groups.iter().enumerate() {
            bloom += g.bloom.byte_len() as u64;
            let recs = b.decode_group(gi)?;
            let bodies: Vec<String> = recs.iter().map(|l| l.body_text().into_owned()).collect();
            words +=
                spandb_storage::block::log::token_bloom_bytes(bodies.iter().map(|s| s.as_str()))
                    as u64;
        }
    }
    println!(
        "log records {} (sealed {rows}), log block bytes {bytes}: {:.1} B/record",
        st.logs,
        bytes as f64 / rows.max(1) as f64
    );
    println!(
        "body trigram blooms {:.1} B/record; a word bloom would take {:.1} B/record",
        bloom as f64 / rows.max(1) as f64,
        words as f64 / rows.max(1) as f64
    );
    for q in [
        r#"|= "Lock wait timeout""#,
        r#"|= "timeout""#,
        r#"{ severity >= error } |= "pool exhausted""#,
        r#"|= "no-such-word-zz""#,
    ] {
        let mut times = Vec::new();
        let mut n = 0;
        for _ in 0..20 {
            let t = Instant::now();
            n = snap.logs(q, TimeRange::ALL, 100)?.len();
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        println!(
            "search {q}: {n} records, p50 {:.2} ms",
            pct(&mut times, 0.5)
        );
    }
    traces.sort();
    traces.dedup();
    let step = (traces.len() / 1000).max(1);
    let mut times = Vec::new();
    for t in traces.iter().step_by(step) {
        let s = Instant::now();
        let _ = snap.logs_of_trace(t)?;
        times.push(s.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "logs of one trace ({} traces): p50 {:.3} ms, p99 {:.3} ms",
        times.len(),
        pct(&mut times.clone(), 0.5),
        pct(&mut times, 0.99)
    );
    let newest = snap
        .logs("", TimeRange::ALL, 1)?
        .first()
        .map(|l| l.timestamp_ns())
        .unwrap_or(0);
    let hour = 3_600_000_000_000u64;
    let t = Instant::now();
    let p = snap.log_patterns(
        "",
        TimeRange::new(newest.saturating_sub(hour), newest + 1),
        None,
    )?;
    println!(
        "patterns over 1h: {} records, {} patterns in {:.0} ms",
        p.records,
        p.patterns.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}
