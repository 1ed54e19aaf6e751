//! `repair` moves a corrupt block aside, drops its catalog and index entries, names the traces
//! that lost spans, and leaves the rest readable with a clean `check`.

mod common;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use spandb_storage::{Options, ScanFilter, Span, SpanId};

#[test]
fn repair_quarantines_the_corrupt_block_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut runner = TestRunner::deterministic();
    let db = Options::new()
        .maintenance_interval(None)
        .open(dir.path())
        .unwrap();
    let mut parts: Vec<Vec<Span>> = Vec::new();
    for i in 0..3u64 {
        let mut b = common::span_batch(40)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        for (j, s) in b.iter_mut().enumerate() {
            s.span_id = SpanId(((i << 32) | (j as u64 + 1)).to_be_bytes());
            s.trace_id.0[1] = i as u8 + 1; // traces do not cross blocks
        }
        db.write(b.clone()).unwrap();
        db.flush().unwrap();
        parts.push(b);
    }
    drop(db);
    let bad = dir.path().join("blocks/000000000002.blk");
    let mut bytes = std::fs::read(&bad).unwrap();
    bytes[40] ^= 0xff;
    std::fs::write(&bad, bytes).unwrap();

    let db = Options::new()
        .maintenance_interval(None)
        .open(dir.path())
        .unwrap();
    assert!(!db.check().unwrap().is_ok());
    let report = db.repair().unwrap();
    assert_eq!(report.quarantined.len(), 1, "{report:?}");
    assert_eq!(report.quarantined[0].block, 2);
    assert!(dir.path().join("quarantine/000000000002.blk").exists());
    assert!(!bad.exists());
    assert_eq!(report.spans_lost, parts[1].len() as u64);
    let lost: std::collections::HashSet<String> =
        parts[1].iter().map(|s| s.trace_id.to_string()).collect();
    let reported: std::collections::HashSet<String> =
        report.affected_traces.iter().cloned().collect();
    assert_eq!(reported, lost);

    let check = db.check().unwrap();
    assert!(check.is_ok(), "{:?}", check.problems);
    let kept: Vec<Span> = [parts[0].clone(), parts[2].clone()].concat();
    let got = db.snapshot().unwrap().scan(&ScanFilter::default()).unwrap();
    assert_eq!(common::sorted(got), common::sorted(kept));
    assert!(db.trace(&parts[1][0].trace_id).unwrap().is_empty());
    assert!(
        db.repair().unwrap().quarantined.is_empty(),
        "a second repair finds nothing"
    );
}
