//! A child process writes batches of spans and of log records with `Durability::Sync` and
//! reports each acknowledged write; the parent kills it with SIGKILL at a random moment (during
//! writes and seals of span and log blocks), reopens, and verifies every acknowledged batch of
//! either kind is whole and there once, and the in-flight one is all there or not at all.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use spandb_storage::{Db, Durability, LogRecord, Options, Span};

mod common;

const CHILD_ENV: &str = "SPANDB_KILL9_CHILD_DIR";
const SPANS_PER_BATCH: u64 = 40;
const LOGS_PER_BATCH: u64 = 24;

fn batch_time(i: u64) -> u64 {
    1_700_000_000_000_000_000 + i * 1_000_000
}

fn batch(i: u64) -> Vec<Span> {
    common::numbered_batch(i, SPANS_PER_BATCH, batch_time(i))
}

/// The log records of batch `i`, in its spans' traces.
fn logs(i: u64) -> Vec<LogRecord> {
    spandb_testkit::numbered_logs(i, LOGS_PER_BATCH, batch_time(i))
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
    // Spans of batch i go before its logs, so a kill between them leaves the logs one
    // batch behind: this run writes what each kind is missing.
    let stats = db.stats().unwrap();
    let (spans_from, logs_from) = (stats.spans / SPANS_PER_BATCH, stats.logs / LOGS_PER_BATCH);
    for i in spans_from.min(logs_from).. {
        if i >= spans_from {
            db.write(batch(i)).unwrap();
            println!("ack spans {i}");
        }
        if i >= logs_from {
            db.write_logs(logs(i)).unwrap();
            println!("ack logs {i}");
        }
    }
}

/// The last batch number after `prefix` in an acknowledgement line.
fn acked(line: &str, prefix: &str) -> Option<u64> {
    line.strip_prefix(prefix)?.trim().parse().ok()
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_span_or_log() {
    let cycles: u64 = std::env::var("SPANDB_KILL9_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let dir = tempfile::tempdir().unwrap();
    let mut acked_total = 0u64;
    let mut logs_acked_total = 0u64;
    let mut log_blocks = 0u64;
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
        let (mut last, mut last_logs) = (None, None);
        let mut seen = 0;
        let mut note = |l: &str| {
            if let Some(n) = acked(l, "ack spans ") {
                last = Some(n);
                true
            } else if let Some(n) = acked(l, "ack logs ") {
                last_logs = Some(n);
                true
            } else {
                false
            }
        };
        while seen < wait_for {
            match lines.next() {
                Some(Ok(l)) => seen += u64::from(note(&l)),
                Some(Err(_)) | None => break,
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Acknowledgements the child printed before it died but we had not read yet.
        for l in lines.map_while(Result::ok) {
            note(&l);
        }
        let acked = last.map(|l| l + 1).unwrap_or(acked_total);
        let logs_acked = last_logs.map(|l| l + 1).unwrap_or(logs_acked_total);
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
        // Log records: whole batches, every acknowledged one there exactly once.
        assert_eq!(
            stats.logs % LOGS_PER_BATCH,
            0,
            "cycle {cycle}: a log batch is half there"
        );
        let logs_present = stats.logs / LOGS_PER_BATCH;
        assert!(
            (logs_acked..=logs_acked + 1).contains(&logs_present),
            "cycle {cycle}: {logs_acked} log batches acknowledged, {logs_present} present"
        );
        let snap = db.snapshot().unwrap();
        let expect = common::sorted_logs((0..logs_present).flat_map(logs).collect());
        assert_eq!(
            common::all_logs(&snap),
            expect,
            "cycle {cycle}: log records (each once)"
        );
        for i in (0..logs_present).step_by(7) {
            let got = snap
                .trace_logs(&spandb_testkit::numbered_trace(i, 2))
                .unwrap();
            assert_eq!(
                got.len() as u64,
                LOGS_PER_BATCH / 4,
                "cycle {cycle}: logs of batch {i} by trace"
            );
        }
        drop(snap);
        let report = db.check().unwrap();
        assert!(report.is_ok(), "cycle {cycle}: {:?}", report.problems);
        acked_total = present;
        logs_acked_total = logs_present;
        log_blocks = stats.log_blocks;
        db.close().unwrap();
    }
    assert!(acked_total > 0);
    assert!(logs_acked_total > 0);
    assert!(log_blocks > 0, "the children never sealed a log block");
}
