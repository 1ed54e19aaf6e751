//! The spandb side of the macro suite (`benches/macro/run.py` drives it). Two subcommands,
//! each printing one JSON object on stdout:
//!
//! ```text
//! spandb_macro ingest <spans.jsonl> <db-dir> [--batch N]
//! spandb_macro query  <db-dir> <spec.json>
//! spandb_macro columns <db-dir>
//! spandb_macro logs <logs.jsonl> <db-dir> <spec.json>
//! ```
//!
//! `logs` is the logs part (see `spandb_benches::logs_macro`).
//!
//! `columns` breaks the bytes on disk down by column (stored, i.e. compressed, and raw), block
//! footers and everything else (RocksDB), per span: where the bytes go.
//!
//! `ingest` imports OTLP JSON lines exactly as `spandb import` does (one reader thread,
//! batches of 4096 spans, group commit every 50 ms, a final flush), then reports spans/s, peak
//! RSS and bytes on disk. `query` opens the database (in a fresh process, so the first pass of
//! trace lookups is cold when the runner has evicted the files from the page cache) and runs
//! the trace lookups, searches and RED aggregations of the spec, reporting times and the
//! answers (the runner compares them with the other engines' before reporting any time).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use spandb::analysis::EdgeKind;
use spandb::query;
use spandb::{Durability, Options, TraceId};
use spandb::{LabelValue, MetricsRequest, TimeRange};
use spandb_benches::{percentile, rss_bytes, rss_split_bytes};
use spandb_storage::dir_size;

