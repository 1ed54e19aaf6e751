//! Range aggregations (TraceQL metrics pipelines): per group and time step, count, rate,
//! average duration and duration quantiles.
//!
//! Three paths, chosen by [`metrics`]:
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

use std::collections::BTreeMap;
use std::fmt;

use rustc_hash::FxHashMap;

use spandb_storage::rollup::{DenseSketch, ROLLUP_BUCKET_NS, SKETCH_RELATIVE_ACCURACY};
use spandb_storage::{BlockReader, Snapshot, StatusCode, Value};

use super::scan::{parallel_blocks, scan_block, scan_unsealed};
use super::{candidate_traces, Compiled};
use crate::ast::{Cond, Field, Literal, MetricsFn, Op, Query, SpansetExpr};
use crate::error::{Error, Result};
use crate::eval::{eval, Matcher, SpanRef, SpanView};
use crate::plan::TimeRange;
use crate::trace_tree::TraceTree;

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

/// Per group and step.
#[derive(Clone, Debug, Default)]
struct Cell {
    count: u64,
    duration_sum_ns: u128,
    sketch: DenseSketch,
}

/// Group key: a comparable encoding of the label values.
type GroupKey = Vec<KeyPart>;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum KeyPart {
    Nil,
    Str(String),
    Int(i64),
    Float(u64),
    Bool(bool),
}

impl KeyPart {
    fn of_value(v: Option<&Value>) -> KeyPart {
        match v {
            None => KeyPart::Nil,
            Some(Value::Str(s)) => KeyPart::Str(s.clone()),
            Some(Value::Int(i)) => KeyPart::Int(*i),
            Some(Value::Double(x)) => KeyPart::Float(x.to_bits()),
            Some(Value::Bool(b)) => KeyPart::Bool(*b),
            Some(other) => KeyPart::Str(other.to_string()),
        }
    }
    fn label(&self) -> LabelValue {
        match self {
            KeyPart::Nil => LabelValue::Nil,
            KeyPart::Str(s) => LabelValue::Str(s.clone()),
            KeyPart::Int(i) => LabelValue::Int(*i),
            KeyPart::Float(b) => LabelValue::Float(f64::from_bits(*b)),
            KeyPart::Bool(b) => LabelValue::Bool(*b),
        }
    }
}

struct Agg<'q> {
    req: MetricsRequest,
    by: &'q [Field],
    sketch: bool,
    /// Group keys, numbered in order of appearance.
    groups: FxHashMap<GroupKey, u32>,
    keys: Vec<GroupKey>,
    /// (group number, step) -> cell.
    cells: FxHashMap<(u32, u64), Cell>,
}

impl<'q> Agg<'q> {
    fn new(req: MetricsRequest, by: &'q [Field], sketch: bool) -> Self {
        Agg {
            req,
            by,
            sketch,
            groups: FxHashMap::default(),
            keys: Vec::new(),
            cells: FxHashMap::default(),
        }
    }
    fn step_of(&self, start_ns: u64) -> Option<u64> {
        (start_ns >= self.req.start_ns && start_ns < self.req.end_ns)
            .then(|| (start_ns - self.req.start_ns) / self.req.step_ns)
    }
    fn group(&mut self, key: GroupKey) -> u32 {
        if let Some(g) = self.groups.get(&key) {
            return *g;
        }
        let g = self.keys.len() as u32;
        self.keys.push(key.clone());
        self.groups.insert(key, g);
        g
    }
    fn add_view(&mut self, v: &impl SpanView) {
        let Some(step) = self.step_of(v.start_ns()) else {
            return;
        };
        let key: GroupKey = self.by.iter().map(|f| group_part(f, v)).collect();
        let g = self.group(key);
        let sketch = self.sketch;
        let cell = self.cells.entry((g, step)).or_default();
        let d = v.duration_ns();
        cell.count += 1;
        cell.duration_sum_ns += u128::from(d);
        if sketch {
            cell.sketch.add(d);
        }
    }
    fn merge(&mut self, other: Agg<'_>) {
        let map: Vec<u32> = other.keys.into_iter().map(|k| self.group(k)).collect();
        for ((g, step), c) in other.cells {
            let e = self
                .cells
                .entry((map.get(g as usize).copied().unwrap_or(g), step))
                .or_default();
            e.count += c.count;
            e.duration_sum_ns += c.duration_sum_ns;
            e.sketch.merge(&c.sketch);
        }
    }
}

