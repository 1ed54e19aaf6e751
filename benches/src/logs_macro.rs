//! The spandb side of the macro suite's logs part (`spandb_macro logs`): imports OTLP JSON
//! log lines as `spandb import` does (batches of 4096, group commit every 50 ms, a final flush
//! and compaction), then answers the spec's questions with the answers the runner cross-checks
//! against DuckDB and chDB:
//!
//! - bytes on disk per log record;
//! - the logs of each sample trace (counts; p50/p99 of a warm second pass);
//! - a word search (`|= "word"`): the newest `limit` records' times, and the total count.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use spandb::import::{read_telemetry, ImportOptions};
use spandb::{Durability, Options, TimeRange, TraceId};
use spandb_storage::dir_size;

use crate::{percentile, rss_bytes};

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

fn summary(samples: &mut [f64]) -> Json {
    samples.sort_by(f64::total_cmp);
    json!({
        "n": samples.len(),
        "p50_ms": percentile(samples, 0.50),
        "p99_ms": percentile(samples, 0.99),
        "max_ms": samples.last().copied().unwrap_or(f64::NAN),
    })
}

/// `spandb_macro logs <logs.jsonl> <db-dir> <spec.json>`: one JSON object.
pub fn run(input: &str, dir: &str, spec_path: &str) -> BoxResult<Json> {
    let spec: Json = serde_json::from_reader(File::open(spec_path)?)?;
    let word = spec["word"].as_str().ok_or("spec: missing word")?;
    let limit = spec["limit"].as_u64().ok_or("spec: missing limit")? as usize;
    let repeats = spec["repeats"].as_u64().unwrap_or(5).max(1);
    let trace_ids: Vec<TraceId> = spec["trace_ids"]
        .as_array()
        .ok_or("spec: missing trace_ids")?
        .iter()
        .map(|t| TraceId::from_hex(t.as_str().unwrap_or_default()))
        .collect::<Result<_, _>>()?;

    let started = Instant::now();
    let db = Options::new()
        .durability(Durability::GroupCommit {
            interval: Duration::from_millis(50),
        })
        .open(dir)?;
    let report = read_telemetry(
        BufReader::with_capacity(1 << 20, File::open(input)?),
        &ImportOptions::default(),
        |_| {
            Err(spandb::Error::invalid(
                "the logs part reads log records only",
            ))
        },
        |logs| db.write_logs(logs),
    )?;
    db.flush()?;
    let ingest_s = started.elapsed().as_secs_f64();
    let t = Instant::now();
    db.compact()?;
    let compact_s = t.elapsed().as_secs_f64();
    db.close()?;
    drop(db);
    let bytes = dir_size(Path::new(dir))?;
    let records = report.logs;

    let db = spandb::Db::open_existing(dir, Options::new())?;
    let snap = db.snapshot()?;
    let mut per_trace: BTreeMap<String, usize> = BTreeMap::new();
    let mut warm = Vec::new();
    for pass in 0..2 {
        for t in &trace_ids {
            let s = Instant::now();
            let n = snap.logs_of_trace(t)?.len();
            if pass == 1 {
                warm.push(s.elapsed().as_secs_f64() * 1e3);
            }
            per_trace.insert(t.to_string(), n);
        }
    }
    let query = format!("|= \"{}\"", word.replace('\\', "\\\\").replace('"', "\\\""));
    let mut times = Vec::new();
    let mut newest = Vec::new();
    for _ in 0..repeats {
        let s = Instant::now();
        let found = snap.logs(query.as_str(), TimeRange::ALL, limit)?;
        times.push(s.elapsed().as_secs_f64() * 1e3);
        newest = found.iter().map(|l| l.timestamp_ns()).collect::<Vec<_>>();
    }
    let total = snap.logs(query.as_str(), TimeRange::ALL, usize::MAX)?.len();
    let (_, peak) = rss_bytes();
    Ok(json!({
        "engine": "spandb",
        "records": records,
        "ingest_seconds": ingest_s,
        "compact_seconds": compact_s,
        "records_per_second": records as f64 / ingest_s,
        "bytes_on_disk": bytes,
        "bytes_per_record": bytes as f64 / records.max(1) as f64,
        "peak_rss_bytes": peak,
        "trace_logs": { "warm": summary(&mut warm), "per_trace": per_trace },
        "word_search": { "word": word, "limit": limit, "times": summary(&mut times),
                         "newest_times_ns": newest, "total": total },
    }))
}
