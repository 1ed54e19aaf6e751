//! `spandb metrics '<traceql pipeline>'`: series per group (Tempo's query_range JSON shape).

use std::path::Path;
use std::process::ExitCode;

use spandb::render::{chart, png, table, tempo};
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
    /// One value per series for the whole range (Tempo's /api/metrics/query), not a series
    /// of steps.
    #[arg(long, conflicts_with = "step")]
    instant: bool,
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
    if args.instant {
        let result = snap.metrics_instant(&q, range.start_ns, range.end_ns)?;
        match format {
            Format::Json => outln!("{}", json(&tempo::QueryInstantResponse::new(&result))),
            Format::Table => out!(
                "{}",
                table::metrics_table(&result, table::ValueUnit::of(&q))
            ),
            f => return Err(f.unsupported("metrics --instant")),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let req = MetricsRequest::aligned(range.start_ns, range.end_ns, args.step);
    let result = snap.metrics(&q, req)?;
    match format {
        Format::Json => outln!("{}", json(&tempo::QueryRangeResponse::new(&result))),
        Format::Table => out!(
            "{}",
            table::metrics_table(&result, table::ValueUnit::of(&q))
        ),
        Format::Svg | Format::Png | Format::Html => {
            let mut opts = chart::ChartOptions::new(table::ValueUnit::of(&q), args.step);
            opts.title = args.query.clone();
            match format {
                Format::Svg => out!("{}", chart::metrics_chart_svg(&result, &opts)),
                Format::Html => out!("{}", chart::metrics_chart_html(&result, &opts)),
                _ => crate::output::binary(&png::svg_to_png(&chart::metrics_chart_svg(
                    &result, &opts,
                ))?)?,
            }
        }
        f => return Err(f.unsupported("metrics")),
    }
    Ok(ExitCode::SUCCESS)
}
