//! Every block-file operation of sealing, retention and compaction, failed and crashed one at a
//! time: a workload (span and log writes with seals, retention, compaction, more seals) runs on
//! a [`FaultFs`] that fails the Nth call of one operation (write, fsync, rename, directory
//! fsync, remove) or "crashes" there, dropping what was not durable. Each seal writes a span
//! block and a log block, so every step of a log block's life fails too. After each run the
//! database is reopened on the real file system and must hold exactly the acknowledged batches
//! of spans and of log records (minus those retention committed to dropping), each whole and
//! once, with `check()` clean; a failed write, fsync or rename must have poisoned the handle.
//!
//! RocksDB (catalog, log, trace index) is not behind the seam: in the crash runs it keeps what
//! it wrote, as after kill -9. `kill9_*` tests cover RocksDB's side with real processes.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use common::faultfs::{Fault, FaultFs, FsOp};
use spandb_storage::{Db, Durability, Error, LogRecord, Options, ScanFilter, Span};

const PER: u64 = 20;
/// Log records per batch: a batch is 32 rows, so the two batches after compaction (64 rows)
/// stay below `block_max_spans` and are sealed by the final flush only.
const LOGS_PER: u64 = 12;
const SECOND: u64 = 1_000_000_000;
/// Retention drops blocks whose spans all start before this: batches 0 and 1.
const CUTOFF: u64 = common::BASE_NS + 2 * SECOND;

/// Batches 0 and 1 are old; the rest are 100 s later.
fn batch_time(i: u64) -> u64 {
    if i < 2 {
        common::BASE_NS + i * SECOND
    } else {
        common::BASE_NS + (100 + i) * SECOND
    }
}

fn batch(i: u64) -> Vec<Span> {
    common::numbered_batch(i, PER, batch_time(i))
}

/// The log records of batch `i`, in its spans' traces and time.
fn logs(i: u64) -> Vec<LogRecord> {
    spandb_testkit::numbered_logs(i, LOGS_PER, batch_time(i))
}

fn options() -> Options {
    Options::new()
        .durability(Durability::Sync)
        .block_max_spans(4 * PER as usize)
        .compact_below_spans(4 * PER as usize)
        .rows_per_group(8)
        .maintenance_interval(None)
}

#[derive(Debug, Default)]
struct Outcome {
    acked: Vec<u64>,
    retention_committed: bool,
    finished: bool,
}

/// Six single-batch blocks; retention drops the two old ones; compaction merges the other
/// four into one; two more batches are sealed into a last block. Stops at the first error.
fn workload(db: &Db, out: &mut Outcome) -> Result<(), Error> {
    for i in 0..6 {
        db.write(batch(i))?;
        db.write_logs(logs(i))?;
        out.acked.push(i);
        db.flush()?;
    }
    let r = db.retain_since(CUTOFF)?;
    out.retention_committed = true;
    assert_eq!(
        (r.blocks_dropped, r.logs_dropped),
        (4, 2 * LOGS_PER),
        "{r:?}"
    );
    let c = db.compact()?;
    assert_eq!((c.merges, c.blocks_after), (2, 2), "{c:?}");
    for i in 6..8 {
        db.write(batch(i))?;
        db.write_logs(logs(i))?;
        out.acked.push(i);
    }
    db.flush()?;
    out.finished = true;
    Ok(())
}

/// Reopens on the real file system and checks the database holds exactly `want`, whole.
fn verify_reopened(dir: &std::path::Path, want: &BTreeSet<u64>, what: &str) {
    let db = options()
        .open(dir)
        .unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
    let leftovers: Vec<String> = std::fs::read_dir(dir.join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".blk"))
        .collect();
    assert!(leftovers.is_empty(), "{what}: leftovers {leftovers:?}");
    let report = db.check().unwrap();
    assert!(report.is_ok(), "{what}: check: {:?}", report.problems);

    let mut by_batch: BTreeMap<u64, Vec<Span>> = BTreeMap::new();
    for s in db.snapshot().unwrap().scan(&ScanFilter::default()).unwrap() {
        by_batch.entry(common::batch_of(&s)).or_default().push(s);
    }
    let present: BTreeSet<u64> = by_batch.keys().copied().collect();
    assert_eq!(&present, want, "{what}: batches present");
    for (i, spans) in by_batch {
        assert_eq!(
            common::sorted(spans),
            common::sorted(batch(i)),
            "{what}: batch {i} is not whole"
        );
    }
    for i in 0..8 {
        for t in 0..4 {
            let got = db.trace(&spandb_testkit::numbered_trace(i, t)).unwrap();
            let expect = if want.contains(&i) {
                PER as usize / 4
            } else {
                0
            };
            assert_eq!(got.len(), expect, "{what}: trace {t} of batch {i}");
        }
    }
    assert_eq!(
        db.stats().unwrap().spans,
        want.len() as u64 * PER,
        "{what}: span count"
    );
    // Log records: exactly the acknowledged batches', each once, found by trace too.
    let snap = db.snapshot().unwrap();
    let expect_logs = common::sorted_logs(want.iter().flat_map(|&i| logs(i)).collect());
    assert_eq!(common::all_logs(&snap), expect_logs, "{what}: log records");
    for i in 0..8 {
        let got = snap
            .trace_logs(&spandb_testkit::numbered_trace(i, 1))
            .unwrap();
        let expect = if want.contains(&i) { LOGS_PER / 4 } else { 0 };
        assert_eq!(
            got.len() as u64,
            expect,
            "{what}: logs of trace 1 of batch {i}"
        );
    }
    drop(snap);
    // And it takes writes again.
    db.write(batch(50)).unwrap();
    db.write_logs(logs(50)).unwrap();
    db.flush().unwrap();
    db.compact().unwrap();
    let report = db.check().unwrap();
    assert!(
        report.is_ok(),
        "{what}: check after new writes: {:?}",
        report.problems
    );
    db.close().unwrap();
}

