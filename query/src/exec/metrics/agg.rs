//! The accumulator every path feeds: cells per (group, step) holding a count, a duration
//! sum and, for quantiles, a DDSketch.

use rustc_hash::FxHashMap;
use spandb_storage::rollup::{CompactSketch, DenseSketch};
use spandb_storage::Value;

use super::{LabelValue, MetricsRequest};
use crate::ast::Field;
use crate::eval::SpanView;

/// Per group and step.
#[derive(Clone, Debug, Default)]
pub(super) struct Cell {
    pub(super) count: u64,
    pub(super) duration_sum_ns: u128,
    pub(super) sketch: DenseSketch,
    /// The one rollup sketch merged so far, kept as it is (`sketch` is then empty): a cell of
    /// a RED query grouped by service and minute mostly comes from one block's pre-merged
    /// cell, which then costs no per-bucket work at all.
    pub(super) single: Option<CompactSketch>,
    /// Shortest and longest duration (scans only: rollups do not keep them).
    pub(super) min_ns: Option<u64>,
    pub(super) max_ns: Option<u64>,
    /// `histogram_over_time`: spans per power-of-two duration bucket, indexed by the
    /// exponent of the bucket's upper bound (empty unless asked for).
    pub(super) log2_buckets: Vec<u64>,
}

impl Cell {
    /// Adds a rollup sketch.
    pub(super) fn merge_compact(&mut self, s: &CompactSketch) {
        if self.single.is_none() && self.sketch.is_empty() {
            self.single = Some(s.clone());
            return;
        }
        self.densify();
        self.sketch.merge_compact(s);
    }

    /// Moves the single kept sketch into `sketch`, before anything else is added.
    pub(super) fn densify(&mut self) {
        if let Some(s) = self.single.take() {
            self.sketch.merge_compact(&s);
        }
    }

    /// The q-quantile of the durations merged into the cell.
    pub(super) fn quantile(&self, q: f64) -> Option<f64> {
        match &self.single {
            Some(s) => s.quantile(q),
            None => self.sketch.quantile(q),
        }
    }
}

/// What a cell keeps besides counts, sums and extremes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Detail {
    Plain,
    /// A duration sketch (quantiles).
    Sketch,
    /// Counts per power-of-two duration bucket (`histogram_over_time`).
    Log2Buckets,
}

/// The exponent of Tempo's power-of-two bucket of a duration: the smallest `e` with
/// `d <= 2^e`. Durations under 2 ns fall in no bucket (Tempo skips them).
pub(super) fn log2_bucket(d: u64) -> Option<usize> {
    (d >= 2).then(|| (64 - (d - 1).leading_zeros()).min(63) as usize)
}

/// Group key: a comparable encoding of the label values.
pub(super) type GroupKey = Vec<KeyPart>;

#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub(super) enum KeyPart {
    Nil,
    Str(String),
    Int(i64),
    Float(u64),
    Bool(bool),
}

impl KeyPart {
    pub(super) fn of_value(v: Option<&Value>) -> KeyPart {
        match v {
            None => KeyPart::Nil,
            Some(Value::Str(s)) => KeyPart::Str(s.clone()),
            Some(Value::Int(i)) => KeyPart::Int(*i),
            Some(Value::Double(x)) => KeyPart::Float(x.to_bits()),
            Some(Value::Bool(b)) => KeyPart::Bool(*b),
            Some(other) => KeyPart::Str(other.to_string()),
        }
    }
    pub(super) fn label(&self) -> LabelValue {
        match self {
            KeyPart::Nil => LabelValue::Nil,
            KeyPart::Str(s) => LabelValue::Str(s.clone()),
            KeyPart::Int(i) => LabelValue::Int(*i),
            KeyPart::Float(b) => LabelValue::Float(f64::from_bits(*b)),
            KeyPart::Bool(b) => LabelValue::Bool(*b),
        }
    }
}

