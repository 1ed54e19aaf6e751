//! `spandb metrics '<traceql pipeline>'`: series per group (Tempo's query_range JSON shape).

use std::path::Path;
use std::process::ExitCode;

use spandb::query::{self, cli::render_metrics_table, json::metrics_json, MetricsRequest};
use spandb::{Error, Result};

use crate::range::{parse_duration, RangeArgs};
use crate::Format;

#[derive(clap::Args)]
pub struct Args {
    /// A TraceQL metrics query, e.g. '{ } | rate() by (resource.service.name)'.
    query: String,
    /// Bucket width.
    #[arg(long, default_value = "1m")]
    step: String,
    #[command(flatten)]
    range: RangeArgs,
}

pub fn run(db_dir: &Path, format: Format, args: Args) -> Result<ExitCode> {
    let q = query::parse(&args.query).map_err(|e| Error::InvalidInput(e.to_string()))?;
    let step = parse_duration(&args.step)?;
    if step == 0 {
        return Err(Error::InvalidInput("--step must be positive".into()));
    }
    let db = crate::open_existing(db_dir)?;
    let snap = db.snapshot()?;
    let range = match args.range.range()? {
        Some(r) => r,
        None => match query::data_time_range(&snap) {
            Some(r) => r,
            None => return Err(Error::InvalidInput("the database holds no spans".into())),
        },
    };
    let req = MetricsRequest::aligned(range.start_ns, range.end_ns, step);
    let result = query::metrics(&snap, &q, req).map_err(crate::query_error)?;
    match format {
        Format::Json => outln!("{}", metrics_json(&result)),
        Format::Table => out!("{}", render_metrics_table(&result)),
    }
    Ok(ExitCode::SUCCESS)
}
