//! The database handle. The write path has three stages, named as in LSM engines: writes land
//! in the *memtable* (in memory, after their log record), a full memtable is *frozen* and
//! queued for the sealer, and the sealer writes it out as an immutable *sealed* block.
//!
//! - `options`: `Options`, `Durability`
//! - `open`: opening and recovery
//! - `write`: the write path (log record, memtable, freeze, seal)
//! - `worker`: the background threads (sealer, log syncer, maintenance)
//! - `snapshot`: versions, snapshots and their reads, stats
//! - `maintenance`: compaction and retention
//! - `check`: integrity check and repair

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use crate::block::{CacheStats, SharedFooterCache};
use crate::catalog::{Catalog, CatalogMemory};
use crate::error::{Error, Result};

mod check;
mod maintenance;
mod open;
mod options;
mod snapshot;
mod worker;
mod write;

pub use check::{CheckReport, Problem, QuarantinedBlock, RepairReport};
pub use maintenance::{CompactReport, RetainReport};
pub use options::{Durability, Options, DEFAULT_CACHE_BYTES};
pub use snapshot::{dir_size, ServiceSpans, Snapshot, Stats};

use snapshot::Version;
use worker::Worker;
use write::{SealJob, WriterState};

struct Inner {
    dir: PathBuf,
    blocks_dir: PathBuf,
    catalog: Arc<Catalog>,
    /// Compaction, retention and check run one at a time.
    maintenance: Mutex<()>,
    opts: Options,
    writer: Mutex<WriterState>,
    current: RwLock<Arc<Version>>,
    poisoned: Mutex<Option<String>>,
    /// RocksDB's log writer failed (an append or a sync). It must not be synced again: RocksDB
    /// aborts the process on a log sync after a failed write (an assertion in its
    /// `WritableFileWriter`; found by tests/disk_full_gives_clear_errors.rs).
    log_failed: AtomicBool,
    closed: AtomicBool,
    syncer: Mutex<Option<Worker<()>>>,
    sealer: Mutex<Option<Worker<SealJob>>>,
    maintenance_worker: Mutex<Option<Worker<()>>>,
    /// Decoded span-block footers, shared by every reader (`Options::cache_bytes`).
    footer_cache: SharedFooterCache,
}

/// An embedded span database. Cheap to clone; share it between threads.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
    /// Shared by the clones handed to users (`None` in the workers' own handles): when the
    /// last of them goes, the workers are stopped and joined, so the database closes on that
    /// thread. Otherwise a worker in the middle of a tick could hold the last reference and
    /// close RocksDB while the process exits, which RocksDB's static destructors do not
    /// survive ("pthread lock: Invalid argument").
    _user_handle: Option<Arc<UserHandle>>,
}

struct UserHandle(std::sync::Weak<Inner>);

impl Drop for UserHandle {
    fn drop(&mut self) {
        if let Some(inner) = self.0.upgrade() {
            inner.stop_workers();
        }
    }
}

impl Db {
    /// The handle given to users.
    fn for_user(inner: Arc<Inner>) -> Db {
        let user = Some(Arc::new(UserHandle(Arc::downgrade(&inner))));
        Db {
            inner,
            _user_handle: user,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Db {
    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// What the footer cache holds and has done (`Options::cache_bytes`).
    pub fn cache_stats(&self) -> CacheStats {
        self.inner.footer_cache.stats()
    }

    /// RocksDB's own memory (memtables, table readers, block cache), from its properties.
    pub fn catalog_memory(&self) -> Result<CatalogMemory> {
        self.inner.catalog.memory()
    }

    /// Stops background work and makes every acknowledged write durable. Spans still in the
    /// memtable stay in the log and come back on the next open. Further calls on any clone
    /// return `Closed`.
    pub fn close(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.inner.stop_workers();
        self.inner.sync_log()
    }
}

impl Inner {
    fn version(&self) -> Arc<Version> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Syncs RocksDB's log, unless its writer failed before (then: the poison reason).
    fn sync_log(&self) -> Result<()> {
        if self.log_failed.load(Ordering::Acquire) {
            let why = lock(&self.poisoned).clone();
            return Err(Error::Poisoned(
                why.unwrap_or_else(|| "an earlier log write failed".into()),
            ));
        }
        self.catalog.sync_wal()
    }

    fn poison(&self, why: String) {
        lock(&self.poisoned).get_or_insert(why);
    }

    /// RocksDB's log writer failed: poisons the handle and never syncs the log again.
    fn mark_log_failed(&self, why: String) {
        self.log_failed.store(true, Ordering::Release);
        self.poison(why);
    }

    fn check_writable(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        match lock(&self.poisoned).as_ref() {
            Some(why) => Err(Error::Poisoned(why.clone())),
            None => Ok(()),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_workers();
        let _ = self.sync_log();
    }
}
