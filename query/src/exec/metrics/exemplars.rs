//! Exemplars: sample spans behind a metrics query's series, so a chart point links to a
//! trace (Tempo's `exemplars` on `/api/metrics/query_range`).
//!
//! They come from the search engine, not from the aggregation: the query's spanset with a
//! `select(...)` of its `by` fields, searched in up to [`WINDOWS`] equal slices of the range
//! so the samples spread over time instead of crowding at its end. Each matched span becomes
//! one exemplar labelled like the series it counts in.

use spandb_storage::{Snapshot, SpanId, TraceId};

use super::{LabelValue, MetricsRequest};
use crate::ast::{Query, SpansetExpr, Stage};
use crate::error::Result;
use crate::exec::search::search;
use crate::plan::TimeRange;

/// Slices of the range searched separately.
const WINDOWS: u64 = 10;

/// One sample span.
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    /// The `by` fields' values, as the series' labels (without a quantile's `p`).
    pub labels: Vec<(String, LabelValue)>,
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub timestamp_ns: u64,
    /// The span's duration, in seconds.
    pub duration_s: f64,
}

/// Up to `max` exemplars for `query`'s series over `req`'s window (none for a query without
/// a pipeline, or arithmetic between pipelines).
pub fn exemplars(
    snapshot: &Snapshot,
    query: &Query,
    req: MetricsRequest,
    max: usize,
) -> Result<Vec<Exemplar>> {
    let Some(pipeline) = &query.pipeline else {
        return Ok(Vec::new());
    };
    if max == 0 || req.end_ns <= req.start_ns {
        return Ok(Vec::new());
    }
    let by = &pipeline.by;
    let spans = if by.is_empty() {
        query.spans.clone()
    } else {
        SpansetExpr::Pipeline(
            Box::new(query.spans.clone()),
            vec![Stage::Select(by.clone())],
        )
    };
    let selection = Query {
        spans,
        pipeline: None,
    };
    let windows = WINDOWS
        .min((req.end_ns - req.start_ns).div_ceil(req.step_ns.max(1)))
        .max(1);
    let per_window = max.div_ceil(windows as usize);
    let width = (req.end_ns - req.start_ns).div_ceil(windows);
    let mut out = Vec::new();
    for w in 0..windows {
        let lo = req.start_ns + w * width;
        let hi = (lo + width).min(req.end_ns);
        if lo >= hi {
            break;
        }
        let range = TimeRange::new(lo, hi);
        let mut taken = 0;
        for t in search(snapshot, &selection, range, per_window)? {
            // One span per trace: the samples stay spread over traces.
            let Some(s) = t.matched.iter().find(|s| range.contains(s.start_ns)) else {
                continue;
            };
            let labels = by
                .iter()
                .map(|f| {
                    let name = f.text();
                    let value = s
                        .selected
                        .iter()
                        .find(|(k, _)| *k == name)
                        .map_or(LabelValue::Nil, |(_, v)| v.clone());
                    (name, value)
                })
                .collect();
            out.push(Exemplar {
                labels,
                trace_id: t.trace_id,
                span_id: s.span_id,
                timestamp_ns: s.start_ns,
                duration_s: s.duration_ns as f64 / 1e9,
            });
            taken += 1;
            if taken >= per_window || out.len() >= max {
                break;
            }
        }
        if out.len() >= max {
            break;
        }
    }
    Ok(out)
}
