//! Flipping any byte of a block file, or truncating it, gives `Corruption` from reads and from
//! `check`: never a panic and never a wrong answer.

mod common;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use spandb_storage::{Error, Options, ScanFilter, Span};

fn setup() -> (tempfile::TempDir, Vec<Span>, std::path::PathBuf) {
    let mut runner = TestRunner::deterministic();
    let spans = common::span_batch(80)
        .new_tree(&mut runner)
        .unwrap()
        .current();
    let dir = tempfile::tempdir().unwrap();
    let db = Options::new().rows_per_group(16).open(dir.path()).unwrap();
    db.write(spans.clone()).unwrap();
    db.flush().unwrap();
    db.close().unwrap();
    let block = std::fs::read_dir(dir.path().join("blocks"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    (dir, spans, block)
}

/// Every read either answers exactly what was written or fails with `Corruption`.
fn assert_no_wrong_answer(dir: &std::path::Path, spans: &[Span]) -> bool {
    let db = match Options::new().open(dir) {
        Ok(db) => db,
        Err(e) => panic!("open must survive a corrupt block (it is reported on use): {e}"),
    };
    let mut saw_corruption = false;
    let mut check = |r: Result<Vec<Span>, Error>, want: Vec<Span>| match r {
        Ok(got) => assert_eq!(
            common::sorted(got),
            common::sorted(want),
            "wrong answer from a corrupt block"
        ),
        Err(e) => {
            assert!(e.is_corruption(), "expected Corruption, got {e}");
            assert!(
                e.to_string().contains(".blk"),
                "error must name the file: {e}"
            );
            saw_corruption = true;
        }
    };
    for s in spans.iter().step_by(7) {
        check(
            db.trace(&s.trace_id),
            spans
                .iter()
                .filter(|x| x.trace_id == s.trace_id)
                .cloned()
                .collect(),
        );
    }
    check(
        db.snapshot().unwrap().scan(&ScanFilter::default()),
        spans.to_vec(),
    );
    let report = db.check().unwrap();
    let broken = db.snapshot().unwrap().broken_blocks().count();
    assert!(
        !report.is_ok() || broken > 0 || !saw_corruption,
        "check must report what reads found"
    );
    saw_corruption || !report.is_ok()
}

#[test]
fn every_flipped_byte_position_is_detected_or_harmless() {
    let (dir, spans, block) = setup();
    let original = std::fs::read(&block).unwrap();
    let mut detected = 0;
    let positions: Vec<usize> = (0..original.len())
        .step_by((original.len() / 300).max(1))
        .chain([original.len() - 1])
        .collect();
    for &pos in &positions {
        let mut bytes = original.clone();
        bytes[pos] ^= 0x5a;
        std::fs::write(&block, &bytes).unwrap();
        if assert_no_wrong_answer(dir.path(), &spans) {
            detected += 1;
        }
        // check() must flag every flip: the catalog keeps a whole-file checksum.
        let db = Options::new().open(dir.path()).unwrap();
        assert!(
            !db.check().unwrap().is_ok(),
            "check missed a flip at byte {pos}"
        );
    }
    std::fs::write(&block, &original).unwrap();
    assert!(
        detected > positions.len() / 2,
        "only {detected} of {} flips seen by reads",
        positions.len()
    );
}

#[test]
fn truncated_block_is_corruption_naming_the_file() {
    let (dir, spans, block) = setup();
    let original = std::fs::read(&block).unwrap();
    for keep in [0, 10, original.len() / 2, original.len() - 1] {
        std::fs::write(&block, &original[..keep]).unwrap();
        let db = Options::new().open(dir.path()).unwrap();
        let err = db.trace(&spans[0].trace_id).unwrap_err();
        assert!(err.is_corruption(), "{err}");
        assert!(err.to_string().contains("000000000001.blk"), "{err}");
        let err = db
            .snapshot()
            .unwrap()
            .scan(&ScanFilter::default())
            .unwrap_err();
        assert!(err.is_corruption(), "{err}");
        assert!(!db.check().unwrap().is_ok());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn random_flips_in_memory_never_panic(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut runner = TestRunner::deterministic();
        let spans = common::span_batch(30).new_tree(&mut runner).unwrap().current();
        let block = spandb_storage::block::encode_block(spans.iter().collect(), &Default::default()).unwrap();
        let mut bytes = block.bytes;
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(r) = spandb_storage::BlockReader::from_bytes(bytes, "x.blk") {
            match r.all_spans() {
                Ok(got) => prop_assert_eq!(common::sorted(got), common::sorted(spans)),
                Err(e) => prop_assert!(e.is_corruption()),
            }
        }
    }
}

/// Truncation at every 1/64th of the block file (and its last byte): reads and `check` say
/// `Corruption` naming the file, never a panic or a short answer.
#[test]
fn block_truncated_at_any_length_is_corruption() {
    let (dir, spans, block) = setup();
    let original = std::fs::read(&block).unwrap();
    let lengths: Vec<usize> = (0..original.len())
        .step_by((original.len() / 64).max(1))
        .chain([original.len() - 1])
        .collect();
    for keep in lengths {
        std::fs::write(&block, &original[..keep]).unwrap();
        let db = Options::new().open(dir.path()).unwrap();
        for s in spans.iter().step_by(11) {
            let err = db.trace(&s.trace_id).unwrap_err();
            assert!(
                err.is_corruption() && err.to_string().contains(".blk"),
                "{keep}: {err}"
            );
        }
        assert!(!db.check().unwrap().is_ok(), "check missed a cut at {keep}");
    }
}

/// Per cut file: its name, what `check` and a scan said (or why opening failed), and a size.
type Cut = (String, Result<(bool, usize), String>, usize);

/// Cuts each of RocksDB's files (catalog, log, trace index) in half, each in a fresh copy of
/// the database, and returns per file: open failed, or what `check` and a scan said.
fn cut_rocksdb_files() -> Vec<Cut> {
    let (dir, _spans, _block) = setup();
    let names: Vec<String> = std::fs::read_dir(dir.path().join("catalog"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "LOCK" && !n.starts_with("LOG"))
        .collect();
    assert!(names.iter().any(|n| n.starts_with("MANIFEST")), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with(".sst")), "{names:?}");
    let mut out = Vec::new();
    for name in names {
        let (dir, spans, _block) = setup();
        let path = dir.path().join("catalog").join(&name);
        let original = std::fs::read(&path).unwrap();
        std::fs::write(&path, &original[..original.len() / 2]).unwrap();
        let result = match Options::new().open(dir.path()) {
            Err(e) => Err(e.to_string()),
            Ok(db) => {
                let ok = db.check().map(|r| r.is_ok()).unwrap_or(false);
                let seen = db
                    .snapshot()
                    .unwrap()
                    .scan(&ScanFilter::default())
                    .map(|s| s.len())
                    .unwrap_or(0);
                Ok((ok, seen))
            }
        };
        println!(
            "{name} cut in half: {result:?} ({} spans written)",
            spans.len()
        );
        out.push((name, result, spans.len()));
    }
    out
}

/// RocksDB's files are RocksDB's own checksummed format; spandb does not decode them. Cutting
/// any of them in half must never crash the process: open fails with an error, or opens and
/// `check` runs.
#[test]
fn truncated_rocksdb_files_never_crash_the_process() {
    assert!(!cut_rocksdb_files().is_empty());
}

/// A MANIFEST cut in half opens as an *empty* catalog; open used to delete every block file as
/// "not in the catalog" and `check` said all was well. Now open refuses (Corruption) and
/// deletes nothing. A database that opens with `check` clean must hold everything.
#[test]
fn truncated_rocksdb_files_never_lose_spans_silently() {
    for (name, result, written) in cut_rocksdb_files() {
        if let Ok((true, seen)) = result {
            assert_eq!(
                seen, written,
                "{name} cut in half: check is clean but spans are gone"
            );
        }
    }
}
