//! A metrics query's accumulated cells as data that can leave the process: per group and
//! step, the span count, the duration sum, min and max, the power-of-two histogram and the
//! duration sketch. The query front asks every node for this state, merges the states the way
//! one node merges its blocks' partial aggregations ([`Agg::merge`]: counts and sums added,
//! min of mins, sketches added bucket by bucket), and finishes the series with the node's own
//! code, so its answer is the one a node holding every span gives.

use serde::{Deserialize, Serialize};
use spandb_storage::rollup::DenseSketch;
use spandb_storage::Snapshot;

use super::agg::{Agg, Cell, KeyPart};
use super::{aggregate, check_request, detail_of, finish_series, math};
use super::{MetricsPath, MetricsRequest, MetricsResult};
use crate::ast::{MetricsFn, Query};
use crate::error::{Error, Result};
use crate::sketch_state::SketchState;

/// The mergeable state of a metrics query over one store (serializes to JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsState {
    start_ns: u64,
    end_ns: u64,
    step_ns: u64,
    /// How the node answered (`rollup`, `scan`, `trace`).
    path: String,
    groups: Vec<GroupState>,
    /// Metrics arithmetic: the state of each pipeline, left to right.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    leaves: Vec<MetricsState>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct GroupState {
    key: Vec<KeyPart>,
    cells: Vec<CellState>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct CellState {
    step: u64,
    count: u64,
    /// A decimal string: the sum can pass 2^64 ns, which JSON numbers do not carry exactly.
    duration_sum_ns: String,
    min_ns: Option<u64>,
    max_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    log2_buckets: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sketch: Option<SketchState>,
}

impl MetricsState {
    /// The window the state covers.
    pub fn request(&self) -> MetricsRequest {
        MetricsRequest {
            start_ns: self.start_ns,
            end_ns: self.end_ns,
            step_ns: self.step_ns,
        }
    }
}

fn path_name(p: MetricsPath) -> &'static str {
    match p {
        MetricsPath::Rollup => "rollup",
        MetricsPath::Scan => "scan",
        MetricsPath::Trace => "trace",
    }
}

fn path_of(name: &str) -> MetricsPath {
    match name {
        "rollup" => MetricsPath::Rollup,
        "scan" => MetricsPath::Scan,
        _ => MetricsPath::Trace,
    }
}

/// Why a pipeline has no mergeable state, if it has none.
fn unmergeable(func: &MetricsFn) -> Option<&'static str> {
    match func {
        MetricsFn::Compare { .. } => Some(
            "compare() keeps each node's top attribute values only, so its state is not \
             mergeable yet; query a node",
        ),
        _ => None,
    }
}

/// The mergeable state of a metrics pipeline over `req` (what [`metrics_from_states`] turns
/// into series); for arithmetic, the state of each of its pipelines. `compare()` is refused
/// (`Error::Unsupported`, saying why).
pub fn metrics_state(
    snapshot: &Snapshot,
    query: &Query,
    req: MetricsRequest,
) -> Result<MetricsState> {
    let pipeline = check_request(query, req)?;
    if let Some(why) = unmergeable(&pipeline.func) {
        return Err(Error::Unsupported(why.into()));
    }
    snapshot.require_all_blocks()?;
    if let MetricsFn::Math(m) = &pipeline.func {
        let mut leaves = Vec::new();
        math::eval_with(m, &mut |q| {
            leaves.push(metrics_state(snapshot, q, req)?);
            Ok((Vec::new(), MetricsPath::Rollup))
        })?;
        return Ok(MetricsState {
            start_ns: req.start_ns,
            end_ns: req.end_ns,
            step_ns: req.step_ns,
            path: path_name(MetricsPath::Rollup).into(),
            groups: Vec::new(),
            leaves,
        });
    }
    let (agg, path) = aggregate(snapshot, query, pipeline, req)?;
    let mut groups: Vec<GroupState> = agg
        .keys
        .iter()
        .map(|k| GroupState {
            key: k.clone(),
            cells: Vec::new(),
        })
        .collect();
    for ((g, step), cell) in agg.cells {
        if let Some(group) = groups.get_mut(g as usize) {
            group.cells.push(cell_state(step, cell));
        }
    }
    for g in &mut groups {
        g.cells.sort_by_key(|c| c.step);
    }
    groups.retain(|g| !g.cells.is_empty());
    groups.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(MetricsState {
        start_ns: req.start_ns,
        end_ns: req.end_ns,
        step_ns: req.step_ns,
        path: path_name(path).into(),
        groups,
        leaves: Vec::new(),
    })
}