// The allocator the CLI ships with (`spandb import`, `spandb serve`): the suite measures what
// users run. Measured against glibc malloc in docs/ARCHITECTURE.md ("Memory").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ingest") if args.len() >= 3 => ingest(&args[1], &args[2], &args[3..]),
        Some("query") if args.len() == 3 => run_queries(&args[1], &args[2]),
        Some("columns") if args.len() == 2 => columns(&args[1]),
        Some("logs") if args.len() == 4 => {
            spandb_benches::logs_macro::run(&args[1], &args[2], &args[3])
        }
        _ => {
            eprintln!(
                "usage: spandb_macro ingest <spans.jsonl> <db-dir> [--batch N]\n       spandb_macro query <db-dir> <spec.json>\n       spandb_macro columns <db-dir>\n       spandb_macro logs <logs.jsonl> <db-dir> <spec.json>"
            );
            std::process::exit(2);
        }
    };
    match result {
        Ok(out) => println!("{out}"),
        Err(e) => {
            eprintln!("spandb_macro: {e}");
            std::process::exit(1);
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn ingest(input: &str, dir: &str, rest: &[String]) -> BoxResult<Json> {
    let mut batch = 4096usize;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--batch" => batch = it.next().ok_or("--batch needs a value")?.parse()?,
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    let (rss_start, _) = rss_bytes();
    let started = Instant::now();
    let db = Options::new()
        .durability(Durability::GroupCommit {
            interval: Duration::from_millis(50),
        })
        .open(dir)?;
    let file = File::open(input)?;
    let reader = BufReader::with_capacity(1 << 20, file);
    let mut spans = 0u64;
    // Sample RSS while importing (the builder's size is what bounds it).
    let mut rss_samples = Vec::new();
    let phase = AtomicU8::new(PHASE_WRITE);
    let sampler = MemorySampler::default();
    let (report, write_s, total_s, compaction, compact_s) = std::thread::scope(|s| {
        s.spawn(|| sampler.run(&db, &phase, started));
        let ran = (|| -> BoxResult<_> {
            let report = spandb::import::read_json_lines(reader, false, batch, |b| {
                spans += b.len() as u64;
                if spans % (batch as u64 * 64) < batch as u64 {
                    rss_samples.push(rss_bytes().0);
                }
                db.write(b)
            })?;
            let write_s = started.elapsed().as_secs_f64();
            phase.store(PHASE_FLUSH, Ordering::Relaxed);
            db.flush()?;
            let total_s = started.elapsed().as_secs_f64();
            // The engine's own compaction (merges small blocks; timed apart, as chDB's OPTIMIZE).
            phase.store(PHASE_COMPACT, Ordering::Relaxed);
            let t = Instant::now();
            let compaction = db.compact()?;
            let compact_s = t.elapsed().as_secs_f64();
            Ok((report, write_s, total_s, compaction, compact_s))
        })();
        phase.store(PHASE_DONE, Ordering::Relaxed);
        ran
    })?;
    // The peak of the whole process, `stats()` included (it reads every block's footer but
    // keeps none: `BlockReader::footer_uncached`); the peak before it is reported too.
    let (_, peak_before_stats) = rss_bytes();
    let stats = db.stats()?;
    db.close()?;
    drop(db);
    let (rss_end, peak) = rss_bytes();
    let bytes = dir_size(Path::new(dir))?;
    Ok(json!({
        "engine": "spandb",
        "spans": report.spans,
        "seconds": total_s,
        "write_seconds": write_s,
        "compact_seconds": compact_s,
        "compaction": { "blocks_before": compaction.blocks_before, "blocks_after": compaction.blocks_after, "merges": compaction.merges },
        "spans_per_second": report.spans as f64 / total_s,
        "peak_rss_bytes": peak,
        "peak_rss_before_stats_bytes": peak_before_stats,
        "rss_start_bytes": rss_start,
        "rss_end_bytes": rss_end,
        "rss_samples_max_bytes": rss_samples.iter().copied().max().unwrap_or(0),
        "memory_by_phase": sampler.report(),
        "bytes_on_disk": bytes,
        "bytes_per_span": bytes as f64 / report.spans.max(1) as f64,
        "block_bytes": stats.block_bytes,
        "blocks": stats.blocks,
        "traces": stats.traces,
    }))
}

const PHASE_WRITE: u8 = 0;
const PHASE_FLUSH: u8 = 1;
const PHASE_COMPACT: u8 = 2;
const PHASE_DONE: u8 = 3;
const PHASE_NAMES: [&str; 3] = ["write", "flush", "compact"];

/// Maxima per ingest phase of what `/proc/self/status` and RocksDB's properties say, sampled
/// every 100 ms: where the peak RSS is, and whose it is. `SPANDB_MEM_TRACE=<file>` also writes
/// every sample (TSV) to the file.
#[derive(Default)]
struct MemorySampler {
    /// Per phase: max of (RSS, RssAnon, RssFile, log memtables, other memtables, table
    /// readers, block cache), bytes.
    max: Mutex<[[u64; 7]; 3]>,
}

impl MemorySampler {
    fn run(&self, db: &spandb::Db, phase: &AtomicU8, started: Instant) {
        let mut trace = std::env::var_os("SPANDB_MEM_TRACE")
            .and_then(|p| File::create(p).ok())
            .map(std::io::BufWriter::new);
        if let Some(t) = trace.as_mut() {
            let _ = writeln!(t, "seconds\tphase\trss\tanon\tfile\tlog_memtables\tother_memtables\ttable_readers\tblock_cache");
        }
        loop {
            let p = phase.load(Ordering::Relaxed);
            if p == PHASE_DONE {
                break;
            }
            let (rss, _) = rss_bytes();
            let (anon, file) = rss_split_bytes();
            let m = db.catalog_memory().unwrap_or_default();
            let row = [
                rss,
                anon,
                file,
                m.log_memtables,
                m.other_memtables,
                m.table_readers,
                m.block_cache,
            ];
            if let Some(max) = self
                .max
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_mut(usize::from(p))
            {
                for (m, v) in max.iter_mut().zip(row) {
                    *m = (*m).max(v);
                }
            }
            if let Some(t) = trace.as_mut() {
                let mib = |b: u64| b as f64 / 1048576.0;
                let _ = writeln!(
                    t,
                    "{:.1}\t{}\t{:.0}\t{:.0}\t{:.0}\t{:.1}\t{:.1}\t{:.1}\t{:.1}",
                    started.elapsed().as_secs_f64(),
                    PHASE_NAMES.get(usize::from(p)).unwrap_or(&"?"),
                    mib(rss),
                    mib(anon),
                    mib(file),
                    mib(m.log_memtables),
                    mib(m.other_memtables),
                    mib(m.table_readers),
                    mib(m.block_cache)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn report(&self) -> Json {
        let max = self.max.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = serde_json::Map::new();
        for (name, m) in PHASE_NAMES.iter().zip(max.iter()) {
            out.insert(
                (*name).into(),
                json!({
                    "rss_max_bytes": m[0],
                    "rss_anon_max_bytes": m[1],
                    "rss_file_max_bytes": m[2],
                    "rocksdb_log_memtables_max_bytes": m[3],
                    "rocksdb_other_memtables_max_bytes": m[4],
                    "rocksdb_table_readers_max_bytes": m[5],
                    "rocksdb_block_cache_max_bytes": m[6],
                }),
            );
        }
        Json::Object(out)
    }
}

fn summary(samples: &mut [f64]) -> Json {
    samples.sort_by(f64::total_cmp);
    let mean = samples.iter().sum::<f64>() / samples.len().max(1) as f64;
    json!({
        "n": samples.len(),
        "p50_ms": percentile(samples, 0.50),
        "p99_ms": percentile(samples, 0.99),
        "max_ms": samples.last().copied().unwrap_or(f64::NAN),
        "mean_ms": mean,
    })
}

fn str_field<'a>(v: &'a Json, k: &str) -> BoxResult<&'a str> {
    v.get(k)
        .and_then(Json::as_str)
        .ok_or_else(|| format!("spec: missing string {k}").into())
}

fn u64_field(v: &Json, k: &str) -> BoxResult<u64> {
    v.get(k)
        .and_then(Json::as_u64)
        .ok_or_else(|| format!("spec: missing integer {k}").into())
}

fn run_queries(dir: &str, spec_path: &str) -> BoxResult<Json> {
    let spec: Json = serde_json::from_reader(BufReader::new(File::open(spec_path)?))?;
    let repeats = spec.get("repeats").and_then(Json::as_u64).unwrap_or(5) as usize;
    let (rss_before_open, _) = rss_bytes();
    let t = Instant::now();
    let mut opts = Options::new();
    // For measuring budgets (docs/ARCHITECTURE.md, "Memory"); the suite runs the default.
    if let Some(bytes) = std::env::var("SPANDB_MACRO_CACHE_BYTES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        opts = opts.cache_bytes(bytes);
    }
    let db = opts.open(dir)?;
    let open_ms = ms(t.elapsed());
    let (rss_after_open, _) = rss_bytes();

    // Trace lookups: pass 1 cold (fresh process, files evicted by the runner), pass 2 warm.
    let ids: Vec<TraceId> = spec
        .get("trace_ids")
        .and_then(Json::as_array)
        .ok_or("spec: missing trace_ids")?
        .iter()
        .map(|v| TraceId::from_hex(v.as_str().unwrap_or("")))
        .collect::<Result<_, _>>()?;
    let mut lookup = serde_json::Map::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for pass in ["cold", "warm"] {
        let mut samples = Vec::with_capacity(ids.len());
        for id in &ids {
            let t = Instant::now();
            let spans = db.trace(id)?;
            samples.push(ms(t.elapsed()));
            counts.insert(id.to_string(), spans.len());
        }
        lookup.insert(pass.into(), summary(&mut samples));
    }
    lookup.insert("spans_per_trace".into(), json!(counts));
    let (rss_after_lookups, _) = rss_bytes();

    // Searches: the `limit` newest matching traces (Tempo's search), then every match.
    let snap = db.snapshot()?;
    let all_repeats = spec
        .get("all_repeats")
        .and_then(Json::as_u64)
        .map_or(repeats.min(3), |n| n as usize);
    let mut searches = Vec::new();
    for s in spec
        .get("searches")
        .and_then(Json::as_array)
        .ok_or("spec: missing searches")?
    {
        let q = query::parse(str_field(s, "traceql")?)?;
        let range = TimeRange::new(
            s.get("start_ns").and_then(Json::as_u64).unwrap_or(0),
            s.get("end_ns").and_then(Json::as_u64).unwrap_or(u64::MAX),
        );
        let limit = u64_field(s, "limit")? as usize;
        let mut times = Vec::new();
        let mut top = Vec::new();
        for _ in 0..repeats {
            let t = Instant::now();
            let res = snap.search(&q, range, limit)?;
            times.push(ms(t.elapsed()));
            top = res;
        }
        let first_ms = times.first().copied().unwrap_or(f64::NAN);
        let mut all_times = Vec::new();
        let mut all = Vec::new();
        for _ in 0..all_repeats {
            let t = Instant::now();
            all = snap.search(&q, range, usize::MAX)?;
            all_times.push(ms(t.elapsed()));
        }
        let matched: usize = all.iter().map(|t| t.matched.len()).sum();
        searches.push(json!({
            "name": str_field(s, "name")?,
            "first_ms": first_ms,
            "top": summary(&mut times),
            "all": summary(&mut all_times),
            "top_traces": top.iter().map(|t| json!([t.trace_id.to_string(), t.start_ns, t.span_count])).collect::<Vec<_>>(),
            "all_traces": all.len(),
            "all_matched_spans": matched,
        }));
    }

    // RED per service per minute over the whole range: count, errors, avg and p99 duration.
    // (A spec without `metrics` skips them: handy for profiling one part.)
    let Some(m) = spec.get("metrics") else {
        return Ok(
            json!({ "engine": "spandb", "open_ms": open_ms, "lookup": lookup, "searches": searches }),
        );
    };
    let req = MetricsRequest::aligned(
        u64_field(m, "start_ns")?,
        u64_field(m, "end_ns")?,
        u64_field(m, "step_ns")?,
    );
    let red_queries = [
        (
            "count",
            "{ } | count_over_time() by (resource.service.name)",
        ),
        (
            "errors",
            "{ status = error } | count_over_time() by (resource.service.name)",
        ),
        (
            "avg",
            "{ } | avg_over_time(duration) by (resource.service.name)",
        ),
        (
            "p99",
            "{ } | quantile_over_time(duration, .99) by (resource.service.name)",
        ),
    ];
    let parsed: Vec<_> = red_queries
        .iter()
        .map(|(k, q)| query::parse(q).map(|p| (*k, p)))
        .collect::<Result<_, _>>()?;
    let mut red_times = Vec::new();
    let mut cells: BTreeMap<String, BTreeMap<u64, [f64; 4]>> = BTreeMap::new();
    let mut paths = serde_json::Map::new();
    for _ in 0..repeats {
        let t = Instant::now();
        let results: Vec<_> = parsed
            .iter()
            .map(|(k, q)| snap.metrics(q, req).map(|r| (*k, r)))
            .collect::<Result<_, _>>()?;
        red_times.push(ms(t.elapsed()));
        cells.clear();
        for (i, (k, r)) in results.iter().enumerate() {
            paths.insert((*k).into(), json!(format!("{:?}", r.path)));
            for series in &r.series {
                let service = series
                    .labels
                    .iter()
                    .find(|(l, _)| l == "resource.service.name")
                    .map(|(_, v)| match v {
                        LabelValue::Str(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .unwrap_or_default();
                for (t, v) in &series.samples {
                    let minute = t / 60_000_000_000;
                    let cell = cells.entry(service.clone()).or_default();
                    cell.entry(minute).or_insert([0.0; 4])[i] = *v;
                }
            }
        }
    }
    // Drop empty cells (counts have a 0 sample for every step).
    for per in cells.values_mut() {
        per.retain(|_, c| c[0] > 0.0);
    }
    let red_first = red_times.first().copied().unwrap_or(f64::NAN);
    // The service graph over everything, from the edge rollups; compared with the SQL
    // engines' parent/child self-join on the cross-service (direct and messaging) edges.
    let mut graph_times = Vec::new();
    let mut edges: BTreeMap<String, [u64; 2]> = BTreeMap::new();
    // (`graph_repeats` and `all_repeats` in the spec override the counts: for profiling one part.)
    let graph_repeats = spec
        .get("graph_repeats")
        .and_then(Json::as_u64)
        .map_or(repeats, |n| n as usize);
    for _ in 0..graph_repeats {
        let t = Instant::now();
        let graph = snap.service_graph(TimeRange::ALL, None::<&str>)?;
        graph_times.push(ms(t.elapsed()));
        edges.clear();
        for e in &graph.edges {
            if matches!(e.kind, EdgeKind::Direct | EdgeKind::Messaging) {
                let cell = edges
                    .entry(format!("{}|{}", e.client, e.server))
                    .or_default();
                cell[0] += e.calls;
                cell[1] += e.errors;
            }
        }
    }
    let graph_first = graph_times.first().copied().unwrap_or(f64::NAN);
    let (rss_end, peak) = rss_bytes();
    let (anon_end, file_end) = rss_split_bytes();
    let cache = db.storage().cache_stats();
    let catalog = db.catalog_memory().unwrap_or_default();
    Ok(json!({
        "engine": "spandb",
        "open_ms": open_ms,
        "lookup": lookup,
        "searches": searches,
        "red": {
            "first_ms": red_first,
            "time": summary(&mut red_times),
            "paths": paths,
            "cells": cells,
        },
        "graph": {
            "first_ms": graph_first,
            "time": summary(&mut graph_times),
            "edges": edges,
        },
        "rss": {
            "before_open_bytes": rss_before_open,
            "after_open_bytes": rss_after_open,
            "after_lookups_bytes": rss_after_lookups,
            "end_bytes": rss_end,
            "peak_bytes": peak,
            "end_anon_bytes": anon_end,
            "end_file_bytes": file_end,
        },
        "cache": {
            "budget_bytes": cache.budget_bytes,
            "bytes": cache.bytes,
            "entries": cache.entries,
            "hits": cache.hits,
            "misses": cache.misses,
            "evictions": cache.evictions,
        },
        // RocksDB's share of the RSS (memtables, table readers, block cache).
        "catalog_memory": {
            "memtables_bytes": catalog.log_memtables + catalog.other_memtables,
            "table_readers_bytes": catalog.table_readers,
            "block_cache_bytes": catalog.block_cache,
        },
    }))
}

fn columns(dir: &str) -> BoxResult<Json> {
    use spandb::format::Column;
    let db = Options::new().open(dir)?;
    let snap = db.snapshot()?;
    let mut stored = [0u64; Column::ALL.len()];
    let mut raw = [0u64; Column::ALL.len()];
    let (mut rows, mut files, mut chunks_total) = (0u64, 0u64, 0u64);
    for b in snap.storage().blocks() {
        let f = b.footer()?;
        rows += u64::from(f.rows);
        files += b.file_len();
        for g in &f.groups {
            for (i, c) in g.columns.iter().enumerate() {
                stored[i] += u64::from(c.stored_len);
                raw[i] += u64::from(c.raw_len);
                chunks_total += u64::from(c.stored_len);
            }
        }
    }
    drop(snap);
    db.close()?;
    drop(db);
    let total = dir_size(Path::new(dir))?;
    let per = |b: u64| b as f64 / rows.max(1) as f64;
    let mut cols = serde_json::Map::new();
    for (i, c) in Column::ALL.iter().enumerate() {
        cols.insert(
            c.name().into(),
            json!({ "stored_bytes_per_span": per(stored[i]), "raw_bytes_per_span": per(raw[i]) }),
        );
    }
    Ok(json!({
        "spans": rows,
        "bytes_per_span": per(total),
        "columns": cols,
        "footers_and_headers_bytes_per_span": per(files - chunks_total),
        "outside_blocks_bytes_per_span": per(total - files),
    }))
}
