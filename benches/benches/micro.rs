//! Criterion micro-benchmarks of spandb's building blocks, on generated spans
//! (`benches/gen_spans.py`, cached under `target/bench-data`), never on constants.
//!
//! ```text
//! cargo bench -p spandb-benches                 # everything (several minutes)
//! cargo bench -p spandb-benches -- zstd         # one group
//! SPANDB_BENCH_SPANS=20000 cargo bench -p spandb-benches -- --quick
//! ```
//!
//! Groups: `column/*` (encode/decode per encoding), `zstd/*` (levels on real span columns; the
//! compression ratios are printed once), `roaring/*` (intersections of a block's index
//! bitmaps), `block/seal`, `block/open_mmap`, `trace_lookup/*` (sealed store), `traceql/*`
//! (parse, search and metrics on a sealed store), `rollup/*` (sketch and cell merges).

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::sync::OnceLock;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use roaring::RoaringBitmap;
use spandb::format::rollup::{RollupCell, Sketch};
use spandb::format::{encode_block, BlockLayout, BlockReader};
use spandb::query;
use spandb::{Db, Durability, Options, Span, TraceId};
use spandb::{MetricsRequest, TimeRange};
use spandb_benches::generated_spans;
use spandb_storage::codec::buf::{Decoder, Encoder};
use spandb_storage::codec::value::{get_attrs, put_attrs, StringPolicy};

/// Spans generated for the benches (`SPANDB_BENCH_SPANS`, default 50000, seed 1).
fn spans() -> &'static [Span] {
    static SPANS: OnceLock<Vec<Span>> = OnceLock::new();
    SPANS.get_or_init(|| {
        let n = std::env::var("SPANDB_BENCH_SPANS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(50_000);
        let mut s = generated_spans(n, 1);
        // Block row order: a row group of these is what the column encoders really see.
        s.sort_by_key(|s| (s.trace_id, s.start_ns, s.span_id));
        s
    })
}

/// One row group's worth of spans (4096, the default `rows_per_group`).
fn group() -> &'static [Span] {
    let s = spans();
    &s[..s.len().min(4096)]
}

/// Interns every key and every value except of high-cardinality keys, as the block writer's
/// policy does (it decides by counting; these are the generator's high-cardinality keys).
#[derive(Default)]
struct Dict {
    ids: HashMap<String, u32>,
    list: Vec<String>,
}

const HIGH_CARDINALITY: [&str; 8] = [
    "user.id",
    "url.path",
    "url.full",
    "db.statement",
    "client.address",
    "app.order.id",
    "network.peer.address",
    "messaging.kafka.offset",
];

impl StringPolicy for Dict {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(id) = self.ids.get(s) {
            return *id;
        }
        let id = self.list.len() as u32;
        self.list.push(s.to_owned());
        self.ids.insert(s.to_owned(), id);
        id
    }
    fn value_ref(&mut self, key: &str, s: &str) -> Option<u32> {
        (!HIGH_CARDINALITY.contains(&key)).then(|| self.intern(s))
    }
}

/// The raw (pre-zstd) bytes of the main columns of one row group, encoded as the block writer
/// encodes them.
struct Columns {
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    start: Vec<u8>,
    duration: Vec<u8>,
    name: Vec<u8>,
    attributes: Vec<u8>,
    dict: Dict,
}

fn encode_start(g: &[Span]) -> Vec<u8> {
    let mut e = Encoder::new();
    let base = g.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let mut prev = base;
    for (i, s) in g.iter().enumerate() {
        if i == 0 {
            e.put_varint(s.start_ns - base);
        } else {
            e.put_zigzag(s.start_ns.wrapping_sub(prev) as i64);
        }
        prev = s.start_ns;
    }
    e.finish()
}

fn encode_duration(g: &[Span]) -> Vec<u8> {
    let mut e = Encoder::new();
    for s in g {
        e.put_zigzag(s.end_ns.wrapping_sub(s.start_ns) as i64);
    }
    e.finish()
}

fn encode_trace_runs(g: &[Span]) -> Vec<u8> {
    let mut runs: Vec<(TraceId, u64)> = Vec::new();
    for s in g {
        match runs.last_mut() {
            Some((t, n)) if *t == s.trace_id => *n += 1,
            _ => runs.push((s.trace_id, 1)),
        }
    }
    let mut e = Encoder::new();
    e.put_varint(runs.len() as u64);
    for (t, n) in &runs {
        e.put_raw(&t.0);
        e.put_varint(*n);
    }
    e.finish()
}

fn encode_names(g: &[Span], dict: &mut Dict) -> Vec<u8> {
    let mut e = Encoder::new();
    for s in g {
        e.put_varint(u64::from(dict.intern(&s.name)));
    }
    e.finish()
}

