//! The analyses of [`crate::analysis`] as [`Db`] and [`Snapshot`] methods (docs/ANALYSIS.md).

use spandb_query::analysis::{
    self, CriticalPathReport, ErrorGroups, HealthScan, TimeBreakdown, TraceHealth,
};
use spandb_query::TimeRange;
use spandb_storage::TraceId;

use crate::db::{AsQuery, Db, Snapshot};
use crate::error::{Error, Result};

/// Traces a [`Db::time_breakdown`] looks at unless told otherwise.
pub const DEFAULT_BREAKDOWN_TRACES: usize = 1000;

impl Db {
    /// The critical path of one trace (Jaeger UI's algorithm) with each span's time on it;
    /// [`Error::NotFound`] when the trace has no spans.
    pub fn critical_path(&self, trace_id: &TraceId) -> Result<CriticalPathReport> {
        self.snapshot()?.critical_path(trace_id)
    }

    /// Critical-path and self time per (service, operation) over the newest `limit` traces
    /// matching `query` in `range`.
    pub fn time_breakdown(
        &self,
        query: &(impl AsQuery + ?Sized),
        range: TimeRange,
        limit: usize,
    ) -> Result<TimeBreakdown> {
        self.snapshot()?.time_breakdown(query, range, limit)
    }

    /// Error spans starting in `range` grouped by service, exception type and message
    /// template; groups absent from `baseline` are flagged new.
    pub fn error_groups(
        &self,
        range: TimeRange,
        baseline: Option<TimeRange>,
    ) -> Result<ErrorGroups> {
        self.snapshot()?.error_groups(range, baseline)
    }

    /// Orphans, missing root, duplicate ids, clock skew, links and unsealed spans of one
    /// trace; [`Error::NotFound`] when it has no spans.
    pub fn trace_health(&self, trace_id: &TraceId) -> Result<TraceHealth> {
        self.snapshot()?.trace_health(trace_id)
    }

    /// The unhealthy traces (orphans, missing or several roots, duplicate span ids, spans
    /// outside their parent) among the newest `limit` traces matching `query` in `range`.
    pub fn health_scan(
        &self,
        query: &(impl AsQuery + ?Sized),
        range: TimeRange,
        limit: usize,
    ) -> Result<HealthScan> {
        self.snapshot()?.health_scan(query, range, limit)
    }
}

impl Snapshot {
    /// See [`Db::critical_path`].
    pub fn critical_path(&self, trace_id: &TraceId) -> Result<CriticalPathReport> {
        Ok(analysis::critical_path_report(&self.trace_tree(trace_id)?))
    }

    /// See [`Db::time_breakdown`].
    pub fn time_breakdown(
        &self,
        query: &(impl AsQuery + ?Sized),
        range: TimeRange,
        limit: usize,
    ) -> Result<TimeBreakdown> {
        Ok(analysis::time_breakdown(
            self.storage(),
            query.as_query()?.as_ref(),
            range,
            limit,
        )?)
    }

    /// See [`Db::error_groups`].
    pub fn error_groups(
        &self,
        range: TimeRange,
        baseline: Option<TimeRange>,
    ) -> Result<ErrorGroups> {
        if range.end_ns <= range.start_ns || baseline.is_some_and(|b| b.end_ns <= b.start_ns) {
            return Err(Error::invalid("a time range must end after it starts"));
        }
        Ok(analysis::error_groups(self.storage(), range, baseline)?)
    }

    /// See [`Db::trace_health`].
    pub fn trace_health(&self, trace_id: &TraceId) -> Result<TraceHealth> {
        analysis::trace_health(self.storage(), trace_id)?.ok_or_else(|| Error::NotFound {
            what: format!("trace {trace_id}"),
        })
    }

    /// See [`Db::health_scan`].
    pub fn health_scan(
        &self,
        query: &(impl AsQuery + ?Sized),
        range: TimeRange,
        limit: usize,
    ) -> Result<HealthScan> {
        Ok(analysis::health_scan(
            self.storage(),
            query.as_query()?.as_ref(),
            range,
            limit,
        )?)
    }
}
