//! Log records through the facade: write, search (newest first), a trace's logs joined to its
//! spans, and patterns. The storage, filter language and miner are the lower crates'.

use spandb_query::logs::{self, LogPatterns, LogQuery, LogSearch, TraceLogs};
use spandb_query::{TimeRange, TraceTree};
use spandb_storage::{LogRecord, TraceId};

use crate::db::{Db, Snapshot};
use crate::error::Result;

/// A log query given as text or already parsed.
pub trait AsLogQuery {
    fn as_log_query(&self) -> Result<LogQuery>;
}
impl AsLogQuery for str {
    fn as_log_query(&self) -> Result<LogQuery> {
        Ok(logs::parse_log_query(self)?)
    }
}
impl AsLogQuery for String {
    fn as_log_query(&self) -> Result<LogQuery> {
        self.as_str().as_log_query()
    }
}
impl AsLogQuery for LogQuery {
    fn as_log_query(&self) -> Result<LogQuery> {
        Ok(self.clone())
    }
}

impl Db {
    /// Stores log records through the same log, memtable and sealer as spans: durable under
    /// the configured durability and visible to readers when this returns.
    pub fn write_logs(&self, logs: Vec<LogRecord>) -> Result<()> {
        Ok(self.storage().write_logs(logs)?)
    }

    /// Stores log records and, in the same atomic log write, the positions of the sources
    /// they came from (see [`Db::write_with_sources`]): a Kafka consumer of OTLP logs that
    /// restarts from [`Db::source_positions`] neither loses nor duplicates records.
    pub fn write_logs_with_sources(
        &self,
        logs: Vec<LogRecord>,
        sources: &[(String, u64)],
    ) -> Result<()> {
        Ok(self.storage().write_logs_with_sources(logs, sources)?)
    }

    /// The newest (at most `limit`) records matching `query` (docs/QUERY.md, "Logs") in
    /// `range`, newest first.
    pub fn logs(
        &self,
        query: &(impl AsLogQuery + ?Sized),
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<LogRecord>> {
        self.snapshot()?.logs(query, range, limit)
    }

    /// The log records of a trace joined to its spans (see [`Snapshot::trace_logs`]).
    pub fn trace_logs(&self, tree: &TraceTree, inferred: bool) -> Result<TraceLogs> {
        self.snapshot()?.trace_logs(tree, inferred)
    }

    /// Log patterns of `range` (see [`Snapshot::log_patterns`]).
    pub fn log_patterns(
        &self,
        query: &(impl AsLogQuery + ?Sized),
        range: TimeRange,
        baseline: Option<TimeRange>,
    ) -> Result<LogPatterns> {
        self.snapshot()?.log_patterns(query, range, baseline)
    }
}

impl Snapshot {
    /// See [`Db::logs`].
    pub fn logs(
        &self,
        query: &(impl AsLogQuery + ?Sized),
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<LogRecord>> {
        let q = query.as_log_query()?;
        Ok(logs::search_logs(
            self.storage(),
            &q,
            &LogSearch { range, limit },
        )?)
    }

    /// Every log record carrying `trace_id` (unordered), sealed or not.
    pub fn logs_of_trace(&self, trace_id: &TraceId) -> Result<Vec<LogRecord>> {
        Ok(self.storage().trace_logs(trace_id)?)
    }

    /// The log records of `tree`'s trace: per span (by span id) and the rest; with
    /// `inferred`, also records without trace context of the same service during a span,
    /// marked inferred.
    pub fn trace_logs(&self, tree: &TraceTree, inferred: bool) -> Result<TraceLogs> {
        Ok(logs::trace_logs(self.storage(), tree, inferred)?)
    }

    /// Bodies of the records matching `query` in `range` mined into templates (the miner of
    /// exception groups), with counts, per-minute trends, severity mix and an example; with a
    /// baseline, patterns absent from it are flagged new.
    pub fn log_patterns(
        &self,
        query: &(impl AsLogQuery + ?Sized),
        range: TimeRange,
        baseline: Option<TimeRange>,
    ) -> Result<LogPatterns> {
        let q = query.as_log_query()?;
        Ok(logs::log_patterns(self.storage(), &q, range, baseline)?)
    }
}
