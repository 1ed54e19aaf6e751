//! `spandb check`: like SQLite's `PRAGMA integrity_check`. Exit status 0 when everything
//! agrees, 1 when a problem was found.

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;
use spandb::Result;

use crate::Format;

pub fn run(db_dir: &Path, format: Format) -> Result<ExitCode> {
    let db = crate::open_existing(db_dir)?;
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