fn encode_attrs(g: &[Span], dict: &mut Dict) -> Vec<u8> {
    let mut e = Encoder::new();
    for s in g {
        put_attrs(&mut e, &s.attributes, dict);
    }
    e.finish()
}

fn columns() -> &'static Columns {
    static COLS: OnceLock<Columns> = OnceLock::new();
    COLS.get_or_init(|| {
        let g = group();
        let mut dict = Dict::default();
        let mut span_id = Encoder::new();
        for s in g {
            span_id.put_raw(&s.span_id.0);
        }
        Columns {
            trace_id: encode_trace_runs(g),
            span_id: span_id.finish(),
            start: encode_start(g),
            duration: encode_duration(g),
            name: encode_names(g, &mut dict),
            attributes: encode_attrs(g, &mut dict),
            dict,
        }
    })
}

fn bench_columns(c: &mut Criterion) {
    let g = group();
    let cols = columns();
    let mut grp = c.benchmark_group("column");
    grp.throughput(Throughput::Elements(g.len() as u64));
    grp.bench_function("encode/start_delta_zigzag", |b| {
        b.iter(|| encode_start(black_box(g)))
    });
    grp.bench_function("decode/start_delta_zigzag", |b| {
        b.iter(|| {
            let mut d = Decoder::new(black_box(&cols.start));
            let mut prev = 0u64;
            let mut sum = 0u64;
            for i in 0..g.len() {
                prev = if i == 0 {
                    d.get_varint().unwrap_or(0)
                } else {
                    prev.wrapping_add(d.get_zigzag().unwrap_or(0) as u64)
                };
                sum = sum.wrapping_add(prev);
            }
            sum
        })
    });
    grp.bench_function("encode/duration_zigzag_varint", |b| {
        b.iter(|| encode_duration(black_box(g)))
    });
    grp.bench_function("decode/duration_zigzag_varint", |b| {
        b.iter(|| {
            let mut d = Decoder::new(black_box(&cols.duration));
            (0..g.len()).fold(0i64, |a, _| a.wrapping_add(d.get_zigzag().unwrap_or(0)))
        })
    });
    grp.bench_function("encode/trace_id_runs", |b| {
        b.iter(|| encode_trace_runs(black_box(g)))
    });
    grp.bench_function("decode/trace_id_runs", |b| {
        b.iter(|| {
            let mut d = Decoder::new(black_box(&cols.trace_id));
            let n = d.get_count().unwrap_or(0);
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let t: [u8; 16] = d.get_array().unwrap_or_default();
                out.push((TraceId(t), d.get_varint().unwrap_or(0)));
            }
            out
        })
    });
    grp.bench_function("encode/span_id_fixed", |b| {
        b.iter(|| {
            let mut e = Encoder::new();
            for s in black_box(g) {
                e.put_raw(&s.span_id.0);
            }
            e.finish()
        })
    });
    grp.bench_function("decode/span_id_fixed", |b| {
        b.iter(|| {
            let mut d = Decoder::new(black_box(&cols.span_id));
            (0..g.len())
                .map(|_| u64::from_le_bytes(d.get_array().unwrap_or_default()))
                .fold(0u64, u64::wrapping_add)
        })
    });
    grp.bench_function("encode/name_dictionary", |b| {
        b.iter(|| encode_names(black_box(g), &mut Dict::default()))
    });
    grp.bench_function("decode/name_dictionary", |b| {
        b.iter(|| {
            let mut d = Decoder::new(black_box(&cols.name));
            (0..g.len())
                .map(|_| {
                    let id = d.get_varint().unwrap_or(0) as usize;
                    cols.dict.list.get(id).map_or(0, String::len)
                })
                .sum::<usize>()
        })
    });
    grp.bench_function("encode/attributes", |b| {
        b.iter(|| encode_attrs(black_box(g), &mut Dict::default()))
    });
    grp.bench_function("decode/attributes", |b| {
        b.iter(|| {
            let mut d = Decoder::new(black_box(&cols.attributes));
            (0..g.len())
                .map(|_| get_attrs(&mut d, &cols.dict.list).map_or(0, |a| a.len()))
                .sum::<usize>()
        })
    });
    grp.finish();
}

