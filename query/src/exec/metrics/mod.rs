//! Range aggregations (TraceQL metrics pipelines): per group and time step, count, rate,
//! average duration and duration quantiles.
//!
//! Three paths, chosen by [`metrics`], one module each beside the shared accumulator
//! (`agg`) and the step that turns it into series (`finish`):
//! - **rollup**: the filter only looks at service and span name (plus optionally
//!   `status = error` for counts), grouping is by service and/or name, and steps align to the
//!   rollup's minutes: sealed blocks answer from their footer rollups without decoding a span;
//! - **scan**: any other span-local filter: the block scan of `scan`, rows decided on cheap
//!   columns where possible;
//! - **trace**: structural operators or trace-level intrinsics: candidate traces are
//!   assembled and decided exactly, then their matching spans aggregated.
//!
//! Durations always go through the same DDSketch, so quantiles are within
//! [`SKETCH_RELATIVE_ACCURACY`] of the exact value whichever path answers.

use std::fmt;

use spandb_storage::rollup::SKETCH_RELATIVE_ACCURACY;
use spandb_storage::Snapshot;

use super::Compiled;
use crate::ast::{MetricsFn, Pipeline, Query};
use crate::error::{Error, Result};
use crate::plan::TimeRange;

/// At most this many steps in one request.
pub const MAX_STEPS: u64 = 100_000;

/// The window and resolution of a metrics query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsRequest {
    /// Inclusive, ns since the Unix epoch. Step `i` covers `[start + i*step, start + (i+1)*step)`.
    pub start_ns: u64,
    /// Exclusive.
    pub end_ns: u64,
    pub step_ns: u64,
}

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
pub fn data_time_range(snapshot: &Snapshot) -> Option<TimeRange> {
    let mut lo = u64::MAX;
    let mut hi = 0u64;
    let mut any = false;
    for b in snapshot.blocks() {
        let f = b.meta();
        if f.rows > 0 {
            any = true;
            lo = lo.min(f.min_start_ns);
            hi = hi.max(f.max_start_ns);
        }
    }
    // Unsealed rows that fail to decode are left out here: the query over this window reads
    // them again and reports the error.
    for s in snapshot.unsealed_spans().into_iter().flatten() {
        any = true;
        lo = lo.min(s.start_ns);
        hi = hi.max(s.start_ns);
    }
    any.then(|| TimeRange::new(lo, hi.saturating_add(1)))
}

/// A label value of a series.
#[derive(Clone, Debug, PartialEq, PartialOrd)]
pub enum LabelValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// The span has no such attribute.
    Nil,
}

impl fmt::Display for LabelValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelValue::Str(s) => f.write_str(s),
            LabelValue::Int(i) => write!(f, "{i}"),
            LabelValue::Float(x) => write!(f, "{x}"),
            LabelValue::Bool(b) => write!(f, "{b}"),
            LabelValue::Nil => f.write_str("<nil>"),
        }
    }
}

/// One time series: its labels (the `by` fields, then `p` for quantiles) and samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: Vec<(String, LabelValue)>,
    /// (step start in ns, value). Rates and counts have a sample for every step (0 when no span
    /// matched); averages and quantiles only for steps with spans.
    pub samples: Vec<(u64, f64)>,
}

/// How a metrics query was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsPath {
    Rollup,
    Scan,
    Trace,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MetricsResult {
    pub series: Vec<Series>,
    pub path: MetricsPath,
}

mod agg;
pub(crate) mod compare;
mod exemplars;
mod finish;
pub(crate) mod math;
mod rollup;
mod scan;
mod state;

use agg::Detail;
pub use exemplars::{exemplars, Exemplar};
use finish::finish;
pub(crate) use finish::second_stages;
use rollup::{rollup_plan, run_rollup};
use scan::{run_scan, run_traces};
pub use state::{metrics_from_states, metrics_state, MetricsState};

