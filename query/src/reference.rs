//! A naive full-scan evaluator: the oracle the differential tests compare the engine with.
//! It takes every span as a plain list, groups traces with a map, follows parent ids
//! directly, and computes exact aggregates (quantiles by sorting). It shares only the
//! per-span comparison rules with the engine (`eval`), which have their own unit tests.

use std::collections::{BTreeMap, HashMap};

use spandb_storage::{Span, SpanId, TraceId};

use crate::ast::{Aggregate, Field, MetricsFn, Query, SpansetExpr, Stage, StructOp};
use crate::error::{Error, Result};
use crate::eval::{eval, Matcher, SpanRef, TraceCtx};
use crate::exec::metrics::{LabelValue, MetricsRequest, Series};
use crate::exec::search::{summarize, TraceSummary};
use crate::plan::TimeRange;
use crate::trace_tree::{TraceTree, TreePos};

fn by_trace(spans: &[Span]) -> BTreeMap<TraceId, Vec<&Span>> {
    let mut m: BTreeMap<TraceId, Vec<&Span>> = BTreeMap::new();
    for s in spans {
        m.entry(s.trace_id).or_default().push(s);
    }
    m
}

fn ctx_of(trace: &[&Span]) -> TraceCtx {
    let root = trace
        .iter()
        .filter(|s| s.parent_span_id.is_none_or(|p| p.is_zero()))
        .min_by_key(|s| (s.start_ns, s.span_id, s.end_ns));
    let start = trace.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let end = trace.iter().map(|s| s.end_ns).max().unwrap_or(0).max(start);
    TraceCtx {
        root_service: root.map(|s| s.service().to_owned()),
        root_name: root.map(|s| s.name.clone()),
        duration_ns: end - start,
    }
}

/// Child counts and nested-set bounds, numbered by plain recursion from each root (spans
/// without a parent id, earliest first); spans under a missing parent keep zeros.
fn positions_of(trace: &[&Span]) -> Vec<TreePos> {
    let n = trace.len();
    let find = |id: SpanId| trace.iter().position(|s| s.span_id == id);
    let order = |i: &usize| (trace[*i].start_ns, trace[*i].span_id, trace[*i].end_ns);
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut roots = Vec::new();
    for (i, s) in trace.iter().enumerate() {
        match s.parent_span_id.filter(|p| !p.is_zero()) {
            None => roots.push(i),
            Some(p) => {
                if let Some(j) = find(p).filter(|&j| j != i) {
                    children[j].push(i);
                }
            }
        }
    }
    for c in &mut children {
        c.sort_by_key(order);
    }
    roots.sort_by_key(order);
    let mut pos: Vec<TreePos> = children
        .iter()
        .map(|c| TreePos {
            child_count: c.len() as u32,
            ..TreePos::default()
        })
        .collect();
    fn number(i: usize, parent: i64, next: &mut i64, ch: &[Vec<usize>], pos: &mut [TreePos]) {
        pos[i].left = *next;
        pos[i].parent = parent;
        *next += 1;
        for &c in &ch[i] {
            number(c, pos[i].left, next, ch, pos);
        }
        pos[i].right = *next;
        *next += 1;
    }
    let mut next = 1;
    for r in roots {
        number(r, -1, &mut next, &children, &mut pos);
    }
    pos
}

