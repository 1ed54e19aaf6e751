//! The write path: a batch becomes one log record (RocksDB) and a segment of the memtable; a
//! full memtable is frozen and queued for the sealer, which writes it as a sealed block and
//! commits the block, its trace-index keys and the removal of its log records in one batch.

use std::path::PathBuf;
use std::sync::Arc;

use crossbeam::channel::{bounded, Receiver, Sender};

use super::maintenance::LiveBlock;
use super::snapshot::Version;
use super::{lock, Db, Durability, Inner};
use crate::block::log::{encode_log_block, EncodedLogBlock, LogBlockReader};
use crate::block::{encode_block, BlockReader, EncodedBlock};
use crate::catalog::BlockEntry;
use crate::catalog::{BlockKind, RecordKind};
use crate::codec::buf::DecodeResult;
use crate::error::{Error, Result};
use crate::fsio::write_atomic;
use crate::memtable::{Memtable, Segment};
use crate::model::LogRecord;
use crate::model::{Span, TraceId};
use crate::wal_codec::encode_log_record;
use crate::wal_codec::encode_record;

/// What the writer lock guards.
pub(super) struct WriterState {
    pub(super) next_seq: u64,
    pub(super) next_block_id: u64,
    /// Log records `[memtable_first_seq, next_seq)` are in the memtable.
    pub(super) memtable_first_seq: u64,
}

