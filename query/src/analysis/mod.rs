//! Analyses over assembled traces and over the store: what people ask a tracing system
//! beyond "find me the trace" (docs/ANALYSIS.md).
//!
//! - [`critical_path`]: the sections that determine one trace's latency (Jaeger UI's
//!   algorithm); [`critical_path_report`] for display.
//! - [`self_times`]: exclusive time per span.
//! - [`time_breakdown`]: critical-path and self time per (service, operation) over many traces.
//! - [`error_groups`]: exceptions grouped by service, type and message template
//!   ([`TemplateMiner`]), with their origin.
//! - [`trace_health`]: orphans, missing root, duplicate ids, clock skew, links.
//! - [`ServiceGraph`]: services, databases, queues and peers and the calls between them.

mod anomalies;
mod critical_path;
mod critical_path_report;
mod errors;
mod explain;
pub mod fetch;
mod graph_types;
mod health;
mod self_time;
mod service_graph;
mod template;
mod time_breakdown;

pub use anomalies::{
    anomalies, Anomalies, AttributeShift, Deviation, Incident, Metric, Origin,
    MIN_BASELINE_MINUTES, Z_THRESHOLD,
};
pub use critical_path::{critical_path, critical_time_per_span, CriticalSection};
pub use critical_path_report::{
    critical_path_report, CriticalPathReport, PathSection, SpanPathTime,
};
pub use errors::{
    error_groups, error_spans, fingerprint, group_errors, ErrorGroup, ErrorGroups, GroupLogs,
    LogLine, MinuteCount, NameCount, OriginCount, StackCount, SAMPLE_LOGS, SAMPLE_TRACES,
    TOP_FRAMES,
};
pub use explain::{explain, CriticalShare, DurationRank, Explanation, FailureStory, UnusualSpan};
pub use graph_types::{
    EdgeKind, EdgeLatencyState, EdgeMinute, GraphEdge, GraphNode, LatencySummary, NodeKind,
    ServiceGraph,
};
pub use health::{
    health_of, health_scan, trace_health, DuplicateId, HealthScan, LinkTarget, Orphan,
    OutsideParent, ServiceSkew, TraceHealth, MAX_LINKS_FOLLOWED,
};
pub use self_time::self_times;
pub use service_graph::{minute_aligned, service_graph, service_graph_reference};
pub use template::{mask, ClusterId, MinerParams, TemplateMiner, WILDCARD};
pub use time_breakdown::{breakdown_of, time_breakdown, TimeBreakdown, TimeShare};
