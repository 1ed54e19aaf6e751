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
//! - [`json`] and [`cli`] render results in Grafana Tempo's JSON shapes and as tables.
#![deny(unsafe_code)]

pub mod ast;
pub mod builder;
pub mod cli;
mod error;
mod eval;
mod exec;
pub mod json;
mod lexer;
mod parser;
mod plan;
pub mod reference;
mod trace_tree;

pub use ast::{Cond, Field, Literal, MetricsFn, Op, Pipeline, Query, SpansetExpr};
pub use error::{Error, Result};
pub use exec::metrics::{
    metrics, LabelValue, MetricsPath, MetricsRequest, MetricsResult, Series,
    QUANTILE_RELATIVE_ERROR,
};
pub use exec::search::{search, MatchedSpan, TraceSummary};
pub use exec::MAX_FILTERS;
pub use parser::parse;
pub use plan::TimeRange;
pub use spandb_storage::{SpanKind, StatusCode};
pub use trace_tree::{trace, Node, TraceTree};

impl MetricsRequest {
    /// A window covering `[start_ns, end_ns)` widened to whole steps: the start rounded down
    /// and the end rounded up to multiples of `step_ns` (so 1-minute steps line up with the
    /// block rollups).
    pub fn aligned(start_ns: u64, end_ns: u64, step_ns: u64) -> MetricsRequest {
        let step = step_ns.max(1);
        let start = start_ns - start_ns % step;
        let end = end_ns.div_ceil(step).saturating_mul(step).max(start + step);
        MetricsRequest {
            start_ns: start,
            end_ns: end,
            step_ns: step,
        }
    }
}

/// The start times spanned by the data in `snapshot`: `[min start, max start + 1)`, `None`
/// when it is empty. Useful as the default window of a metrics query.
pub fn data_time_range(snapshot: &spandb_storage::Snapshot) -> Option<TimeRange> {
    let mut lo = u64::MAX;
    let mut hi = 0u64;
    let mut any = false;
    for b in snapshot.blocks() {
        let f = b.footer();
        if f.rows > 0 {
            any = true;
            lo = lo.min(f.min_start_ns);
            hi = hi.max(f.max_start_ns);
        }
    }
    for s in snapshot.unsealed_spans() {
        any = true;
        lo = lo.min(s.start_ns);
        hi = hi.max(s.start_ns);
    }
    any.then(|| TimeRange::new(lo, hi.saturating_add(1)))
}
