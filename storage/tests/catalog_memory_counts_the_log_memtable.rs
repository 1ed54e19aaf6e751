//! `Db::catalog_memory` reports RocksDB's memory: unsealed spans' log records are in the log
//! column family's memtable; `flush` seals them and flushes the memtables to table files,
//! whose readers then count.

use spandb_storage::{Db, Durability, Options};

fn open(dir: &std::path::Path) -> Db {
    Options::new()
        .durability(Durability::Sync)
        .block_max_spans(1_000_000)
        .open(dir)
        .expect("open")
}

#[test]
fn log_records_show_in_the_log_memtable_until_a_flush() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    let before = db.catalog_memory().expect("memory");
    for i in 0..20 {
        db.write(spandb_testkit::numbered_batch(
            i,
            500,
            1_700_000_000_000_000_000,
            1_000,
        ))
        .expect("write");
    }
    let written = db.catalog_memory().expect("memory");
    assert!(
        written.log_memtables >= before.log_memtables + 100_000,
        "10,000 spans' log records in the log memtable: {before:?} -> {written:?}"
    );
    db.flush().expect("flush");
    let sealed = db.catalog_memory().expect("memory");
    assert!(
        sealed.log_memtables < written.log_memtables / 10,
        "the sealed spans' log records left the memtable: {written:?} -> {sealed:?}"
    );
    assert!(
        sealed.table_readers > 0,
        "the flushed column families' table files are open: {sealed:?}"
    );
}
