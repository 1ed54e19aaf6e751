//! A child process writes batches with `Durability::Sync` and reports each acknowledged batch;
//! the parent kills it with SIGKILL at a random moment (during writes and seals), reopens, and
//! verifies every acknowledged batch is whole and the in-flight one is all there or not at all.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use spandb_storage::{Db, Durability, Options, Span};

mod common;

const CHILD_ENV: &str = "SPANDB_KILL9_CHILD_DIR";
const SPANS_PER_BATCH: u64 = 40;

fn batch(i: u64) -> Vec<Span> {
    common::numbered_batch(
        i,
        SPANS_PER_BATCH,
        1_700_000_000_000_000_000 + i * 1_000_000,
    )
}

fn open(dir: &std::path::Path) -> Db {
    Options::new()
        .durability(Durability::Sync)
        .block_max_spans(200)
        .rows_per_group(32)
        .open(dir)
        .unwrap()
}

/// The writer half: runs only when the parent test starts this binary with `CHILD_ENV` set.
#[test]
fn child_writer_process() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let db = open(std::path::Path::new(&dir));
    let start = db.stats().unwrap().spans / SPANS_PER_BATCH;
    for i in start.. {
        db.write(batch(i)).unwrap();
        println!("ack {i}");
    }
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_span() {
    let cycles: u64 = std::env::var("SPANDB_KILL9_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let dir = tempfile::tempdir().unwrap();
    let mut acked_total = 0u64;
    let mut rng = 0x9e3779b97f4a7c15u64;
    for cycle in 0..cycles {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let wait_for = 3 + rng % 25;
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_writer_process",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut last = None;
        let mut seen = 0;
        while seen < wait_for {
            match lines.next() {
                Some(Ok(l)) if l.starts_with("ack ") => {
                    last = l[4..].trim().parse::<u64>().ok();
                    seen += 1;
                }
                Some(_) => {}
                None => break,
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Acknowledgements the child printed before it died but we had not read yet.
        for l in lines.map_while(Result::ok) {
            if let Some(n) = l
                .strip_prefix("ack ")
                .and_then(|n| n.trim().parse::<u64>().ok())
            {
                last = Some(n);
            }
        }
        let acked = last.map(|l| l + 1).unwrap_or(acked_total);
        assert!(
            acked >= acked_total,
            "cycle {cycle}: child did not make progress"
        );
        let db = open(dir.path());
        let stats = db.stats().unwrap();
        assert_eq!(
            stats.spans % SPANS_PER_BATCH,
            0,
            "cycle {cycle}: a batch is half there"
        );
        let present = stats.spans / SPANS_PER_BATCH;
        assert!(
            present >= acked,
            "cycle {cycle}: {acked} batches acknowledged, {present} present"
        );
        assert!(
            present <= acked + 1,
            "cycle {cycle}: more batches than were ever written"
        );
        for i in 0..present {
            for s in batch(i).iter().step_by(13) {
                let got = db.trace(&s.trace_id).unwrap();
                assert!(got.contains(s), "cycle {cycle}: span of batch {i} missing");
            }
        }
        let report = db.check().unwrap();
        assert!(report.is_ok(), "cycle {cycle}: {:?}", report.problems);
        acked_total = present;
        db.close().unwrap();
    }
    assert!(acked_total > 0);
}