fn cell_state(step: u64, mut cell: Cell) -> CellState {
    cell.densify();
    CellState {
        step,
        count: cell.count,
        duration_sum_ns: cell.duration_sum_ns.to_string(),
        min_ns: cell.min_ns,
        max_ns: cell.max_ns,
        log2_buckets: cell.log2_buckets,
        sketch: (!cell.sketch.is_empty()).then(|| SketchState::of(&cell.sketch)),
    }
}

fn cell_of(c: &CellState, steps: u64) -> Result<Cell> {
    if c.step >= steps {
        return Err(Error::InvalidInput(format!(
            "metrics state: step {} outside the window's {steps} steps",
            c.step
        )));
    }
    let duration_sum_ns = c.duration_sum_ns.parse::<u128>().map_err(|_| {
        Error::InvalidInput(format!(
            "metrics state: duration sum {:?} is not a number",
            c.duration_sum_ns
        ))
    })?;
    if c.log2_buckets.len() > 64 {
        return Err(Error::InvalidInput(
            "metrics state: more than 64 histogram buckets".into(),
        ));
    }
    Ok(Cell {
        count: c.count,
        duration_sum_ns,
        sketch: match &c.sketch {
            Some(s) => s.to_dense()?,
            None => DenseSketch::new(),
        },
        single: None,
        min_ns: c.min_ns,
        max_ns: c.max_ns,
        log2_buckets: c.log2_buckets.clone(),
    })
}

/// The series of `query` from the states of several stores holding disjoint spans: the same
/// series one store holding all of them answers (sketch quantiles included: merged sketches
/// are the sketch of all the values). The states must cover the same window; the path is the
/// slowest any store took.
pub fn metrics_from_states(query: &Query, states: Vec<MetricsState>) -> Result<MetricsResult> {
    let Some(first) = states.first() else {
        return Err(Error::InvalidInput("no metrics state to merge".into()));
    };
    let req = first.request();
    let pipeline = check_request(query, req)?;
    if let Some(why) = unmergeable(&pipeline.func) {
        return Err(Error::Unsupported(why.into()));
    }
    if let MetricsFn::Math(m) = &pipeline.func {
        return math_from_states(m, pipeline, req, states);
    }
    let steps = (req.end_ns - req.start_ns).div_ceil(req.step_ns);
    let detail = detail_of(&pipeline.func);
    let mut all = Agg::new(req, &pipeline.by, detail);
    let mut path = MetricsPath::Rollup;
    for state in states {
        if state.request() != req {
            return Err(Error::InvalidInput(format!(
                "metrics states cover different windows ({:?} and {:?})",
                req,
                state.request()
            )));
        }
        path = math::slowest(path, path_of(&state.path));
        let mut one = Agg::new(req, &pipeline.by, detail);
        for g in state.groups {
            if g.key.len() != pipeline.by.len() {
                return Err(Error::InvalidInput(format!(
                    "metrics state: a group of {} labels for a query grouping by {}",
                    g.key.len(),
                    pipeline.by.len()
                )));
            }
            let id = one.group(g.key);
            for c in &g.cells {
                let cell = cell_of(c, steps)?;
                one.cells.insert((id, c.step), cell);
            }
        }
        all.merge(one);
    }
    Ok(MetricsResult {
        series: finish_series(all, pipeline, req),
        path,
    })
}

/// Metrics arithmetic from the states of its pipelines: each pipeline merged across the
/// stores, then combined as one store combines them.
fn math_from_states(
    m: &crate::ast::MetricsMath,
    pipeline: &crate::ast::Pipeline,
    req: MetricsRequest,
    states: Vec<MetricsState>,
) -> Result<MetricsResult> {
    let mut per_store: Vec<std::vec::IntoIter<MetricsState>> = Vec::new();
    for s in states {
        if s.request() != req {
            return Err(Error::InvalidInput(
                "metrics states cover different windows".into(),
            ));
        }
        per_store.push(s.leaves.into_iter());
    }
    let (mut series, path) = math::eval_with(m, &mut |q| {
        let leaf: Vec<MetricsState> = per_store
            .iter_mut()
            .map(|it| {
                it.next().ok_or_else(|| {
                    Error::InvalidInput("metrics state: fewer pipelines than the query".into())
                })
            })
            .collect::<Result<_>>()?;
        let r = metrics_from_states(q, leaf)?;
        Ok((r.series, r.path))
    })?;
    if !pipeline.second.is_empty() {
        series.sort_by(|a, b| format!("{:?}", a.labels).cmp(&format!("{:?}", b.labels)));
        series = super::second_stages(series, &pipeline.second);
    }
    Ok(MetricsResult { series, path })
}
