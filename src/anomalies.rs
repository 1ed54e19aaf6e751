//! Anomaly detection through the facade: `Db::anomalies` and its snapshot form.

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
