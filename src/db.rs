//! The database handle: every operation of spandb as a method, on the live database
//! ([`Db`]) or on one consistent view of it ([`Snapshot`], for several queries that must see
//! the same data).

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use spandb_query::{
    Exemplar, MetricsRequest, MetricsResult, MetricsState, Query, TimeRange, TraceSummary,
    TraceTree,
};
use spandb_storage::{fsio::FileSystem, BlockReader, ScanFilter, Span, TraceId};

use crate::error::{Error, Result};
use crate::{CheckReport, CompactReport, Durability, RepairReport, RetainReport, Stats};

/// A query given as TraceQL text or already parsed (or built with [`crate::query::builder`]).
pub trait AsQuery {
    fn as_query(&self) -> Result<Cow<'_, Query>>;
}

impl AsQuery for str {
    fn as_query(&self) -> Result<Cow<'_, Query>> {
        Ok(Cow::Owned(spandb_query::parse(self)?))
    }
}
impl AsQuery for String {
    fn as_query(&self) -> Result<Cow<'_, Query>> {
        self.as_str().as_query()
    }
}
impl AsQuery for Query {
    fn as_query(&self) -> Result<Cow<'_, Query>> {
        Ok(Cow::Borrowed(self))
    }
}

/// Database options. Consuming setters; each documents its default.
#[derive(Clone, Debug, Default)]
pub struct Options {
    inner: spandb_storage::Options,
}

/// A consuming setter that hands its value to the storage engine's option of the same name.
macro_rules! storage_option {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        #[must_use]
        pub fn $name(mut self, value: $ty) -> Self {
            self.inner = self.inner.$name(value);
            self
        }
    };
}

impl Options {
    pub fn new() -> Self {
        Self::default()
    }
    storage_option!(
        /// When `write` returns. Defaults to group commit every 50 ms.
        durability: Durability
    );
    storage_option!(
        /// Spans per sealed block. Defaults to 131072.
        block_max_spans: usize
    );
    storage_option!(
        /// Rows per row group inside a block. Defaults to 2048.
        rows_per_group: u32
    );
    storage_option!(
        /// zstd level of column chunks other than the attributes. Defaults to 3.
        zstd_level: i32
    );
    storage_option!(
        /// zstd level of the attributes column chunks. Defaults to 6.
        attributes_zstd_level: i32
    );
    storage_option!(
        /// The file system blocks are written through (tests inject faults here). Defaults
        /// to the operating system's.
        file_system: Arc<dyn FileSystem>
    );
    storage_option!(
        /// Blocks with fewer spans are merged by compaction. Defaults to 65536.
        compact_below_spans: usize
    );
    storage_option!(
        /// How often background compaction and retention run; `None` turns them off.
        /// Defaults to every 30 s.
        maintenance_interval: Option<Duration>
    );
    storage_option!(
        /// Drop blocks older than this in the background. Defaults to keeping everything.
        retention: Option<Duration>
    );
    storage_option!(
        /// Heap bytes of decoded block footers (dictionaries, bitmaps, rollups, trace
        /// tables) kept in memory, in a scan-resistant LRU. Defaults to 512 MiB;
        /// `0` keeps none (each query decodes the footers it reads).
        cache_bytes: usize
    );
    /// Opens (creating if needed) the database in `dir`.
    pub fn open(self, dir: impl AsRef<Path>) -> Result<Db> {
        Db::open(dir, self)
    }
}

/// An open database. Cheap to share across threads (`&Db` is enough: every method takes
/// `&self`).
pub struct Db {
    inner: spandb_storage::Db,
}

