//! The footer cache bounds memory by *estimated* heap bytes of decoded footers
//! (`HeapSize for LoadedFooter`). This checks the estimate against the bytes really allocated,
//! counted by a global allocator: decoding the footers of a few blocks, and building their
//! per-(service, minute) rollups, must allocate within 25% of what the estimate says
//! (docs/ARCHITECTURE.md, "Memory"). One test in its own binary, so no other test thread
//! allocates while it counts.

// A global allocator is an `unsafe` trait: the counting wrapper below is the only unsafe code.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use spandb_storage::block::{HeapSize, LoadedFooter};
use spandb_storage::{
    KeyValue, Options, Resource, Scope, Span, SpanId, StatusCode, TraceId, Value,
};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only a counter is updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed through.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed through.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed through.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// A small deterministic generator (64-bit LCG).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// Spans shaped like the macro suite's: 6 services with 13 resource attributes each, 40
/// operations, low- and high-cardinality attributes, log-normal-ish durations, 3% errors,
/// traces of 1-40 spans, over 20 minutes.
fn spans(n: usize) -> Vec<Span> {
    let mut rng = Lcg(7);
    let resources: Vec<Arc<Resource>> = (0..6)
        .map(|s| {
            let mut attributes = vec![KeyValue::new(
                "service.name",
                Value::Str(format!("svc-{s}")),
            )];
            for k in 0..12 {
                attributes.push(KeyValue::new(
                    format!("resource.key.{k}"),
                    Value::Str(format!("value-{s}-{k}")),
                ));
            }
            Arc::new(Resource {
                attributes,
                ..Resource::default()
            })
        })
        .collect();
    let scope = Arc::new(Scope {
        name: "io.opentelemetry.test".into(),
        ..Scope::default()
    });
    let base = 1_700_000_000_000_000_000u64;
    let mut out = Vec::with_capacity(n);
    let mut trace = 0u64;
    while out.len() < n {
        trace += 1;
        let len = 1 + rng.next() % 40;
        let start = base + rng.next() % (20 * 60_000_000_000);
        for j in 0..len {
            let svc = (trace + j) as usize % resources.len();
            let op = rng.next() % 40;
            let duration = 1_000 + (rng.next() % 1_000) * (1 << (rng.next() % 20));
            let mut t = [0u8; 16];
            t[..8].copy_from_slice(&trace.to_be_bytes());
            t[8..].copy_from_slice(&(trace * 31).to_be_bytes());
            out.push(Span {
                trace_id: TraceId(t),
                span_id: SpanId((trace << 8 | j).to_be_bytes()),
                parent_span_id: (j > 0).then(|| SpanId((trace << 8).to_be_bytes())),
                name: format!("operation-{svc}-{op}"),
                start_ns: start + j * 1_000,
                end_ns: start + j * 1_000 + duration,
                status_code: if rng.next() % 33 == 0 {
                    StatusCode::Error
                } else {
                    StatusCode::Unset
                },
                resource: resources.get(svc).cloned().unwrap_or_default(),
                scope: scope.clone(),
                attributes: vec![
                    KeyValue::new(
                        "http.method",
                        Value::Str(["GET", "POST"][(op % 2) as usize].into()),
                    ),
                    KeyValue::new("http.status_code", Value::Int(200 + (op % 3) as i64 * 100)),
                    KeyValue::new(
                        "user.id",
                        Value::Str(format!("user-{}", rng.next() % 50_000)),
                    ),
                    KeyValue::new("region", Value::Str(format!("region-{}", op % 4))),
                ],
                ..Span::default()
            });
        }
    }
    out.truncate(n);
    out
}

/// Builds a lazily built part of every footer with `build` (which returns how many entries
/// it has) and checks that the cache's count grew within a quarter of the bytes allocated.
/// Returns the growth counted.
fn grows_as_allocated(
    what: &str,
    footers: &[Arc<LoadedFooter>],
    build: impl Fn(&LoadedFooter) -> usize,
) -> usize {
    let counted = || footers.iter().map(|f| f.heap_bytes()).sum::<usize>();
    let estimated = counted();
    let before = live();
    let entries: usize = footers.iter().map(|f| build(f)).sum();
    let allocated = live() - before;
    let grown = counted() - estimated;
    assert!(entries > 0 && allocated > 0, "{what} were built");
    let ratio = grown as f64 / allocated as f64;
    eprintln!("{what}: estimated {grown} B, allocated {allocated} B, ratio {ratio:.3}");
    assert!(
        (0.75..=1.25).contains(&ratio),
        "{what} ({entries} entries): estimated {grown} B, allocated {allocated} B (ratio {ratio:.3})"
    );
    grown
}

#[test]
fn footer_size_estimates_are_within_a_quarter_of_the_allocated_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let per_block = 32_768;
    {
        let db = Options::new()
            .block_max_spans(per_block)
            .maintenance_interval(None)
            .open(dir.path())
            .unwrap();
        for chunk in spans(4 * per_block).chunks(4096) {
            db.write(chunk.to_vec()).unwrap();
        }
        db.flush().unwrap();
        db.close().unwrap();
    }
    // A budget of 0 holds nothing: every footer below is decoded for this test alone, and
    // what it allocates is what the cache would hold.
    let db = Options::new()
        .cache_bytes(0)
        .maintenance_interval(None)
        .open(dir.path())
        .unwrap();
    let snapshot = db.snapshot().unwrap();
    let blocks: Vec<_> = snapshot.blocks().cloned().collect();
    assert_eq!(blocks.len(), 4, "four sealed blocks");

    let before = live();
    let footers: Vec<_> = blocks.iter().map(|b| b.footer().unwrap()).collect();
    let allocated = live() - before - footers.capacity() * size_of::<usize>();
    let estimated: usize = footers.iter().map(|f| f.heap_bytes()).sum();
    let ratio = estimated as f64 / allocated as f64;
    eprintln!("footers: estimated {estimated} B, allocated {allocated} B, ratio {ratio:.3}");
    assert!(
        (0.75..=1.25).contains(&ratio),
        "footers: estimated {estimated} B, allocated {allocated} B (ratio {ratio:.3})"
    );

    // Parts built at first use are counted as they grow: the per-(service, minute) rollup,
    // the per-(service, name, minute) rollup (encoded until a query asks for it; building
    // the service rollup decoded it and let it go) and the service graph's edge totals.
    let estimated: usize = footers.iter().map(|f| f.heap_bytes()).sum();
    let grown_service = grows_as_allocated("service rollups", &footers, |f| {
        f.service_rollup().cells.len()
    });
    let grown_edges = grows_as_allocated("edge totals", &footers, |f| {
        f.edges_with_totals().map_or(0, |e| e.totals().len())
    });
    let estimated = estimated + grown_service + grown_edges;
    let grown = grows_as_allocated("rollups", &footers, |f| f.rollup().cells.len());
    let cells: usize = footers.iter().map(|f| f.rollup().cells.len()).sum();
    // Asked again, the decoded rollup is the same one and counts nothing more.
    let before = live();
    assert_eq!(
        footers
            .iter()
            .map(|f| f.rollup().cells.len())
            .sum::<usize>(),
        cells
    );
    assert_eq!(live(), before);
    assert_eq!(
        footers.iter().map(|f| f.heap_bytes()).sum::<usize>(),
        estimated + grown
    );
}
