//! `spandb breakdown '<traceql>'`: where the time of matching traces goes, as
//! critical-path time and self time per (service, operation).

use std::path::Path;
use std::process::ExitCode;

use spandb::render::analysis::breakdown_table;
use spandb::{Result, TimeRange};

use crate::output::json;
use crate::range::RangeArgs;
use crate::Format;

#[derive(clap::Args)]
pub struct Args {
    /// A TraceQL query choosing the traces, e.g. '{ resource.service.name = "checkout" && duration > 1s }'.
    query: String,
    #[command(flatten)]
    range: RangeArgs,
    /// Most traces to analyse (the newest matches).
    #[arg(long, default_value_t = spandb::DEFAULT_BREAKDOWN_TRACES)]
    limit: usize,
    /// Rows per table (text output only).
    #[arg(long, default_value_t = 20)]
    top: usize,
}

pub fn run(db_dir: &Path, format: Format, args: Args) -> Result<ExitCode> {
    let q = spandb::query::parse(&args.query)?;
    let range = args.range.range()?.unwrap_or(TimeRange::ALL);
    let db = crate::open_existing(db_dir)?;
    let b = db.time_breakdown(&q, range, args.limit)?;
    match format {
        Format::Json => outln!("{}", json(&b)),
        // Table (main.rs refused the image formats for this command).
        _ => out!("{}", breakdown_table(&b, args.top)),
    }
    Ok(ExitCode::SUCCESS)
}
