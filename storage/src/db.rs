//! The database: options, write path, sealing, snapshots, recovery, stats and integrity check.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{bounded, Sender};
use roaring::RoaringBitmap;

use crate::block::{encode_block, BlockLayout, BlockReader, EncodedBlock};
use crate::catalog::{trace_prefix, BlockEntry, Catalog, TracePrefix};
use crate::error::{Error, Result};
use crate::fsio::{write_atomic, FileSystem, RealFs};
use crate::model::{Span, TraceId};
use crate::unsealed::{Segment, Unsealed};
use crate::wal_codec::{decode_record, encode_record};

mod maintenance;
use maintenance::LiveBlock;
pub use maintenance::{CompactReport, RepairReport, RetainReport};

/// When a write is durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// `write` returns after the log record is fsynced: acknowledged spans survive kill -9
    /// and power loss. Concurrent writers share fsyncs (RocksDB's group commit).
    Sync,
    /// `write` returns once the log record is in the operating system (survives kill -9 of the
    /// process); a background thread fsyncs the log every `interval`, so a power loss loses at
    /// most that much.
    GroupCommit { interval: Duration },
}

/// Database options. Consuming setters; each documents its default.
#[derive(Clone, Debug)]
pub struct Options {
    pub(crate) durability: Durability,
    pub(crate) block_max_spans: usize,
    pub(crate) layout: BlockLayout,
    pub(crate) fs: Arc<dyn FileSystem>,
    pub(crate) compact_below_spans: usize,
    pub(crate) maintenance_interval: Option<Duration>,
    pub(crate) retention: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::GroupCommit {
                interval: Duration::from_millis(50),
            },
            block_max_spans: 131_072,
            layout: BlockLayout::default(),
            fs: Arc::new(RealFs),
            compact_below_spans: 131_072 / 2,
            maintenance_interval: Some(Duration::from_secs(30)),
            retention: None,
        }
    }
}

impl Options {
    pub fn new() -> Self {
        Self::default()
    }
    /// Defaults to `GroupCommit { interval: 50 ms }`.
    #[must_use]
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }
    /// Spans in the builder before it is sealed into a block. Defaults to 131072.
    #[must_use]
    pub fn block_max_spans(mut self, n: usize) -> Self {
        self.block_max_spans = n.max(1);
        self
    }
    /// Rows per row group (the unit of decompression). Defaults to 2048 (docs/ARCHITECTURE.md: half the work per trace lookup of 4096, for 1 B/span).
    #[must_use]
    pub fn rows_per_group(mut self, n: u32) -> Self {
        self.layout.rows_per_group = n.max(1);
        self
    }
    /// zstd level for column chunks. Defaults to 3: level 6 saves ~1.5 B/span but makes the
    /// sealer, not JSON decoding, the ingest bottleneck (docs/ARCHITECTURE.md).
    #[must_use]
    pub fn zstd_level(mut self, level: i32) -> Self {
        self.layout.zstd_level = level;
        self
    }
    /// The file system used for block files (tests inject faults here). Defaults to the real one.
    #[must_use]
    pub fn file_system(mut self, fs: Arc<dyn FileSystem>) -> Self {
        self.fs = fs;
        self
    }
    /// Blocks with fewer spans than this are merged by compaction. Defaults to half of
    /// `block_max_spans`'s default (65536).
    #[must_use]
    pub fn compact_below_spans(mut self, n: usize) -> Self {
        self.compact_below_spans = n;
        self
    }
    /// How often the background worker compacts (and applies retention). `None` turns the
    /// worker off (then call [`Db::compact`] / [`Db::retain`] yourself). Defaults to 30 s.
    #[must_use]
    pub fn maintenance_interval(mut self, every: Option<Duration>) -> Self {
        self.maintenance_interval = every;
        self
    }
    /// Drop blocks whose spans are all older than this. Defaults to keeping everything.
    #[must_use]
    pub fn retention(mut self, keep: Option<Duration>) -> Self {
        self.retention = keep;
        self
    }
    pub fn open(self, dir: impl AsRef<Path>) -> Result<Db> {
        Db::open(dir, self)
    }
}

