//! `spandb health <id>`: is the trace whole (orphans, root, duplicate ids), are its clocks
//! sane (skew per service pair), where do its links lead, is it still receiving spans.

use std::path::Path;
use std::process::ExitCode;

use spandb::render::analysis::health_lines;
use spandb::{Result, TraceId};

use crate::output::json;
use crate::Format;

#[derive(clap::Args)]
pub struct Args {
    /// Trace id, 32 hex characters.
    trace_id: TraceId,
}

pub fn run(db_dir: &Path, format: Format, args: Args) -> Result<ExitCode> {
    let db = crate::open_existing(db_dir)?;
    let health = db.trace_health(&args.trace_id)?;
    match format {
        Format::Json => outln!("{}", json(&health)),
        // Table (main.rs refused the image formats for this command).
        _ => out!("{}", health_lines(&health)),
    }
    Ok(ExitCode::SUCCESS)
}