/// The spans of one trace that `e` selects (by position in `trace`).
fn select(e: &SpansetExpr, trace: &[&Span], ctx: &TraceCtx, range: TimeRange) -> Vec<bool> {
    let n = trace.len();
    let find = |id: SpanId| trace.iter().position(|s| s.span_id == id);
    match e {
        SpansetExpr::Filter(c) => {
            let m = Matcher::compile(c);
            let pos = positions_of(trace);
            trace
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    range.contains(s.start_ns)
                        && eval(
                            &m,
                            &SpanRef {
                                span: s,
                                trace: Some(ctx),
                                parent: Some(s.parent_span_id.and_then(find).map(|p| trace[p])),
                                pos: pos.get(i).copied(),
                            },
                        ) == Some(true)
                })
                .collect()
        }
        SpansetExpr::Or(a, b) => {
            let (x, y) = (select(a, trace, ctx, range), select(b, trace, ctx, range));
            (0..n).map(|i| x[i] || y[i]).collect()
        }
        SpansetExpr::And(a, b) => {
            let (x, y) = (select(a, trace, ctx, range), select(b, trace, ctx, range));
            let both = x.contains(&true) && y.contains(&true);
            (0..n).map(|i| both && (x[i] || y[i])).collect()
        }
        SpansetExpr::Child(a, b) => {
            let (x, y) = (select(a, trace, ctx, range), select(b, trace, ctx, range));
            (0..n)
                .map(|i| y[i] && trace[i].parent_span_id.and_then(find).is_some_and(|p| x[p]))
                .collect()
        }
        SpansetExpr::Struct(op, a, b) => {
            let (x, y) = (select(a, trace, ctx, range), select(b, trace, ctx, range));
            let parent = |i: usize| trace[i].parent_span_id.and_then(find);
            let is_anc = |a: usize, d: usize| {
                // `a` is an ancestor of `d`.
                let mut cur = parent(d);
                let mut steps = 0;
                while let Some(p) = cur {
                    if p == a {
                        return true;
                    }
                    steps += 1;
                    if steps > n {
                        return false;
                    }
                    cur = parent(p);
                }
                false
            };
            let sib = |a: usize, b: usize| a != b && parent(a).is_some() && parent(a) == parent(b);
            let rel = |i: usize, j: usize| match op {
                // Does x-span i relate to y-span j?
                StructOp::Parent | StructOp::NotParent | StructOp::UnionParent => {
                    parent(i) == Some(j)
                }
                StructOp::Ancestor | StructOp::NotAncestor | StructOp::UnionAncestor => {
                    is_anc(j, i)
                }
                StructOp::NotChild | StructOp::UnionChild => parent(j) == Some(i),
                StructOp::NotDescendant | StructOp::UnionDescendant => is_anc(i, j),
                StructOp::Sibling | StructOp::NotSibling | StructOp::UnionSibling => sib(i, j),
            };
            (0..n)
                .map(|k| {
                    let as_y = y[k] && (0..n).any(|i| x[i] && rel(i, k));
                    if op.is_negated() {
                        return y[k] && !(0..n).any(|i| x[i] && rel(i, k));
                    }
                    let union = matches!(
                        op,
                        StructOp::UnionChild
                            | StructOp::UnionParent
                            | StructOp::UnionDescendant
                            | StructOp::UnionAncestor
                            | StructOp::UnionSibling
                    );
                    as_y || (union && x[k] && (0..n).any(|j| y[j] && rel(k, j)))
                })
                .collect()
        }
        SpansetExpr::Pipeline(input, stages) => {
            let base = select(input, trace, ctx, range);
            let mut sets: Vec<Vec<usize>> = Vec::new();
            if base.contains(&true) {
                sets.push((0..n).filter(|&i| base[i]).collect());
            }
            let pos = positions_of(trace);
            let view = |i: usize| {
                let s = trace[i];
                crate::expr::Ctx {
                    span: s,
                    trace: Some(ctx),
                    parent: Some(s.parent_span_id.and_then(find).map(|p| trace[p])),
                    pos: pos.get(i).copied(),
                }
            };
            for stage in stages {
                sets = match stage {
                    Stage::Spans(e) => {
                        let r = select(e, trace, ctx, range);
                        sets.into_iter()
                            .map(|set| set.into_iter().filter(|&i| r[i]).collect::<Vec<_>>())
                            .filter(|s: &Vec<usize>| !s.is_empty())
                            .collect()
                    }
                    Stage::Scalar(agg, op, lit) => {
                        let v = crate::exec::literal_number(lit);
                        sets.into_iter()
                            .filter(|set| {
                                let vals = |e: &crate::ast::Expr| -> Vec<f64> {
                                    let c = crate::expr::CompiledExpr::new(e);
                                    set.iter()
                                        .filter_map(|&i| c.value(&view(i)).and_then(|x| x.number()))
                                        .collect()
                                };
                                let got = match agg {
                                    Aggregate::Count => set.len() as f64,
                                    Aggregate::Avg(e) => {
                                        let v = vals(e);
                                        v.iter().sum::<f64>() / v.len() as f64
                                    }
                                    Aggregate::Min(e) => {
                                        vals(e).into_iter().reduce(f64::min).unwrap_or(f64::NAN)
                                    }
                                    Aggregate::Max(e) => {
                                        vals(e).into_iter().reduce(f64::max).unwrap_or(f64::NAN)
                                    }
                                    Aggregate::Sum(e) => {
                                        let v = vals(e);
                                        if v.is_empty() {
                                            f64::NAN
                                        } else {
                                            v.iter().sum()
                                        }
                                    }
                                };
                                crate::exec::compare_f64(*op, got, v)
                            })
                            .collect()
                    }
                    Stage::By(es) => {
                        let cs: Vec<_> = es.iter().map(crate::expr::CompiledExpr::new).collect();
                        let mut out = Vec::new();
                        for set in sets {
                            let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
                            for i in set {
                                let key: Vec<String> = cs
                                    .iter()
                                    .map(|c| format!("{:?}", c.value(&view(i))))
                                    .collect();
                                groups.entry(key.join("\u{1}")).or_default().push(i);
                            }
                            out.extend(groups.into_values());
                        }
                        out
                    }
                    Stage::Coalesce => {
                        let mut all: Vec<usize> = sets.into_iter().flatten().collect();
                        all.sort_unstable();
                        all.dedup();
                        if all.is_empty() {
                            Vec::new()
                        } else {
                            vec![all]
                        }
                    }
                    Stage::Select(_) => sets,
                };
            }
            let mut out = vec![false; n];
            for i in sets.into_iter().flatten() {
                out[i] = true;
            }
            out
        }
        SpansetExpr::Descendant(a, b) => {
            let (x, y) = (select(a, trace, ctx, range), select(b, trace, ctx, range));
            (0..n)
                .map(|i| {
                    let mut cur = trace[i].parent_span_id.and_then(find);
                    let mut steps = 0;
                    while let Some(p) = cur {
                        if x[p] {
                            return y[i];
                        }
                        steps += 1;
                        if steps > n {
                            return false;
                        }
                        cur = trace[p].parent_span_id.and_then(find);
                    }
                    false
                })
                .collect()
        }
    }
}

