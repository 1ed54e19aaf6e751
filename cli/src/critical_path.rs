//! `spandb critical-path <id>`: the sections that determine a trace's latency, and each
//! span's time on them.

use std::path::Path;
use std::process::ExitCode;

use spandb::render::analysis::critical_path_table;
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
    let report = db.critical_path(&args.trace_id)?;
    match format {
        Format::Json => outln!("{}", json(&report)),
        // Table (main.rs refused the image formats for this command).
        _ => out!("{}", critical_path_table(&report)),
    }
    Ok(ExitCode::SUCCESS)
}
