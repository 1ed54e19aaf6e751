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
        let mut graph = self.service_graph_mergeable(range, filter)?;
        for e in &mut graph.edges {
            e.latency_state = None;
        }
        Ok(graph)
    }

    /// [`Snapshot::service_graph`] with every edge's latency sketches
    /// (`GraphEdge::latency_state`), which a query front merges across nodes: summed sketches
    /// give the p50/p90/p99 one store holding every span gives.
    pub fn service_graph_mergeable(
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