/// The group-by value of a span. Unscoped names look at the span attribute, then the resource.
fn group_part(f: &Field, v: &impl SpanView) -> KeyPart {
    let res = |k: &str| {
        KeyPart::of_value(spandb_storage::model::find_attr(
            &v.resource().attributes,
            k,
        ))
    };
    match f {
        Field::Name => KeyPart::Str(v.name().to_owned()),
        Field::Status => KeyPart::Str(v.status().as_str().to_owned()),
        Field::Kind => KeyPart::Str(v.kind().as_str().to_owned()),
        Field::Duration => KeyPart::Int(i64::try_from(v.duration_ns()).unwrap_or(i64::MAX)),
        Field::StatusMessage => KeyPart::Str(v.status_message().unwrap_or_default().to_owned()),
        Field::Resource(k) => res(k),
        Field::Span(k) => KeyPart::of_value(v.span_attr(k).flatten()),
        Field::Unscoped(k) => match v.span_attr(k).flatten() {
            Some(val) => KeyPart::of_value(Some(val)),
            None => res(k),
        },
        // The parser refuses trace-level fields in `by`.
        Field::TraceRootService | Field::TraceRootName | Field::TraceDuration => KeyPart::Nil,
    }
}

/// Needs decoded spans to group (span attributes, status message).
fn group_needs_span(by: &[Field]) -> bool {
    by.iter().any(|f| {
        matches!(
            f,
            Field::Span(_) | Field::Unscoped(_) | Field::StatusMessage
        )
    })
}

/// Runs a metrics pipeline over the spans starting in `[req.start_ns, req.end_ns)`.
pub fn metrics(snapshot: &Snapshot, query: &Query, req: MetricsRequest) -> Result<MetricsResult> {
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
    snapshot.require_all_blocks()?;
    let sketch = matches!(pipeline.func, MetricsFn::QuantileOverTime(_));
    let compiled = Compiled::new(query)?;
    let range = TimeRange::new(req.start_ns, req.end_ns);
    let (agg, path) = if let Some(rollup) = rollup_plan(query, req) {
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
    };
    Ok(MetricsResult {
        series: finish(agg, &pipeline.func, &pipeline.by, req),
        path,
    })
}

fn run_scan<'q>(
    snapshot: &Snapshot,
    compiled: &Compiled,
    range: TimeRange,
    req: MetricsRequest,
    by: &'q [Field],
    sketch: bool,
) -> Result<Agg<'q>> {
    let blocks: Vec<_> = snapshot.blocks().cloned().collect();
    let full = group_needs_span(by);
    let parts = parallel_blocks(
        &blocks,
        || Agg::new(req, by, sketch),
        |block, acc| {
            scan_block(block, &compiled.filters, range, full, &mut |_, row| {
                acc.add_view(row)
            })
        },
    )?;
    let mut agg = Agg::new(req, by, sketch);
    for p in parts {
        agg.merge(p);
    }
    scan_unsealed(
        snapshot.unsealed_spans(),
        &compiled.filters,
        range,
        &mut |_, s| agg.add_view(s),
    );
    Ok(agg)
}

fn run_traces<'q>(
    snapshot: &Snapshot,
    compiled: &Compiled,
    range: TimeRange,
    req: MetricsRequest,
    by: &'q [Field],
    sketch: bool,
) -> Result<Agg<'q>> {
    let mut agg = Agg::new(req, by, sketch);
    let mut ids: Vec<_> = candidate_traces(snapshot, compiled, range)?
        .into_keys()
        .collect();
    ids.sort_unstable();
    for id in ids {
        let Some(tree) = TraceTree::from_spans(snapshot.trace(&id)?) else {
            continue;
        };
        let ctx = tree.ctx();
        for i in compiled.match_trace(&tree, range) {
            if let Some(span) = tree.spans.get(i) {
                agg.add_view(&SpanRef {
                    span,
                    trace: Some(&ctx),
                });
            }
        }
    }
    Ok(agg)
}

/// A filter the rollups can answer: conditions on service and name, maybe `status = error`.
struct RollupPlan {
    cond: Matcher,
    error_only: bool,
}

fn is_service(f: &Field) -> bool {
    matches!(f, Field::Resource(k) if k == "service.name")
}

