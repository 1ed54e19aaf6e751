//! Block bytes per span and encode time for several layouts, on an OTLP JSON lines file:
//! the measurement behind the default rows per group, block size and zstd level.
//!
//!     cargo run --release -p spandb-storage --example layout_sweep -- spans.jsonl

use std::time::Instant;

use spandb_storage::block::{encode_block, BlockLayout};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: layout_sweep <file.jsonl>")?;
    let spans = spandb_testkit::load_json_lines(path.as_ref())?;
    let n = spans.len() as f64;
    println!(
        "{:>10} {:>8} {:>5} {:>6} {:>10} {:>10}",
        "block", "group", "zstd", "attrs", "B/span", "ns/span"
    );
    // (spans per block, rows per group, zstd level, zstd level of the attributes column)
    for (block_spans, rows_per_group, zstd_level, attributes_zstd_level) in [
        (131_072, 2048, 3, 3),
        (131_072, 4096, 3, 3),
        (131_072, 1024, 3, 3),
        (131_072, 16384, 3, 3),
        (131_072, 2048, 6, 6),
        (131_072, 2048, 3, 5),
        (131_072, 2048, 3, 6),
        (131_072, 2048, 3, 9),
        (131_072, 2048, 3, 15),
    ] {
        let layout = BlockLayout {
            rows_per_group,
            zstd_level,
            attributes_zstd_level,
        };
        let t = Instant::now();
        let mut bytes = 0;
        for chunk in spans.chunks(block_spans) {
            bytes += encode_block(chunk.iter().collect(), &layout)?.bytes.len();
        }
        let ns = t.elapsed().as_nanos() as f64 / n;
        println!(
            "{block_spans:>10} {rows_per_group:>8} {zstd_level:>5} {attributes_zstd_level:>6} {:>10.2} {ns:>10.0}",
            bytes as f64 / n
        );
    }
    Ok(())
}