/// Runs a metrics pipeline over the spans starting in `[req.start_ns, req.end_ns)`.
pub fn metrics(snapshot: &Snapshot, query: &Query, req: MetricsRequest) -> Result<MetricsResult> {
    let pipeline = check_request(query, req)?;
    snapshot.require_all_blocks()?;
    if let MetricsFn::Math(m) = &pipeline.func {
        let (mut series, path) = math::eval(snapshot, m, req)?;
        if !pipeline.second.is_empty() {
            series.sort_by(|a, b| format!("{:?}", a.labels).cmp(&format!("{:?}", b.labels)));
            series = second_stages(series, &pipeline.second);
        }
        return Ok(MetricsResult { series, path });
    }
    if let MetricsFn::Compare {
        filter,
        top,
        window,
    } = &pipeline.func
    {
        let compiled = Compiled::new(query)?;
        let mut series = compare::run_compare(snapshot, &compiled, filter, *top, *window, req)?;
        if !pipeline.second.is_empty() {
            series = second_stages(series, &pipeline.second);
        }
        return Ok(MetricsResult {
            series,
            path: MetricsPath::Trace,
        });
    }
    let (agg, path) = aggregate(snapshot, query, pipeline, req)?;
    Ok(MetricsResult {
        series: finish_series(agg, pipeline, req),
        path,
    })
}

/// The pipeline of a metrics query whose window is valid.
fn check_request(query: &Query, req: MetricsRequest) -> Result<&Pipeline> {
    let Some(pipeline) = &query.pipeline else {
        return Err(Error::InvalidInput(
            "a metrics query ends in a pipeline such as `| rate()`; without one, use `search`"
                .into(),
        ));
    };
    if req.step_ns == 0 || req.end_ns <= req.start_ns {
        return Err(Error::InvalidInput(format!(
            "the metrics window needs start < end and a step > 0 (start {}, end {}, step {})",
            req.start_ns, req.end_ns, req.step_ns
        )));
    }
    let steps = (req.end_ns - req.start_ns).div_ceil(req.step_ns);
    if steps > MAX_STEPS {
        return Err(Error::InvalidInput(format!(
            "{steps} steps is too many (at most {MAX_STEPS}): use a larger step or a shorter range"
        )));
    }
    Ok(pipeline)
}

/// What a cell keeps for the pipeline's function.
fn detail_of(func: &MetricsFn) -> Detail {
    match func {
        MetricsFn::QuantileOverTime(_) => Detail::Sketch,
        MetricsFn::HistogramOverTime => Detail::Log2Buckets,
        _ => Detail::Plain,
    }
}

/// The cells of a single-function pipeline (not `compare`, not arithmetic), by the cheapest
/// path that answers it.
fn aggregate<'q>(
    snapshot: &Snapshot,
    query: &Query,
    pipeline: &'q Pipeline,
    req: MetricsRequest,
) -> Result<(agg::Agg<'q>, MetricsPath)> {
    let sketch = detail_of(&pipeline.func);
    let compiled = Compiled::new(query)?;
    let range = TimeRange::new(req.start_ns, req.end_ns);
    Ok(if let Some(rollup) = rollup_plan(query, req) {
        (
            run_rollup(snapshot, &rollup, req, &pipeline.by, sketch)?,
            MetricsPath::Rollup,
        )
    } else if compiled.is_span_local() {
        (
            run_scan(snapshot, &compiled, range, req, &pipeline.by, sketch)?,
            MetricsPath::Scan,
        )
    } else {
        (
            run_traces(snapshot, &compiled, range, req, &pipeline.by, sketch)?,
            MetricsPath::Trace,
        )
    })
}

/// Cells to series, then the pipeline's second stages.
fn finish_series(agg: agg::Agg<'_>, pipeline: &Pipeline, req: MetricsRequest) -> Vec<Series> {
    let mut series = finish(agg, &pipeline.func, &pipeline.by, req);
    if !pipeline.second.is_empty() {
        // Label order first, so ties in topk/bottomk fall the same way on every path.
        series.sort_by(|a, b| format!("{:?}", a.labels).cmp(&format!("{:?}", b.labels)));
        series = second_stages(series, &pipeline.second);
    }
    series
}

/// An instant query (Tempo's `/api/metrics/query`): one value per series for the whole of
/// `[start_ns, end_ns)`, i.e. a range query with a single step covering the window. Each
/// series has at most one sample, timestamped `start_ns`; a rate is per second of the whole
/// window.
pub fn metrics_instant(
    snapshot: &Snapshot,
    query: &Query,
    start_ns: u64,
    end_ns: u64,
) -> Result<MetricsResult> {
    if end_ns <= start_ns {
        return Err(Error::InvalidInput(format!(
            "an instant query needs start < end (start {start_ns}, end {end_ns})"
        )));
    }
    metrics(
        snapshot,
        query,
        MetricsRequest {
            start_ns,
            end_ns,
            step_ns: end_ns - start_ns,
        },
    )
}

/// The relative-error bound of quantiles (DDSketch), for callers and tests.
pub const QUANTILE_RELATIVE_ERROR: f64 = SKETCH_RELATIVE_ACCURACY;