/// Whether the rollups cover `query` over `req`.
fn rollup_plan(query: &Query, req: MetricsRequest) -> Option<RollupPlan> {
    let pipeline = query.pipeline.as_ref()?;
    let SpansetExpr::Filter(cond) = &query.spans else {
        return None;
    };
    if req.start_ns % ROLLUP_BUCKET_NS != 0 || req.step_ns % ROLLUP_BUCKET_NS != 0 {
        return None;
    }
    // The last step may be cut short by `end`; its minutes must still be whole.
    if req.end_ns % ROLLUP_BUCKET_NS != 0 && req.end_ns != u64::MAX {
        return None;
    }
    if !pipeline
        .by
        .iter()
        .all(|f| is_service(f) || *f == Field::Name)
    {
        return None;
    }
    let mut conjuncts = Vec::new();
    flatten_and(cond, &mut conjuncts);
    let mut error_only = false;
    let mut rest: Option<Cond> = None;
    for c in conjuncts {
        if matches!(
            c,
            Cond::Cmp(Field::Status, Op::Eq, Literal::Status(StatusCode::Error))
        ) {
            error_only = true;
            continue;
        }
        let mut ok = true;
        c.for_each_cmp(&mut |f, _, _| ok &= is_service(f) || *f == Field::Name);
        if !ok {
            return None;
        }
        rest = Some(match rest {
            None => c.clone(),
            Some(r) => Cond::And(Box::new(r), Box::new(c.clone())),
        });
    }
    // The rollup's duration sum and sketch include spans of every status.
    if error_only && !matches!(pipeline.func, MetricsFn::Rate | MetricsFn::CountOverTime) {
        return None;
    }
    Some(RollupPlan {
        cond: Matcher::compile(&rest.unwrap_or(Cond::True)),
        error_only,
    })
}

fn flatten_and<'a>(c: &'a Cond, out: &mut Vec<&'a Cond>) {
    match c {
        Cond::And(a, b) => {
            flatten_and(a, out);
            flatten_and(b, out);
        }
        Cond::True => {}
        other => out.push(other),
    }
}

/// A rollup cell seen as a span with only a service and a name.
struct CellView<'a> {
    resource: spandb_storage::Resource,
    name: &'a str,
}

impl SpanView for CellView<'_> {
    fn start_ns(&self) -> u64 {
        0
    }
    fn duration_ns(&self) -> u64 {
        0
    }
    fn name(&self) -> &str {
        self.name
    }
    fn status(&self) -> StatusCode {
        StatusCode::Unset
    }
    fn kind(&self) -> spandb_storage::SpanKind {
        spandb_storage::SpanKind::Unspecified
    }
    fn resource(&self) -> &spandb_storage::Resource {
        &self.resource
    }
    fn status_message(&self) -> Option<&str> {
        None
    }
    fn span_attr(&self, _key: &str) -> Option<Option<&Value>> {
        None
    }
    fn trace(&self) -> Option<&crate::eval::TraceCtx> {
        None
    }
}

/// The rollup keys services by `service.name` as a string, `""` when absent: the view gives a
/// resource with that one attribute, or none for `""`.
fn service_resource(service: &str) -> spandb_storage::Resource {
    let mut r = spandb_storage::Resource::default();
    if !service.is_empty() {
        r.attributes.push(spandb_storage::KeyValue::new(
            "service.name",
            Value::Str(service.to_owned()),
        ));
    }
    r
}

fn run_rollup<'q>(
    snapshot: &Snapshot,
    plan: &RollupPlan,
    req: MetricsRequest,
    by: &'q [Field],
    sketch: bool,
) -> Result<Agg<'q>> {
    let blocks: Vec<_> = snapshot.blocks().cloned().collect();
    let range = TimeRange::new(req.start_ns, req.end_ns);
    let parts = parallel_blocks(
        &blocks,
        || Agg::new(req, by, sketch),
        |block, acc| rollup_block(block, plan, range, acc),
    )?;
    let mut agg = Agg::new(req, by, sketch);
    for p in parts {
        agg.merge(p);
    }
    for span in snapshot.unsealed_spans() {
        if plan.error_only && !span.is_error() {
            continue;
        }
        let view = SpanRef { span, trace: None };
        if eval(
            &plan.cond,
            &CellView {
                resource: service_resource(span.service()),
                name: &span.name,
            },
        ) == Some(true)
        {
            agg.add_view(&view);
        }
    }
    Ok(agg)
}

