//! Recovery: a half-written block (a temp file, or a block file the catalog never recorded)
//! is ignored and removed on open; its spans come back from the log.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use spandb_storage::fsio::{FileSystem, RealFs};
use spandb_storage::{Durability, Error, Options, Span};

fn spans(n: usize) -> Vec<Span> {
    let mut runner = TestRunner::deterministic();
    common::span_batch(n)
        .new_tree(&mut runner)
        .unwrap()
        .current()
}

#[test]
fn leftover_temp_and_unknown_block_files_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let all = spans(50);
    let db = Options::new()
        .durability(Durability::Sync)
        .open(dir.path())
        .unwrap();
    db.write(all.clone()).unwrap();
    db.close().unwrap();
    drop(db);
    let blocks = dir.path().join("blocks");
    std::fs::write(blocks.join("000000000001.tmp"), b"half a block").unwrap();
    std::fs::write(blocks.join("000000000001.blk"), b"SPANBLK\0 garbage").unwrap();
    let db = Options::new().open(dir.path()).unwrap();
    assert_eq!(
        std::fs::read_dir(&blocks).unwrap().count(),
        0,
        "leftovers must be removed"
    );
    assert_eq!(
        common::sorted(db.snapshot().unwrap().scan(&Default::default()).unwrap()),
        common::sorted(all.clone())
    );
    db.flush().unwrap();
    assert!(db.check().unwrap().is_ok());
    assert_eq!(db.stats().unwrap().spans, all.len() as u64);
}

/// Fails the directory fsync after the block rename: the block file exists but the catalog
/// commit never happens, as if the process died right there.
#[derive(Debug, Default)]
struct FailDirSync(AtomicBool);

impl FileSystem for FailDirSync {
    fn write_file(&self, p: &Path, b: &[u8]) -> std::io::Result<()> {
        RealFs.write_file(p, b)
    }
    fn sync_file(&self, p: &Path) -> std::io::Result<()> {
        RealFs.sync_file(p)
    }
    fn rename(&self, a: &Path, b: &Path) -> std::io::Result<()> {
        RealFs.rename(a, b)
    }
    fn sync_dir(&self, d: &Path) -> std::io::Result<()> {
        if self.0.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("injected fsync failure"));
        }
        RealFs.sync_dir(d)
    }
    fn remove_file(&self, p: &Path) -> std::io::Result<()> {
        RealFs.remove_file(p)
    }
}

#[test]
fn failed_seal_poisons_and_reopen_replays_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let all = spans(60);
    let fs = Arc::new(FailDirSync::default());
    let db = Options::new()
        .durability(Durability::Sync)
        .file_system(fs.clone())
        .open(dir.path())
        .unwrap();
    db.write(all.clone()).unwrap();
    fs.0.store(true, Ordering::SeqCst);
    let err = db.flush().unwrap_err();
    assert!(
        matches!(err, Error::Poisoned(_)) && err.to_string().contains("injected"),
        "{err}"
    );
    let err = db.write(all[..1].to_vec()).unwrap_err();
    assert!(
        matches!(err, Error::Poisoned(_)),
        "writes after a failed fsync must be refused: {err}"
    );
    // Reads still work, from the builder.
    assert_eq!(
        db.snapshot()
            .unwrap()
            .scan(&Default::default())
            .unwrap()
            .len(),
        all.len()
    );
    db.close().unwrap();
    drop(db);
    let db = Options::new().open(dir.path()).unwrap();
    assert_eq!(
        common::sorted(db.snapshot().unwrap().scan(&Default::default()).unwrap()),
        common::sorted(all)
    );
    assert_eq!(
        db.stats().unwrap().blocks,
        0,
        "the uncommitted block must not be visible"
    );
    db.flush().unwrap();
    assert!(db.check().unwrap().is_ok());
}
