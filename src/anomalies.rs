//! Anomaly detection and trace explanations through the facade: `Db::anomalies`,
//! `Db::explain` and their snapshot forms.

use crate::analysis::Anomalies;
use crate::{Db, Result, Snapshot, TimeRange};

impl Db {
    /// Incidents in `window`: per-minute rate, error ratio and latency of every service,
    /// operation and edge held against `baseline` (`None`: the window itself), merged into
    /// incidents, each localized to its origin with the attribute values that set its spans
    /// apart. See docs/ANALYSIS.md.
    pub fn anomalies(&self, window: TimeRange, baseline: Option<TimeRange>) -> Result<Anomalies> {
        self.snapshot()?.anomalies(window, baseline)
    }
}

impl Snapshot {
    /// See [`Db::anomalies`].
    pub fn anomalies(&self, window: TimeRange, baseline: Option<TimeRange>) -> Result<Anomalies> {
        Ok(spandb_query::analysis::anomalies(
            self.storage(),
            window,
            baseline,
        )?)
    }
}

impl Db {
    /// A short, deterministic account of one trace (duration and rank, critical path,
    /// failure origin and propagation, unusual spans, health), as data and sentences;
    /// [`crate::Error::NotFound`] when the trace has no spans.
    pub fn explain(&self, trace_id: &crate::TraceId) -> Result<crate::analysis::Explanation> {
        self.snapshot()?.explain(trace_id)
    }
}

impl Snapshot {
    /// See [`Db::explain`].
    pub fn explain(&self, trace_id: &crate::TraceId) -> Result<crate::analysis::Explanation> {
        spandb_query::analysis::explain(self.storage(), trace_id)?.ok_or_else(|| {
            crate::Error::NotFound {
                what: format!("trace {trace_id}"),
            }
        })
    }
}
