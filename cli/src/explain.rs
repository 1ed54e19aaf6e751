//! `spandb explain <trace-id>`: a short account of one trace, in sentences (or JSON).

use std::path::Path;
use std::process::ExitCode;

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
    let e = db.explain(&args.trace_id)?;
    match format {
        Format::Json => outln!("{}", json(&e)),
        // Table (main.rs refused the image formats for this command).
        _ => {
            for line in &e.summary {
                outln!("{line}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
