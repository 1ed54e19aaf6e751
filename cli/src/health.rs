//! `spandb health <id>`: is the trace whole (orphans, root, duplicate ids), are its clocks
//! sane (skew per service pair), where do its links lead, is it still receiving spans.
//! `spandb health --query '{ ... }' --since 1h`: which of the newest matching traces have
//! structural problems.

use std::path::Path;
use std::process::ExitCode;

use spandb::render::analysis::{health_lines, health_scan_table};
use spandb::{Result, TimeRange, TraceId};

use crate::output::json;
use crate::range::RangeArgs;
use crate::Format;

#[derive(clap::Args)]
pub struct Args {
    /// Trace id, 32 hex characters. Without it, scans the newest traces matching --query.
    #[arg(conflicts_with_all = ["query", "limit"])]
    trace_id: Option<TraceId>,
    /// A TraceQL query choosing the traces to scan (default: every trace).
    #[arg(long)]
    query: Option<String>,
    #[command(flatten)]
    range: RangeArgs,
    /// Most traces to scan (the newest matches).
    #[arg(long)]
    limit: Option<usize>,
}

/// Traces a scan examines unless told otherwise.
const DEFAULT_SCAN_TRACES: usize = 1000;

pub fn run(db_dir: &Path, format: Format, args: Args) -> Result<ExitCode> {
    let db = crate::open_existing(db_dir)?;
    if let Some(trace_id) = args.trace_id {
        let health = db.trace_health(&trace_id)?;
        match format {
            Format::Json => outln!("{}", json(&health)),
            _ => out!("{}", health_lines(&health)),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let q = spandb::query::parse(args.query.as_deref().unwrap_or("{ }"))?;
    let range = args.range.range()?.unwrap_or(TimeRange::ALL);
    let scan = db.health_scan(&q, range, args.limit.unwrap_or(DEFAULT_SCAN_TRACES))?;
    match format {
        Format::Json => outln!("{}", json(&scan)),
        // Table (main.rs refused the image formats for this command).
        _ => out!("{}", health_scan_table(&scan)),
    }
    Ok(ExitCode::SUCCESS)
}
