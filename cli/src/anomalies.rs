//! `spandb anomalies`: incidents in a window against a baseline, localized to their origin.

use std::path::Path;
use std::process::ExitCode;

use spandb::render::anomalies::anomalies_text;
use spandb::{Result, TimeRange};

use crate::output::json;
use crate::range::{duration_ns, RangeArgs};
use crate::Format;

/// The window when no range is given: the last hour of the data.
const DEFAULT_WINDOW_NS: u64 = 3_600_000_000_000;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    range: RangeArgs,
    /// Hold the window against the DURATION before it (e.g. 24h); default: the window itself.
    #[arg(long, value_parser = duration_ns)]
    baseline: Option<u64>,
}

pub fn run(db_dir: &Path, format: Format, args: Args) -> Result<ExitCode> {
    let db = crate::open_existing(db_dir)?;
    let window = match args.range.range()? {
        Some(r) => r,
        None => {
            let Some(data) = db.snapshot()?.time_range() else {
                outln!("the database holds no spans");
                return Ok(ExitCode::SUCCESS);
            };
            TimeRange::new(
                data.end_ns
                    .saturating_sub(DEFAULT_WINDOW_NS)
                    .max(data.start_ns),
                data.end_ns,
            )
        }
    };
    let baseline = args
        .baseline
        .map(|b| TimeRange::new(window.start_ns.saturating_sub(b), window.start_ns));
    let found = db.anomalies(window, baseline)?;
    match format {
        Format::Json => outln!("{}", json(&found)),
        // Table (main.rs refused the image formats for this command).
        _ => out!("{}", anomalies_text(&found)),
    }
    Ok(ExitCode::SUCCESS)
}
