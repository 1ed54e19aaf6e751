//! Lifecycle work on sealed blocks: compaction (small blocks of a time range merge into one)
//! and retention (whole blocks past a horizon are dropped).
//!
//! Both swap blocks atomically through the catalog ([`Catalog::replace_blocks`]) and then
//! publish a new version. A replaced block is *retired*: snapshots taken before the swap keep
//! reading it, and its trace-index entries and file are removed only when the last of them is
//! dropped ([`LiveBlock`]'s `Drop`), or at the next open after a crash.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::collections::BTreeMap;
use std::path::Path;

use super::snapshot::Version;
use super::{lock, Db, Inner, Options};
use crate::block::log::{encode_log_block, LogBlockReader};
use crate::block::{encode_block, BlockReader};
use crate::catalog::{BlockEntry, Catalog};
use crate::error::{Error, Result};
use crate::fsio::FileSystem;
use crate::model::{LogRecord, Span, TraceId};

/// What the lifecycle needs of a sealed block of any kind (span or log block).
pub(crate) trait SealedFile: Send + Sync + 'static {
    fn id(&self) -> u64;
    fn path(&self) -> &Path;
    fn file_len(&self) -> u64;
    fn rows(&self) -> u32;
    /// Least row time (span start, record timestamp).
    fn min_time_ns(&self) -> u64;
    /// Greatest row time: retention drops a block when this is before the horizon.
    fn max_time_ns(&self) -> u64;
    fn trace_ids(&self) -> Result<Vec<TraceId>>;
}

impl SealedFile for BlockReader {
    fn id(&self) -> u64 {
        BlockReader::id(self)
    }
    fn path(&self) -> &Path {
        BlockReader::path(self)
    }
    fn file_len(&self) -> u64 {
        BlockReader::file_len(self)
    }
    fn rows(&self) -> u32 {
        self.meta().rows
    }
    fn min_time_ns(&self) -> u64 {
        self.meta().min_start_ns
    }
    fn max_time_ns(&self) -> u64 {
        self.meta().max_start_ns
    }
    fn trace_ids(&self) -> Result<Vec<TraceId>> {
        Ok(self.footer()?.traces.iter().map(|t| t.trace_id).collect())
    }
}

impl SealedFile for LogBlockReader {
    fn id(&self) -> u64 {
        LogBlockReader::id(self)
    }
    fn path(&self) -> &Path {
        LogBlockReader::path(self)
    }
    fn file_len(&self) -> u64 {
        LogBlockReader::file_len(self)
    }
    fn rows(&self) -> u32 {
        self.footer().rows
    }
    fn min_time_ns(&self) -> u64 {
        self.footer().min_time_ns
    }
    fn max_time_ns(&self) -> u64 {
        self.footer().max_time_ns
    }
    fn trace_ids(&self) -> Result<Vec<TraceId>> {
        Ok(LogBlockReader::trace_ids(self))
    }
}

/// A block of either kind, as opened from the catalog.
#[allow(clippy::large_enum_variant)] // short-lived: opened, then moved into a LiveBlock
pub(crate) enum AnyBlock {
    Spans(BlockReader),
    Logs(LogBlockReader),
}

impl AnyBlock {
    pub(crate) fn file(&self) -> &dyn SealedFile {
        match self {
            AnyBlock::Spans(r) => r,
            AnyBlock::Logs(r) => r,
        }
    }
    /// Decodes every row (checking every chunk); the row count.
    pub(crate) fn verify(&self) -> Result<u64> {
        match self {
            AnyBlock::Spans(r) => r.verify(),
            AnyBlock::Logs(r) => r.verify(),
        }
    }
}

/// A sealed block as versions hold it. When retired and no longer referenced, it forgets its
/// trace-index entries and deletes its file.
pub(crate) struct LiveBlock<R: SealedFile = BlockReader> {
    pub(crate) reader: Arc<R>,
    retired: AtomicBool,
    catalog: Arc<Catalog>,
    fs: Arc<dyn FileSystem>,
}

impl<R: SealedFile> LiveBlock<R> {
    pub(crate) fn new(reader: R, catalog: &Arc<Catalog>, fs: &Arc<dyn FileSystem>) -> Arc<Self> {
        Arc::new(LiveBlock {
            reader: Arc::new(reader),
            retired: AtomicBool::new(false),
            catalog: catalog.clone(),
            fs: fs.clone(),
        })
    }

    fn retire(&self) {
        self.retired.store(true, Ordering::Release);
    }
}

