//! `spandb graph`: the service graph (services, databases, queues, peers and the calls
//! between them) over a range, from the blocks' edge rollups.

use std::path::Path;
use std::process::ExitCode;

use spandb::render::graph_table::service_graph_table;
use spandb::render::{graph_map, png};
use spandb::{Result, TimeRange};

use crate::output::json;
use crate::range::RangeArgs;
use crate::Format;

#[derive(clap::Args)]
pub struct Args {
    /// Count only traces matching this TraceQL spanset, e.g. '{ status = error }'.
    #[arg(long)]
    query: Option<String>,
    #[command(flatten)]
    range: RangeArgs,
}

pub fn run(db_dir: &Path, format: Format, args: Args) -> Result<ExitCode> {
    let filter = args
        .query
        .as_deref()
        .map(spandb::query::parse)
        .transpose()?;
    let range = args.range.range()?.unwrap_or(TimeRange::ALL);
    let db = crate::open_existing(db_dir)?;
    let graph = db.service_graph(range, filter.as_ref())?;
    match format {
        Format::Json => outln!("{}", json(&graph)),
        Format::Table => out!("{}", service_graph_table(&graph)),
        Format::Dot => out!("{}", graph_map::service_map_dot(&graph)),
        Format::Svg => out!("{}", graph_map::service_map_svg(&graph)),
        Format::Png => {
            crate::output::binary(&png::svg_to_png(&graph_map::service_map_svg(&graph))?)?
        }
        Format::Html => out!("{}", graph_map::service_map_html(&graph)),
        Format::Otlp => return Err(format.unsupported("graph")),
    }
    Ok(ExitCode::SUCCESS)
}
