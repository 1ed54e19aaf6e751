//! Memory held by an open database: RSS (anonymous and file-backed) before and after opening,
//! and per sealed block, and what the footer cache holds (`Options::cache_bytes`).
//!
//!     cargo run --release -p spandb-storage --example open_memory -- <db-dir>

fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (kb("RssAnon:"), kb("RssFile:"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: open_memory <db-dir>")?;
    let (anon0, file0) = rss();
    let db = spandb_storage::Options::new()
        .maintenance_interval(None)
        .open(&dir)?;
    let (anon1, file1) = rss();
    let blocks = db.stats()?.blocks.max(1);
    println!(
        "{blocks} blocks: anonymous RSS +{} KiB ({} KiB per block), file-backed RSS +{} KiB",
        anon1 - anon0,
        (anon1 - anon0) / blocks,
        file1.saturating_sub(file0)
    );
    // Rough heap size of the decoded footer parts, over all blocks.
    let snap = db.snapshot()?;
    let (mut dict, mut bitmaps, mut nbitmaps, mut cells, mut buckets, mut traces) =
        (0, 0, 0, 0, 0, 0);
    for b in snap.blocks() {
        let f = b.footer()?;
        dict += f.dict.iter().map(|s| s.len() + 24 + 4).sum::<usize>(); // Vec<String> + ids by string
        for bm in f
            .service_rows
            .iter()
            .chain(&f.name_rows)
            .map(|(_, b)| b)
            .chain(f.attr_rows.iter().map(|a| &a.rows))
        {
            bitmaps += bm.serialized_size();
            nbitmaps += 1;
        }
        cells += f.rollup().cells.len();
        let mut e = spandb_storage::codec::buf::Encoder::new();
        f.rollup().encode(&mut e);
        buckets += e.len();
        traces += f.traces.len();
    }
    println!(
        "decoded footers (approx. heap KiB): dictionary {} , {nbitmaps} bitmaps {} , rollup {cells} cells (encoded {} KiB), trace table {} ",
        dict / 1024,
        bitmaps / 1024,
        buckets / 1024,
        traces * 56 / 1024
    );
    println!("footer cache: {:?}", db.cache_stats());
    Ok(())
}