fn bench_zstd(c: &mut Criterion) {
    let cols = columns();
    let named: [(&str, &[u8]); 6] = [
        ("trace_id", &cols.trace_id),
        ("span_id", &cols.span_id),
        ("start", &cols.start),
        ("duration", &cols.duration),
        ("name", &cols.name),
        ("attributes", &cols.attributes),
    ];
    let levels = [1, 3, 6, 9, 19];
    eprintln!("\nzstd compression ratio (raw / stored) on one 4096-row group of generated spans:");
    eprint!("{:<12}{:>10}", "column", "raw bytes");
    for l in levels {
        eprint!("{:>9}", format!("lvl {l}"));
    }
    eprintln!();
    for (name, raw) in named {
        eprint!("{name:<12}{:>10}", raw.len());
        for l in levels {
            let stored = zstd::bulk::compress(raw, l).unwrap_or_default();
            eprint!("{:>9.2}", raw.len() as f64 / stored.len().max(1) as f64);
        }
        eprintln!();
    }
    let mut grp = c.benchmark_group("zstd");
    for (name, raw) in named {
        grp.throughput(Throughput::Bytes(raw.len() as u64));
        for l in levels {
            grp.bench_with_input(
                BenchmarkId::new(format!("compress/{name}"), l),
                raw,
                |b, raw| b.iter(|| zstd::bulk::compress(black_box(raw), l)),
            );
            let stored = zstd::bulk::compress(raw, l).unwrap_or_default();
            grp.bench_with_input(
                BenchmarkId::new(format!("decompress/{name}"), l),
                &stored,
                |b, stored| b.iter(|| zstd::bulk::decompress(black_box(stored), raw.len())),
            );
        }
    }
    grp.finish();
}

/// A block of every generated span, encoded once.
fn block() -> &'static BlockReader {
    static BLOCK: OnceLock<BlockReader> = OnceLock::new();
    BLOCK.get_or_init(|| {
        let enc =
            encode_block(spans().iter().collect(), &BlockLayout::default()).expect("encode block");
        BlockReader::from_bytes(enc.bytes, "bench-block").expect("open block")
    })
}

fn bench_roaring(c: &mut Criterion) {
    let f = block().footer().expect("footer");
    let biggest = |list: &[(u32, RoaringBitmap)]| {
        list.iter()
            .max_by_key(|(_, b)| b.len())
            .map(|(_, b)| b.clone())
            .unwrap_or_default()
    };
    let service = biggest(&f.service_rows);
    let name = biggest(&f.name_rows);
    let attr = f
        .attr_rows
        .iter()
        .max_by_key(|a| a.rows.len())
        .map(|a| a.rows.clone())
        .unwrap_or_default();
    let errors = f.error_rows.clone();
    let mut grp = c.benchmark_group("roaring");
    grp.bench_function("service_and_error", |b| {
        b.iter(|| black_box(&service) & black_box(&errors))
    });
    grp.bench_function("service_and_name", |b| {
        b.iter(|| black_box(&service) & black_box(&name))
    });
    grp.bench_function("service_and_attr_and_error", |b| {
        b.iter(|| &(black_box(&service) & black_box(&attr)) & black_box(&errors))
    });
    grp.bench_function("union_all_services", |b| {
        b.iter(|| {
            f.service_rows
                .iter()
                .fold(RoaringBitmap::new(), |acc, (_, r)| acc | r)
        })
    });
    grp.bench_function("intersection_len_service_error", |b| {
        b.iter(|| black_box(&service).intersection_len(black_box(&errors)))
    });
    grp.finish();
}

fn bench_block(c: &mut Criterion) {
    let s = spans();
    let mut grp = c.benchmark_group("block");
    grp.sample_size(10);
    grp.throughput(Throughput::Elements(s.len() as u64));
    grp.bench_function(BenchmarkId::new("seal", s.len()), |b| {
        b.iter(|| encode_block(s.iter().collect(), &BlockLayout::default()))
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.block");
    let enc = encode_block(s.iter().collect(), &BlockLayout::default()).expect("encode");
    std::fs::write(&path, &enc.bytes).expect("write block");
    grp.throughput(Throughput::Bytes(enc.bytes.len() as u64));
    grp.bench_function("open_mmap", |b| {
        b.iter(|| BlockReader::open(black_box(&path), 1))
    });
    let reader = BlockReader::open(&path, 1).expect("open");
    grp.throughput(Throughput::Elements(
        reader.footer().expect("footer").groups[0].rows as u64,
    ));
    grp.bench_function("decode_row_group", |b| {
        b.iter(|| reader.decode_group(0, |_| true).map(|v| v.len()))
    });
    grp.bench_function("group_light", |b| {
        b.iter(|| reader.group_light(0).map(|l| l.start_ns.len()))
    });
    grp.finish();
}

/// A sealed store of every generated span, with a sample of its trace ids.
fn store() -> &'static (tempfile::TempDir, Db, Vec<TraceId>) {
    static STORE: OnceLock<(tempfile::TempDir, Db, Vec<TraceId>)> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Options::new()
            .durability(Durability::GroupCommit {
                interval: Duration::from_millis(50),
            })
            .open(dir.path())
            .expect("open db");
        for chunk in spans().chunks(4096) {
            db.write(chunk.to_vec()).expect("write");
        }
        db.flush().expect("flush");
        let mut ids: Vec<TraceId> = spans().iter().map(|s| s.trace_id).collect();
        ids.dedup();
        // A spread-out, deterministic sample.
        let step = (ids.len() / 256).max(1);
        let ids = ids.into_iter().step_by(step).collect();
        (dir, db, ids)
    })
}

