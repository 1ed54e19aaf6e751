//! Turning the accumulated cells into series: rates, counts, averages and quantiles per
//! group, one sample per step.

use std::collections::BTreeMap;

use super::agg::{Agg, Cell, GroupKey, KeyPart};
use super::{LabelValue, MetricsRequest, Series};
use crate::ast::{Field, MetricsFn};

pub(super) fn finish(
    agg: Agg<'_>,
    func: &MetricsFn,
    by: &[Field],
    req: MetricsRequest,
) -> Vec<Series> {
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
