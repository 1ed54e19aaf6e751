//! spandb-query: the query engine of spandb.
//!
//! - [`parse`] turns TraceQL text (the subset in docs/QUERY.md) into a [`Query`]; the
//!   [`builder`] module builds the same trees in code.
//! - [`search`] returns the newest matching traces as [`TraceSummary`]s: blocks are pruned by
//!   time and stats, indexed predicates become intersected roaring bitmaps, the rest is
//!   evaluated on candidate rows only, blocks run in parallel, unsealed spans are included.
//! - [`metrics`] runs `| rate()`, `count_over_time()`, `avg_over_time(duration)` and
//!   `quantile_over_time(duration, ...)` pipelines, from block rollups when they cover the
//!   query, by scanning otherwise.
//! - [`trace`] assembles one trace into a [`TraceTree`].
//!
//! Presentation (tables, Tempo's JSON shapes) lives in the `spandb` facade's `render`
//! module; this crate returns typed results only.

pub mod analysis;
pub mod ast;
pub mod builder;
mod error;
mod eval;
mod exec;
mod expr;
mod lexer;
pub mod logs;
mod parser;
mod plan;
/// The naive full-scan oracle of the differential tests (feature `test-oracle`, on for this
/// crate's own tests only).
#[cfg(feature = "test-oracle")]
#[doc(hidden)]
pub mod reference;
pub mod sketch_state;
pub mod tags;
mod trace_tree;

pub use ast::{
    Aggregate, BinOp, Cond, Expr, Field, Literal, MathOp, MetricsFn, MetricsMath, Op, Pipeline,
    Query, SecondStage, SpansetExpr, Stage, StructOp,
};
pub use error::{Error, Result};
pub use exec::metrics::{
    data_time_range, exemplars, metrics, metrics_from_states, metrics_instant, metrics_state,
    Exemplar, LabelValue, MetricsPath, MetricsRequest, MetricsResult, MetricsState, Series,
    QUANTILE_RELATIVE_ERROR,
};
pub use exec::search::{search, MatchedSpan, TraceSummary};
pub use exec::MAX_FILTERS;
pub use parser::{exemplars_hint, parse, parse_with_hints};
pub use plan::TimeRange;
pub use sketch_state::SketchState;
pub use spandb_storage::{SpanKind, StatusCode};
pub use trace_tree::{trace, Node, TraceTree};
