//! Trace lookup latency over 1000 random trace ids of a database: a first (cold-ish) pass and
//! a warm pass, p50/p99/max.
//!
//!     cargo run --release -p spandb-storage --example lookup_latency -- <db-dir>

use std::time::Instant;

use spandb_storage::{Options, TraceId};

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: lookup_latency <db-dir>")?;
    let db = Options::new().maintenance_interval(None).open(&dir)?;
    let snap = db.snapshot()?;
    let mut all: Vec<TraceId> = Vec::new();
    for b in snap.blocks() {
        all.extend(b.footer()?.traces.iter().map(|t| t.trace_id));
    }
    let mut x = 0x2545F4914F6CDD1Du64;
    let ids: Vec<TraceId> = (0..1000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            all[(x % all.len() as u64) as usize]
        })
        .collect();
    for pass in ["first", "warm"] {
        let mut us = Vec::with_capacity(ids.len());
        let mut spans = 0;
        for id in &ids {
            let t = Instant::now();
            spans += db.trace(id)?.len();
            us.push(t.elapsed().as_secs_f64() * 1e6);
        }
        us.sort_by(f64::total_cmp);
        println!(
            "{pass:>5} pass: p50 {:.0} us, p99 {:.0} us, max {:.0} us ({} spans from {} lookups)",
            pct(&us, 0.5),
            pct(&us, 0.99),
            us[us.len() - 1],
            spans,
            ids.len()
        );
    }
    Ok(())
}