/// Search by brute force: same contract as [`crate::search`].
pub fn search(
    spans: &[Span],
    query: &Query,
    range: TimeRange,
    limit: usize,
) -> Result<Vec<TraceSummary>> {
    if query.pipeline.is_some() {
        return Err(Error::InvalidInput("search with a pipeline".into()));
    }
    let mut out = Vec::new();
    for (_, trace) in by_trace(spans) {
        let ctx = ctx_of(&trace);
        // The trace's time span must overlap the window; its spans are matched wherever
        // they start.
        let start = trace.iter().map(|s| s.start_ns).min().unwrap_or(0);
        let end = start + ctx.duration_ns;
        if !(start < range.end_ns && end >= range.start_ns) {
            continue;
        }
        let sel = select(&query.spans, &trace, &ctx, TimeRange::ALL);
        if !sel.contains(&true) {
            continue;
        }
        let matched_ids: Vec<(u64, SpanId, u64)> = trace
            .iter()
            .zip(&sel)
            .filter(|(_, m)| **m)
            .map(|(s, _)| (s.start_ns, s.span_id, s.end_ns))
            .collect();
        // Reuse the summary shape: assemble, then mark the matched spans by identity.
        let Some(tree) = TraceTree::from_spans(trace.iter().map(|s| (*s).clone()).collect()) else {
            continue;
        };
        let matched: Vec<usize> = (0..tree.spans.len())
            .filter(|&i| {
                let s = &tree.spans[i];
                matched_ids.contains(&(s.start_ns, s.span_id, s.end_ns))
            })
            .collect();
        let mut sum = summarize(&tree, &matched, &crate::exec::selected_fields(&query.spans));
        // The oracle's own root and duration, not the tree's.
        sum.root_service = ctx.root_service.clone();
        sum.root_name = ctx.root_name.clone();
        sum.duration_ns = ctx.duration_ns;
        sum.start_ns = trace.iter().map(|s| s.start_ns).min().unwrap_or(0);
        out.push(sum);
    }
    out.sort_by(|a, b| {
        b.start_ns
            .cmp(&a.start_ns)
            .then(a.trace_id.cmp(&b.trace_id))
    });
    out.truncate(limit);
    Ok(out)
}

fn label(f: &Field, s: &Span) -> LabelValue {
    use spandb_storage::model::find_attr;
    use spandb_storage::Value;
    let conv = |v: Option<&Value>| match v {
        None => LabelValue::Nil,
        Some(Value::Str(x)) => LabelValue::Str(x.clone()),
        Some(Value::Int(i)) => LabelValue::Int(*i),
        Some(Value::Double(x)) => LabelValue::Float(*x),
        Some(Value::Bool(b)) => LabelValue::Bool(*b),
        Some(other) => LabelValue::Str(other.to_string()),
    };
    match f {
        Field::Name => LabelValue::Str(s.name.clone()),
        Field::Status => LabelValue::Str(s.status_code.as_str().into()),
        Field::Kind => LabelValue::Str(s.kind.as_str().into()),
        Field::Duration => LabelValue::Int(s.duration_ns() as i64),
        Field::StatusMessage => LabelValue::Str(s.status_message.clone()),
        Field::Resource(k) => conv(find_attr(&s.resource.attributes, k)),
        Field::Span(k) => conv(s.attr(k)),
        Field::Unscoped(k) => match s.attr(k) {
            Some(v) => conv(Some(v)),
            None => conv(find_attr(&s.resource.attributes, k)),
        },
        _ => LabelValue::Nil,
    }
}

