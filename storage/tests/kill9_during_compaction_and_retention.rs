//! SIGKILL at random moments during writes, seals, background compaction and retention, and
//! while the child is still recovering: every acknowledged span survives, no batch is torn,
//! `check` is clean. A short run of `examples/crash_harness.rs` (which this file includes);
//! `SPANDB_CRASH_CYCLES=500` for more here, or the example for long runs:
//! `cargo run --release -p spandb-storage --example crash_harness -- --minutes 10`.

#[path = "../examples/crash_harness.rs"]
#[allow(dead_code)]
mod harness;

use std::process::Command;

const CHILD_ENV: &str = "SPANDB_CRASH_CHILD";

/// The writer half: runs only when the parent test starts this binary with `CHILD_ENV` set.
#[test]
fn child_writer_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut parts = spec.splitn(3, ' ');
    let (start, base, dir) = (parts.next(), parts.next(), parts.next());
    let start = start.and_then(|s| s.parse().ok()).unwrap();
    let base = base.and_then(|s| s.parse().ok()).unwrap();
    harness::child(std::path::Path::new(dir.unwrap()), start, base);
}

#[test]
fn sigkill_during_writes_seals_compaction_and_retention_loses_nothing() {
    let cycles: u64 = std::env::var("SPANDB_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    let root = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let r = harness::run(root.path(), cycles, None, 0x5eed, |dir, start, base| {
        let mut c = Command::new(&exe);
        c.args([
            "--exact",
            "child_writer_process",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, format!("{start} {base} {}", dir.display()));
        c
    });
    println!("{r:?}");
    assert_eq!(r.cycles, cycles);
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.spans_lost, 0);
    assert!(
        r.batches_acked > cycles,
        "the child made too little progress: {r:?}"
    );
}
