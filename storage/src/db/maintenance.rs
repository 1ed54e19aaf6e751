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

use super::snapshot::Version;
use super::{lock, Db, Inner, Options};
use crate::block::{encode_block, BlockReader};
use crate::catalog::{BlockEntry, Catalog};
use crate::error::{Error, Result};
use crate::fsio::FileSystem;
use crate::model::{Span, TraceId};

/// A sealed block as versions hold it. When retired and no longer referenced, it forgets its
/// trace-index entries and deletes its file.
pub(crate) struct LiveBlock {
    pub(crate) reader: Arc<BlockReader>,
    retired: AtomicBool,
    catalog: Arc<Catalog>,
    fs: Arc<dyn FileSystem>,
}

impl LiveBlock {
    pub(crate) fn new(
        reader: BlockReader,
        catalog: &Arc<Catalog>,
        fs: &Arc<dyn FileSystem>,
    ) -> Arc<Self> {
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

impl Drop for LiveBlock {
    fn drop(&mut self) {
        if !self.retired.load(Ordering::Acquire) {
            return;
        }
        let traces: Vec<TraceId> = self
            .reader
            .footer()
            .traces
            .iter()
            .map(|t| t.trace_id)
            .collect();
        // The file goes first, the retired mark (with the index entries) second: while the
        // mark stands, `check` knows the block, so it never sees a file the catalog does not
        // know (the other order left that window open). On failure the retired mark stays
        // and the next open finishes the job, with or without the file.
        if self.fs.remove_file(self.reader.path()).is_ok() {
            let _ = self.catalog.forget_block(self.reader.id(), Some(&traces));
        }
    }
}

/// Finishes retirements a crash interrupted: index entries and files of retired blocks.
pub(crate) fn finish_retirements(
    catalog: &Catalog,
    blocks_dir: &std::path::Path,
    fs: &dyn FileSystem,
) -> Result<()> {
    for id in catalog.retired()? {
        let path = blocks_dir.join(BlockEntry::file_name(id));
        match BlockReader::open(&path, id) {
            Ok(r) => {
                let traces: Vec<TraceId> = r.footer().traces.iter().map(|t| t.trace_id).collect();
                catalog.forget_block(id, Some(&traces))?;
            }
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
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// What a retention pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetainReport {
    pub blocks_dropped: u64,
    pub spans_dropped: u64,
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
        report.blocks_before = before.blocks.len() as u64;
        report.bytes_before = before.blocks.values().map(|b| b.reader.file_len()).sum();
        while let Some(group) = next_merge(&inner.version(), &inner.opts) {
            report.merges += 1;
            report.spans_rewritten += group
                .iter()
                .map(|b| u64::from(b.footer().rows))
                .sum::<u64>();
            inner.merge(&group)?;
        }
        let after = inner.version();
        report.blocks_after = after.blocks.len() as u64;
        report.bytes_after = after.blocks.values().map(|b| b.reader.file_len()).sum();
        Ok(report)
    }

    /// Drops every block whose spans all started before `cutoff_ns` (whole blocks only: a
    /// block with one newer span stays).
    pub fn retain_since(&self, cutoff_ns: u64) -> Result<RetainReport> {
        let inner = &self.inner;
        inner.check_writable()?;
        let _one_at_a_time = lock(&inner.maintenance);
        let old: Vec<Arc<BlockReader>> = inner
            .version()
            .blocks
            .values()
            .map(|b| b.reader.clone())
            .filter(|r| r.footer().max_start_ns < cutoff_ns)
            .collect();
        let mut report = RetainReport::default();
        if old.is_empty() {
            return Ok(report);
        }
        let ids: Vec<u64> = old.iter().map(|r| r.id()).collect();
        inner.swap_blocks(None, &ids)?;
        report.blocks_dropped = old.len() as u64;
        report.spans_dropped = old.iter().map(|r| u64::from(r.footer().rows)).sum();
        report.bytes_dropped = old.iter().map(|r| r.file_len()).sum();
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

/// The next run of small blocks to merge, oldest first, or `None`.
fn next_merge(version: &Version, opts: &Options) -> Option<Vec<Arc<BlockReader>>> {
    let mut small: Vec<Arc<BlockReader>> = version
        .blocks
        .values()
        .map(|b| b.reader.clone())
        .filter(|r| (r.footer().rows as usize) < opts.compact_below_spans)
        .collect();
    small.sort_by_key(|r| (r.footer().min_start_ns, r.id()));
    let mut group: Vec<Arc<BlockReader>> = Vec::new();
    let mut spans = 0usize;
    for r in small {
        let rows = r.footer().rows as usize;
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
        let reader = BlockReader::open(&path, id)?;
        let ids: Vec<u64> = group.iter().map(|b| b.id()).collect();
        self.swap_blocks(Some((&entry, &encoded.trace_ids, reader)), &ids)
    }

    /// Commits the swap to the catalog, then publishes a version without `removed` (retired)
    /// and with `added`.
    fn swap_blocks(
        &self,
        added: Option<(&BlockEntry, &[TraceId], BlockReader)>,
        removed: &[u64],
    ) -> Result<()> {
        let next_id = lock(&self.writer).next_block_id;
        self.swap_blocks_with(added, removed, next_id)
    }

    /// [`Inner::swap_blocks`] for callers that already hold the writer lock.
    pub(super) fn swap_blocks_with(
        &self,
        added: Option<(&BlockEntry, &[TraceId], BlockReader)>,
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
        for id in removed {
            if let Some(b) = blocks.remove(id) {
                b.retire();
            }
        }
        if let Some((entry, _, reader)) = added {
            blocks.insert(
                entry.id,
                LiveBlock::new(reader, &self.catalog, &self.opts.fs),
            );
        }
        *cur = Arc::new(Version {
            blocks,
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
