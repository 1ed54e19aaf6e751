//! Compaction merges small blocks without changing any answer, keeps files that snapshots read,
//! and frees them afterwards; retention drops whole old blocks and gives the space back.

mod common;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use spandb_storage::{dir_size, Db, Options, ScanFilter, Span};

fn batches(n: usize, per: usize) -> Vec<Vec<Span>> {
    let mut runner = TestRunner::deterministic();
    (0..n)
        .map(|i| {
            let mut b = common::span_batch(per)
                .new_tree(&mut runner)
                .unwrap()
                .current();
            for (j, s) in b.iter_mut().enumerate() {
                s.span_id =
                    spandb_storage::SpanId((((i as u64) << 32) | (j as u64 + 1)).to_be_bytes());
                // Later batches are later in time, as blocks of a live store are.
                s.start_ns += i as u64 * 3_600_000_000_000;
                s.end_ns += i as u64 * 3_600_000_000_000;
            }
            b
        })
        .collect()
}

fn small_blocks_db(dir: &std::path::Path, parts: &[Vec<Span>]) -> Db {
    let db = Options::new()
        .maintenance_interval(None)
        .compact_below_spans(1000)
        .open(dir)
        .unwrap();
    for b in parts {
        db.write(b.clone()).unwrap();
        db.flush().unwrap();
    }
    db
}

fn block_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("blocks")).unwrap().count()
}

#[test]
fn compaction_merges_small_blocks_and_answers_stay_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let parts = batches(12, 40);
    let all: Vec<Span> = parts.concat();
    let db = small_blocks_db(dir.path(), &parts);
    assert_eq!(db.stats().unwrap().blocks, 12);
    let before_bytes = db.stats().unwrap().block_bytes;
    let old_snapshot = db.snapshot().unwrap();

    let report = db.compact().unwrap();
    assert_eq!((report.blocks_before, report.blocks_after), (12, 1));
    assert!(report.bytes_after < report.bytes_before, "{report:?}");
    let st = db.stats().unwrap();
    assert_eq!((st.blocks, st.spans), (1, all.len() as u64));
    assert!(st.block_bytes < before_bytes);

    // Both the new state and the snapshot from before the swap answer everything.
    let scan =
        |s: &spandb_storage::Snapshot| common::sorted(s.scan(&ScanFilter::default()).unwrap());
    assert_eq!(scan(&db.snapshot().unwrap()), common::sorted(all.clone()));
    assert_eq!(scan(&old_snapshot), common::sorted(all.clone()));
    for s in all.iter().step_by(5) {
        let want = common::sorted(
            all.iter()
                .filter(|x| x.trace_id == s.trace_id)
                .cloned()
                .collect(),
        );
        assert_eq!(common::sorted(db.trace(&s.trace_id).unwrap()), want);
        assert_eq!(
            common::sorted(old_snapshot.trace(&s.trace_id).unwrap()),
            want
        );
    }
    assert_eq!(
        block_files(dir.path()),
        13,
        "replaced files stay while a snapshot reads them"
    );
    assert!(db.check().unwrap().is_ok());
    drop(old_snapshot);
    assert_eq!(
        block_files(dir.path()),
        1,
        "replaced files go with the last snapshot"
    );
    assert!(db.check().unwrap().is_ok());
    assert!(db.compact().unwrap().merges == 0, "nothing left to merge");
}

const CHILD_ENV: &str = "SPANDB_RETIRE_CHILD_DIR";

/// The child half of the next test: compacts while a snapshot pins the replaced blocks, then
/// exits without running any destructor, as a crash would.
#[test]
fn child_compacts_then_dies() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let db = small_blocks_db(std::path::Path::new(&dir), &batches(4, 30));
    let _snapshot = db.snapshot().unwrap();
    db.compact().unwrap();
    std::process::exit(0);
}

#[test]
fn retirement_interrupted_by_a_crash_finishes_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_compacts_then_dies", "--test-threads", "1"])
        .env(CHILD_ENV, dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        block_files(dir.path()),
        5,
        "the replaced files outlive the crashed process"
    );
    let db = Options::new()
        .maintenance_interval(None)
        .open(dir.path())
        .unwrap();
    assert_eq!(
        block_files(dir.path()),
        1,
        "open finishes the interrupted retirement"
    );
    assert!(db.check().unwrap().is_ok());
    let all = batches(4, 30).concat();
    assert_eq!(
        common::sorted(db.snapshot().unwrap().scan(&ScanFilter::default()).unwrap()),
        common::sorted(all)
    );
}

#[test]
fn retention_drops_old_blocks_and_reclaims_space() {
    let dir = tempfile::tempdir().unwrap();
    let parts = batches(6, 40);
    let db = small_blocks_db(dir.path(), &parts);
    let before = dir_size(dir.path()).unwrap();
    let cutoff = common::BASE_NS + 3 * 3_600_000_000_000;
    let report = db.retain_since(cutoff).unwrap();
    assert_eq!(report.blocks_dropped, 3, "{report:?}");
    let kept: Vec<Span> = parts[3..].concat();
    assert_eq!(report.spans_dropped as usize, parts[..3].concat().len());
    assert_eq!(
        common::sorted(db.snapshot().unwrap().scan(&ScanFilter::default()).unwrap()),
        common::sorted(kept.clone())
    );
    for s in parts[0].iter().take(5) {
        assert!(db
            .trace(&s.trace_id)
            .unwrap()
            .iter()
            .all(|x| x.start_ns >= cutoff));
    }
    assert_eq!(block_files(dir.path()), 3);
    assert!(dir_size(dir.path()).unwrap() < before);
    assert!(db.check().unwrap().is_ok());
    db.close().unwrap();
    drop(db);
    let db = Options::new().open(dir.path()).unwrap();
    assert_eq!(db.stats().unwrap().spans, kept.len() as u64);
}
