//! What readers see: a [`Version`] (sealed blocks, frozen memtables, the memtable) and
//! [`Snapshot`], a consistent view taken from it, with its reads and stats.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use super::maintenance::LiveBlock;
use super::write::Frozen;
use super::{Db, Inner};
use crate::block::log::LogBlockReader;
use crate::block::{BlockReader, SpanParts};
use crate::catalog::{trace_prefix, BlockEntry, TracePrefix};
use crate::codec::buf::{DecodeError, DecodeResult};
use crate::error::{Error, Result};
use crate::memtable::{Memtable, Segment};
use crate::model::{LogRecord, Span, TraceId};

/// The sealed blocks, frozen memtables and the memtable, as readers see them.
pub(super) struct Version {
    pub(super) blocks: BTreeMap<u64, Arc<LiveBlock>>,
    /// Sealed log blocks, by id (ids are shared with span blocks).
    pub(super) logs: BTreeMap<u64, Arc<LiveBlock<LogBlockReader>>>,
    /// Catalogued blocks that failed to open: reads that need them get this error.
    pub(super) broken: BTreeMap<u64, String>,
    /// Frozen memtables queued for the sealer, oldest first; readers still see their spans.
    pub(super) frozen: Vec<Arc<Frozen>>,
    pub(super) memtable: Arc<Memtable>,
}

impl Version {
    /// Sealed blocks of both kinds.
    pub(super) fn block_count(&self) -> u64 {
        (self.blocks.len() + self.logs.len()) as u64
    }
    /// Bytes of the sealed blocks of both kinds.
    pub(super) fn block_bytes(&self) -> u64 {
        self.blocks
            .values()
            .map(|b| b.reader.file_len())
            .sum::<u64>()
            + self.logs.values().map(|b| b.reader.file_len()).sum::<u64>()
    }
}

/// A consistent read view: the sealed blocks and the spans not yet sealed at one moment.
pub struct Snapshot {
    version: Arc<Version>,
    /// Segments of the frozen memtables (the first `frozen_segments`), then of the memtable.
    segments: Vec<Arc<Segment>>,
    frozen_segments: usize,
    /// The unsealed rows, decoded at the first read that needs them.
    decoded_spans: OnceLock<Vec<Arc<Vec<Span>>>>,
    decoded_logs: OnceLock<Vec<Arc<Vec<LogRecord>>>>,
    inner: Arc<Inner>,
}

/// Figures `stats` reports.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub spans: u64,
    /// Distinct traces (told apart by the first 8 bytes of their ids, as the index does).
    pub traces: u64,
    pub blocks: u64,
    pub sealed_spans: u64,
    /// Log records, sealed and not.
    pub logs: u64,
    pub log_blocks: u64,
    pub unsealed_spans: u64,
    pub block_bytes: u64,
    /// Everything in the database directory, RocksDB's files included.
    pub bytes_on_disk: u64,
    /// Spans per service, most first.
    pub services: Vec<ServiceSpans>,
    pub min_start_ns: Option<u64>,
    pub max_end_ns: Option<u64>,
}

/// A service and how many spans it has.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ServiceSpans {
    pub service: String,
    pub spans: u64,
}

impl Db {
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
        segments.extend(version.memtable.segments());
        Ok(Snapshot {
            frozen_segments,
            version,
            segments,
            decoded_spans: OnceLock::new(),
            decoded_logs: OnceLock::new(),
            inner: self.inner.clone(),
        })
    }

    /// Every span of `trace`, sealed or not (unordered).
    pub fn trace(&self, trace: &TraceId) -> Result<Vec<Span>> {
        self.snapshot()?.trace(trace)
    }

    pub fn stats(&self) -> Result<Stats> {
        self.snapshot()?.stats()
    }
}

impl Snapshot {
    /// Sealed blocks, by id.
    pub fn blocks(&self) -> impl Iterator<Item = &Arc<BlockReader>> {
        self.version.blocks.values().map(|b| &b.reader)
    }

    /// Sealed log blocks, by id.
    pub fn log_blocks(&self) -> impl Iterator<Item = &Arc<LogBlockReader>> {
        self.version.logs.values().map(|b| &b.reader)
    }

    /// Log records not yet sealed into a log block (decoded from their log records at the
    /// first call).
    pub fn unsealed_logs(&self) -> Result<impl Iterator<Item = &LogRecord>> {
        let decoded = self.decoded(&self.decoded_logs, Segment::decode_logs)?;
        Ok(decoded.iter().flat_map(|l| l.iter()))
    }

    /// How many log records are not yet sealed (without decoding them).
    pub fn unsealed_log_count(&self) -> usize {
        self.segments.iter().map(|s| s.log_rows()).sum()
    }