/// The set of sealed blocks and the builder, as readers see it.
struct Version {
    blocks: BTreeMap<u64, Arc<LiveBlock>>,
    /// Catalogued blocks that failed to open: reads that need them get this error.
    broken: BTreeMap<u64, String>,
    /// Full builders handed to the sealer, oldest first; readers still see their spans.
    frozen: Vec<Arc<Frozen>>,
    unsealed: Arc<Unsealed>,
}

/// A full builder waiting to become block `block_id`, replacing log records `[wal_from, wal_to)`.
struct Frozen {
    segments: Vec<Arc<Segment>>,
    builder: Arc<Unsealed>,
    block_id: u64,
    wal_from: u64,
    wal_to: u64,
}

enum SealJob {
    Seal(Arc<Frozen>),
    /// Answered once every job sent before it is done.
    Barrier(Sender<Result<()>>),
}

struct WriterState {
    next_seq: u64,
    next_block_id: u64,
    /// Log records `[first_unsealed_seq, next_seq)` are in the active builder.
    first_unsealed_seq: u64,
}

struct Inner {
    dir: PathBuf,
    blocks_dir: PathBuf,
    catalog: Arc<Catalog>,
    /// Compaction, retention and check run one at a time.
    maintenance: Mutex<()>,
    worker: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
    opts: Options,
    writer: Mutex<WriterState>,
    current: RwLock<Arc<Version>>,
    poisoned: Mutex<Option<String>>,
    /// RocksDB's log writer failed (an append or a sync). It must not be synced again: RocksDB
    /// aborts the process on a log sync after a failed write (an assertion in its
    /// `WritableFileWriter`; found by tests/disk_full_gives_clear_errors.rs).
    log_failed: AtomicBool,
    closed: AtomicBool,
    syncer: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
    sealer: Mutex<Option<(Sender<SealJob>, JoinHandle<()>)>>,
}

/// An embedded span database. Cheap to clone; share it between threads.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

/// A consistent read view: the blocks and unsealed spans at one moment.
pub struct Snapshot {
    version: Arc<Version>,
    /// Segments of the frozen builders (the first `frozen_segments`), then of the active one.
    segments: Vec<Arc<Segment>>,
    frozen_segments: usize,
    inner: Arc<Inner>,
}

/// Figures `stats` reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    pub spans: u64,
    /// Distinct traces (told apart by the first 8 bytes of their ids, as the index does).
    pub traces: u64,
    pub blocks: u64,
    pub sealed_spans: u64,
    pub unsealed_spans: u64,
    pub block_bytes: u64,
    /// Everything in the database directory, RocksDB's files included.
    pub bytes_on_disk: u64,
    pub services: Vec<(String, u64)>,
    pub min_start_ns: Option<u64>,
    pub max_end_ns: Option<u64>,
}

