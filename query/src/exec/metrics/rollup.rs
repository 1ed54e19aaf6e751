//! The rollup path: filters on service and span name only (plus `status = error` for
//! counts), grouped by service and/or name, steps aligned to the rollup's minutes: sealed
//! blocks answer from their footer rollups without decoding a span.

use rustc_hash::FxHashMap;
use spandb_storage::block::LoadedFooter;
use spandb_storage::rollup::ROLLUP_BUCKET_NS;
use spandb_storage::{BlockReader, Snapshot, StatusCode, Value};

use super::agg::{Agg, Detail, GroupKey, KeyPart};
use super::MetricsRequest;
use crate::ast::{Cond, Field, Literal, MetricsFn, Op, Query, SpansetExpr};
use crate::error::Result;
use crate::eval::{eval, Matcher, SpanRef, SpanView};
use crate::exec::scan::parallel_blocks;
use crate::plan::TimeRange;

/// A filter the rollups can answer: conditions on service and name, maybe `status = error`.
pub(super) struct RollupPlan {
    pub(super) cond: Matcher,
    pub(super) error_only: bool,
    /// Neither the filter nor the grouping looks at span names: the blocks' rollups
    /// pre-merged per (service, minute) answer.
    pub(super) per_service: bool,
}

pub(super) fn is_service(f: &Field) -> bool {
    matches!(f, Field::Resource(k) if k == "service.name")
}

/// Whether the rollups cover `query` over `req`.
pub(super) fn rollup_plan(query: &Query, req: MetricsRequest) -> Option<RollupPlan> {
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
        let mut ok = !c.has_expr();
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
    // Rollups keep no per-cell minimum or maximum.
    // Nor exact durations, which Tempo's power-of-two histogram buckets need (the sketch's
    // buckets do not line up with powers of two).
    if matches!(
        pipeline.func,
        MetricsFn::MinOverTime
            | MetricsFn::MaxOverTime
            | MetricsFn::HistogramOverTime
            | MetricsFn::Compare { .. }
            | MetricsFn::Math(_)
    ) {
        return None;
    }
    if error_only && !matches!(pipeline.func, MetricsFn::Rate | MetricsFn::CountOverTime) {
        return None;
    }
    let rest = rest.unwrap_or(Cond::True);
    let mut names = pipeline.by.contains(&Field::Name);
    rest.for_each_cmp(&mut |f, _, _| names |= *f == Field::Name);
    Some(RollupPlan {
        cond: Matcher::compile(&rest),
        error_only,
        per_service: !names,
    })
}

pub(super) fn flatten_and<'a>(c: &'a Cond, out: &mut Vec<&'a Cond>) {
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
pub(super) struct CellView<'a> {
    pub(super) resource: spandb_storage::Resource,
    pub(super) name: &'a str,
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
pub(super) fn service_resource(service: &str) -> spandb_storage::Resource {
    let mut r = spandb_storage::Resource::default();
    if !service.is_empty() {
        r.attributes.push(spandb_storage::KeyValue::new(
            "service.name",
            Value::Str(service.to_owned()),
        ));
    }
    r
}

pub(super) fn run_rollup<'q>(
    snapshot: &Snapshot,
    plan: &RollupPlan,
    req: MetricsRequest,
    by: &'q [Field],
    detail: Detail,
) -> Result<Agg<'q>> {
    let blocks: Vec<_> = snapshot.blocks().cloned().collect();
    let range = TimeRange::new(req.start_ns, req.end_ns);
    let parts = parallel_blocks(
        &blocks,
        || Agg::new(req, by, detail),
        |block, acc| rollup_block(block, plan, range, acc),
    )?;
    let mut agg = Agg::new(req, by, detail);
    for p in parts {
        agg.merge(p);
    }
    for span in snapshot.unsealed_spans()? {
        if plan.error_only && !span.is_error() {
            continue;
        }
        let view = SpanRef {
            span,
            trace: None,
            parent: None,
            pos: None,
        };
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

pub(super) fn rollup_block(
    block: &BlockReader,
    plan: &RollupPlan,
    range: TimeRange,
    acc: &mut Agg<'_>,
) -> Result<()> {
    let m = block.meta();
    if m.rows == 0 || !range.overlaps(m.min_start_ns, m.max_start_ns) {
        return Ok(());
    }
    let f = block.footer()?;
    if plan.per_service {
        return rollup_block_per_service(&f, plan, acc);
    }
    // Decide each (service, name) pair once: its group number, or `None` when filtered out.
    let mut decided: FxHashMap<(u32, u32), Option<u32>> = FxHashMap::default();
    let sketch = acc.detail == Detail::Sketch;
    for (key, cell) in &f.rollup().cells {
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
                let service = f.string(key.service)?;
                let name = f.string(key.name)?;
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
            e.densify();
            e.sketch.merge_sketch(&cell.durations);
        }
    }
    Ok(())
}

/// [`rollup_block`] when span names do not matter: one pre-merged cell per service and
/// minute, each service decided once.
fn rollup_block_per_service(
    block: &LoadedFooter,
    plan: &RollupPlan,
    acc: &mut Agg<'_>,
) -> Result<()> {
    let sketch = acc.detail == Detail::Sketch;
    // Cells are sorted by service: decide each service when its first cell comes.
    let mut current: Option<(u32, Option<u32>)> = None;
    for cell in &block.service_rollup().cells {
        let count = if plan.error_only {
            cell.errors
        } else {
            cell.count
        };
        if count == 0 {
            continue;
        }
        let Some(step) = acc.step_of(cell.minute.saturating_mul(ROLLUP_BUCKET_NS)) else {
            continue;
        };
        let group = match current {
            Some((s, g)) if s == cell.service => g,
            _ => {
                let service = block.string(cell.service)?;
                let ok = eval(
                    &plan.cond,
                    &CellView {
                        resource: service_resource(service),
                        name: "",
                    },
                ) == Some(true);
                let g = ok.then(|| {
                    let parts: GroupKey = acc
                        .by
                        .iter()
                        .map(|_| {
                            if service.is_empty() {
                                KeyPart::Nil
                            } else {
                                KeyPart::Str(service.to_owned())
                            }
                        })
                        .collect();
                    acc.group(parts)
                });
                current = Some((cell.service, g));
                g
            }
        };
        let Some(group) = group else { continue };
        let e = acc.cells.entry((group, step)).or_default();
        e.count += count;
        e.duration_sum_ns += u128::from(cell.duration_sum_ns);
        if sketch {
            e.merge_compact(&cell.durations);
        }
    }
    Ok(())
}
