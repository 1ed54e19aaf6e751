//! Analyses over assembled traces and over the store: what people ask a tracing system
//! beyond "find me the trace" (docs/ANALYSIS.md).
//!
//! - [`critical_path`]: the sections that determine one trace's latency (Jaeger UI's
//!   algorithm).
//! - [`self_times`]: exclusive time per span.
//! - [`ServiceGraph`]: services, databases, queues and peers and the calls between them.

mod critical_path;
mod graph_types;
mod self_time;

pub use critical_path::{critical_path, critical_time_per_span, CriticalSection};
pub use graph_types::{
    EdgeKind, EdgeMinute, GraphEdge, GraphNode, LatencySummary, NodeKind, ServiceGraph,
};
pub use self_time::self_times;