/// What `check` found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub blocks_checked: u64,
    pub spans_checked: u64,
    pub wal_records_checked: u64,
    pub problems: Vec<String>,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Db {
    /// Opens (creating if needed) the database in `dir` and recovers: catalogued blocks are
    /// opened, files a crash left behind are removed, and logged unsealed spans are replayed.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Db> {
        let dir = dir.as_ref().to_owned();
        let blocks_dir = dir.join("blocks");
        std::fs::create_dir_all(&blocks_dir).map_err(|e| Error::io(&blocks_dir, e))?;
        let catalog = Arc::new(Catalog::open(&dir.join("catalog"))?);
        maintenance::finish_retirements(&catalog, &blocks_dir, opts.fs.as_ref())?;
        let entries = catalog.blocks()?;
        let mut blocks = BTreeMap::new();
        let mut broken = BTreeMap::new();
        let known: HashSet<String> = entries
            .iter()
            .map(|e| BlockEntry::file_name(e.id))
            .collect();
        for e in &entries {
            let path = blocks_dir.join(BlockEntry::file_name(e.id));
            match open_block(&path, e) {
                Ok(r) => {
                    blocks.insert(e.id, LiveBlock::new(r, &catalog, &opts.fs));
                }
                Err(err) => {
                    broken.insert(e.id, err.to_string());
                }
            }
        }
        // An empty catalog beside block files is not a new database: RocksDB lost its state
        // (a damaged MANIFEST opens as empty). Deleting the "unknown" files below would then
        // destroy every sealed span, so refuse instead.
        if catalog.is_fresh() {
            let blocks = std::fs::read_dir(&blocks_dir)
                .map_err(|e| Error::io(&blocks_dir, e))?
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".blk"))
                .count();
            if blocks > 0 {
                return Err(Error::corruption(
                    dir.join("catalog").display().to_string(),
                    format!(
                        "the catalog is empty but blocks/ holds {blocks} block files: RocksDB lost \
                         its state. Nothing was deleted; restore the catalog from a backup, or \
                         move blocks/ aside to start a new database"
                    ),
                ));
            }
        }
        // A crash between writing a block and committing it to the catalog leaves a file the
        // catalog does not know; its spans are still in the log, so the file goes.
        for item in std::fs::read_dir(&blocks_dir).map_err(|e| Error::io(&blocks_dir, e))? {
            let item = item.map_err(|e| Error::io(&blocks_dir, e))?;
            let name = item.file_name().to_string_lossy().into_owned();
            if !known.contains(&name) {
                opts.fs
                    .remove_file(&item.path())
                    .map_err(|e| Error::io(item.path(), e))?;
            }
        }
        let unsealed = Arc::new(Unsealed::default());
        let records = catalog.wal_records()?;
        let first_unsealed_seq = records.first().map(|r| r.0).unwrap_or(0);
        let mut next_seq = first_unsealed_seq;
        for (seq, payload) in records {
            let spans = decode_record(&payload)
                .map_err(|e| Error::corruption(format!("log record {seq}"), e.to_string()))?;
            unsealed.append(Segment { spans });
            next_seq = seq + 1;
        }
        let next_block_id = catalog
            .next_block_id()?
            .max(entries.last().map(|e| e.id + 1).unwrap_or(1));
        let inner = Arc::new(Inner {
            dir,
            blocks_dir,
            catalog,
            writer: Mutex::new(WriterState {
                next_seq,
                next_block_id,
                first_unsealed_seq,
            }),
            current: RwLock::new(Arc::new(Version {
                blocks,
                broken,
                frozen: Vec::new(),
                unsealed,
            })),
            poisoned: Mutex::new(None),
            log_failed: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            syncer: Mutex::new(None),
            sealer: Mutex::new(None),
            maintenance: Mutex::new(()),
            worker: Mutex::new(None),
            opts,
        });
        let db = Db { inner };
        db.start_syncer();
        db.start_sealer();
        db.start_worker();
        if db.inner.version().unsealed.span_count() >= db.inner.opts.block_max_spans {
            let mut w = lock(&db.inner.writer);
            db.inner.freeze(&mut w)?;
        }
        Ok(db)
    }

    /// The background maintenance worker: compaction and retention every
    /// `maintenance_interval`. It holds only a weak handle, so it never keeps the database open.
    fn start_worker(&self) {
        let Some(every) = self.inner.opts.maintenance_interval else {
            return;
        };
        let (tx, rx) = bounded::<()>(0);
        let weak = Arc::downgrade(&self.inner);
        let handle = std::thread::Builder::new()
            .name("spandb-maintenance".into())
            .spawn(move || loop {
                match rx.recv_timeout(every) {
                    Err(crossbeam::channel::RecvTimeoutError::Timeout) => {
                        let Some(inner) = weak.upgrade() else { return };
                        let db = Db { inner };
                        if let Some(keep) = db.inner.opts.retention {
                            let _ = db.retain(keep);
                        }
                        let _ = db.compact();
                    }
                    _ => return,
                }
            });
        if let Ok(handle) = handle {
            *lock(&self.inner.worker) = Some((tx, handle));
        }
    }

    /// The background sealer: turns frozen builders into blocks, one at a time, in order.
    /// The queue holds one job, so a writer that outruns sealing waits (bounded memory).
    fn start_sealer(&self) {
        let (tx, rx) = bounded::<SealJob>(1);
        let weak = Arc::downgrade(&self.inner);
        let handle = std::thread::Builder::new()
            .name("spandb-sealer".into())
            .spawn(move || {
                for job in rx {
                    let Some(inner) = weak.upgrade() else { return };
                    match job {
                        SealJob::Seal(frozen) => {
                            // A failure poisons the handle; the spans stay in the log and in
                            // the frozen builder, so readers and the next open still see them.
                            if inner.check_writable().is_ok() {
                                let _ = inner.seal(&frozen);
                            }
                        }
                        SealJob::Barrier(reply) => {
                            let answer = inner.check_writable();
                            // Let go first: the caller may drop the last handle and reopen
                            // at once, and must not find RocksDB still locked by this Arc.
                            drop(inner);
                            let _ = reply.send(answer);
                        }
                    }
                }
            });
        if let Ok(handle) = handle {
            *lock(&self.inner.sealer) = Some((tx, handle));
        }
    }

    fn start_syncer(&self) {
        if let Durability::GroupCommit { interval } = self.inner.opts.durability {
            let (tx, rx) = bounded::<()>(0);
            let weak = Arc::downgrade(&self.inner);
            let handle = std::thread::spawn(move || loop {
                match rx.recv_timeout(interval) {
                    Err(crossbeam::channel::RecvTimeoutError::Timeout) => {
                        let Some(inner) = weak.upgrade() else { return };
                        if let Err(e) = inner.sync_log() {
                            inner.log_failed.store(true, Ordering::Release);
                            inner.poison(format!("log fsync failed: {e}"));
                        }
                    }
                    _ => return,
                }
            });
            *lock(&self.inner.syncer) = Some((tx, handle));
        }
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// Writes a batch of spans. When this returns they are durable per [`Durability`] and
    /// visible to every later snapshot. A full builder is sealed into a block first.
    pub fn write(&self, spans: Vec<Span>) -> Result<()> {
        self.inner.check_writable()?;
        if spans.is_empty() {
            return Ok(());
        }
        if let Some(bad) = spans.iter().find(|s| s.trace_id.is_zero()) {
            return Err(Error::InvalidInput(format!(
                "span {} has an all-zero trace id",
                bad.span_id
            )));
        }
        let payload = encode_record(&spans);
        let mut w = lock(&self.inner.writer);
        self.inner.check_writable()?;
        let sync = self.inner.opts.durability == Durability::Sync;
        let seq = w.next_seq;
        if let Err(e) = self.inner.catalog.append_wal(seq, &payload, sync) {
            // Whatever the durability, the log writer is now unusable until reopen.
            self.inner.log_failed.store(true, Ordering::Release);
            self.inner.poison(format!("log write failed: {e}"));
            return Err(e);
        }
        w.next_seq += 1;
        let version = self.inner.version();
        version.unsealed.append(Segment { spans });
        if version.unsealed.span_count() >= self.inner.opts.block_max_spans {
            self.inner.freeze(&mut w)?;
        }
        Ok(())
    }

    /// Seals every span written so far into blocks, waits for the sealer, and flushes
    /// RocksDB's memtables, so everything is in its final on-disk form.
    pub fn flush(&self) -> Result<()> {
        self.inner.check_writable()?;
        let (tx, rx) = bounded(1);
        {
            let mut w = lock(&self.inner.writer);
            self.inner.freeze(&mut w)?;
            self.inner.send_job(SealJob::Barrier(tx))?;
        }
        rx.recv().map_err(|_| Error::Closed)??;
        self.inner.sync_log()?;
        self.inner.catalog.flush()
    }

    /// A consistent read view.
    pub fn snapshot(&self) -> Result<Snapshot> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let version = self.inner.version();
        let mut segments: Vec<Arc<Segment>> = version
            .frozen
            .iter()
            .flat_map(|f| f.segments.iter().cloned())
            .collect();
        let frozen_segments = segments.len();
        segments.extend(version.unsealed.segments());
        Ok(Snapshot {
            frozen_segments,
            version,
            segments,
            inner: self.inner.clone(),
        })
    }

    /// Every span of `trace`, sealed or not (unordered).
    pub fn trace(&self, trace: &TraceId) -> Result<Vec<Span>> {
        self.snapshot()?.trace(trace)
    }

    /// Stops background work and makes every acknowledged write durable. Unsealed spans stay in
    /// the log and come back on the next open. Further calls on any clone return `Closed`.
    pub fn close(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.inner.stop_worker();
        self.inner.stop_sealer();
        self.inner.stop_syncer();
        self.inner.sync_log()
    }

    pub fn stats(&self) -> Result<Stats> {
        self.snapshot()?.stats()
    }

    /// Verifies every block checksum and decodes every row, and checks that the catalog, the
    /// trace index, the block files and the log agree (like SQLite's `integrity_check`).
    /// Writes wait while it runs (it holds the writer lock after letting queued seals finish),
    /// so that no block is half-sealed while the files are compared with the catalog.
    pub fn check(&self) -> Result<CheckReport> {
        let _no_compaction = lock(&self.inner.maintenance);
        let _writer = lock(&self.inner.writer);
        let (tx, rx) = bounded(1);
        self.inner.send_job(SealJob::Barrier(tx))?;
        // A poisoned handle still gets checked: that is when it matters most.
        let _ = rx.recv().map_err(|_| Error::Closed)?;
        let snap = self.snapshot()?;
        let inner = &self.inner;
        let mut report = CheckReport::default();
        let entries = inner.catalog.blocks()?;
        let mut block_traces: BTreeMap<u64, HashSet<TracePrefix>> = BTreeMap::new();
        for e in &entries {
            report.blocks_checked += 1;
            let path = inner.blocks_dir.join(BlockEntry::file_name(e.id));
            let reader = match open_block(&path, e) {
                Ok(r) => r,
                Err(err) => {
                    report.problems.push(format!("block {}: {err}", e.id));
                    continue;
                }
            };
            match std::fs::read(&path) {
                Ok(bytes) if crc32c::crc32c(&bytes) != e.file_crc32c => {
                    report.problems.push(format!(
                        "block {}: file checksum mismatch (catalog {:08x}, file {:08x})",
                        e.id,
                        e.file_crc32c,
                        crc32c::crc32c(&bytes)
                    ))
                }
                Ok(_) => {}
                Err(err) => {
                    report
                        .problems
                        .push(format!("block {}: {}", e.id, Error::io(&path, err)))
                }
            }
            match reader.all_spans() {
                Ok(spans) => {
                    report.spans_checked += spans.len() as u64;
                    if spans.len() as u64 != u64::from(e.rows) {
                        report.problems.push(format!(
                            "block {}: {} rows decoded, catalog says {}",
                            e.id,
                            spans.len(),
                            e.rows
                        ));
                    }
                    block_traces.insert(
                        e.id,
                        spans.iter().map(|s| trace_prefix(&s.trace_id)).collect(),
                    );
                }
                Err(err) => report.problems.push(format!("block {}: {err}", e.id)),
            }
        }
        // Retired blocks (replaced or dropped, still read by some snapshot) keep their index
        // entries and files until the last reader lets go.
        let retired: HashSet<u64> = inner.catalog.retired()?.into_iter().collect();
        let mut indexed: BTreeMap<u64, HashSet<TracePrefix>> = BTreeMap::new();
        for (t, b) in inner.catalog.trace_index()? {
            if retired.contains(&b) {
                continue;
            }
            if !entries.iter().any(|e| e.id == b) {
                report.problems.push(format!(
                    "trace index entry {} -> block {b}: no such block",
                    hex(&t)
                ));
            }
            indexed.entry(b).or_default().insert(t);
        }
        for (b, traces) in &block_traces {
            let idx = indexed.get(b);
            let missing = traces
                .iter()
                .filter(|t| !idx.is_some_and(|i| i.contains(*t)))
                .count();
            if missing > 0 {
                report.problems.push(format!(
                    "block {b}: {missing} traces missing from the trace index"
                ));
            }
            let extra = idx
                .map(|i| i.iter().filter(|t| !traces.contains(*t)).count())
                .unwrap_or(0);
            if extra > 0 {
                report.problems.push(format!(
                    "block {b}: {extra} trace index entries with no spans in the block"
                ));
            }
        }
        for item in
            std::fs::read_dir(&inner.blocks_dir).map_err(|e| Error::io(&inner.blocks_dir, e))?
        {
            let item = item.map_err(|e| Error::io(&inner.blocks_dir, e))?;
            let name = item.file_name().to_string_lossy().into_owned();
            let is_retired = retired.iter().any(|id| BlockEntry::file_name(*id) == name);
            if !is_retired && !entries.iter().any(|e| BlockEntry::file_name(e.id) == name) {
                report
                    .problems
                    .push(format!("file blocks/{name} is not in the catalog"));
            }
        }
        for (seq, payload) in inner.catalog.wal_records()? {
            report.wal_records_checked += 1;
            if let Err(e) = decode_record(&payload) {
                report.problems.push(format!("log record {seq}: {e}"));
            }
        }
        drop(snap);
        Ok(report)
    }
}

