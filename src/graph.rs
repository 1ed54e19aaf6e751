//! The service graph through the facade: `Db::service_graph` and its snapshot form.

use crate::analysis::ServiceGraph;
use crate::{AsQuery, Db, Result, Snapshot, TimeRange};

impl Db {
    /// Services, databases, queues and peers, and the calls between them in `range` (widened
    /// to whole minutes), from the blocks' edge rollups. With a `filter` (a TraceQL spanset)
    /// only the traces it matches count.
    pub fn service_graph(
        &self,
        range: TimeRange,
        filter: Option<&(impl AsQuery + ?Sized)>,
    ) -> Result<ServiceGraph> {
        self.snapshot()?.service_graph(range, filter)
    }
}

impl Snapshot {
    /// See [`Db::service_graph`].
    pub fn service_graph(
        &self,
        range: TimeRange,
        filter: Option<&(impl AsQuery + ?Sized)>,
    ) -> Result<ServiceGraph> {
        let filter = filter.map(|f| f.as_query()).transpose()?;
        Ok(spandb_query::analysis::service_graph(
            self.storage(),
            range,
            filter.as_deref(),
        )?)
    }
}
