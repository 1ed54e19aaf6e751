//! Integrity check (`check`) and repair (`repair`), and their reports.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::maintenance::AnyBlock;
use super::open::open_block;
use super::{lock, Db};
use crate::catalog::RecordKind;
use crate::catalog::{trace_prefix, BlockEntry, TracePrefix};
use crate::error::{Error, Result};
use crate::model::TraceId;
use crate::wal_codec::{decode_log_record, decode_record};

/// What `check` found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckReport {
    pub blocks_checked: u64,
    pub spans_checked: u64,
    pub logs_checked: u64,
    pub wal_records_checked: u64,
    pub problems: Vec<Problem>,
}

/// One thing `check` found wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// The block it concerns, when it concerns one.
    pub block: Option<u64>,
    /// The file it concerns, when it concerns one.
    pub file: Option<PathBuf>,
    /// What is wrong, for a person.
    pub detail: String,
}

impl Problem {
    fn in_block(block: u64, file: &Path, detail: impl fmt::Display) -> Problem {
        Problem {
            block: Some(block),
            file: Some(file.to_path_buf()),
            detail: detail.to_string(),
        }
    }
    fn other(detail: impl fmt::Display) -> Problem {
        Problem {
            block: None,
            file: None,
            detail: detail.to_string(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.block {
            Some(b) => write!(f, "block {b}: {}", self.detail),
            None => f.write_str(&self.detail),
        }
    }
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What `repair` did: the blocks moved aside and the traces that lost spans with them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepairReport {
    pub quarantined: Vec<QuarantinedBlock>,
    /// Ids of the traces that had spans in quarantined blocks: full hex ids when the block's
    /// trace table was readable, else the 16-hex-digit prefix the trace index keeps.
    pub affected_traces: Vec<String>,
    pub spans_lost: u64,
    /// Log records lost with quarantined log blocks.
    pub logs_lost: u64,
}

/// A block `repair` moved aside.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuarantinedBlock {
    pub block: u64,
    /// Why it failed verification.
    pub reason: String,
    /// Where the file went (under `<db>/quarantine/`).
    pub moved_to: PathBuf,
}

impl Db {
    /// Verifies every block checksum and decodes every row, and checks that the catalog, the
    /// trace index, the block files and the log agree (like SQLite's `integrity_check`).
    /// Writes wait while it runs (it holds the writer lock after letting queued seals finish),
    /// so that no block is half-sealed while the files are compared with the catalog.
    pub fn check(&self) -> Result<CheckReport> {
        let _no_compaction = lock(&self.inner.maintenance);
        let _writer = lock(&self.inner.writer);
        // A poisoned handle still gets checked: that is when it matters most.
        let _ = self.inner.barrier()?.recv().map_err(|_| Error::Closed)?;
        let snap = self.snapshot()?;
        let inner = &self.inner;
        let mut report = CheckReport::default();
        let entries = inner.catalog.blocks()?;
        let mut block_traces: BTreeMap<u64, HashSet<TracePrefix>> = BTreeMap::new();
        for e in &entries {
            report.blocks_checked += 1;
            let path = inner.blocks_dir.join(BlockEntry::file_name(e.id));
            let reader = match open_block(&path, e, None) {
                Ok(r) => r,
                Err(err) => {
                    report.problems.push(Problem::in_block(e.id, &path, err));
                    continue;
                }
            };
            match std::fs::read(&path) {
                Ok(bytes) if crc32c::crc32c(&bytes) != e.file_crc32c => {
                    report.problems.push(Problem::in_block(
                        e.id,
                        &path,
                        format!(
                            "file checksum mismatch (catalog {:08x}, file {:08x})",
                            e.file_crc32c,
                            crc32c::crc32c(&bytes)
                        ),
                    ))
                }
                Ok(_) => {}
                Err(err) => {
                    report
                        .problems
                        .push(Problem::in_block(e.id, &path, Error::io(&path, err)))
                }
            }
            let decoded = match &reader {
                AnyBlock::Spans(r) => r.all_spans().map(|spans| {
                    (
                        spans.iter().map(|s| trace_prefix(&s.trace_id)).collect(),
                        spans.len(),
                    )
                }),
                AnyBlock::Logs(r) => r.all_records().map(|logs| {
                    (
                        logs.iter()
                            .filter_map(|l| l.trace())
                            .map(|t| trace_prefix(&t))
                            .collect(),
                        logs.len(),
                    )
                }),
            };
            match decoded {
                Ok((traces, rows)) => {
                    match &reader {
                        AnyBlock::Spans(_) => report.spans_checked += rows as u64,
                        AnyBlock::Logs(_) => report.logs_checked += rows as u64,
                    }
                    if rows as u64 != u64::from(e.rows) {
                        report.problems.push(Problem::in_block(
                            e.id,
                            &path,
                            format!("{rows} rows decoded, catalog says {}", e.rows),
                        ));
                    }
                    block_traces.insert(e.id, traces);
                }
                Err(err) => report.problems.push(Problem::in_block(e.id, &path, err)),
            }
        }
        // Retired blocks (replaced or dropped, still read by some snapshot) keep their index
        // entries and files until the last reader lets go.
        let retired: HashSet<u64> = inner.catalog.retired()?.into_iter().collect();
        let mut indexed: BTreeMap<u64, HashSet<TracePrefix>> = BTreeMap::new();
        for (t, b) in inner.catalog.trace_index()? {
            if retired.contains(&b) {
                continue;
            }
            if !entries.iter().any(|e| e.id == b) {
                report.problems.push(Problem::other(format!(
                    "trace index entry {} -> block {b}: no such block",
                    hex(&t)
                )));
            }
            indexed.entry(b).or_default().insert(t);
        }
        for (b, traces) in &block_traces {
            let idx = indexed.get(b);
            let missing = traces
                .iter()
                .filter(|t| !idx.is_some_and(|i| i.contains(*t)))
                .count();
            if missing > 0 {
                report.problems.push(Problem {
                    block: Some(*b),
                    file: None,
                    detail: format!("{missing} traces missing from the trace index"),
                });
            }
            let extra = idx
                .map(|i| i.iter().filter(|t| !traces.contains(*t)).count())
                .unwrap_or(0);
            if extra > 0 {
                report.problems.push(Problem {
                    block: Some(*b),
                    file: None,
                    detail: format!("{extra} trace index entries with no spans in the block"),
                });
            }
        }
        for item in
            std::fs::read_dir(&inner.blocks_dir).map_err(|e| Error::io(&inner.blocks_dir, e))?
        {
            let item = item.map_err(|e| Error::io(&inner.blocks_dir, e))?;
            let name = item.file_name().to_string_lossy().into_owned();
            let is_retired = retired.iter().any(|id| BlockEntry::file_name(*id) == name);
            if !is_retired && !entries.iter().any(|e| BlockEntry::file_name(e.id) == name) {
                report.problems.push(Problem {
                    block: None,
                    file: Some(item.path()),
                    detail: format!("file blocks/{name} is not in the catalog"),
                });
            }
        }
        for (seq, kind, payload) in inner.catalog.wal_records()? {
            report.wal_records_checked += 1;
            let decoded = match kind {
                RecordKind::Spans => decode_record(&payload).map(drop),
                RecordKind::Logs => decode_log_record(&payload).map(drop),
            };
            if let Err(e) = decoded {
                report
                    .problems
                    .push(Problem::other(format!("log record {seq}: {e}")));
            }
        }
        // Catalogued blocks that failed to open when this handle loaded them.
        for (id, why) in snap.broken_blocks() {
            if !report.problems.iter().any(|p| p.block == Some(id)) {
                report.problems.push(Problem {
                    block: Some(id),
                    file: Some(inner.blocks_dir.join(BlockEntry::file_name(id))),
                    detail: why.to_string(),
                });
            }
        }
        drop(snap);
        Ok(report)
    }

    /// Quarantines every block that fails verification: moves its file to `<db>/quarantine/`,
    /// drops its catalog and trace-index entries, and reports the traces that lost spans. The
    /// rest of the database stays readable and consistent (`check` is clean afterwards).
    pub fn repair(&self) -> Result<RepairReport> {
        let inner = &self.inner;
        let _one_at_a_time = lock(&inner.maintenance);
        let writer = lock(&inner.writer);
        let _ = inner.barrier()?.recv().map_err(|_| Error::Closed)?;
        let mut report = RepairReport::default();
        let quarantine = inner.dir.join("quarantine");
        for entry in inner.catalog.blocks()? {
            let path = inner.blocks_dir.join(BlockEntry::file_name(entry.id));
            let reader = open_block(&path, &entry, None);
            let verdict = match &reader {
                Ok(r) => r.verify().map(drop).and_then(|_| {
                    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
                    if crc32c::crc32c(&bytes) == entry.file_crc32c {
                        Ok(())
                    } else {
                        Err(Error::corruption(&path, "file checksum mismatch"))
                    }
                }),
                Err(e) => Err(Error::corruption(&path, e.to_string())),
            };
            let Err(why) = verdict else { continue };
            let traces: Option<Vec<TraceId>> =
                reader.as_ref().ok().and_then(|r| r.file().trace_ids().ok());
            match &traces {
                Some(t) => report
                    .affected_traces
                    .extend(t.iter().map(|t| t.to_string())),
                None => {
                    let prefixes = inner.catalog.trace_index()?;
                    report.affected_traces.extend(
                        prefixes
                            .iter()
                            .filter(|(_, b)| *b == entry.id)
                            .map(|(p, _)| hex(p)),
                    );
                }
            }
            match entry.kind {
                crate::catalog::BlockKind::Spans => report.spans_lost += u64::from(entry.rows),
                crate::catalog::BlockKind::Logs => report.logs_lost += u64::from(entry.rows),
            }
            std::fs::create_dir_all(&quarantine).map_err(|e| Error::io(&quarantine, e))?;
            let target = quarantine.join(BlockEntry::file_name(entry.id));
            if path.exists() {
                inner
                    .opts
                    .fs
                    .rename(&path, &target)
                    .map_err(|e| Error::io(&path, e))?;
                inner
                    .opts
                    .fs
                    .sync_dir(&inner.blocks_dir)
                    .map_err(|e| Error::io(&inner.blocks_dir, e))?;
            }
            inner.swap_blocks_with(None, &[entry.id], writer.next_block_id)?;
            inner.catalog.forget_block(entry.id, traces.as_deref())?;
            report.quarantined.push(QuarantinedBlock {
                block: entry.id,
                reason: why.to_string(),
                moved_to: target,
            });
        }
        Ok(report)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