fn bench_trace_lookup(c: &mut Criterion) {
    let (_dir, db, ids) = store();
    let mut grp = c.benchmark_group("trace_lookup");
    let mut i = 0usize;
    grp.bench_function("db_trace", |b| {
        b.iter(|| {
            i = (i + 1) % ids.len();
            db.trace(&ids[i]).map(|v| v.len())
        })
    });
    let snap = db.snapshot().expect("snapshot");
    grp.bench_function("assembled_tree", |b| {
        b.iter(|| {
            i = (i + 1) % ids.len();
            snap.trace_tree(&ids[i]).map(|t| t.spans.len())
        })
    });
    grp.finish();
}

const QUERIES: [(&str, &str); 4] = [
    (
        "service_error",
        r#"{ resource.service.name = "mobile-bff" && status = error }"#,
    ),
    (
        "attr_and_duration",
        r#"{ span.http.response.status_code >= 500 && duration > 200ms }"#,
    ),
    (
        "regex_or",
        r#"{ name =~ "GET .*" || span.db.system = "redis" }"#,
    ),
    (
        "rate_by_service",
        r#"{ status = error } | rate() by (resource.service.name)"#,
    ),
];

fn bench_traceql(c: &mut Criterion) {
    let mut grp = c.benchmark_group("traceql");
    for (name, text) in QUERIES {
        grp.bench_function(BenchmarkId::new("parse", name), |b| {
            b.iter(|| query::parse(black_box(text)))
        });
    }
    let (_dir, db, _) = store();
    let snap = db.snapshot().expect("snapshot");
    grp.sample_size(20);
    for (name, text) in &QUERIES[..3] {
        let q = query::parse(text).expect("parse");
        grp.bench_function(BenchmarkId::new("search_top20", name), |b| {
            b.iter(|| snap.search(&q, TimeRange::ALL, 20).map(|r| r.len()))
        });
    }
    let range = snap.time_range().expect("data");
    let req = MetricsRequest::aligned(range.start_ns, range.end_ns, 60_000_000_000);
    for (name, text) in [
        (
            "count_by_service_rollup",
            "{ } | count_over_time() by (resource.service.name)",
        ),
        (
            "p99_by_service_rollup",
            "{ } | quantile_over_time(duration, .99) by (resource.service.name)",
        ),
        (
            "p99_by_service_scan",
            "{ kind = server } | quantile_over_time(duration, .99) by (resource.service.name)",
        ),
    ] {
        let q = query::parse(text).expect("parse");
        grp.bench_function(BenchmarkId::new("metrics", name), |b| {
            b.iter(|| snap.metrics(&q, req).map(|r| r.series.len()))
        });
    }
    grp.finish();
}

fn bench_rollup(c: &mut Criterion) {
    let s = spans();
    // One sketch per service, from the generated durations.
    let mut per: BTreeMap<&str, Sketch> = BTreeMap::new();
    for sp in s {
        per.entry(sp.service()).or_default().add(sp.duration_ns());
    }
    let sketches: Vec<Sketch> = per.into_values().collect();
    let footer = block().footer().expect("footer");
    let rollup = footer.rollup();
    let mut grp = c.benchmark_group("rollup");
    grp.bench_function("sketch_add", |b| {
        b.iter(|| {
            let mut k = Sketch::new();
            for sp in &s[..4096.min(s.len())] {
                k.add(sp.duration_ns());
            }
            k
        })
    });
    grp.bench_function("sketch_merge_all_services", |b| {
        b.iter(|| {
            let mut all = Sketch::new();
            for k in &sketches {
                all.merge(black_box(k));
            }
            all.quantile(0.99)
        })
    });
    grp.throughput(Throughput::Elements(rollup.cells.len() as u64));
    grp.bench_function("merge_block_rollup_by_service_minute", |b| {
        b.iter(|| {
            let mut out: BTreeMap<(u32, u64), RollupCell> = BTreeMap::new();
            for (k, cell) in &rollup.cells {
                out.entry((k.service, k.minute)).or_default().merge(cell);
            }
            out.len()
        })
    });
    grp.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = micro;
    config = config();
    targets = bench_columns, bench_zstd, bench_roaring, bench_block, bench_trace_lookup,
        bench_traceql, bench_rollup
}
criterion_main!(micro);