pub(super) struct Agg<'q> {
    pub(super) req: MetricsRequest,
    pub(super) by: &'q [Field],
    pub(super) detail: Detail,
    /// Group keys, numbered in order of appearance.
    pub(super) groups: FxHashMap<GroupKey, u32>,
    pub(super) keys: Vec<GroupKey>,
    /// (group number, step) -> cell.
    pub(super) cells: FxHashMap<(u32, u64), Cell>,
}

impl<'q> Agg<'q> {
    pub(super) fn new(req: MetricsRequest, by: &'q [Field], detail: Detail) -> Self {
        Agg {
            req,
            by,
            detail,
            groups: FxHashMap::default(),
            keys: Vec::new(),
            cells: FxHashMap::default(),
        }
    }
    pub(super) fn step_of(&self, start_ns: u64) -> Option<u64> {
        (start_ns >= self.req.start_ns && start_ns < self.req.end_ns)
            .then(|| (start_ns - self.req.start_ns) / self.req.step_ns)
    }
    pub(super) fn group(&mut self, key: GroupKey) -> u32 {
        if let Some(g) = self.groups.get(&key) {
            return *g;
        }
        let g = self.keys.len() as u32;
        self.keys.push(key.clone());
        self.groups.insert(key, g);
        g
    }
    pub(super) fn add_view(&mut self, v: &impl SpanView) {
        let Some(step) = self.step_of(v.start_ns()) else {
            return;
        };
        let key: GroupKey = self.by.iter().map(|f| group_part(f, v)).collect();
        let g = self.group(key);
        let detail = self.detail;
        let cell = self.cells.entry((g, step)).or_default();
        let d = v.duration_ns();
        cell.count += 1;
        cell.duration_sum_ns += u128::from(d);
        cell.min_ns = Some(cell.min_ns.map_or(d, |m| m.min(d)));
        cell.max_ns = Some(cell.max_ns.map_or(d, |m| m.max(d)));
        match detail {
            Detail::Plain => {}
            Detail::Sketch => {
                cell.densify();
                cell.sketch.add(d);
            }
            Detail::Log2Buckets => {
                if let Some(e) = log2_bucket(d) {
                    if cell.log2_buckets.len() <= e {
                        cell.log2_buckets.resize(e + 1, 0);
                    }
                    if let Some(n) = cell.log2_buckets.get_mut(e) {
                        *n += 1;
                    }
                }
            }
        }
    }
    pub(super) fn merge(&mut self, other: Agg<'_>) {
        let map: Vec<u32> = other.keys.into_iter().map(|k| self.group(k)).collect();
        for ((g, step), c) in other.cells {
            let e = self
                .cells
                .entry((map.get(g as usize).copied().unwrap_or(g), step))
                .or_default();
            e.count += c.count;
            e.duration_sum_ns += c.duration_sum_ns;
            if let Some(s) = &c.single {
                e.merge_compact(s);
            }
            if !c.sketch.is_empty() {
                e.densify();
                e.sketch.merge(&c.sketch);
            }
            if e.log2_buckets.len() < c.log2_buckets.len() {
                e.log2_buckets.resize(c.log2_buckets.len(), 0);
            }
            for (a, b) in e.log2_buckets.iter_mut().zip(&c.log2_buckets) {
                *a += b;
            }
            e.min_ns = match (e.min_ns, c.min_ns) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            e.max_ns = match (e.max_ns, c.max_ns) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
    }
}

/// The group-by value of a span. Unscoped names look at the span attribute, then the resource.
pub(super) fn group_part(f: &Field, v: &impl SpanView) -> KeyPart {
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
        // The parser refuses trace-level and non-column fields in `by`.
        _ => KeyPart::Nil,
    }
}

/// Needs decoded spans to group (span attributes, status message).
pub(super) fn group_needs_span(by: &[Field]) -> bool {
    by.iter().any(|f| {
        matches!(
            f,
            Field::Span(_) | Field::Unscoped(_) | Field::StatusMessage
        )
    })
}