/// A frozen memtable waiting to become span block `block_id` and log block `log_block_id`
/// (each only if it has rows of its kind), replacing log records `[wal_from, wal_to)`.
pub(super) struct Frozen {
    pub(super) segments: Vec<Arc<Segment>>,
    pub(super) memtable: Arc<Memtable>,
    pub(super) block_id: u64,
    pub(super) log_block_id: u64,
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
        let segment = Segment::spans(encode_record(&spans), spans.len());
        let trace_ids: Vec<Option<TraceId>> = spans.iter().map(|s| Some(s.trace_id)).collect();
        // The memtable keeps the record, not the spans: they are freed here, on the writer's
        // thread, before it takes the lock.
        drop(spans);
        self.append(RecordKind::Spans, segment, trace_ids, sources)
    }

    /// Writes a batch of log records, through the same log, memtable and sealer as spans:
    /// when this returns they are durable per [`Durability`] and visible to every later
    /// snapshot; a frozen memtable's records become a log block beside its span block.
    pub fn write_logs(&self, logs: Vec<LogRecord>) -> Result<()> {
        self.write_logs_with_sources(logs, &[])
    }

    /// [`Db::write_logs`] with the positions of the sources the records came from, stored in
    /// the same RocksDB `WriteBatch` (as [`Db::write_with_sources`] does for spans).
    pub fn write_logs_with_sources(
        &self,
        logs: Vec<LogRecord>,
        sources: &[(String, u64)],
    ) -> Result<()> {
        if logs.is_empty() {
            // Positions alone (skipped messages advance too) are stored the same way for
            // spans and logs.
            return self.write_with_sources(Vec::new(), sources);
        }
        self.inner.check_writable()?;
        if let Some(bad) = logs.iter().find(|l| l.severity_number > 24) {
            return Err(Error::InvalidInput(format!(
                "log record severity number {} is outside 0-24",
                bad.severity_number
            )));
        }
        let segment = Segment::logs(encode_log_record(&logs), logs.len());
        let trace_ids: Vec<Option<TraceId>> = logs.iter().map(LogRecord::trace).collect();
        drop(logs);
        self.append(RecordKind::Logs, segment, trace_ids, sources)
    }

    /// Appends one log record and its memtable segment (whose rows' trace ids are
    /// `trace_ids`) under the writer lock. With `sources`, their positions are stored in the
    /// same RocksDB batch as the record.
    fn append(
        &self,
        kind: RecordKind,
        segment: Segment,
        trace_ids: Vec<Option<TraceId>>,
        sources: &[(String, u64)],
    ) -> Result<()> {
        let payload = segment.record();
        let mut w = lock(&self.inner.writer);
        self.inner.check_writable()?;
        let sync = self.inner.opts.durability == Durability::Sync;
        let seq = w.next_seq;
        let logged = if sources.is_empty() {
            self.inner.catalog.append_wal(seq, kind, payload, sync)
        } else {
            self.inner
                .catalog
                .append_wal_with_sources(Some((seq, kind, payload)), sources, sync)
        };
        if let Err(e) = logged {
            // Whatever the durability, the log writer is now unusable until reopen.
            self.inner.mark_log_failed(format!("log write failed: {e}"));
            return Err(e);
        }
        w.next_seq += 1;
        let version = self.inner.version();
        version.memtable.append(segment, trace_ids.into_iter());
        if version.memtable.row_count() >= self.inner.opts.block_max_spans {
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
            // Ids only for the kinds present: a span-only database numbers blocks 1, 2, 3...
            let has_spans = segments.iter().any(|s| s.span_rows() > 0);
            let has_logs = segments.iter().any(|s| s.log_rows() > 0);
            let block_id = w.next_block_id;
            let log_block_id = block_id + u64::from(has_spans && has_logs);
            let frozen = Arc::new(Frozen {
                segments,
                memtable: cur.memtable.clone(),
                block_id,
                log_block_id,
                wal_from: w.memtable_first_seq,
                wal_to: w.next_seq,
            });
            let mut next_frozen = cur.frozen.clone();
            next_frozen.push(frozen.clone());
            *cur = Arc::new(Version {
                blocks: cur.blocks.clone(),
                logs: cur.logs.clone(),
                broken: cur.broken.clone(),
                frozen: next_frozen,
                memtable: Arc::new(Memtable::default()),
            });
            frozen
        };
        w.next_block_id = frozen.log_block_id + 1;
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
            kind: BlockKind::Spans,
        };
        Ok((path, entry))
    }

    /// [`Inner::write_block_file`] for a log block.
    pub(super) fn write_log_block_file(
        &self,
        id: u64,
        encoded: &EncodedLogBlock,
    ) -> Result<(PathBuf, BlockEntry)> {
        let path = self.blocks_dir.join(BlockEntry::file_name(id));
        if let Err(e) = write_atomic(self.opts.fs.as_ref(), &path, &encoded.bytes) {
            self.poison(format!("writing log block {}: {e}", path.display()));
            return Err(Error::io(&path, e));
        }
        let f = &encoded.footer;
        let entry = BlockEntry {
            id,
            file_len: encoded.bytes.len() as u64,
            file_crc32c: crc32c::crc32c(&encoded.bytes),
            rows: f.rows,
            traces: encoded.trace_ids.len() as u32,
            min_start_ns: f.min_time_ns,
            max_end_ns: f.max_time_ns,
            kind: BlockKind::Logs,
        };
        Ok((path, entry))
    }

    /// The span block of a frozen memtable, encoded; its decoded spans are freed before the
    /// block is written.
    fn encode_frozen_spans(&self, frozen: &Frozen) -> Result<EncodedBlock> {
        let decoded = self.decode_frozen(frozen, Segment::decode_spans)?;
        let spans: Vec<&Span> = decoded.iter().flat_map(|s| s.iter()).collect();
        encode_block(spans, &self.opts.layout)
    }

    /// Every segment of a frozen memtable decoded with `decode`. A failure (the records were
    /// encoded by this process, so only a bug) poisons the handle: the block cannot be sealed.
    fn decode_frozen<T>(
        &self,
        frozen: &Frozen,
        decode: impl Fn(&Segment) -> DecodeResult<Arc<Vec<T>>>,
    ) -> Result<Vec<Arc<Vec<T>>>> {
        frozen
            .segments
            .iter()
            .map(|s| decode(s))
            .collect::<DecodeResult<_>>()
            .map_err(|e| {
                let e = e
                    .context(format_args!(
                        "unsealed log records of block {}",
                        frozen.block_id
                    ))
                    .in_file(self.dir.join("catalog"));
                self.poison(e.to_string());
                e
            })
    }

    /// Seals a frozen memtable and commits it: file (temp, fsync, rename, fsync dir), then one
    /// RocksDB batch (catalog entry, trace index, log range delete), then the new version, in
    /// which the sealed block replaces the frozen memtable.
    pub(super) fn seal(&self, frozen: &Frozen) -> Result<()> {
        let span_block = if frozen.segments.iter().any(|s| s.span_rows() > 0) {
            let encoded = self.encode_frozen_spans(frozen)?;
            let (path, entry) = self.write_block_file(frozen.block_id, &encoded)?;
            Some((path, entry, encoded.trace_ids, encoded.footer))
        } else {
            None
        };
        let log_block = if frozen.segments.iter().any(|s| s.log_rows() > 0) {
            let decoded = self.decode_frozen(frozen, Segment::decode_logs)?;
            let logs: Vec<&LogRecord> = decoded.iter().flat_map(|l| l.iter()).collect();
            let encoded = encode_log_block(logs, &self.opts.layout)?;
            drop(decoded);
            let (path, entry) = self.write_log_block_file(frozen.log_block_id, &encoded)?;
            Some((path, entry, encoded.trace_ids))
        } else {
            None
        };
        let commits: Vec<(&BlockEntry, &[TraceId])> = span_block
            .iter()
            .map(|(_, e, t, _)| (e, t.as_slice()))
            .chain(log_block.iter().map(|(_, e, t)| (e, t.as_slice())))
            .collect();
        let next_id = frozen.log_block_id + 1;
        if let Err(e) =
            self.catalog
                .commit_blocks(&commits, frozen.wal_from, frozen.wal_to, next_id)
        {
            self.poison(format!("committing block {}: {e}", frozen.block_id));
            return Err(e);
        }
        let reopen = |what: &str, id: u64, e: Error| {
            self.poison(format!("reopening {what} {id}: {e}"));
            e
        };
        let span_reader = match &span_block {
            Some((path, e, _, footer)) => Some(
                BlockReader::open_written(
                    path,
                    e.id,
                    footer,
                    e.file_len,
                    self.footer_cache.clone(),
                )
                .map_err(|err| reopen("block", e.id, err))?,
            ),
            None => None,
        };
        let log_reader = match &log_block {
            Some((path, e, _)) => Some(
                LogBlockReader::open(path, e.id).map_err(|err| reopen("log block", e.id, err))?,
            ),
            None => None,
        };
        let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
        let mut blocks = cur.blocks.clone();
        if let Some(r) = span_reader {
            blocks.insert(r.id(), LiveBlock::new(r, &self.catalog, &self.opts.fs));
        }
        let mut log_blocks = cur.logs.clone();
        if let Some(r) = log_reader {
            log_blocks.insert(r.id(), LiveBlock::new(r, &self.catalog, &self.opts.fs));
        }
        *cur = Arc::new(Version {
            blocks,
            logs: log_blocks,
            broken: cur.broken.clone(),
            frozen: cur
                .frozen
                .iter()
                .filter(|f| f.block_id != frozen.block_id)
                .cloned()
                .collect(),
            memtable: cur.memtable.clone(),
        });
        Ok(())
    }
}