impl<R: SealedFile> Drop for LiveBlock<R> {
    fn drop(&mut self) {
        if !self.retired.load(Ordering::Acquire) {
            return;
        }
        let traces = self.reader.trace_ids().ok();
        // The file goes first, the retired mark (with the index entries) second: while the
        // mark stands, `check` knows the block, so it never sees a file the catalog does not
        // know (the other order left that window open). On failure the retired mark stays
        // and the next open finishes the job, with or without the file.
        if self.fs.remove_file(self.reader.path()).is_ok() {
            let _ = self
                .catalog
                .forget_block(self.reader.id(), traces.as_deref());
        }
    }
}

/// Finishes retirements a crash interrupted: index entries and files of retired blocks.
pub(crate) fn finish_retirements(
    catalog: &Catalog,
    blocks_dir: &Path,
    fs: &dyn FileSystem,
) -> Result<()> {
    for id in catalog.retired()? {
        let path = blocks_dir.join(BlockEntry::file_name(id));
        let traces = BlockReader::open(&path, id)
            .and_then(|r| SealedFile::trace_ids(&r))
            .or_else(|_| LogBlockReader::open(&path, id).and_then(|r| SealedFile::trace_ids(&r)));
        match traces {
            Ok(traces) => catalog.forget_block(id, Some(&traces))?,
            Err(_) => catalog.forget_block(id, None)?,
        }
        if path.exists() {
            fs.remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

/// What a compaction did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompactReport {
    pub blocks_before: u64,
    pub blocks_after: u64,
    pub merges: u64,
    pub spans_rewritten: u64,
    pub logs_rewritten: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// What a retention pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetainReport {
    pub blocks_dropped: u64,
    pub spans_dropped: u64,
    pub logs_dropped: u64,
    /// Block bytes freed (the files go once no snapshot reads them).
    pub bytes_dropped: u64,
}

impl Db {
    /// Merges runs of small blocks (fewer than `compact_below_spans` spans) that are adjacent in
    /// time into blocks of up to `block_max_spans` spans: better compression, fewer files, and
    /// traces that late spans split across blocks come back together. Writes continue
    /// meanwhile; only the final swap takes the version lock.
    pub fn compact(&self) -> Result<CompactReport> {
        let inner = &self.inner;
        inner.check_writable()?;
        let _one_at_a_time = lock(&inner.maintenance);
        let mut report = CompactReport::default();
        let before = inner.version();
        report.blocks_before = before.block_count();
        report.bytes_before = before.block_bytes();
        while let Some(group) = next_merge(&inner.version().blocks, &inner.opts) {
            report.merges += 1;
            report.spans_rewritten += group.iter().map(|b| u64::from(b.rows())).sum::<u64>();
            inner.merge(&group)?;
        }
        while let Some(group) = next_merge(&inner.version().logs, &inner.opts) {
            report.merges += 1;
            report.logs_rewritten += group.iter().map(|b| u64::from(b.rows())).sum::<u64>();
            inner.merge_logs(&group)?;
        }
        let after = inner.version();
        report.blocks_after = after.block_count();
        report.bytes_after = after.block_bytes();
        Ok(report)
    }

    /// Drops every block whose spans all started before `cutoff_ns` (whole blocks only: a
    /// block with one newer span stays).
    pub fn retain_since(&self, cutoff_ns: u64) -> Result<RetainReport> {
        let inner = &self.inner;
        inner.check_writable()?;
        let _one_at_a_time = lock(&inner.maintenance);
        let version = inner.version();
        let old = |kind_logs: bool| -> Vec<Arc<dyn SealedFile>> {
            let expired = |r: &dyn SealedFile| r.max_time_ns() < cutoff_ns;
            if kind_logs {
                version
                    .logs
                    .values()
                    .filter(|b| expired(b.reader.as_ref()))
                    .map(|b| b.reader.clone() as Arc<dyn SealedFile>)
                    .collect()
            } else {
                version
                    .blocks
                    .values()
                    .filter(|b| expired(b.reader.as_ref()))
                    .map(|b| b.reader.clone() as Arc<dyn SealedFile>)
                    .collect()
            }
        };
        let (old_spans, old_logs) = (old(false), old(true));
        drop(version);
        let mut report = RetainReport::default();
        if old_spans.is_empty() && old_logs.is_empty() {
            return Ok(report);
        }
        let ids: Vec<u64> = old_spans.iter().chain(&old_logs).map(|r| r.id()).collect();
        inner.swap_blocks(None, &ids)?;
        report.blocks_dropped = ids.len() as u64;
        report.spans_dropped = old_spans.iter().map(|r| u64::from(r.rows())).sum();
        report.logs_dropped = old_logs.iter().map(|r| u64::from(r.rows())).sum();
        report.bytes_dropped = old_spans
            .iter()
            .chain(&old_logs)
            .map(|r| r.file_len())
            .sum();
        Ok(report)
    }

    /// Drops blocks whose spans are all older than `age` (by wall clock).
    pub fn retain(&self, age: Duration) -> Result<RetainReport> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        self.retain_since(now.saturating_sub(age.as_nanos() as u64))
    }
}

/// The next run of small blocks (of one kind) to merge, oldest first, or `None`.
fn next_merge<R: SealedFile>(
    blocks: &BTreeMap<u64, Arc<LiveBlock<R>>>,
    opts: &Options,
) -> Option<Vec<Arc<R>>> {
    let mut small: Vec<Arc<R>> = blocks
        .values()
        .map(|b| b.reader.clone())
        .filter(|r| (r.rows() as usize) < opts.compact_below_spans)
        .collect();
    small.sort_by_key(|r| (r.min_time_ns(), r.id()));
    let mut group: Vec<Arc<R>> = Vec::new();
    let mut spans = 0usize;
    for r in small {
        let rows = r.rows() as usize;
        if spans + rows > opts.block_max_spans && group.len() >= 2 {
            return Some(group);
        }
        if spans + rows > opts.block_max_spans {
            group.clear();
            spans = 0;
        }
        spans += rows;
        group.push(r);
    }
    (group.len() >= 2).then_some(group)
}

impl Inner {
    fn merge(&self, group: &[Arc<BlockReader>]) -> Result<()> {
        let mut spans: Vec<Span> = Vec::new();
        for b in group {
            spans.extend(b.all_spans()?);
        }
        let encoded = encode_block(spans.iter().collect(), &self.opts.layout)?;
        let id = {
            let mut w = lock(&self.writer);
            w.next_block_id += 1;
            w.next_block_id - 1
        };
        let (path, entry) = self.write_block_file(id, &encoded)?;
        let reader = BlockReader::open_written(
            &path,
            id,
            &encoded.footer,
            entry.file_len,
            self.footer_cache.clone(),
        )?;
        let ids: Vec<u64> = group.iter().map(|b| b.id()).collect();
        self.swap_blocks(
            Some((&entry, &encoded.trace_ids, AnyBlock::Spans(reader))),
            &ids,
        )
    }

    fn merge_logs(&self, group: &[Arc<LogBlockReader>]) -> Result<()> {
        let mut logs: Vec<LogRecord> = Vec::new();
        for b in group {
            logs.extend(b.all_records()?);
        }
        let encoded = encode_log_block(logs.iter().collect(), &self.opts.layout)?;
        let id = {
            let mut w = lock(&self.writer);
            w.next_block_id += 1;
            w.next_block_id - 1
        };
        let (path, entry) = self.write_log_block_file(id, &encoded)?;
        let reader = LogBlockReader::open(&path, id)?;
        let ids: Vec<u64> = group.iter().map(|b| b.id()).collect();
        self.swap_blocks(
            Some((&entry, &encoded.trace_ids, AnyBlock::Logs(reader))),
            &ids,
        )
    }

    /// Commits the swap to the catalog, then publishes a version without `removed` (retired)
    /// and with `added`.
    fn swap_blocks(
        &self,
        added: Option<(&BlockEntry, &[TraceId], AnyBlock)>,
        removed: &[u64],
    ) -> Result<()> {
        let next_id = lock(&self.writer).next_block_id;
        self.swap_blocks_with(added, removed, next_id)
    }

    /// [`Inner::swap_blocks`] for callers that already hold the writer lock.
    pub(super) fn swap_blocks_with(
        &self,
        added: Option<(&BlockEntry, &[TraceId], AnyBlock)>,
        removed: &[u64],
        next_id: u64,
    ) -> Result<()> {
        let commit =
            self.catalog
                .replace_blocks(added.as_ref().map(|(e, t, _)| (*e, *t)), removed, next_id);
        if let Err(e) = commit {
            self.poison(format!("committing a block swap: {e}"));
            return Err(e);
        }
        let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
        let mut blocks = cur.blocks.clone();
        let mut logs = cur.logs.clone();
        for id in removed {
            if let Some(b) = blocks.remove(id) {
                b.retire();
            }
            if let Some(b) = logs.remove(id) {
                b.retire();
            }
        }
        match added {
            Some((entry, _, AnyBlock::Spans(reader))) => {
                blocks.insert(
                    entry.id,
                    LiveBlock::new(reader, &self.catalog, &self.opts.fs),
                );
            }
            Some((entry, _, AnyBlock::Logs(reader))) => {
                logs.insert(
                    entry.id,
                    LiveBlock::new(reader, &self.catalog, &self.opts.fs),
                );
            }
            None => {}
        }
        *cur = Arc::new(Version {
            blocks,
            logs,
            broken: cur
                .broken
                .iter()
                .filter(|(id, _)| !removed.contains(id))
                .map(|(k, v)| (*k, v.clone()))
                .collect(),
            frozen: cur.frozen.clone(),
            memtable: cur.memtable.clone(),
        });
        Ok(())
    }
}
