//! Source positions (e.g. Kafka offsets) are stored in the same log write as the spans they
//! cover: a child process writes batch `i` with position `i + 1` and is killed with SIGKILL at
//! random moments; after each reopen the stored position equals the number of whole batches
//! present, never one more or one less, and positions survive sealing and reopening.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use spandb_storage::{Db, Durability, Options, Span};

mod common;

const CHILD_ENV: &str = "SPANDB_SOURCES_CHILD_DIR";
const SPANS_PER_BATCH: u64 = 40;
const SOURCE: &str = "kafka/g/spans/3";

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

fn position(db: &Db) -> Option<u64> {
    let all = db.source_positions("kafka/").unwrap();
    assert!(all.len() <= 1, "{all:?}");
    all.into_iter().find(|(n, _)| n == SOURCE).map(|(_, p)| p)
}

/// The writer half: runs only when the parent test starts this binary with `CHILD_ENV` set.
#[test]
fn child_source_writer_process() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let db = open(std::path::Path::new(&dir));
    let start = position(&db).unwrap_or(0);
    for i in start.. {
        db.write_with_sources(batch(i), &[(SOURCE.to_owned(), i + 1)])
            .unwrap();
        println!("ack {i}");
    }
}

#[test]
fn positions_without_spans_are_stored_and_prefix_filtered() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.write_with_sources(
        Vec::new(),
        &[("kafka/a/t/0".into(), 7), ("other/x".into(), 2)],
    )
    .unwrap();
    db.write_with_sources(batch(0), &[("kafka/a/t/0".into(), 9)])
        .unwrap();
    db.close().unwrap();
    drop(db);
    let db = open(dir.path());
    assert_eq!(
        db.source_positions("kafka/").unwrap(),
        vec![("kafka/a/t/0".to_owned(), 9)]
    );
    assert_eq!(db.source_positions("").unwrap().len(), 2);
    assert_eq!(db.stats().unwrap().spans, SPANS_PER_BATCH);
    db.close().unwrap();
}

#[test]
fn sigkill_never_separates_spans_from_their_position() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = 0x2545f4914f6cdd1du64;
    let mut last_present = 0;
    for cycle in 0..6 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let wait_for = 3 + rng % 25;
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_source_writer_process",
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
        let mut seen = 0;
        while seen < wait_for {
            match lines.next() {
                Some(Ok(l)) if l.starts_with("ack ") => seen += 1,
                Some(_) => {}
                None => break,
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let db = open(dir.path());
        let spans = db.stats().unwrap().spans;
        assert_eq!(spans % SPANS_PER_BATCH, 0, "cycle {cycle}: a torn batch");
        let present = spans / SPANS_PER_BATCH;
        assert_eq!(
            position(&db).unwrap_or(0),
            present,
            "cycle {cycle}: the stored position does not match the spans present"
        );
        assert!(present > last_present, "cycle {cycle}: no progress");
        last_present = present;
        db.close().unwrap();
    }
}
