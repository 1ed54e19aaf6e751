//! Times the phases of ingest separately on an OTLP JSON lines file (ns per span):
//! JSON decode, log-record encode, block encode.
//!
//!     cargo run --release -p spandb-storage --example ingest_phases -- spans.jsonl

use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use spandb_storage::block::{encode_block, BlockLayout};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: ingest_phases <file.jsonl>")?;
    let t = Instant::now();
    let spans = spandb_testkit::load_json_lines(path.as_ref())?;
    let n = spans.len() as f64;
    println!(
        "json decode   {:>8.0} ns/span ({} spans)",
        t.elapsed().as_nanos() as f64 / n,
        spans.len()
    );
    let t = Instant::now();
    let mut bytes = 0usize;
    for chunk in spans.chunks(4096) {
        bytes += spandb_storage::wal_codec::encode_record(chunk).len();
    }
    println!(
        "log encode    {:>8.0} ns/span ({:.0} B/span)",
        t.elapsed().as_nanos() as f64 / n,
        bytes as f64 / n
    );
    let t = Instant::now();
    let mut stored = 0usize;
    for chunk in spans.chunks(131_072) {
        stored += encode_block(chunk.iter().collect(), &BlockLayout::default())?
            .bytes
            .len();
    }
    println!(
        "block encode  {:>8.0} ns/span ({:.1} B/span)",
        t.elapsed().as_nanos() as f64 / n,
        stored as f64 / n
    );
    Ok(())
}
