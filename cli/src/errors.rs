//! `spandb errors`: exceptions and error spans grouped by service, type and message
//! template, with their origin; `--baseline` flags groups not seen before.

use std::path::Path;
use std::process::ExitCode;

use spandb::render::analysis::error_groups_table;
use spandb::{Result, TimeRange};

use crate::output::json;
use crate::range::{duration_ns, RangeArgs};
use crate::Format;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    range: RangeArgs,
    /// Flag groups not seen in this long a window just before the range (e.g. 24h).
    #[arg(long, value_parser = duration_ns)]
    baseline: Option<u64>,
}

pub fn run(db_dir: &Path, format: Format, args: Args) -> Result<ExitCode> {
    let range = args.range.range()?.unwrap_or(TimeRange::ALL);
    let baseline = match args.baseline {
        Some(_) if range.start_ns == 0 => {
            return Err(spandb::Error::invalid(
                "--baseline needs a range with a start (--since or --start)",
            ))
        }
        Some(len) => Some(TimeRange::new(
            range.start_ns.saturating_sub(len),
            range.start_ns,
        )),
        None => None,
    };
    let db = crate::open_existing(db_dir)?;
    let groups = db.error_groups(range, baseline)?;
    match format {
        Format::Json => outln!("{}", json(&groups)),
        // Table (main.rs refused the image formats for this command).
        _ => out!("{}", error_groups_table(&groups)),
    }
    Ok(ExitCode::SUCCESS)
}
