//! `spandb metrics '<traceql pipeline>'`: series per group (Tempo's query_range JSON shape).

use std::path::Path;
use std::process::ExitCode;

use spandb::render::{table, tempo};
use spandb::{Error, MetricsRequest, Result};

use crate::output::json;
use crate::range::{duration_ns, RangeArgs};
use crate::Format;

#[derive(clap::Args)]
pub struct Args {
    /// A TraceQL metrics query, e.g. '{ } | rate() by (resource.service.name)'.
    query: String,
    /// Bucket width.
    #[arg(long, default_value = "1m", value_parser = duration_ns)]
    step: u64,
    #[command(flatten)]
    range: RangeArgs,
}

pub fn run(db_dir: &Path, format: Format, args: Args) -> Result<ExitCode> {
    let q = spandb::query::parse(&args.query)?;
    let db = crate::open_existing(db_dir)?;
    let snap = db.snapshot()?;
    let range = match args.range.range()? {
        Some(r) => r,
        None => snap.time_range().ok_or_else(|| Error::NotFound {
            what: "spans: the database holds none".into(),
        })?,
    };
    let req = MetricsRequest::aligned(range.start_ns, range.end_ns, args.step);
    let result = snap.metrics(&q, req)?;
    match format {
        Format::Json => outln!("{}", json(&tempo::QueryRangeResponse::new(&result))),
        Format::Table => out!(
            "{}",
            table::metrics_table(&result, table::ValueUnit::of(&q))
        ),
        f => return Err(f.unsupported("metrics")),
    }
    Ok(ExitCode::SUCCESS)
}