/// Metrics by brute force with exact quantiles (lower-rank convention
/// `rank = floor(q * (n - 1))`, as the sketch's).
pub fn metrics(spans: &[Span], query: &Query, req: MetricsRequest) -> Result<Vec<Series>> {
    let Some(p) = &query.pipeline else {
        return Err(Error::InvalidInput("metrics without a pipeline".into()));
    };
    if let MetricsFn::Math(m) = &p.func {
        let mut out = math(spans, m, req)?;
        if !p.second.is_empty() {
            out.sort_by(|a, b| format!("{:?}", a.labels).cmp(&format!("{:?}", b.labels)));
            out = crate::exec::metrics::second_stages(out, &p.second);
        }
        return Ok(out);
    }
    let range = TimeRange::new(req.start_ns, req.end_ns);
    if let MetricsFn::Compare {
        filter,
        top,
        window,
    } = &p.func
    {
        use crate::exec::metrics::compare::{in_window, Counts};
        let steps = (req.end_ns - req.start_ns).div_ceil(req.step_ns) as usize;
        let mut counts = Counts::default();
        let chosen_expr = SpansetExpr::Filter(filter.clone());
        for (_, trace) in by_trace(spans) {
            let ctx = ctx_of(&trace);
            let population = select(&query.spans, &trace, &ctx, range);
            let chosen = select(&chosen_expr, &trace, &ctx, range);
            for ((s, m), c) in trace.iter().zip(&population).zip(&chosen) {
                if *m && s.start_ns >= req.start_ns && s.start_ns < req.end_ns {
                    let step = ((s.start_ns - req.start_ns) / req.step_ns) as usize;
                    counts.add(s, *c && in_window(*window, s.start_ns), step, steps);
                }
            }
        }
        let mut out = counts.series(*top as usize, req);
        if !p.second.is_empty() {
            out = crate::exec::metrics::second_stages(out, &p.second);
        }
        return Ok(out);
    }
    // (labels as text, labels) -> step -> durations
    type Labels = Vec<(String, LabelValue)>;
    let mut groups: BTreeMap<String, (Labels, HashMap<u64, Vec<u64>>)> = BTreeMap::new();
    for (_, trace) in by_trace(spans) {
        let ctx = ctx_of(&trace);
        let sel = select(&query.spans, &trace, &ctx, range);
        for (s, m) in trace.iter().zip(&sel) {
            if !*m {
                continue;
            }
            let labels: Vec<(String, LabelValue)> =
                p.by.iter().map(|f| (f.text(), label(f, s))).collect();
            let key = format!("{labels:?}");
            let step = (s.start_ns - req.start_ns) / req.step_ns;
            groups
                .entry(key)
                .or_insert_with(|| (labels, HashMap::new()))
                .1
                .entry(step)
                .or_default()
                .push(s.duration_ns());
        }
    }
    let steps = (req.end_ns - req.start_ns).div_ceil(req.step_ns);
    let ts = |step: u64| req.start_ns + step * req.step_ns;
    let mut out = Vec::new();
    for (_, (labels, cells)) in groups {
        let mut sorted_steps: Vec<_> = cells.into_iter().collect();
        sorted_steps.sort_by_key(|(s, _)| *s);
        match &p.func {
            MetricsFn::Rate | MetricsFn::CountOverTime => {
                let per_s = if p.func == MetricsFn::Rate {
                    req.step_ns as f64 / 1e9
                } else {
                    1.0
                };
                let samples = (0..steps)
                    .map(|st| {
                        let n = sorted_steps
                            .iter()
                            .find(|(s, _)| *s == st)
                            .map_or(0, |(_, d)| d.len());
                        (ts(st), n as f64 / per_s)
                    })
                    .collect();
                out.push(Series { labels, samples });
            }
            MetricsFn::AvgOverTime => {
                let samples = sorted_steps
                    .iter()
                    .map(|(s, d)| {
                        (
                            ts(*s),
                            d.iter().map(|x| *x as f64).sum::<f64>() / d.len() as f64 / 1e9,
                        )
                    })
                    .collect();
                out.push(Series { labels, samples });
            }
            MetricsFn::MinOverTime | MetricsFn::MaxOverTime | MetricsFn::SumOverTime => {
                let samples = sorted_steps
                    .iter()
                    .map(|(s, d)| {
                        let ns = match p.func {
                            MetricsFn::MinOverTime => d.iter().copied().min().unwrap_or(0) as f64,
                            MetricsFn::MaxOverTime => d.iter().copied().max().unwrap_or(0) as f64,
                            _ => d.iter().map(|x| *x as f64).sum::<f64>(),
                        };
                        (ts(*s), ns / 1e9)
                    })
                    .collect();
                out.push(Series { labels, samples });
            }
            MetricsFn::QuantileOverTime(qs) => {
                for q in qs {
                    let mut l = labels.clone();
                    l.push(("p".into(), LabelValue::Float(*q)));
                    let samples = sorted_steps
                        .iter()
                        .map(|(s, d)| {
                            let mut d = d.clone();
                            d.sort_unstable();
                            let rank = (q * (d.len() - 1) as f64).floor() as usize;
                            (ts(*s), d[rank] as f64 / 1e9)
                        })
                        .collect();
                    out.push(Series { labels: l, samples });
                }
            }
            MetricsFn::HistogramOverTime => {
                // The smallest power of two at or above each duration (none under 2 ns).
                let bound = |d: u64| {
                    let mut b: u64 = 1;
                    while b < d && b < (1 << 63) {
                        b *= 2;
                    }
                    b
                };
                let mut bounds: Vec<u64> = sorted_steps
                    .iter()
                    .flat_map(|(_, d)| d.iter().filter(|d| **d >= 2).map(|d| bound(*d)))
                    .collect();
                bounds.sort_unstable();
                bounds.dedup();
                for b in bounds {
                    let mut l = labels.clone();
                    l.push(("__bucket".into(), LabelValue::Float(b as f64 / 1e9)));
                    let samples = (0..steps)
                        .map(|st| {
                            let n = sorted_steps
                                .iter()
                                .find(|(s, _)| *s == st)
                                .map_or(0, |(_, d)| {
                                    d.iter().filter(|d| **d >= 2 && bound(**d) == b).count()
                                });
                            (ts(st), n as f64)
                        })
                        .collect();
                    out.push(Series { labels: l, samples });
                }
            }
            MetricsFn::Math(_) | MetricsFn::Compare { .. } => {}
        }
    }
    if !p.second.is_empty() {
        out.sort_by(|a, b| format!("{:?}", a.labels).cmp(&format!("{:?}", b.labels)));
        out = crate::exec::metrics::second_stages(out, &p.second);
    }
    Ok(out)
}

