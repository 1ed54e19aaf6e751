//! Where ingest memory goes: a counting global allocator (over the system allocator) reports
//! the live heap bytes of decoded spans, of the log-record encoding of the same spans, and
//! the live-heap peak of writing a whole OTLP JSON lines file to a fresh database (batches of
//! 4096 spans, as `spandb import` does), beside the process's peak RSS.
//!
//!     cargo run --release -p spandb-storage --example ingest_memory -- spans.jsonl <new-db-dir>

// A global allocator is an `unsafe` trait: the counting wrapper below is the only unsafe code.
#![allow(unsafe_code)]
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::BufRead;
use std::sync::atomic::{AtomicUsize, Ordering};

use spandb_storage::model::Span;
use spandb_storage::otlp::json::decode_json_request;
use spandb_storage::wal_codec::encode_record;

/// The system allocator, counting live bytes and their high-water mark.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: the caller's contract is passed through.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed through.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= layout.size() {
            grew(new_size - layout.size());
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is passed through.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

fn mib(b: usize) -> f64 {
    b as f64 / (1 << 20) as f64
}

/// `VmHWM` and `VmRSS` from /proc/self/status, in bytes.
fn rss() -> (usize, usize) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<usize>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(input), Some(dir)) = (args.next(), args.next()) else {
        return Err("usage: ingest_memory <spans.jsonl> <new-db-dir>".into());
    };
    let lines = || -> std::io::Result<_> {
        Ok(std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&input)?).split(b'\n'))
    };

    // 1. One block's worth of decoded spans, and the same spans as log records.
    let block = 131_072;
    let before = live();
    let mut spans: Vec<Span> = Vec::new();
    for line in lines()? {
        let line = line?;
        if !line.is_empty() {
            decode_json_request(&line, &mut spans)?;
        }
        if spans.len() >= block {
            break;
        }
    }
    spans.truncate(block);
    spans.shrink_to_fit();
    let decoded = live() - before;
    let n = spans.len();
    let before = live();
    let records: Vec<Vec<u8>> = spans.chunks(4096).map(encode_record).collect();
    let encoded = live() - before;
    println!(
        "{n} spans: {:.0} B/span decoded as Span (size_of {} B), {:.0} B/span as log records",
        decoded as f64 / n as f64,
        size_of::<Span>(),
        encoded as f64 / n as f64,
    );
    drop(records);
    drop(spans);

    // 2. A whole import, sampling the live heap after every batch.
    PEAK.store(live(), Ordering::Relaxed);
    let db = spandb_storage::Options::new().open(&dir)?;
    let mut batch = Vec::new();
    let mut total = 0usize;
    let mut max_live_after_write = 0usize;
    let started = std::time::Instant::now();
    for line in lines()? {
        let line = line?;
        if !line.is_empty() {
            decode_json_request(&line, &mut batch)?;
        }
        if batch.len() >= 4096 {
            total += batch.len();
            db.write(std::mem::take(&mut batch))?;
            max_live_after_write = max_live_after_write.max(live());
        }
    }
    total += batch.len();
    db.write(batch)?;
    db.flush()?;
    let secs = started.elapsed().as_secs_f64();
    db.close()?;
    drop(db);
    let (hwm, now) = rss();
    println!(
        "import of {total} spans in {secs:.1} s: live heap peak {:.0} MiB (max after a write {:.0} MiB), \
         peak RSS {:.0} MiB, RSS at the end {:.0} MiB, live heap at the end {:.0} MiB",
        mib(PEAK.load(Ordering::Relaxed)),
        mib(max_live_after_write),
        mib(hwm),
        mib(now),
        mib(live()),
    );
    Ok(())
}
