//! The service graph's result types: what `Db::service_graph` returns and what the
//! renderers (text, dot, SVG, HTML) draw.

use serde::{Deserialize, Serialize};

use crate::sketch_state::SketchState;

pub use spandb_storage::edges::{EdgeKind, NodeKind};

/// One node.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GraphNode {
    pub name: String,
    pub kind: NodeKind,
    /// Calls received (sum of the calls of incoming edges).
    pub calls_in: u64,
    /// Errors on incoming edges.
    pub errors_in: u64,
}

/// Latency quantiles of one side of an edge, in ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub p50_ns: f64,
    pub p90_ns: f64,
    pub p99_ns: f64,
}

impl LatencySummary {
    /// p50, p90 and p99 of a sketch; `None` when it is empty. The service graph computes
    /// every edge's summary with this, so merged sketches summarize as one store's would.
    pub fn of(sketch: &SketchState) -> Option<LatencySummary> {
        Some(LatencySummary {
            p50_ns: sketch.quantile(0.5)?,
            p90_ns: sketch.quantile(0.9)?,
            p99_ns: sketch.quantile(0.99)?,
        })
    }
}

/// Calls and errors of an edge in one minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct EdgeMinute {
    /// Start of the minute, unix ns.
    pub minute_ns: u64,
    pub calls: u64,
    pub errors: u64,
}

/// One edge: `client` calls `server`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GraphEdge {
    pub client: String,
    pub client_kind: NodeKind,
    pub server: String,
    pub server_kind: NodeKind,
    pub kind: EdgeKind,
    pub calls: u64,
    /// Calls where the client or the server span has error status.
    pub errors: u64,
    /// Latency as the caller saw it (the client / producer / parent span).
    pub client_latency: Option<LatencySummary>,
    /// Latency as the callee saw it (the server / consumer / child span); `None` for
    /// virtual nodes.
    pub server_latency: Option<LatencySummary>,
    /// Calls and errors per minute, in time order, minutes without calls left out.
    pub per_minute: Vec<EdgeMinute>,
    /// The latency sketches behind the summaries, for a query front that merges several
    /// stores' graphs exactly; `None` (and not serialized) unless asked for
    /// (`Snapshot::service_graph_mergeable`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_state: Option<EdgeLatencyState>,
}

/// The duration sketches of both sides of an edge (ns), mergeable across stores.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EdgeLatencyState {
    pub client: SketchState,
    pub server: SketchState,
}

impl GraphEdge {
    pub fn error_ratio(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.errors as f64 / self.calls as f64
        }
    }
}

/// The service graph over a time range.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ServiceGraph {
    /// The range the graph covers, minute-aligned, unix ns.
    pub start_ns: u64,
    pub end_ns: u64,
    /// By kind, then name.
    pub nodes: Vec<GraphNode>,
    /// By client, then server, then kind.
    pub edges: Vec<GraphEdge>,
}