fn rollup_block(
    block: &BlockReader,
    plan: &RollupPlan,
    range: TimeRange,
    acc: &mut Agg<'_>,
) -> Result<()> {
    let f = block.footer();
    if f.rows == 0 || !range.overlaps(f.min_start_ns, f.max_start_ns) {
        return Ok(());
    }
    // Decide each (service, name) pair once: its group number, or `None` when filtered out.
    let mut decided: FxHashMap<(u32, u32), Option<u32>> = FxHashMap::default();
    let sketch = acc.sketch;
    for (key, cell) in &f.rollup.cells {
        let minute_start = key.minute.saturating_mul(ROLLUP_BUCKET_NS);
        let Some(step) = acc.step_of(minute_start) else {
            continue;
        };
        let count = if plan.error_only {
            cell.errors
        } else {
            cell.count
        };
        if count == 0 {
            continue;
        }
        let group = match decided.get(&(key.service, key.name)) {
            Some(g) => *g,
            None => {
                let service = block.string(key.service)?;
                let name = block.string(key.name)?;
                let ok = eval(
                    &plan.cond,
                    &CellView {
                        resource: service_resource(service),
                        name,
                    },
                ) == Some(true);
                let g = ok.then(|| {
                    let parts: GroupKey = acc
                        .by
                        .iter()
                        .map(|f| match f {
                            Field::Name => KeyPart::Str(name.to_owned()),
                            _ if service.is_empty() => KeyPart::Nil,
                            _ => KeyPart::Str(service.to_owned()),
                        })
                        .collect();
                    acc.group(parts)
                });
                decided.insert((key.service, key.name), g);
                g
            }
        };
        let Some(group) = group else { continue };
        let e = acc.cells.entry((group, step)).or_default();
        e.count += count;
        e.duration_sum_ns += u128::from(cell.duration_sum_ns);
        if sketch {
            e.sketch.merge_sketch(&cell.durations);
        }
    }
    Ok(())
}

fn finish(agg: Agg<'_>, func: &MetricsFn, by: &[Field], req: MetricsRequest) -> Vec<Series> {
    let steps = (req.end_ns - req.start_ns).div_ceil(req.step_ns);
    let step_s = req.step_ns as f64 / 1e9;
    let mut groups: BTreeMap<GroupKey, Vec<(u64, Cell)>> = BTreeMap::new();
    let keys = agg.keys;
    for ((g, step), cell) in agg.cells {
        if let Some(key) = keys.get(g as usize) {
            groups.entry(key.clone()).or_default().push((step, cell));
        }
    }
    for cells in groups.values_mut() {
        cells.sort_by_key(|(step, _)| *step);
    }
    let ts = |step: u64| req.start_ns + step * req.step_ns;
    let mut out = Vec::new();
    for (key, cells) in groups {
        let labels: Vec<(String, LabelValue)> = by
            .iter()
            .map(Field::text)
            .zip(key.iter().map(KeyPart::label))
            .collect();
        match func {
            MetricsFn::Rate | MetricsFn::CountOverTime => {
                let mut samples: Vec<(u64, f64)> = (0..steps).map(|s| (ts(s), 0.0)).collect();
                for (step, c) in &cells {
                    if let Some(slot) = samples.get_mut(*step as usize) {
                        slot.1 = if *func == MetricsFn::Rate {
                            c.count as f64 / step_s
                        } else {
                            c.count as f64
                        };
                    }
                }
                out.push(Series { labels, samples });
            }
            MetricsFn::AvgOverTime => {
                let samples = cells
                    .iter()
                    .filter(|(_, c)| c.count > 0)
                    .map(|(s, c)| (ts(*s), c.duration_sum_ns as f64 / c.count as f64 / 1e9))
                    .collect();
                out.push(Series { labels, samples });
            }
            MetricsFn::QuantileOverTime(qs) => {
                for q in qs {
                    let mut labels = labels.clone();
                    labels.push(("p".into(), LabelValue::Float(*q)));
                    let samples = cells
                        .iter()
                        .filter_map(|(s, c)| Some((ts(*s), c.sketch.quantile(*q)? / 1e9)))
                        .collect();
                    out.push(Series { labels, samples });
                }
            }
        }
    }
    out
}

/// The relative-error bound of quantiles (DDSketch), for callers and tests.
pub const QUANTILE_RELATIVE_ERROR: f64 = SKETCH_RELATIVE_ACCURACY;
