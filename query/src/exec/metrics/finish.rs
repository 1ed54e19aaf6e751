//! Turning the accumulated cells into series: rates, counts, averages and quantiles per
//! group, one sample per step.

use super::agg::{Agg, Cell, GroupKey, KeyPart};
use super::{LabelValue, MetricsRequest, Series};
use crate::ast::{Field, MetricsFn, SecondStage};

/// The label `histogram_over_time` adds to each series (Tempo's).
pub const BUCKET_LABEL: &str = "__bucket";

/// The upper bound, in seconds, of the power-of-two bucket with exponent `e`.
pub(crate) fn bucket_seconds(e: usize) -> f64 {
    (1u64 << e.min(63)) as f64 / 1e9
}

pub(super) fn finish(
    agg: Agg<'_>,
    func: &MetricsFn,
    by: &[Field],
    req: MetricsRequest,
) -> Vec<Series> {
    let steps = (req.end_ns - req.start_ns).div_ceil(req.step_ns);
    let step_s = req.step_ns as f64 / 1e9;
    // Cells by group number (group keys are distinct), then the groups in key order: one
    // sort of the few keys instead of a key clone and an ordered-map insertion per cell.
    let mut per_group: Vec<Vec<(u64, Cell)>> = agg.keys.iter().map(|_| Vec::new()).collect();
    for ((g, step), cell) in agg.cells {
        if let Some(cells) = per_group.get_mut(g as usize) {
            cells.push((step, cell));
        }
    }
    let mut groups: Vec<(GroupKey, Vec<(u64, Cell)>)> = agg
        .keys
        .into_iter()
        .zip(per_group)
        .filter(|(_, cells)| !cells.is_empty())
        .collect();
    groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (_, cells) in &mut groups {
        cells.sort_unstable_by_key(|(step, _)| *step);
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
            MetricsFn::MinOverTime | MetricsFn::MaxOverTime | MetricsFn::SumOverTime => {
                let samples = cells
                    .iter()
                    .filter(|(_, c)| c.count > 0)
                    .filter_map(|(s, c)| {
                        let ns = match func {
                            MetricsFn::MinOverTime => c.min_ns? as f64,
                            MetricsFn::MaxOverTime => c.max_ns? as f64,
                            _ => c.duration_sum_ns as f64,
                        };
                        Some((ts(*s), ns / 1e9))
                    })
                    .collect();
                out.push(Series { labels, samples });
            }
            MetricsFn::QuantileOverTime(qs) => {
                for q in qs {
                    let mut labels = labels.clone();
                    labels.push(("p".into(), LabelValue::Float(*q)));
                    let samples = cells
                        .iter()
                        .filter_map(|(s, c)| Some((ts(*s), c.quantile(*q)? / 1e9)))
                        .collect();
                    out.push(Series { labels, samples });
                }
            }
            MetricsFn::HistogramOverTime => {
                let top = cells
                    .iter()
                    .map(|(_, c)| c.log2_buckets.len())
                    .max()
                    .unwrap_or(0);
                for e in 0..top {
                    if !cells
                        .iter()
                        .any(|(_, c)| c.log2_buckets.get(e).is_some_and(|n| *n > 0))
                    {
                        continue;
                    }
                    let mut samples: Vec<(u64, f64)> = (0..steps).map(|s| (ts(s), 0.0)).collect();
                    for (step, c) in &cells {
                        if let (Some(slot), Some(n)) =
                            (samples.get_mut(*step as usize), c.log2_buckets.get(e))
                        {
                            slot.1 = *n as f64;
                        }
                    }
                    let mut l = labels.clone();
                    l.push((BUCKET_LABEL.into(), LabelValue::Float(bucket_seconds(e))));
                    out.push(Series { labels: l, samples });
                }
            }
            // Answered by `math::eval` and `compare::run_compare` before any aggregation.
            MetricsFn::Math(_) | MetricsFn::Compare { .. } => {}
        }
    }
    out
}

/// Applies second stages (`topk`, `bottomk`, value filters) to finished series, in order.
/// `topk(n)` keeps, at each timestamp, the samples of the `n` series with the highest values
/// (ties by label order); series left without samples are dropped.
pub(crate) fn second_stages(mut series: Vec<Series>, stages: &[SecondStage]) -> Vec<Series> {
    for stage in stages {
        match stage {
            SecondStage::Filter(op, v) => {
                for s in &mut series {
                    s.samples
                        .retain(|(_, x)| crate::exec::compare_f64(*op, *x, *v));
                }
            }
            SecondStage::TopK(n) | SecondStage::BottomK(n) => {
                let top = matches!(stage, SecondStage::TopK(_));
                let mut stamps: Vec<u64> = series
                    .iter()
                    .flat_map(|s| s.samples.iter().map(|(t, _)| *t))
                    .collect();
                stamps.sort_unstable();
                stamps.dedup();
                let mut keep: std::collections::HashSet<(usize, u64)> = Default::default();
                for t in stamps {
                    let mut at: Vec<(usize, f64)> = series
                        .iter()
                        .enumerate()
                        .filter_map(|(i, s)| {
                            s.samples
                                .iter()
                                .find(|(st, x)| *st == t && !x.is_nan())
                                .map(|(_, x)| (i, *x))
                        })
                        .collect();
                    at.sort_by(|a, b| {
                        let o = a.1.total_cmp(&b.1);
                        (if top { o.reverse() } else { o }).then(a.0.cmp(&b.0))
                    });
                    for (i, _) in at.into_iter().take(*n as usize) {
                        keep.insert((i, t));
                    }
                }
                for (i, s) in series.iter_mut().enumerate() {
                    s.samples.retain(|(t, _)| keep.contains(&(i, *t)));
                }
            }
        }
        series.retain(|s| !s.samples.is_empty());
    }
    series
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::Op;

    fn series(name: &str, samples: &[(u64, f64)]) -> Series {
        Series {
            labels: vec![("name".into(), LabelValue::Str(name.into()))],
            samples: samples.to_vec(),
        }
    }

    #[test]
    fn topk_bottomk_and_filters_pick_samples_per_timestamp() {
        let all = vec![
            series("a", &[(1, 5.0), (2, 1.0)]),
            series("b", &[(1, 3.0), (2, 9.0)]),
            series("c", &[(1, 4.0)]),
        ];
        let top = second_stages(all.clone(), &[SecondStage::TopK(1)]);
        assert_eq!(
            top,
            vec![series("a", &[(1, 5.0)]), series("b", &[(2, 9.0)])]
        );
        let bottom = second_stages(all.clone(), &[SecondStage::BottomK(2)]);
        assert_eq!(
            bottom,
            vec![
                series("a", &[(2, 1.0)]),
                series("b", &[(1, 3.0), (2, 9.0)]),
                series("c", &[(1, 4.0)]),
            ]
        );
        let over = second_stages(all.clone(), &[SecondStage::Filter(Op::Gt, 4.0)]);
        assert_eq!(
            over,
            vec![series("a", &[(1, 5.0)]), series("b", &[(2, 9.0)])]
        );
        let both = second_stages(
            all,
            &[SecondStage::Filter(Op::Lt, 9.0), SecondStage::TopK(1)],
        );
        assert_eq!(both, vec![series("a", &[(1, 5.0), (2, 1.0)])]);
    }
}
