//! `spandb compact` and `spandb retain --older-than 7d`.

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;
use spandb::Result;

use crate::output::bytes;
use crate::range::parse_duration;
use crate::Format;

#[derive(clap::Args)]
pub struct RetainArgs {
    /// Drop blocks whose spans all started longer ago than this (e.g. 7d, 12h).
    #[arg(long)]
    older_than: String,
}

pub fn compact(db_dir: &Path, format: Format) -> Result<ExitCode> {
    let db = crate::open_existing(db_dir)?;
    let r = db.compact()?;
    db.flush()?;
    match format {
        Format::Json => outln!(
            "{}",
            json!({"blocksBefore": r.blocks_before, "blocksAfter": r.blocks_after, "merges": r.merges,
                   "spansRewritten": r.spans_rewritten, "bytesBefore": r.bytes_before, "bytesAfter": r.bytes_after})
        ),
        Format::Table => outln!(
            "compacted {} blocks into {} ({} merges, {} spans rewritten): {} -> {}",
            r.blocks_before,
            r.blocks_after,
            r.merges,
            r.spans_rewritten,
            bytes(r.bytes_before),
            bytes(r.bytes_after)
        ),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn retain(db_dir: &Path, format: Format, args: RetainArgs) -> Result<ExitCode> {
    let age = parse_duration(&args.older_than)?;
    let db = crate::open_existing(db_dir)?;
    let r = db.retain(std::time::Duration::from_nanos(age))?;
    db.flush()?;
    match format {
        Format::Json => outln!(
            "{}",
            json!({"blocksDropped": r.blocks_dropped, "spansDropped": r.spans_dropped, "bytesDropped": r.bytes_dropped})
        ),
        Format::Table => outln!(
            "dropped {} blocks ({} spans, {})",
            r.blocks_dropped,
            r.spans_dropped,
            bytes(r.bytes_dropped)
        ),
    }
    Ok(ExitCode::SUCCESS)
}
