//! `spandb compact` and `spandb retain --older-than 7d`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use spandb::render::table::format_bytes;
use spandb::Result;

use crate::output::json;
use crate::range::duration_ns;
use crate::Format;

#[derive(clap::Args)]
pub struct RetainArgs {
    /// Drop blocks whose spans all started longer ago than this (e.g. 7d, 12h).
    #[arg(long, value_parser = duration_ns)]
    older_than: u64,
}

pub fn compact(db_dir: &Path, format: Format) -> Result<ExitCode> {
    let db = crate::open_existing(db_dir)?;
    let r = db.compact()?;
    db.flush()?;
    match format {
        Format::Json => outln!("{}", json(&r)),
        // Table (main.rs refused the image formats for this command).
        _ => outln!(
            "compacted {} blocks into {} ({} merges, {} spans rewritten): {} -> {}",
            r.blocks_before,
            r.blocks_after,
            r.merges,
            r.spans_rewritten,
            format_bytes(r.bytes_before),
            format_bytes(r.bytes_after)
        ),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn retain(db_dir: &Path, format: Format, args: RetainArgs) -> Result<ExitCode> {
    let db = crate::open_existing(db_dir)?;
    let r = db.retain(Duration::from_nanos(args.older_than))?;
    db.flush()?;
    match format {
        Format::Json => outln!("{}", json(&r)),
        // Table (main.rs refused the image formats for this command).
        _ => outln!(
            "dropped {} blocks ({} spans, {})",
            r.blocks_dropped,
            r.spans_dropped,
            format_bytes(r.bytes_dropped)
        ),
    }
    Ok(ExitCode::SUCCESS)
}