    /// The unsealed segments decoded with `decode`, once per snapshot.
    fn decoded<'a, T>(
        &self,
        cell: &'a OnceLock<Vec<Arc<Vec<T>>>>,
        decode: impl Fn(&Segment) -> DecodeResult<Arc<Vec<T>>>,
    ) -> Result<&'a [Arc<Vec<T>>]> {
        if let Some(rows) = cell.get() {
            return Ok(rows);
        }
        let rows = self
            .segments
            .iter()
            .map(|s| decode(s))
            .collect::<DecodeResult<Vec<_>>>()
            .map_err(|e| self.unsealed_error(e))?;
        Ok(cell.get_or_init(|| rows))
    }

    /// An unsealed log record that does not decode (only a bug can cause it: this process
    /// encoded it, or checked it when replaying the log).
    fn unsealed_error(&self, e: DecodeError) -> Error {
        e.context("unsealed log record")
            .in_file(self.inner.dir.join("catalog"))
    }

    /// Every log record of `trace`: log blocks found through the trace-id index (the same
    /// index as spans), plus unsealed records. Unordered.
    pub fn trace_logs(&self, trace: &TraceId) -> Result<Vec<LogRecord>> {
        let mut out = Vec::new();
        for id in self.inner.catalog.blocks_of_trace(trace)? {
            if let Some(block) = self.version.logs.get(&id) {
                let rows = block.reader.rows_of_trace(trace);
                if !rows.is_empty() {
                    out.extend(block.reader.records_at(&rows)?.into_iter().map(|(_, l)| l));
                }
            } else if let Some(err) = self.version.broken.get(&id) {
                return Err(self.broken_block_error(id, err));
            }
        }
        let (frozen, active) = self.segments.split_at(self.frozen_segments);
        let mut at = 0;
        for f in &self.version.frozen {
            let n = f.segments.len();
            out.extend(
                f.memtable
                    .trace_logs(trace, frozen.get(at..at + n).unwrap_or_default())
                    .map_err(|e| self.unsealed_error(e))?,
            );
            at += n;
        }
        out.extend(
            self.version
                .memtable
                .trace_logs(trace, active)
                .map_err(|e| self.unsealed_error(e))?,
        );
        Ok(out)
    }

    /// Blocks the catalog lists but that failed to open (id, error).
    pub fn broken_blocks(&self) -> impl Iterator<Item = (u64, &str)> {
        self.version.broken.iter().map(|(id, e)| (*id, e.as_str()))
    }

    /// The `Corruption` error of broken block `id`.
    fn broken_block_error(&self, id: u64, err: &str) -> Error {
        Error::corruption(
            self.inner.blocks_dir.join(BlockEntry::file_name(id)),
            err.to_owned(),
        )
    }

    /// Fails with `Corruption` when a catalogued block could not be opened: an answer without
    /// it would be silently wrong.
    pub fn require_all_blocks(&self) -> Result<()> {
        match self.version.broken.iter().next() {
            Some((id, err)) => Err(self.broken_block_error(*id, err)),
            None => Ok(()),
        }
    }

    /// Spans not yet sealed into a block (in frozen memtables and in the memtable), decoded
    /// from their log records at the first call.
    pub fn unsealed_spans(&self) -> Result<impl Iterator<Item = &Span>> {
        let decoded = self.decoded(&self.decoded_spans, Segment::decode_spans)?;
        Ok(decoded.iter().flat_map(|s| s.iter()))
    }

    /// How many spans are not yet sealed (without decoding them).
    pub fn unsealed_span_count(&self) -> usize {
        self.segments.iter().map(|s| s.span_rows()).sum()
    }

    /// Every span of `trace`: blocks found through the trace-id index, plus unsealed spans.
    /// Ids of the blocks holding spans of `trace`, from the trace index (which may already
    /// list blocks sealed after this snapshot; their spans are still unsealed here).
    pub fn blocks_of_trace(&self, trace: &TraceId) -> Result<Vec<u64>> {
        self.inner.catalog.blocks_of_trace(trace)
    }

    pub fn trace(&self, trace: &TraceId) -> Result<Vec<Span>> {
        self.trace_with(trace, SpanParts::ALL)
    }

    /// [`Snapshot::trace`] with only `parts` of the sealed spans rebuilt (unsealed spans come
    /// whole: they are in memory already).
    pub fn trace_with(&self, trace: &TraceId, parts: SpanParts) -> Result<Vec<Span>> {
        let mut out = Vec::new();
        for id in self.inner.catalog.blocks_of_trace(trace)? {
            if let Some(block) = self.version.blocks.get(&id) {
                out.extend(block.reader.trace_with(trace, parts)?);
            } else if let Some(err) = self.version.broken.get(&id) {
                return Err(self.broken_block_error(id, err));
            }
            // Otherwise the block was sealed after this snapshot: its spans are in `segments`.
        }
        let (frozen, active) = self.segments.split_at(self.frozen_segments);
        let mut at = 0;
        for f in &self.version.frozen {
            let n = f.segments.len();
            out.extend(
                f.memtable
                    .trace(trace, frozen.get(at..at + n).unwrap_or_default())
                    .map_err(|e| self.unsealed_error(e))?,
            );
            at += n;
        }
        out.extend(
            self.version
                .memtable
                .trace(trace, active)
                .map_err(|e| self.unsealed_error(e))?,
        );
        Ok(out)
    }

    pub fn stats(&self) -> Result<Stats> {
        let mut st = Stats::default();
        let mut services: BTreeMap<String, u64> = BTreeMap::new();
        let mut min_start = u64::MAX;
        let mut max_end = 0;
        for b in self.blocks() {
            let f = b.footer_uncached()?;
            st.blocks += 1;
            st.sealed_spans += u64::from(f.rows);
            st.block_bytes += b.file_len();
            min_start = min_start.min(f.min_start_ns);
            max_end = max_end.max(f.max_end_ns);
            for (id, rows) in &f.service_rows {
                *services.entry(f.string(*id)?.to_owned()).or_default() += rows.len();
            }
        }
        for b in self.log_blocks() {
            st.log_blocks += 1;
            st.logs += u64::from(b.footer().rows);
            st.block_bytes += b.file_len();
        }
        st.logs += self.unsealed_log_count() as u64;
        let mut traces: HashSet<TracePrefix> = HashSet::new();
        for s in self.unsealed_spans()? {
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
        let mut services: Vec<ServiceSpans> = services
            .into_iter()
            .map(|(service, spans)| ServiceSpans { service, spans })
            .collect();
        services.sort_by(|a, b| b.spans.cmp(&a.spans).then(a.service.cmp(&b.service)));
        st.services = services;
        if st.spans > 0 {
            st.min_start_ns = Some(min_start);
            st.max_end_ns = Some(max_end);
        }
        Ok(st)
    }
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