impl Db {
    /// Opens (creating if needed) the database in `dir`, recovering unsealed spans from the
    /// log.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Db> {
        Ok(Db {
            inner: spandb_storage::Db::open(dir, opts.inner)?,
        })
    }

    /// Opens an existing database; a directory without one is [`Error::NotFound`] instead
    /// of a new empty database (for tools that only read).
    pub fn open_existing(dir: impl AsRef<Path>, opts: Options) -> Result<Db> {
        let dir = dir.as_ref();
        if !dir.join("catalog").exists() {
            return Err(Error::NotFound {
                what: format!("a spandb database at {}", dir.display()),
            });
        }
        Self::open(dir, opts)
    }

    pub fn path(&self) -> &Path {
        self.inner.path()
    }

    /// Stores `spans`: durable under the configured [`Durability`] and visible to readers
    /// when this returns.
    pub fn write(&self, spans: Vec<Span>) -> Result<()> {
        Ok(self.inner.write(spans)?)
    }

    /// Stores `spans` and, in the same atomic log write, the positions of the sources they
    /// came from (`(name, position)`; e.g. a Kafka partition and the next offset to read).
    /// After a crash either the spans and the positions are both there or neither is, so a
    /// consumer that restarts from [`Db::source_positions`] neither loses nor duplicates.
    /// With no spans, only the positions are stored.
    pub fn write_with_sources(&self, spans: Vec<Span>, sources: &[(String, u64)]) -> Result<()> {
        Ok(self.inner.write_with_sources(spans, sources)?)
    }

    /// The source positions stored by [`Db::write_with_sources`] whose names start with
    /// `prefix`, sorted by name.
    pub fn source_positions(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        Ok(self.inner.source_positions(prefix)?)
    }

    /// RocksDB's own memory (memtables, table readers, block cache), for measurements.
    pub fn catalog_memory(&self) -> Result<spandb_storage::CatalogMemory> {
        Ok(self.inner.catalog_memory()?)
    }

    /// Seals every unsealed span into a block and waits for it.
    pub fn flush(&self) -> Result<()> {
        Ok(self.inner.flush()?)
    }

    /// Stops the background workers and syncs the log; later calls fail with
    /// [`Error::Closed`].
    pub fn close(&self) -> Result<()> {
        Ok(self.inner.close()?)
    }

    /// A consistent read view for several queries.
    pub fn snapshot(&self) -> Result<Snapshot> {
        Ok(Snapshot {
            inner: Arc::new(self.inner.snapshot()?),
        })
    }

    /// Every span of a trace (unordered); [`Error::NotFound`] when it has none.
    pub fn trace(&self, trace_id: &TraceId) -> Result<Vec<Span>> {
        self.snapshot()?.trace(trace_id)
    }

    /// A trace assembled into its tree; [`Error::NotFound`] when it has no spans.
    pub fn trace_tree(&self, trace_id: &TraceId) -> Result<TraceTree> {
        self.snapshot()?.trace_tree(trace_id)
    }

    /// The newest (at most `limit`) traces matching `query` whose time span overlaps `range`.
    pub fn search(
        &self,
        query: &(impl AsQuery + ?Sized),
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<TraceSummary>> {
        self.snapshot()?.search(query, range, limit)
    }

    /// A metrics pipeline (`{ ... } | rate() by (...)`) as time series over `req`'s window.
    pub fn metrics(
        &self,
        query: &(impl AsQuery + ?Sized),
        req: MetricsRequest,
    ) -> Result<MetricsResult> {
        self.snapshot()?.metrics(query, req)
    }

    /// Up to `max` sample spans behind a metrics query's series, spread over the window and
    /// labelled by its `by` fields (Tempo's exemplars).
    pub fn metrics_exemplars(
        &self,
        query: &(impl AsQuery + ?Sized),
        req: MetricsRequest,
        max: usize,
    ) -> Result<Vec<Exemplar>> {
        self.snapshot()?.metrics_exemplars(query, req, max)
    }

    /// The mergeable state behind [`Db::metrics`] (per series and step: counts, duration sum,
    /// min/max, histogram buckets, the quantile sketch), for a query front that merges several
    /// stores' states with [`crate::query::metrics_from_states`].
    pub fn metrics_state(
        &self,
        query: &(impl AsQuery + ?Sized),
        req: MetricsRequest,
    ) -> Result<MetricsState> {
        self.snapshot()?.metrics_state(query, req)
    }

    /// An instant query (Tempo's `/api/metrics/query`): one value per series for the whole
    /// window `[start_ns, end_ns)`.
    pub fn metrics_instant(
        &self,
        query: &(impl AsQuery + ?Sized),
        start_ns: u64,
        end_ns: u64,
    ) -> Result<MetricsResult> {
        self.snapshot()?.metrics_instant(query, start_ns, end_ns)
    }

    /// Spans, traces, blocks, bytes and per-service counts.
    pub fn stats(&self) -> Result<Stats> {
        Ok(self.inner.stats()?)
    }

    /// Verifies every checksum and that the catalog, trace index and blocks agree.
    pub fn check(&self) -> Result<CheckReport> {
        Ok(self.inner.check()?)
    }

    /// Quarantines blocks that fail verification and names the traces that lost spans.
    pub fn repair(&self) -> Result<RepairReport> {
        Ok(self.inner.repair()?)
    }

    /// Merges small blocks now (the background worker also does it).
    pub fn compact(&self) -> Result<CompactReport> {
        Ok(self.inner.compact()?)
    }

    /// Drops blocks whose spans all started more than `age` ago.
    pub fn retain(&self, age: Duration) -> Result<RetainReport> {
        Ok(self.inner.retain(age)?)
    }

    /// Drops blocks whose spans all started before `cutoff_ns`.
    pub fn retain_since(&self, cutoff_ns: u64) -> Result<RetainReport> {
        Ok(self.inner.retain_since(cutoff_ns)?)
    }

    /// The storage engine underneath, for [`crate::format`]-level tools.
    pub fn storage(&self) -> &spandb_storage::Db {
        &self.inner
    }
}

/// A consistent read view: the blocks and unsealed spans of one moment. Queries on one
/// snapshot agree with each other whatever is written meanwhile. Cheap to clone.
#[derive(Clone)]
pub struct Snapshot {
    inner: Arc<spandb_storage::Snapshot>,
}

