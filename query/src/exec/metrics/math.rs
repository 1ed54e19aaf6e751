//! Metrics arithmetic (`({ } | rate()) * 100`, `(a | count_over_time()) / (b |
//! count_over_time())`), with Tempo's semantics: each pipeline runs on its own; two sets of
//! series combine series with the same labels, and a series without labels on one side
//! combines with every series of the other ("fan-out"); a number applies to every sample.
//! Samples combine per step; a step missing on either side, or a result that is NaN (a
//! division by zero), gives no sample; series left without samples are dropped.

use std::collections::HashMap;

use spandb_storage::Snapshot;

use super::{metrics, MetricsPath, MetricsRequest, Series};
use crate::ast::{MathOp, MetricsMath, Query};
use crate::error::{Error, Result};

/// The series of `m` over `req`, and the slowest path any of its pipelines took.
pub(super) fn eval(
    snapshot: &Snapshot,
    m: &MetricsMath,
    req: MetricsRequest,
) -> Result<(Vec<Series>, MetricsPath)> {
    eval_with(m, &mut |q| {
        let r = metrics(snapshot, q, req)?;
        Ok((r.series, r.path))
    })
}

/// Answers one pipeline of an arithmetic query: its series and path.
pub(super) type Leaf<'a> = dyn FnMut(&Query) -> Result<(Vec<Series>, MetricsPath)> + 'a;

/// [`eval`] with each pipeline answered by `leaf`, called on the pipelines left to right
/// (the query front answers them from the nodes' merged states, in this same order).
pub(super) fn eval_with(
    m: &MetricsMath,
    leaf: &mut Leaf<'_>,
) -> Result<(Vec<Series>, MetricsPath)> {
    match m {
        MetricsMath::Query(q) => leaf(q),
        MetricsMath::Scalar(_) => Err(Error::InvalidInput(
            "metrics arithmetic needs a metrics pipeline on at least one side".into(),
        )),
        MetricsMath::Binary(op, l, r) => match (&**l, &**r) {
            (MetricsMath::Scalar(x), side) => {
                let (s, path) = eval_with(side, leaf)?;
                Ok((scalar(*op, s, *x, true), path))
            }
            (side, MetricsMath::Scalar(x)) => {
                let (s, path) = eval_with(side, leaf)?;
                Ok((scalar(*op, s, *x, false), path))
            }
            (l, r) => {
                let (ls, lp) = eval_with(l, leaf)?;
                let (rs, rp) = eval_with(r, leaf)?;
                Ok((combine(*op, &ls, &rs), slowest(lp, rp)))
            }
        },
    }
}

pub(super) fn slowest(a: MetricsPath, b: MetricsPath) -> MetricsPath {
    let rank = |p| match p {
        MetricsPath::Rollup => 0,
        MetricsPath::Scan => 1,
        MetricsPath::Trace => 2,
    };
    if rank(a) >= rank(b) {
        a
    } else {
        b
    }
}

/// `x op sample` (`left`) or `sample op x` on every sample.
pub(crate) fn scalar(op: MathOp, mut series: Vec<Series>, x: f64, left: bool) -> Vec<Series> {
    for s in &mut series {
        for (_, v) in &mut s.samples {
            *v = if left {
                op.apply(x, *v)
            } else {
                op.apply(*v, x)
            };
        }
        s.samples.retain(|(_, v)| !v.is_nan());
    }
    series.retain(|s| !s.samples.is_empty());
    series
}

/// Two sets of series combined as Tempo's metrics math does: the result has a series per
/// series of the right side (of the left side when the right side is a single series without
/// labels), each matched on the other side by equal labels or else by a series without
/// labels.
pub(crate) fn combine(op: MathOp, lhs: &[Series], rhs: &[Series]) -> Vec<Series> {
    let unlabeled = |set: &[Series]| set.iter().position(|s| s.labels.is_empty());
    let target = if unlabeled(rhs).is_some() { lhs } else { rhs };
    let find = |set: &[Series], s: &Series| {
        set.iter()
            .find(|o| o.labels == s.labels)
            .or_else(|| unlabeled(set).and_then(|i| set.get(i)))
            .cloned()
    };
    let mut out = Vec::new();
    for t in target {
        let (Some(l), Some(r)) = (find(lhs, t), find(rhs, t)) else {
            continue;
        };
        let right: HashMap<u64, f64> = r.samples.iter().copied().collect();
        let samples: Vec<(u64, f64)> = l
            .samples
            .iter()
            .filter_map(|(ts, a)| right.get(ts).map(|b| (*ts, op.apply(*a, *b))))
            .filter(|(_, v)| !v.is_nan())
            .collect();
        if samples.is_empty() {
            continue;
        }
        let mut labels = l.labels.clone();
        for lv in &r.labels {
            if !labels.iter().any(|(k, _)| *k == lv.0) {
                labels.push(lv.clone());
            }
        }
        out.push(Series { labels, samples });
    }
    out
}
