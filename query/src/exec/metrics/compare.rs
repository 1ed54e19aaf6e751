//! `compare({ filter }, n, start, end)`: Tempo's comparison of a selection against its
//! baseline. Of the spans the query's spanset selects, those matching `filter` (and, when a
//! window is given, starting in `(start, end]`) are the selection, the others the baseline.
//! For every attribute of those spans (`name`, `status`, `kind`, `span.*`, `resource.*`) and
//! every value it takes, the spans per step holding it are counted on each side:
//! - `{__meta_type="baseline"|"selection", <attribute>=<value>}`: the `n` values with the
//!   most spans over the window, per attribute and side;
//! - `{__meta_type="baseline_total"|"selection_total", <attribute>=nil}`: all spans holding
//!   the attribute;
//! - `{__meta_error="__too_many_values__", <attribute>=nil}` (no samples): the attribute had
//!   more than `n` values on a side, so only its top `n` are listed.

use std::collections::{BTreeMap, BTreeSet};

use spandb_storage::{Snapshot, Span};

use super::agg::KeyPart;
use super::{LabelValue, MetricsRequest, Series};
use crate::ast::{Cond, Query, SpansetExpr};
use crate::error::Result;
use crate::exec::{candidate_traces, Compiled};
use crate::plan::TimeRange;
use crate::trace_tree::TraceTree;

/// The label saying which side a series counts.
pub const META_TYPE_LABEL: &str = "__meta_type";
/// The label of the series flagging an attribute with too many values.
pub const META_ERROR_LABEL: &str = "__meta_error";

/// The attributes `compare` counts for a span, with their values.
fn compare_attributes(s: &Span) -> Vec<(String, KeyPart)> {
    let mut out = vec![
        ("name".to_owned(), KeyPart::Str(s.name.clone())),
        (
            "status".to_owned(),
            KeyPart::Str(s.status_code.as_str().to_owned()),
        ),
        ("kind".to_owned(), KeyPart::Str(s.kind.as_str().to_owned())),
    ];
    for kv in &s.attributes {
        out.push((
            format!("span.{}", kv.key),
            KeyPart::of_value(Some(&kv.value)),
        ));
    }
    for kv in &s.resource.attributes {
        out.push((
            format!("resource.{}", kv.key),
            KeyPart::of_value(Some(&kv.value)),
        ));
    }
    out
}

/// Counts per side, attribute and value, per step.
#[derive(Default)]
pub(crate) struct Counts {
    /// (selection?, attribute) -> value -> counts per step
    values: BTreeMap<(bool, String), BTreeMap<KeyPart, Vec<f64>>>,
    totals: BTreeMap<(bool, String), Vec<f64>>,
}

impl Counts {
    pub(crate) fn add(&mut self, span: &Span, selected: bool, step: usize, steps: usize) {
        let mut seen = BTreeSet::new();
        for (attr, value) in compare_attributes(span) {
            // An attribute counted once per span and value.
            if !seen.insert((attr.clone(), value.clone())) {
                continue;
            }
            let key = (selected, attr);
            let per = self
                .values
                .entry(key.clone())
                .or_default()
                .entry(value)
                .or_insert_with(|| vec![0.0; steps]);
            if let Some(c) = per.get_mut(step) {
                *c += 1.0;
            }
            let tot = self.totals.entry(key).or_insert_with(|| vec![0.0; steps]);
            if let Some(c) = tot.get_mut(step) {
                *c += 1.0;
            }
        }
    }

    pub(crate) fn series(self, top: usize, req: MetricsRequest) -> Vec<Series> {
        let ts = |i: usize| req.start_ns + i as u64 * req.step_ns;
        let dense = |v: Vec<f64>| -> Vec<(u64, f64)> {
            v.into_iter().enumerate().map(|(i, x)| (ts(i), x)).collect()
        };
        let side = |sel: bool, total: bool| {
            LabelValue::Str(
                match (sel, total) {
                    (false, false) => "baseline",
                    (true, false) => "selection",
                    (false, true) => "baseline_total",
                    (true, true) => "selection_total",
                }
                .into(),
            )
        };
        let mut out = Vec::new();
        let mut too_many = BTreeSet::new();
        for ((sel, attr), values) in self.values {
            let mut ranked: Vec<(KeyPart, Vec<f64>)> = values.into_iter().collect();
            if ranked.len() > top {
                too_many.insert(attr.clone());
            }
            // Most spans first; ties by value, so the answer does not depend on the order
            // spans were read.
            ranked.sort_by(|a, b| {
                let (x, y) = (a.1.iter().sum::<f64>(), b.1.iter().sum::<f64>());
                y.total_cmp(&x).then_with(|| a.0.cmp(&b.0))
            });
            for (value, counts) in ranked.into_iter().take(top) {
                out.push(Series {
                    labels: vec![
                        (META_TYPE_LABEL.into(), side(sel, false)),
                        (attr.clone(), value.label()),
                    ],
                    samples: dense(counts),
                });
            }
        }
        for attr in too_many {
            out.push(Series {
                labels: vec![
                    (
                        META_ERROR_LABEL.into(),
                        LabelValue::Str("__too_many_values__".into()),
                    ),
                    (attr, LabelValue::Nil),
                ],
                samples: Vec::new(),
            });
        }
        for ((sel, attr), counts) in self.totals {
            out.push(Series {
                labels: vec![
                    (META_TYPE_LABEL.into(), side(sel, true)),
                    (attr, LabelValue::Nil),
                ],
                samples: dense(counts),
            });
        }
        out
    }
}

/// Whether a span starting at `start_ns` may be in the selection (`(start, end]`, Tempo's).
pub(crate) fn in_window(window: Option<(u64, u64)>, start_ns: u64) -> bool {
    window.is_none_or(|(lo, hi)| start_ns > lo && start_ns <= hi)
}

pub(super) fn run_compare(
    snapshot: &Snapshot,
    compiled: &Compiled,
    filter: &Cond,
    top: u32,
    window: Option<(u64, u64)>,
    req: MetricsRequest,
) -> Result<Vec<Series>> {
    let range = TimeRange::new(req.start_ns, req.end_ns);
    let selection = Compiled::new(&Query {
        spans: SpansetExpr::Filter(filter.clone()),
        pipeline: None,
    })?;
    let steps = (req.end_ns - req.start_ns).div_ceil(req.step_ns) as usize;
    let mut counts = Counts::default();
    let mut ids: Vec<_> = candidate_traces(snapshot, compiled, range)?
        .into_keys()
        .collect();
    ids.sort_unstable();
    for id in ids {
        let Some(tree) = TraceTree::from_spans(snapshot.trace(&id)?) else {
            continue;
        };
        let chosen: BTreeSet<usize> = selection.match_trace(&tree, range).into_iter().collect();
        for i in compiled.match_trace(&tree, range) {
            let Some(span) = tree.spans.get(i) else {
                continue;
            };
            if span.start_ns < req.start_ns || span.start_ns >= req.end_ns {
                continue;
            }
            let step = ((span.start_ns - req.start_ns) / req.step_ns) as usize;
            let selected = chosen.contains(&i) && in_window(window, span.start_ns);
            counts.add(span, selected, step, steps);
        }
    }
    Ok(counts.series(top as usize, req))
}