/// Runs the workload with `fault` at the `n`th call of `op`; returns the error the workload
/// saw, if any.
fn run(op: FsOp, n: usize, fault: Fault) -> Option<String> {
    let what = format!("{fault:?} at {op:?} call #{n}");
    let dir = common::scratch_dir();
    let fs = Arc::new(FaultFs::new());
    let db = options().file_system(fs.clone()).open(dir.path()).unwrap();
    fs.arm(op, n, fault);
    let mut out = Outcome::default();
    let result = workload(&db, &mut out);
    let error = result.as_ref().err().map(|e| e.to_string());
    assert!(
        fs.tripped(),
        "{what}: the fault never fired ({:?})",
        fs.calls()
    );

    let poisons = !(op == FsOp::Remove && fault == Fault::Fail);
    if poisons {
        let err = result.expect_err("the workload must see the failure");
        assert!(
            matches!(err, Error::Poisoned(_) | Error::Io { .. }),
            "{what}: unexpected error {err}"
        );
        let again = db.write(batch(99)).unwrap_err();
        assert!(
            matches!(&again, Error::Poisoned(why) if why.contains("injected") || why.contains("crashed")),
            "{what}: the handle must refuse writes until reopened, got {again}"
        );
        // Reads still work on a poisoned handle: everything acknowledged is visible.
        let seen = db
            .snapshot()
            .unwrap()
            .scan(&ScanFilter::default())
            .unwrap()
            .len() as u64;
        let dropped = if out.retention_committed { 2 } else { 0 };
        assert_eq!(seen, (out.acked.len() as u64 - dropped) * PER, "{what}");
        let seen_logs = common::all_logs(&db.snapshot().unwrap()).len() as u64;
        assert_eq!(
            seen_logs,
            (out.acked.len() as u64 - dropped) * LOGS_PER,
            "{what}: log records"
        );
    } else {
        // A failed delete of a retired file only leaks the file until the next open.
        result.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(out.finished);
    }
    db.close().unwrap();
    drop(db);
    if fault == Fault::Crash {
        fs.crash();
    }
    let want: BTreeSet<u64> = out
        .acked
        .iter()
        .copied()
        .filter(|i| !(out.retention_committed && *i < 2))
        .collect();
    verify_reopened(dir.path(), &want, &what);
    error
}

#[test]
fn every_failure_point_of_seal_retention_and_compaction_keeps_acknowledged_spans_and_logs() {
    // A clean run counts the calls: each seal writes a span block and a log block, so 16
    // files are written (6 seals, 1 merge of each kind, 1 last seal: 2 * 8), and 12 retired
    // files removed (2 + 2 by retention, 4 + 4 by compaction).
    let dir = common::scratch_dir();
    let fs = Arc::new(FaultFs::new());
    let db = options().file_system(fs.clone()).open(dir.path()).unwrap();
    let mut out = Outcome::default();
    workload(&db, &mut out).unwrap();
    db.close().unwrap();
    drop(db);
    let calls = fs.calls();
    let expected: BTreeMap<FsOp, usize> = [
        (FsOp::Write, 16),
        (FsOp::Sync, 16),
        (FsOp::Rename, 16),
        (FsOp::SyncDir, 16),
        (FsOp::Remove, 12),
    ]
    .into();
    assert_eq!(calls, expected);
    verify_reopened(dir.path(), &(2..8).collect(), "clean run");

    let mut runs = 0;
    let mut log_block_failures = 0;
    for op in FsOp::ALL {
        for n in 1..=calls[&op] {
            for fault in [Fault::Fail, Fault::Crash] {
                let error = run(op, n, fault);
                if error.is_some_and(|e| e.contains("log block")) {
                    log_block_failures += 1;
                }
                runs += 1;
            }
        }
    }
    println!("{runs} failure points checked, {log_block_failures} failed a log block");
    assert_eq!(runs, 2 * 76);
    // Writing a log block is a write, fsync, rename and directory fsync of its own; failed or
    // crashed at those steps, the workload's error names the log block (56 of the runs when
    // this was written).
    assert!(
        log_block_failures >= 2 * 4 * 7,
        "{log_block_failures} errors named a log block"
    );
}
