//! The write path: a batch becomes one log record (RocksDB) and a segment of the memtable; a
//! full memtable is frozen and queued for the sealer, which writes it as a sealed block and
//! commits the block, its trace-index keys and the removal of its log records in one batch.

use std::path::PathBuf;
use std::sync::Arc;

use crossbeam::channel::{bounded, Receiver, Sender};

use super::maintenance::LiveBlock;
use super::snapshot::Version;
use super::{lock, Db, Durability, Inner};
use crate::block::{encode_block, BlockReader, EncodedBlock};
use crate::catalog::BlockEntry;
use crate::error::{Error, Result};
use crate::fsio::write_atomic;
use crate::memtable::{Memtable, Segment};
use crate::model::Span;
use crate::wal_codec::encode_record;

/// What the writer lock guards.
pub(super) struct WriterState {
    pub(super) next_seq: u64,
    pub(super) next_block_id: u64,
    /// Log records `[memtable_first_seq, next_seq)` are in the memtable.
    pub(super) memtable_first_seq: u64,
}

/// A frozen memtable waiting to become block `block_id`, replacing log records
/// `[wal_from, wal_to)`.
pub(super) struct Frozen {
    pub(super) segments: Vec<Arc<Segment>>,
    pub(super) memtable: Arc<Memtable>,
    pub(super) block_id: u64,
    wal_from: u64,
    wal_to: u64,
}

/// What the sealer's queue carries.
pub(super) enum SealJob {
    Seal(Arc<Frozen>),
    /// Answered once every job sent before it is done.
    Barrier(Sender<Result<()>>),
}

impl Db {
    /// Writes a batch of spans. When this returns they are durable per [`Durability`] and
    /// visible to every later snapshot. A full memtable is frozen and queued for sealing.
    pub fn write(&self, spans: Vec<Span>) -> Result<()> {
        self.write_with_sources(spans, &[])
    }

    /// Writes a batch of spans together with the positions of the sources they came from
    /// (`(name, position)`, e.g. `kafka/<group>/<topic>/<partition>` and the next offset to
    /// consume), in one RocksDB `WriteBatch`: after a crash either both are there or
    /// neither. With no spans, only the positions are stored (skipped messages advance too).
    /// Read them back with [`Db::source_positions`].
    pub fn write_with_sources(&self, spans: Vec<Span>, sources: &[(String, u64)]) -> Result<()> {
        self.inner.check_writable()?;
        if spans.is_empty() {
            if sources.is_empty() {
                return Ok(());
            }
            let _w = lock(&self.inner.writer);
            self.inner.check_writable()?;
            let sync = self.inner.opts.durability == Durability::Sync;
            if let Err(e) = self
                .inner
                .catalog
                .append_wal_with_sources(None, sources, sync)
            {
                self.inner.mark_log_failed(format!("log write failed: {e}"));
                return Err(e);
            }
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
        let logged = if sources.is_empty() {
            self.inner.catalog.append_wal(seq, &payload, sync)
        } else {
            self.inner
                .catalog
                .append_wal_with_sources(Some((seq, &payload)), sources, sync)
        };
        if let Err(e) = logged {
            // Whatever the durability, the log writer is now unusable until reopen.
            self.inner.mark_log_failed(format!("log write failed: {e}"));
            return Err(e);
        }
        w.next_seq += 1;
        let version = self.inner.version();
        version.memtable.append(Segment { spans });
        if version.memtable.span_count() >= self.inner.opts.block_max_spans {
            self.inner.freeze(&mut w)?;
        }
        Ok(())
    }

    /// Every source position stored by [`Db::write_with_sources`] whose name starts with
    /// `prefix`, as `(name, position)` sorted by name.
    pub fn source_positions(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        self.inner.catalog.source_positions(prefix)
    }

    /// Seals every span written so far into blocks, waits for the sealer, and flushes
    /// RocksDB's memtables, so everything is in its final on-disk form.
    pub fn flush(&self) -> Result<()> {
        self.inner.check_writable()?;
        let done = {
            let mut w = lock(&self.inner.writer);
            self.inner.freeze(&mut w)?;
            self.inner.barrier()?
        };
        done.recv().map_err(|_| Error::Closed)??;
        self.inner.sync_log()?;
        self.inner.catalog.flush()
    }
}

impl Inner {
    fn send_job(&self, job: SealJob) -> Result<()> {
        let tx = lock(&self.sealer)
            .as_ref()
            .map(|w| w.sender().clone())
            .ok_or(Error::Closed)?;
        tx.send(job).map_err(|_| Error::Closed)
    }

    /// Queues a barrier: the receiver gets the handle's health once every seal queued before
    /// it is done.
    pub(super) fn barrier(&self) -> Result<Receiver<Result<()>>> {
        let (tx, rx) = bounded(1);
        self.send_job(SealJob::Barrier(tx))?;
        Ok(rx)
    }

    /// Freezes the memtable (if it holds spans), queues it for the sealer and starts a new
    /// one. Called with the writer lock held, so no write lands in between.
    pub(super) fn freeze(&self, w: &mut WriterState) -> Result<()> {
        let frozen = {
            let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
            let segments = cur.memtable.segments();
            if segments.is_empty() {
                return Ok(());
            }
            let frozen = Arc::new(Frozen {
                segments,
                memtable: cur.memtable.clone(),
                block_id: w.next_block_id,
                wal_from: w.memtable_first_seq,
                wal_to: w.next_seq,
            });
            let mut next_frozen = cur.frozen.clone();
            next_frozen.push(frozen.clone());
            *cur = Arc::new(Version {
                blocks: cur.blocks.clone(),
                broken: cur.broken.clone(),
                frozen: next_frozen,
                memtable: Arc::new(Memtable::default()),
            });
            frozen
        };
        w.next_block_id += 1;
        w.memtable_first_seq = w.next_seq;
        self.send_job(SealJob::Seal(frozen))
    }

    /// Writes block `id` atomically (tmp, fsync, rename, fsync dir) and describes it for the
    /// catalog. A failure poisons the handle: a failed fsync may have dropped dirty pages that
    /// cannot be rewritten reliably.
    pub(super) fn write_block_file(
        &self,
        id: u64,
        encoded: &EncodedBlock,
    ) -> Result<(PathBuf, BlockEntry)> {
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

    /// Seals a frozen memtable and commits it: file (temp, fsync, rename, fsync dir), then one
    /// RocksDB batch (catalog entry, trace index, log range delete), then the new version, in
    /// which the sealed block replaces the frozen memtable.
    pub(super) fn seal(&self, frozen: &Frozen) -> Result<()> {
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
            memtable: cur.memtable.clone(),
        });
        Ok(())
    }
}
