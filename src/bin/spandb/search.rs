//! `spandb search '<traceql>'`: matching traces, newest first (Tempo's search JSON shape).

use std::path::Path;
use std::process::ExitCode;

use spandb::query::{self, cli::render_search_table, json::search_json, TimeRange};
use spandb::{Error, Result};

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
    let q = query::parse(&args.query).map_err(|e| Error::InvalidInput(e.to_string()))?;
    let range = args.range.range()?.unwrap_or(TimeRange::ALL);
    let db = crate::open_existing(db_dir)?;
    let traces =
        query::search(&db.snapshot()?, &q, range, args.limit).map_err(crate::query_error)?;
    match format {
        Format::Json => outln!("{}", search_json(&traces)),
        Format::Table => out!("{}", render_search_table(&traces)),
    }
    Ok(ExitCode::SUCCESS)
}
