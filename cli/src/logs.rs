//! `spandb logs [QUERY]`: log records, newest first; `spandb logs patterns`: their bodies
//! mined into templates.

use std::path::Path;
use std::process::ExitCode;

use spandb::render::logs as render;
use spandb::{Result, TimeRange};

use crate::output::json;
use crate::range::{duration_ns, RangeArgs};
use crate::Format;

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    #[command(flatten)]
    search: SearchArgs,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Bodies mined into templates: count, per-minute trend, severity mix, an example, and
    /// whether the pattern is new against a baseline window.
    Patterns(PatternArgs),
}

#[derive(clap::Args)]
struct SearchArgs {
    /// A log query (docs/QUERY.md, "Logs"), e.g.
    /// '{ service = "payment" && severity >= warn } |= "declined"'. Empty: every record.
    #[arg(default_value = "")]
    query: String,
    #[command(flatten)]
    range: RangeArgs,
    /// Most records to return (the newest).
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

#[derive(clap::Args)]
struct PatternArgs {
    /// A log query selecting the records to mine (default: all).
    #[arg(default_value = "")]
    query: String,
    /// The window: the last DURATION up to the newest record (so imported files work).
    #[arg(long, value_parser = duration_ns, default_value = "1h")]
    since: u64,
    /// The baseline: the DURATION before the window; patterns absent from it are flagged
    /// new. Defaults to the window's length; `0s` is refused, use --no-baseline.
    #[arg(long, value_parser = duration_ns)]
    baseline: Option<u64>,
    /// Do not compare with a baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Show at most this many patterns (table output).
    #[arg(long, default_value_t = 30)]
    top: usize,
}

pub fn run(db_dir: &Path, format: Format, args: Args) -> Result<ExitCode> {
    let db = crate::open_existing(db_dir)?;
    match args.command {
        Some(Sub::Patterns(p)) => patterns(&db, format, p),
        None => {
            let s = args.search;
            let range = s.range.range()?.unwrap_or(TimeRange::ALL);
            let logs = db.logs(s.query.as_str(), range, s.limit)?;
            match format {
                Format::Json => outln!(
                    "{}",
                    json(
                        &logs
                            .iter()
                            .map(spandb::otlp::json::log_record_json)
                            .collect::<Vec<_>>()
                    )
                ),
                Format::Otlp => outln!("{}", spandb::otlp::json::encode_json_logs_request(&logs)),
                _ => out!("{}", render::logs_table(&logs)),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn patterns(db: &spandb::Db, format: Format, p: PatternArgs) -> Result<ExitCode> {
    let snap = db.snapshot()?;
    let newest = snap
        .logs(p.query.as_str(), TimeRange::ALL, 1)?
        .first()
        .map(|l| l.timestamp_ns());
    let Some(newest) = newest else {
        outln!("no log records");
        return Ok(ExitCode::SUCCESS);
    };
    let end = newest.saturating_add(1);
    let start = end.saturating_sub(p.since);
    let range = TimeRange::new(start, end);
    let baseline = (!p.no_baseline).then(|| {
        let len = p.baseline.unwrap_or(p.since);
        TimeRange::new(start.saturating_sub(len), start)
    });
    let mut result = snap.log_patterns(p.query.as_str(), range, baseline)?;
    match format {
        Format::Json => outln!("{}", json(&result)),
        _ => {
            result.patterns.truncate(p.top);
            out!("{}", render::patterns_table(&result));
        }
    }
    Ok(ExitCode::SUCCESS)
}
