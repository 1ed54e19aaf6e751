//! `spandb search '<traceql>'`: matching traces, newest first (Tempo's search JSON shape).

use std::path::Path;
use std::process::ExitCode;

use spandb::render::{table, tempo};
use spandb::{Result, TimeRange};

use crate::output::json;
use crate::range::RangeArgs;
use crate::Format;

#[derive(clap::Args)]
pub struct Args {
    /// A TraceQL query, e.g. '{ resource.service.name = "checkout" && status = error }'.
    query: String,
    #[command(flatten)]
    range: RangeArgs,
    /// Most traces to return.
    #[arg(long, default_value_t = 20)]
    limit: usize,
}

pub fn run(db_dir: &Path, format: Format, args: Args) -> Result<ExitCode> {
    let q = spandb::query::parse(&args.query)?;
    let range = args.range.range()?.unwrap_or(TimeRange::ALL);
    let db = crate::open_existing(db_dir)?;
    let traces = db.search(&q, range, args.limit)?;
    match format {
        Format::Json => outln!("{}", json(&tempo::SearchResponse::new(&traces))),
        // Table (main.rs refused the image formats for this command).
        _ => out!("{}", table::search_table(&traces)),
    }
    Ok(ExitCode::SUCCESS)
}
