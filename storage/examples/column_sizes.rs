//! Prints stored bytes per column (and footer sections) over the block files of a database:
//! the measurement behind the encoding choices in docs/ARCHITECTURE.md.
//!
//!     cargo run --release -p spandb-storage --example column_sizes -- <db-dir>

use spandb_storage::block::{BlockReader, Column};

use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: column_sizes <db-dir>")?;
    let mut stored = [0u64; 14];
    let mut raw = [0u64; 14];
    let (mut rows, mut files, mut footers) = (0u64, 0u64, 0u64);
    // Raw (uncompressed) bytes of footer sections.
    let mut sections = [0u64; 7];
    // Stored (compressed) bytes each footer part costs: the footer compressed whole, minus
    // the footer without that part, compressed the same way.
    let mut footer_parts = [0u64; 9];
    let part_names = [
        "dict, resources, scopes",
        "row groups",
        "trace table",
        "service bitmaps",
        "name bitmaps",
        "error bitmap",
        "attribute index",
        "rollup",
        "edges",
    ];
    let names = [
        "dict",
        "service bitmaps",
        "name bitmaps",
        "trace table",
        "error bitmap",
        "attribute bitmaps",
        "rollup",
    ];
    let mut paths: Vec<_> =
        std::fs::read_dir(format!("{dir}/blocks"))?.collect::<Result<_, _>>()?;
    paths.sort_by_key(|e| e.path());
    for (i, entry) in paths.iter().enumerate() {
        let r = BlockReader::open(&entry.path(), i as u64)?;
        rows += u64::from(r.footer()?.rows);
        files += r.file_len();
        let mut data = 0u64;
        for g in &r.footer()?.groups {
            for (c, chunk) in g.columns.iter().enumerate() {
                stored[c] += u64::from(chunk.stored_len);
                raw[c] += u64::from(chunk.raw_len);
                data += u64::from(chunk.stored_len);
            }
        }
        footers += r.file_len() - data;
        let loaded = r.footer()?;
        // The loaded footer keeps its rollup apart (`LoadedFooter::rollup`): put it back.
        let mut f = (**loaded).clone();
        f.rollup = loaded.rollup().clone();
        let bm = |b: &roaring::RoaringBitmap| b.serialized_size() as u64;
        sections[0] += f.dict.iter().map(|s| s.len() as u64 + 1).sum::<u64>();
        sections[1] += f.service_rows.iter().map(|(_, b)| bm(b)).sum::<u64>();
        sections[2] += f.name_rows.iter().map(|(_, b)| bm(b)).sum::<u64>();

        sections[3] += f.traces.len() as u64 * 26;
        sections[4] += bm(&f.error_rows);
        sections[5] += f.attr_rows.iter().map(|a| bm(&a.rows)).sum::<u64>();
        let mut enc = spandb_storage::codec::buf::Encoder::new();
        f.rollup.encode(&mut enc);
        sections[6] += enc.len() as u64;
        let whole = stored_footer(&f)?;
        for (i, slot) in footer_parts.iter_mut().enumerate() {
            let mut without = f.clone();
            match i {
                0 => {
                    without.dict.truncate(1);
                    without.resources.clear();
                    without.scopes.clear();
                }
                1 => without.groups.clear(),
                2 => without.traces.clear(),
                3 => without.service_rows.clear(),
                4 => without.name_rows.clear(),
                5 => without.error_rows.clear(),
                6 => without.attr_rows.clear(),
                7 => without.rollup = Default::default(),
                _ => without.edges = None,
            }
            *slot += whole.saturating_sub(stored_footer(&without)?);
        }
    }
    // Written with `?`, not println!: piped into `head`, a closed stdout ends the program
    // with an error instead of a panic.
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{rows} rows in {} blocks, {files} bytes ({:.2} B/span)",
        paths.len(),
        files as f64 / rows as f64
    )?;
    for c in Column::ALL {
        let i = c as usize;
        writeln!(
            out,
            "{:<16} {:>12} stored {:>7.2} B/span   raw {:>7.2} B/span",
            c.name(),
            stored[i],
            stored[i] as f64 / rows as f64,
            raw[i] as f64 / rows as f64
        )?;
    }
    writeln!(
        out,
        "{:<16} {:>12} stored {:>7.2} B/span",
        "footer+header",
        footers,
        footers as f64 / rows as f64
    )?;
    for (n, b) in names.iter().zip(sections) {
        writeln!(
            out,
            "  footer {:<18} raw {:>7.2} B/span",
            n,
            b as f64 / rows as f64
        )?;
    }
    for (n, b) in part_names.iter().zip(footer_parts) {
        writeln!(
            out,
            "  footer {:<24} stored {:>7.2} B/span",
            n,
            b as f64 / rows as f64
        )?;
    }
    Ok(())
}

/// The footer's size compressed as the writer stores it (zstd level 12).
fn stored_footer(f: &spandb_storage::block::Footer) -> Result<u64, Box<dyn std::error::Error>> {
    let ids: rustc_hash::FxHashMap<&str, u32> = f
        .dict
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i as u32))
        .collect();
    let mut enc = spandb_storage::codec::buf::Encoder::new();
    f.encode(&mut enc, &ids);
    Ok(spandb_storage::codec::chunk::compress(&enc.buf, 12)?.len() as u64)
}