fn open_block(path: &Path, e: &BlockEntry) -> Result<BlockReader> {
    let len = std::fs::metadata(path)
        .map_err(|err| Error::io(path, err))?
        .len();
    if len != e.file_len {
        return Err(Error::corruption(
            path.display().to_string(),
            format!("file is {len} bytes, the catalog says {}", e.file_len),
        ));
    }
    let r = BlockReader::open(path, e.id)?;
    if r.footer().rows != e.rows {
        return Err(Error::corruption(
            path.display().to_string(),
            format!(
                "footer says {} rows, the catalog says {}",
                r.footer().rows,
                e.rows
            ),
        ));
    }
    Ok(r)
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

    fn check_writable(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        match lock(&self.poisoned).as_ref() {
            Some(why) => Err(Error::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    fn stop_syncer(&self) {
        if let Some((tx, handle)) = lock(&self.syncer).take() {
            drop(tx);
            if handle.thread().id() != std::thread::current().id() {
                let _ = handle.join();
            }
        }
    }

    fn stop_worker(&self) {
        if let Some((tx, handle)) = lock(&self.worker).take() {
            drop(tx);
            if handle.thread().id() != std::thread::current().id() {
                let _ = handle.join();
            }
        }
    }

    fn stop_sealer(&self) {
        if let Some((tx, handle)) = lock(&self.sealer).take() {
            drop(tx);
            // The sealer thread itself may drop the last handle; it cannot join itself.
            if handle.thread().id() != std::thread::current().id() {
                let _ = handle.join();
            }
        }
    }

    fn send_job(&self, job: SealJob) -> Result<()> {
        let tx = lock(&self.sealer)
            .as_ref()
            .map(|(tx, _)| tx.clone())
            .ok_or(Error::Closed)?;
        tx.send(job).map_err(|_| Error::Closed)
    }

    /// Hands the active builder (if it holds spans) to the sealer and starts a new one.
    /// Called with the writer lock held, so no write lands in between.
    fn freeze(&self, w: &mut WriterState) -> Result<()> {
        let frozen = {
            let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
            let segments = cur.unsealed.segments();
            if segments.is_empty() {
                return Ok(());
            }
            let frozen = Arc::new(Frozen {
                segments,
                builder: cur.unsealed.clone(),
                block_id: w.next_block_id,
                wal_from: w.first_unsealed_seq,
                wal_to: w.next_seq,
            });
            let mut next_frozen = cur.frozen.clone();
            next_frozen.push(frozen.clone());
            *cur = Arc::new(Version {
                blocks: cur.blocks.clone(),
                broken: cur.broken.clone(),
                frozen: next_frozen,
                unsealed: Arc::new(Unsealed::default()),
            });
            frozen
        };
        w.next_block_id += 1;
        w.first_unsealed_seq = w.next_seq;
        self.send_job(SealJob::Seal(frozen))
    }

    /// Writes block `id` atomically (tmp, fsync, rename, fsync dir) and describes it for the
    /// catalog. A failure poisons the handle: a failed fsync may have dropped dirty pages that
    /// cannot be rewritten reliably.
    fn write_block_file(&self, id: u64, encoded: &EncodedBlock) -> Result<(PathBuf, BlockEntry)> {
        let path = self.blocks_dir.join(BlockEntry::file_name(id));
        if let Err(e) = write_atomic(self.opts.fs.as_ref(), &path, &encoded.bytes) {
            self.poison(format!("writing block {}: {e}", path.display()));
            return Err(Error::io(&path, e));
        }
        let f = &encoded.footer;
        let entry = BlockEntry {
            id,
            file_len: encoded.bytes.len() as u64,
            file_crc32c: crc32c::crc32c(&encoded.bytes),
            rows: f.rows,
            traces: f.trace_count,
            min_start_ns: f.min_start_ns,
            max_end_ns: f.max_end_ns,
        };
        Ok((path, entry))
    }

    /// Writes the block of a frozen builder and commits it: file (temp, fsync, rename, fsync
    /// dir), then one RocksDB batch (catalog entry, trace index, log range delete), then the
    /// new version, in which the block replaces the frozen builder.
    fn seal(&self, frozen: &Frozen) -> Result<()> {
        let spans: Vec<&Span> = frozen
            .segments
            .iter()
            .flat_map(|s| s.spans.iter())
            .collect();
        let encoded = encode_block(spans, &self.opts.layout)?;
        let id = frozen.block_id;
        let (path, entry) = self.write_block_file(id, &encoded)?;
        if let Err(e) =
            self.catalog
                .commit_block(&entry, &encoded.trace_ids, frozen.wal_from, frozen.wal_to)
        {
            self.poison(format!("committing block {id}: {e}"));
            return Err(e);
        }
        let reader = match BlockReader::open(&path, id) {
            Ok(r) => r,
            Err(e) => {
                self.poison(format!("reopening block {id}: {e}"));
                return Err(e);
            }
        };
        let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
        let mut blocks = cur.blocks.clone();
        blocks.insert(id, LiveBlock::new(reader, &self.catalog, &self.opts.fs));
        *cur = Arc::new(Version {
            blocks,
            broken: cur.broken.clone(),
            frozen: cur
                .frozen
                .iter()
                .filter(|f| f.block_id != id)
                .cloned()
                .collect(),
            unsealed: cur.unsealed.clone(),
        });
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_worker();
        self.stop_sealer();
        self.stop_syncer();
        let _ = self.sync_log();
    }
}

impl Snapshot {
    /// Sealed blocks, by id.
    pub fn blocks(&self) -> impl Iterator<Item = &Arc<BlockReader>> {
        self.version.blocks.values().map(|b| &b.reader)
    }

    /// Blocks the catalog lists but that failed to open (id, error).
    pub fn broken_blocks(&self) -> impl Iterator<Item = (u64, &str)> {
        self.version.broken.iter().map(|(id, e)| (*id, e.as_str()))
    }

    /// Fails with `Corruption` when a catalogued block could not be opened: an answer without
    /// it would be silently wrong.
    pub fn require_all_blocks(&self) -> Result<()> {
        match self.version.broken.iter().next() {
            Some((id, err)) => Err(Error::corruption(
                self.inner
                    .blocks_dir
                    .join(BlockEntry::file_name(*id))
                    .display()
                    .to_string(),
                err.clone(),
            )),
            None => Ok(()),
        }
    }

    /// Spans not yet sealed into a block.
    pub fn unsealed_spans(&self) -> impl Iterator<Item = &Span> {
        self.segments.iter().flat_map(|s| s.spans.iter())
    }

    /// Every span of `trace`: blocks found through the trace-id index, plus unsealed spans.
    pub fn trace(&self, trace: &TraceId) -> Result<Vec<Span>> {
        let mut out = Vec::new();
        for id in self.inner.catalog.blocks_of_trace(trace)? {
            if let Some(block) = self.version.blocks.get(&id) {
                out.extend(block.reader.trace(trace)?);
            } else if let Some(err) = self.version.broken.get(&id) {
                return Err(Error::corruption(
                    self.inner
                        .blocks_dir
                        .join(BlockEntry::file_name(id))
                        .display()
                        .to_string(),
                    err.clone(),
                ));
            }
            // Otherwise the block was sealed after this snapshot: its spans are in `segments`.
        }
        let (frozen, active) = self.segments.split_at(self.frozen_segments);
        let mut at = 0;
        for f in &self.version.frozen {
            let n = f.segments.len();
            out.extend(
                f.builder
                    .trace(trace, frozen.get(at..at + n).unwrap_or_default()),
            );
            at += n;
        }
        out.extend(self.version.unsealed.trace(trace, active));
        Ok(out)
    }

    pub fn stats(&self) -> Result<Stats> {
        let mut st = Stats::default();
        let mut services: BTreeMap<String, u64> = BTreeMap::new();
        let mut min_start = u64::MAX;
        let mut max_end = 0;
        for b in self.blocks() {
            let f = b.footer();
            st.blocks += 1;
            st.sealed_spans += u64::from(f.rows);
            st.block_bytes += b.file_len();
            min_start = min_start.min(f.min_start_ns);
            max_end = max_end.max(f.max_end_ns);
            for (id, rows) in &f.service_rows {
                *services.entry(b.string(*id)?.to_owned()).or_default() += rows.len();
            }
        }
        let mut traces: HashSet<TracePrefix> = HashSet::new();
        for s in self.unsealed_spans() {
            st.unsealed_spans += 1;
            *services.entry(s.service().to_owned()).or_default() += 1;
            min_start = min_start.min(s.start_ns);
            max_end = max_end.max(s.end_ns);
            traces.insert(trace_prefix(&s.trace_id));
        }
        let mut sealed_traces = 0u64;
        let mut prev: Option<TracePrefix> = None;
        for (t, b) in self.inner.catalog.trace_index()? {
            if self.version.blocks.contains_key(&b) && prev != Some(t) {
                prev = Some(t);
                if !traces.contains(&t) {
                    sealed_traces += 1;
                }
            }
        }
        st.spans = st.sealed_spans + st.unsealed_spans;
        st.traces = sealed_traces + traces.len() as u64;
        st.bytes_on_disk = dir_size(&self.inner.dir)?;
        let mut services: Vec<_> = services.into_iter().collect();
        services.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        st.services = services;
        if st.spans > 0 {
            st.min_start_ns = Some(min_start);
            st.max_end_ns = Some(max_end);
        }
        Ok(st)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Total size of the files under `dir`.
pub fn dir_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for item in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let item = item.map_err(|e| Error::io(dir, e))?;
        let meta = match item.metadata() {
            Ok(m) => m,
            // RocksDB deletes obsolete files in the background: gone since the listing.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(item.path(), e)),
        };
        total += if meta.is_dir() {
            dir_size(&item.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// Rows of a block as a bitmap covering all of them.
pub fn all_rows(block: &BlockReader) -> RoaringBitmap {
    let mut b = RoaringBitmap::new();
    b.insert_range(0..block.footer().rows);
    b
}