/// Metrics arithmetic by brute force: a number is a series without labels holding it at
/// every step, so one rule (match by labels, else the unlabeled series) covers both cases.
fn math(spans: &[Span], m: &crate::ast::MetricsMath, req: MetricsRequest) -> Result<Vec<Series>> {
    use crate::ast::MetricsMath;
    Ok(match m {
        MetricsMath::Query(q) => metrics(spans, q, req)?,
        MetricsMath::Scalar(x) => {
            let steps = (req.end_ns - req.start_ns).div_ceil(req.step_ns);
            vec![Series {
                labels: Vec::new(),
                samples: (0..steps)
                    .map(|i| (req.start_ns + i * req.step_ns, *x))
                    .collect(),
            }]
        }
        MetricsMath::Binary(op, l, r) => {
            let l = math(spans, l, req)?;
            let r = math(spans, r, req)?;
            let r_has_bare = r.iter().any(|s| s.labels.is_empty());
            let target = if r_has_bare { &l } else { &r };
            let pick = |set: &Vec<Series>, labels: &Vec<(String, LabelValue)>| {
                set.iter()
                    .find(|s| &s.labels == labels)
                    .or_else(|| set.iter().find(|s| s.labels.is_empty()))
                    .cloned()
            };
            let mut out = Vec::new();
            for t in target {
                let (Some(a), Some(b)) = (pick(&l, &t.labels), pick(&r, &t.labels)) else {
                    continue;
                };
                let mut samples = Vec::new();
                for (ts, x) in &a.samples {
                    for (ts2, y) in &b.samples {
                        let v = match op {
                            crate::ast::MathOp::Add => x + y,
                            crate::ast::MathOp::Sub => x - y,
                            crate::ast::MathOp::Mul => x * y,
                            crate::ast::MathOp::Div if *y == 0.0 => f64::NAN,
                            crate::ast::MathOp::Div => x / y,
                        };
                        if ts == ts2 && !v.is_nan() {
                            samples.push((*ts, v));
                        }
                    }
                }
                if samples.is_empty() {
                    continue;
                }
                let mut labels = a.labels.clone();
                for kv in &b.labels {
                    if !labels.iter().any(|(k, _)| k == &kv.0) {
                        labels.push(kv.clone());
                    }
                }
                out.push(Series { labels, samples });
            }
            out
        }
    })
}