impl Snapshot {
    /// Every span of a trace (unordered); [`Error::NotFound`] when it has none.
    pub fn trace(&self, trace_id: &TraceId) -> Result<Vec<Span>> {
        let spans = self.inner.trace(trace_id)?;
        if spans.is_empty() {
            return Err(not_found(trace_id));
        }
        Ok(spans)
    }

    /// A trace assembled into its tree; [`Error::NotFound`] when it has no spans.
    pub fn trace_tree(&self, trace_id: &TraceId) -> Result<TraceTree> {
        spandb_query::trace(&self.inner, trace_id)?.ok_or_else(|| not_found(trace_id))
    }

    /// See [`Db::search`].
    pub fn search(
        &self,
        query: &(impl AsQuery + ?Sized),
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<TraceSummary>> {
        Ok(spandb_query::search(
            &self.inner,
            query.as_query()?.as_ref(),
            range,
            limit,
        )?)
    }

    /// See [`Db::metrics`].
    pub fn metrics(
        &self,
        query: &(impl AsQuery + ?Sized),
        req: MetricsRequest,
    ) -> Result<MetricsResult> {
        Ok(spandb_query::metrics(
            &self.inner,
            query.as_query()?.as_ref(),
            req,
        )?)
    }

    /// See [`Db::metrics_exemplars`].
    pub fn metrics_exemplars(
        &self,
        query: &(impl AsQuery + ?Sized),
        req: MetricsRequest,
        max: usize,
    ) -> Result<Vec<Exemplar>> {
        Ok(spandb_query::exemplars(
            &self.inner,
            query.as_query()?.as_ref(),
            req,
            max,
        )?)
    }

    /// See [`Db::metrics_state`].
    pub fn metrics_state(
        &self,
        query: &(impl AsQuery + ?Sized),
        req: MetricsRequest,
    ) -> Result<MetricsState> {
        Ok(spandb_query::metrics_state(
            &self.inner,
            query.as_query()?.as_ref(),
            req,
        )?)
    }

    /// See [`Db::metrics_instant`].
    pub fn metrics_instant(
        &self,
        query: &(impl AsQuery + ?Sized),
        start_ns: u64,
        end_ns: u64,
    ) -> Result<MetricsResult> {
        Ok(spandb_query::metrics_instant(
            &self.inner,
            query.as_query()?.as_ref(),
            start_ns,
            end_ns,
        )?)
    }

    /// The start times spanned by the data: `[min start, max start + 1)`, `None` when empty.
    /// The default window of a metrics query.
    pub fn time_range(&self) -> Option<TimeRange> {
        spandb_query::data_time_range(&self.inner)
    }

    /// Spans, traces, blocks, bytes and per-service counts as of this snapshot.
    pub fn stats(&self) -> Result<Stats> {
        Ok(self.inner.stats()?)
    }

    /// Every span matching `filter`, one block at a time (blocks are decoded as the
    /// iterator reaches them, so memory stays bounded by one block), then the unsealed ones.
    pub fn spans(&self, filter: ScanFilter) -> Result<SpanIter> {
        self.inner.require_all_blocks()?;
        Ok(SpanIter {
            blocks: self.inner.blocks().cloned().collect(),
            next_block: 0,
            pending: Vec::new().into_iter(),
            unsealed_done: false,
            snapshot: self.inner.clone(),
            filter,
        })
    }

    /// The storage snapshot underneath, for [`crate::format`]-level tools.
    pub fn storage(&self) -> &spandb_storage::Snapshot {
        &self.inner
    }
}

fn not_found(trace_id: &TraceId) -> Error {
    Error::NotFound {
        what: format!("trace {trace_id}"),
    }
}

/// The spans of a [`Snapshot::spans`] scan.
pub struct SpanIter {
    snapshot: Arc<spandb_storage::Snapshot>,
    filter: ScanFilter,
    blocks: Vec<Arc<BlockReader>>,
    next_block: usize,
    pending: std::vec::IntoIter<Span>,
    unsealed_done: bool,
}

impl Iterator for SpanIter {
    type Item = Result<Span>;

    fn next(&mut self) -> Option<Result<Span>> {
        loop {
            if let Some(span) = self.pending.next() {
                return Some(Ok(span));
            }
            if let Some(block) = self.blocks.get(self.next_block) {
                self.next_block += 1;
                match self.filter.block_spans(block) {
                    Ok(spans) => self.pending = spans.into_iter(),
                    Err(e) => return Some(Err(e.into())),
                }
                continue;
            }
            if self.unsealed_done {
                return None;
            }
            self.unsealed_done = true;
            let unsealed: Vec<Span> = match self.snapshot.unsealed_spans() {
                Ok(spans) => spans.filter(|s| self.filter.matches(s)).cloned().collect(),
                Err(e) => return Some(Err(e.into())),
            };
            self.pending = unsealed.into_iter();
        }
    }
}
