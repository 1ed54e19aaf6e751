//! `spandb check`: like SQLite's `PRAGMA integrity_check`. Exit status 0 when everything
//! agrees, 1 when a problem was found.

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;
use spandb::Result;

use crate::Format;

#[derive(clap::Args)]
pub struct Args {
    /// Move bad blocks to <db>/quarantine, drop their catalog and index entries, and list the
    /// traces that lost spans.
    #[arg(long)]
    repair: bool,
}

pub fn run(db_dir: &Path, format: Format, args: Args) -> Result<ExitCode> {
    let db = crate::open_existing(db_dir)?;
    if args.repair {
        return repair(&db, format);
    }
    let report = db.check()?;
    let broken: Vec<String> = db
        .snapshot()?
        .broken_blocks()
        .map(|(id, e)| format!("block {id}: {e}"))
        .collect();
    let mut problems = report.problems.clone();
    for b in broken {
        if !problems.contains(&b) {
            problems.push(b);
        }
    }
    match format {
        Format::Json => outln!(
            "{}",
            json!({
                "ok": problems.is_empty(),
                "blocksChecked": report.blocks_checked,
                "spansChecked": report.spans_checked,
                "walRecordsChecked": report.wal_records_checked,
                "problems": problems,
            })
        ),
        Format::Table => {
            if problems.is_empty() {
                outln!(
                    "ok: {} blocks, {} spans, {} log records checked",
                    report.blocks_checked,
                    report.spans_checked,
                    report.wal_records_checked
                );
            } else {
                for p in &problems {
                    outln!("{p}");
                }
                outln!("{} problems found", problems.len());
            }
        }
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn repair(db: &spandb::Db, format: Format) -> Result<ExitCode> {
    let r = db.repair()?;
    let after = db.check()?;
    match format {
        Format::Json => outln!(
            "{}",
            json!({
                "quarantined": r.quarantined.iter().map(|(id, why, to)| json!({"block": id, "reason": why, "movedTo": to.display().to_string()})).collect::<Vec<_>>(),
                "spansLost": r.spans_lost,
                "affectedTraces": r.affected_traces,
                "okAfterRepair": after.is_ok(),
                "problemsAfterRepair": after.problems,
            })
        ),
        Format::Table => {
            if r.quarantined.is_empty() {
                outln!("no bad blocks found");
            }
            for (id, why, to) in &r.quarantined {
                outln!("quarantined block {id} -> {}: {why}", to.display());
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
    Ok(if after.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
