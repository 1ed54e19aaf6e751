//! spandb: an embedded, column-oriented database for distributed-tracing spans.
//!
//! [`Db`] is the whole API: write spans, look up a trace, search with TraceQL, run metrics
//! pipelines, check and maintain the store. [`Snapshot`] runs several reads on one
//! consistent view. Every failure is one [`Error`].
//!
//! ```no_run
//! use spandb::{Durability, Options, TimeRange};
//!
//! let db = Options::new().durability(Durability::Sync).open("./spandb-data")?;
//! let mut spans = Vec::new();
//! spandb::otlp::json::decode_json_request(br#"{"resourceSpans":[]}"#, &mut spans)?;
//! db.write(spans)?;
//! let slow = db.search("{ duration > 500ms }", TimeRange::ALL, 20)?;
//! for t in &slow {
//!     let tree = db.trace_tree(&t.trace_id)?;
//!     println!("{}", spandb::render::table::trace_tree(&tree));
//! }
//! db.close()?;
//! # Ok::<(), spandb::Error>(())
//! ```

mod anomalies;
mod db;
mod db_analysis;
mod db_logs;
mod error;
pub mod export;
pub mod format;
mod graph;
pub mod import;
pub mod otlp;
pub mod render;
mod tags;

pub use db::{AsQuery, Db, Options, Snapshot, SpanIter};
pub use db_analysis::DEFAULT_BREAKDOWN_TRACES;
pub use db_logs::AsLogQuery;
pub use error::{Error, Position, Result};
pub use spandb_query::{
    Exemplar, LabelValue, MatchedSpan, MetricsRequest, MetricsResult, MetricsState, Node, Query,
    Series, SketchState, TimeRange, TraceSummary, TraceTree,
};
pub use spandb_storage::{
    severity_name, CatalogMemory, CheckReport, CompactReport, Durability, Event, KeyValue, Link,
    LogRecord, Problem, QuarantinedBlock, RepairReport, Resource, RetainReport, ScanFilter, Scope,
    ServiceSpans, Span, SpanId, SpanKind, Stats, StatusCode, TraceId, Value,
};
pub use tags::{TagNames, TagScope, TagValue};

/// Analyses: critical path, self time, the service graph (and, through [`Db`], the queries
/// that compute them over the store).
pub mod analysis {
    pub use spandb_query::analysis::*;
}

/// Log records: the filter language, search options, trace joins and patterns.
pub mod logs {
    pub use spandb_query::logs::*;
}

/// TraceQL: the parser, the typed builder, and the syntax tree they produce.
pub mod query {
    pub use spandb_query::{
        builder, exemplars_hint, metrics_from_states, parse, parse_with_hints, Cond, Field,
        Literal, MetricsFn, MetricsPath, Op, Pipeline, Query, SpansetExpr, MAX_FILTERS,
        QUANTILE_RELATIVE_ERROR,
    };
}
