//! `spandb check`: like SQLite's `PRAGMA integrity_check`. Exit status 0 when everything
//! agrees, 4 (corruption) when a problem was found.

use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use spandb::{CheckReport, RepairReport, Result};

use crate::output::json;
use crate::Format;

#[derive(clap::Args)]
pub struct Args {
    /// Move bad blocks to <db>/quarantine, drop their catalog and index entries, and list the
    /// traces that lost spans.
    #[arg(long)]
    repair: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CheckOutput<'a> {
    ok: bool,
    #[serde(flatten)]
    report: &'a CheckReport,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RepairOutput<'a> {
    #[serde(flatten)]
    repair: &'a RepairReport,
    ok_after_repair: bool,
    problems_after_repair: &'a [spandb::Problem],
}

fn status(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::exit::CORRUPTION)
    }
}

pub fn run(db_dir: &Path, format: Format, args: Args) -> Result<ExitCode> {
    let db = crate::open_existing(db_dir)?;
    if args.repair {
        return repair(&db, format);
    }
    let report = db.check()?;
    match format {
        Format::Json => outln!(
            "{}",
            json(&CheckOutput {
                ok: report.is_ok(),
                report: &report,
            })
        ),
        // Table (main.rs refused the image formats for this command).
        _ => {
            if report.is_ok() {
                outln!(
                    "ok: {} blocks, {} spans, {} log records checked",
                    report.blocks_checked,
                    report.spans_checked,
                    report.wal_records_checked
                );
            } else {
                for p in &report.problems {
                    outln!("{p}");
                }
                outln!("{} problems found", report.problems.len());
            }
        }
    }
    Ok(status(report.is_ok()))
}

fn repair(db: &spandb::Db, format: Format) -> Result<ExitCode> {
    let r = db.repair()?;
    let after = db.check()?;
    match format {
        Format::Json => outln!(
            "{}",
            json(&RepairOutput {
                repair: &r,
                ok_after_repair: after.is_ok(),
                problems_after_repair: &after.problems,
            })
        ),
        // Table (main.rs refused the image formats for this command).
        _ => {
            if r.quarantined.is_empty() {
                outln!("no bad blocks found");
            }
            for q in &r.quarantined {
                outln!(
                    "quarantined block {} -> {}: {}",
                    q.block,
                    q.moved_to.display(),
                    q.reason
                );
            }
            if !r.quarantined.is_empty() {
                outln!(
                    "{} spans lost from {} traces:",
                    r.spans_lost,
                    r.affected_traces.len()
                );
                for t in &r.affected_traces {
                    outln!("  {t}");
                }
            }
            for p in &after.problems {
                outln!("still wrong after repair: {p}");
            }
        }
    }
    Ok(status(after.is_ok()))
}
