//! Query execution: search (trace summaries) and metrics (range aggregations).

pub(crate) mod metrics;
#[cfg(test)]
mod planner_matches_row_eval;
pub(crate) mod rows;
pub(crate) mod scan;
pub(crate) mod search;
pub(crate) mod split;

use std::collections::HashMap;

use spandb_storage::{Snapshot, SpanParts, TraceId};

use crate::ast::{Aggregate, Cond, Field, Literal, Op, Query, SpansetExpr, Stage, StructOp};
use crate::error::{Error, Result};
use crate::eval::{eval, Matcher, SpanRef, TraceCtx};
use crate::expr::{CompiledExpr, Ctx};
use crate::plan::TimeRange;
use crate::trace_tree::{TraceTree, TreePos};

/// At most this many `{ }` filters in one query (a candidate trace keeps one bit per filter).
pub const MAX_FILTERS: usize = 64;

/// A spanset expression with its filters compiled.
#[derive(Debug)]
pub(crate) enum CExpr {
    Filter(usize),
    And(Box<CExpr>, Box<CExpr>),
    Or(Box<CExpr>, Box<CExpr>),
    Child(Box<CExpr>, Box<CExpr>),
    Descendant(Box<CExpr>, Box<CExpr>),
    Struct(StructOp, Box<CExpr>, Box<CExpr>),
    Pipeline(Box<CExpr>, Vec<CStage>),
}

/// A compiled pipeline stage.
#[derive(Debug)]
pub(crate) enum CStage {
    Spans(CExpr),
    Scalar(CAggregate, Op, f64),
    By(Vec<CompiledExpr>),
    Coalesce,
    Select,
}

#[derive(Debug)]
pub(crate) enum CAggregate {
    Count,
    Avg(CompiledExpr),
    Min(CompiledExpr),
    Max(CompiledExpr),
    Sum(CompiledExpr),
}

#[derive(Debug)]
pub(crate) struct Compiled {
    pub expr: CExpr,
    pub filters: Vec<Matcher>,
    /// Fields of `select(...)` stages, returned with each matched span.
    pub select: Vec<Field>,
    /// Some part reads `span:childCount` or a nested-set bound.
    reads_tree_pos: bool,
    /// The parts of a span deciding the query on an assembled trace reads.
    pub parts: SpanParts,
}

impl Compiled {
    pub(crate) fn new(q: &Query) -> Result<Compiled> {
        let mut filters = Vec::new();
        let expr = compile_expr(&q.spans, &mut filters);
        if filters.len() > MAX_FILTERS {
            return Err(Error::InvalidInput(format!(
                "a query may have at most {MAX_FILTERS} spanset filters, this one has {}",
                filters.len()
            )));
        }
        Ok(Compiled {
            expr,
            filters,
            select: selected_fields(&q.spans),
            reads_tree_pos: reads_tree_pos(&q.spans),
            parts: query_parts(&q.spans),
        })
    }

    /// True when a span's match is decided by its own filter alone (one filter, no
    /// trace-level intrinsic): no trace assembly needed to know which spans match.
    pub(crate) fn is_span_local(&self) -> bool {
        matches!(self.expr, CExpr::Filter(_)) && !self.filters.iter().any(Matcher::is_trace_level)
    }

    /// For `{ filter } | count() op n | ...` (only `count()` comparisons after one span-local
    /// filter): those comparisons. A trace's matched spans are then its spans matching the
    /// filter, all of them when their number passes every comparison, none otherwise, so
    /// a search decides a trace from the filter's rows alone, without assembling it.
    pub(crate) fn span_count_stages(&self) -> Option<Vec<(Op, f64)>> {
        let CExpr::Pipeline(input, stages) = &self.expr else {
            return None;
        };
        if !matches!(**input, CExpr::Filter(_)) || self.filters.iter().any(Matcher::is_trace_level)
        {
            return None;
        }
        stages
            .iter()
            .map(|s| match s {
                CStage::Scalar(CAggregate::Count, op, v) => Some((*op, *v)),
                _ => None,
            })
            .collect()
    }

    /// Whether a trace whose spans matched the filters in `mask` can match (structural
    /// relations and pipelines are checked later, on the assembled trace).
    pub(crate) fn may_match(&self, mask: u64) -> bool {
        fn go(e: &CExpr, mask: u64) -> bool {
            match e {
                CExpr::Filter(i) => mask & (1u64 << i) != 0,
                CExpr::Or(a, b) => go(a, mask) || go(b, mask),
                CExpr::Struct(op, _, b) if op.is_negated() => go(b, mask),
                CExpr::And(a, b)
                | CExpr::Child(a, b)
                | CExpr::Descendant(a, b)
                | CExpr::Struct(_, a, b) => go(a, mask) && go(b, mask),
                CExpr::Pipeline(input, _) => go(input, mask),
            }
        }
        go(&self.expr, mask)
    }

    /// The spans of `tree` the query matches (indices into `tree.spans`, ascending).
    pub(crate) fn match_trace(&self, tree: &TraceTree, range: TimeRange) -> Vec<usize> {
        let ctx = tree.ctx();
        let n = tree.spans.len();
        let env = Env {
            tree,
            ctx: &ctx,
            range,
            filters: &self.filters,
            cache: std::cell::RefCell::new(vec![None; self.filters.len()]),
            positions: std::cell::OnceCell::new(),
            reads_tree_pos: self.reads_tree_pos,
        };
        let all = vec![true; n];
        let set = env.go(&self.expr, &all);
        (0..n).filter(|&j| set[j]).collect()
    }
}

/// One trace being matched: filter answers are computed once per filter.
struct Env<'a> {
    tree: &'a TraceTree,
    ctx: &'a TraceCtx,
    range: TimeRange,
    filters: &'a [Matcher],
    cache: std::cell::RefCell<Vec<Option<Vec<bool>>>>,
    /// Child counts and nested-set bounds, numbered only when a query reads them.
    positions: std::cell::OnceCell<Vec<TreePos>>,
    reads_tree_pos: bool,
}

impl Env<'_> {
    fn parent(&self, j: usize) -> Option<usize> {
        self.tree.nodes.get(j).and_then(|n| n.parent)
    }

    fn span_ref(&self, j: usize) -> Option<SpanRef<'_>> {
        Some(SpanRef {
            span: self.tree.spans.get(j)?,
            trace: Some(self.ctx),
            parent: Some(self.parent(j).and_then(|p| self.tree.spans.get(p))),
            pos: self.pos(j),
        })
    }

    fn pos(&self, j: usize) -> Option<TreePos> {
        if !self.reads_tree_pos {
            return None;
        }
        self.positions
            .get_or_init(|| self.tree.positions())
            .get(j)
            .copied()
    }

    fn filter(&self, i: usize) -> Vec<bool> {
        if let Some(Some(s)) = self.cache.borrow().get(i) {
            return s.clone();
        }
        let set: Vec<bool> = (0..self.tree.spans.len())
            .map(|j| {
                let (Some(v), Some(m)) = (self.span_ref(j), self.filters.get(i)) else {
                    return false;
                };
                self.range.contains(v.span.start_ns) && eval(m, &v) == Some(true)
            })
            .collect();
        if let Some(slot) = self.cache.borrow_mut().get_mut(i) {
            *slot = Some(set.clone());
        }
        set
    }

    /// The spans `e` selects among the spans of `universe`.
    fn go(&self, e: &CExpr, universe: &[bool]) -> Vec<bool> {
        let n = universe.len();
        match e {
            CExpr::Filter(i) => {
                let mut s = self.filter(*i);
                for (x, u) in s.iter_mut().zip(universe) {
                    *x &= *u;
                }
                s
            }
            CExpr::Or(a, b) => {
                let (x, y) = (self.go(a, universe), self.go(b, universe));
                x.iter().zip(&y).map(|(a, b)| *a || *b).collect()
            }
            CExpr::And(a, b) => {
                let (x, y) = (self.go(a, universe), self.go(b, universe));
                if x.iter().any(|v| *v) && y.iter().any(|v| *v) {
                    x.iter().zip(&y).map(|(a, b)| *a || *b).collect()
                } else {
                    vec![false; n]
                }
            }
            CExpr::Child(a, b) => {
                let (x, y) = (self.go(a, universe), self.go(b, universe));
                (0..n)
                    .map(|j| y[j] && self.parent(j).is_some_and(|p| x[p]))
                    .collect()
            }
            CExpr::Descendant(a, b) => {
                let (x, y) = (self.go(a, universe), self.go(b, universe));
                (0..n)
                    .map(|j| y[j] && self.ancestors(j).any(|p| x[p]))
                    .collect()
            }
            CExpr::Struct(op, a, b) => {
                let (x, y) = (self.go(a, universe), self.go(b, universe));
                structural(*op, &x, &y, &|j| self.parent(j))
            }
            CExpr::Pipeline(input, stages) => {
                let base = self.go(input, universe);
                let mut sets: Vec<Vec<usize>> = Vec::new();
                let first: Vec<usize> = (0..n).filter(|&j| base[j]).collect();
                if !first.is_empty() {
                    sets.push(first);
                }
                for stage in stages {
                    sets = self.stage(stage, sets, n);
                    if sets.is_empty() {
                        break;
                    }
                }
                let mut out = vec![false; n];
                for set in &sets {
                    for &j in set {
                        out[j] = true;
                    }
                }
                out
            }
        }
    }

    fn ancestors(&self, j: usize) -> impl Iterator<Item = usize> + '_ {
        let mut cur = self.parent(j);
        let mut steps = 0usize;
        std::iter::from_fn(move || {
            let p = cur?;
            steps += 1;
            if steps > self.tree.spans.len() {
                return None;
            }
            cur = self.parent(p);
            Some(p)
        })
    }

    fn stage(&self, stage: &CStage, sets: Vec<Vec<usize>>, n: usize) -> Vec<Vec<usize>> {
        match stage {
            // The stage's expression runs on the whole trace; each spanset keeps the spans it
            // selects (for a filter, the same as filtering the spanset).
            CStage::Spans(e) => {
                let r = self.go(e, &vec![true; n]);
                sets.into_iter()
                    .filter_map(|set| {
                        let kept: Vec<usize> = set.into_iter().filter(|&j| r[j]).collect();
                        (!kept.is_empty()).then_some(kept)
                    })
                    .collect()
            }
            CStage::Scalar(agg, op, v) => sets
                .into_iter()
                .filter(|set| {
                    let value = self.aggregate(agg, set);
                    compare_f64(*op, value, *v)
                })
                .collect(),
            CStage::By(exprs) => {
                let mut out = Vec::new();
                for set in sets {
                    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
                    for j in set {
                        let key = self.span_ref(j).map_or_else(String::new, |v| {
                            let c = expr_ctx(&v);
                            exprs
                                .iter()
                                .map(|e| format!("{:?}", e.value(&c)))
                                .collect::<Vec<_>>()
                                .join("\u{1}")
                        });
                        match groups.iter_mut().find(|(k, _)| *k == key) {
                            Some((_, g)) => g.push(j),
                            None => groups.push((key, vec![j])),
                        }
                    }
                    out.extend(groups.into_iter().map(|(_, g)| g));
                }
                out
            }
            CStage::Coalesce => {
                let mut all: Vec<usize> = sets.into_iter().flatten().collect();
                all.sort_unstable();
                all.dedup();
                if all.is_empty() {
                    Vec::new()
                } else {
                    vec![all]
                }
            }
            CStage::Select => sets,
        }
    }

    fn aggregate(&self, agg: &CAggregate, set: &[usize]) -> f64 {
        let (e, kind) = match agg {
            CAggregate::Count => return set.len() as f64,
            CAggregate::Avg(e) => (e, 0),
            CAggregate::Min(e) => (e, 1),
            CAggregate::Max(e) => (e, 2),
            CAggregate::Sum(e) => (e, 3),
        };
        let values: Vec<f64> = set
            .iter()
            .filter_map(|&j| {
                let v = self.span_ref(j)?;
                e.value(&expr_ctx(&v))?.number()
            })
            .collect();
        if values.is_empty() {
            return f64::NAN;
        }
        match kind {
            0 => values.iter().sum::<f64>() / values.len() as f64,
            1 => values.iter().copied().fold(f64::INFINITY, f64::min),
            2 => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            _ => values.iter().sum(),
        }
    }
}

fn expr_ctx<'a>(v: &SpanRef<'a>) -> Ctx<'a> {
    Ctx {
        span: v.span,
        trace: v.trace,
        parent: v.parent,
        pos: v.pos,
    }
}

/// `value op v` on numbers (NaN compares false).
pub(crate) fn compare_f64(op: Op, value: f64, v: f64) -> bool {
    match op {
        Op::Eq => value == v,
        Op::Ne => !value.is_nan() && value != v,
        Op::Gt => value > v,
        Op::Ge => value >= v,
        Op::Lt => value < v,
        Op::Le => value <= v,
        Op::Match | Op::NotMatch => false,
    }
}

/// The structural operators besides `>` and `>>`, over the parent relation `parent`.
pub(crate) fn structural(
    op: StructOp,
    x: &[bool],
    y: &[bool],
    parent: &dyn Fn(usize) -> Option<usize>,
) -> Vec<bool> {
    let n = x.len();
    let ancestors = |j: usize| {
        let mut out = Vec::new();
        let mut cur = parent(j);
        while let Some(p) = cur {
            if out.len() > n {
                break;
            }
            out.push(p);
            cur = parent(p);
        }
        out
    };
    let siblings = |j: usize| -> Vec<usize> {
        match parent(j) {
            None => Vec::new(),
            Some(p) => (0..n).filter(|&s| s != j && parent(s) == Some(p)).collect(),
        }
    };
    let mut out = vec![false; n];
    match op {
        StructOp::Parent | StructOp::NotParent | StructOp::UnionParent => {
            // y spans that are the parent of an x span.
            let mut is_parent = vec![false; n];
            for i in (0..n).filter(|&i| x[i]) {
                if let Some(p) = parent(i) {
                    if y[p] {
                        is_parent[p] = true;
                        if op == StructOp::UnionParent {
                            out[i] = true;
                        }
                    }
                }
            }
            for j in 0..n {
                let hit = is_parent[j];
                if (op == StructOp::NotParent && y[j] && !hit) || (op != StructOp::NotParent && hit)
                {
                    out[j] = true;
                }
            }
        }
        StructOp::Ancestor | StructOp::NotAncestor | StructOp::UnionAncestor => {
            let mut is_anc = vec![false; n];
            for i in (0..n).filter(|&i| x[i]) {
                let mut any = false;
                for a in ancestors(i) {
                    if y[a] {
                        is_anc[a] = true;
                        any = true;
                    }
                }
                if any && op == StructOp::UnionAncestor {
                    out[i] = true;
                }
            }
            for j in 0..n {
                let hit = is_anc[j];
                if (op == StructOp::NotAncestor && y[j] && !hit)
                    || (op != StructOp::NotAncestor && hit)
                {
                    out[j] = true;
                }
            }
        }
        StructOp::NotChild => {
            for j in 0..n {
                out[j] = y[j] && !parent(j).is_some_and(|p| x[p]);
            }
        }
        StructOp::UnionChild => {
            for j in (0..n).filter(|&j| y[j]) {
                if let Some(p) = parent(j).filter(|&p| x[p]) {
                    out[j] = true;
                    out[p] = true;
                }
            }
        }
        StructOp::NotDescendant => {
            for j in 0..n {
                out[j] = y[j] && !ancestors(j).into_iter().any(|p| x[p]);
            }
        }
        StructOp::UnionDescendant => {
            for j in (0..n).filter(|&j| y[j]) {
                for a in ancestors(j) {
                    if x[a] {
                        out[a] = true;
                        out[j] = true;
                    }
                }
            }
        }
        StructOp::Sibling | StructOp::NotSibling | StructOp::UnionSibling => {
            for j in (0..n).filter(|&j| y[j]) {
                let sibs: Vec<usize> = siblings(j).into_iter().filter(|&s| x[s]).collect();
                match op {
                    StructOp::Sibling => out[j] = !sibs.is_empty(),
                    StructOp::NotSibling => out[j] = sibs.is_empty(),
                    _ => {
                        if !sibs.is_empty() {
                            out[j] = true;
                            for s in sibs {
                                out[s] = true;
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

fn compile_expr(e: &SpansetExpr, filters: &mut Vec<Matcher>) -> CExpr {
    let bin = |a: &SpansetExpr, b: &SpansetExpr, filters: &mut Vec<Matcher>| {
        (
            Box::new(compile_expr(a, filters)),
            Box::new(compile_expr(b, filters)),
        )
    };
    match e {
        SpansetExpr::Filter(c) => {
            filters.push(Matcher::compile(c));
            CExpr::Filter(filters.len() - 1)
        }
        SpansetExpr::And(a, b) => {
            let (a, b) = bin(a, b, filters);
            CExpr::And(a, b)
        }
        SpansetExpr::Or(a, b) => {
            let (a, b) = bin(a, b, filters);
            CExpr::Or(a, b)
        }
        SpansetExpr::Child(a, b) => {
            let (a, b) = bin(a, b, filters);
            CExpr::Child(a, b)
        }
        SpansetExpr::Descendant(a, b) => {
            let (a, b) = bin(a, b, filters);
            CExpr::Descendant(a, b)
        }
        SpansetExpr::Struct(op, a, b) => {
            let (a, b) = bin(a, b, filters);
            CExpr::Struct(*op, a, b)
        }
        SpansetExpr::Pipeline(input, stages) => {
            let input = Box::new(compile_expr(input, filters));
            let stages = stages
                .iter()
                .map(|s| match s {
                    Stage::Spans(e) => CStage::Spans(compile_expr(e, filters)),
                    Stage::Scalar(agg, op, lit) => {
                        let agg = match agg {
                            Aggregate::Count => CAggregate::Count,
                            Aggregate::Avg(e) => CAggregate::Avg(CompiledExpr::new(e)),
                            Aggregate::Min(e) => CAggregate::Min(CompiledExpr::new(e)),
                            Aggregate::Max(e) => CAggregate::Max(CompiledExpr::new(e)),
                            Aggregate::Sum(e) => CAggregate::Sum(CompiledExpr::new(e)),
                        };
                        CStage::Scalar(agg, *op, literal_number(lit))
                    }
                    Stage::By(es) => CStage::By(es.iter().map(CompiledExpr::new).collect()),
                    Stage::Coalesce => CStage::Coalesce,
                    Stage::Select(_) => CStage::Select,
                })
                .collect();
            CExpr::Pipeline(input, stages)
        }
    }
}

/// Whether some filter, aggregate, grouping or selection reads a span's place in its tree.
fn reads_tree_pos(e: &SpansetExpr) -> bool {
    let mut any = false;
    for_each_query_field(e, &mut |f| any |= f.is_tree_pos());
    any
}

/// The parts of a span that deciding `e` on an assembled trace reads (the core always),
/// so candidate traces can be decoded without the rest.
pub(crate) fn query_parts(e: &SpansetExpr) -> SpanParts {
    fn add(f: &Field, parts: &mut SpanParts) {
        match f {
            Field::Span(_) | Field::Unscoped(_) => parts.attributes = true,
            Field::EventName | Field::EventTimeSinceStart | Field::Event(_) => parts.events = true,
            Field::LinkTraceId | Field::LinkSpanId | Field::Link(_) => parts.links = true,
            Field::Parent(inner) => add(inner, parts),
            _ => {}
        }
    }
    let mut parts = SpanParts::CORE;
    for_each_query_field(e, &mut |f| add(f, &mut parts));
    parts
}

/// Calls `f` on every field a filter, aggregate, grouping or selection of `e` reads.
fn for_each_query_field(e: &SpansetExpr, f: &mut impl FnMut(&Field)) {
    fn cond(c: &Cond, f: &mut impl FnMut(&Field)) {
        match c {
            Cond::True => {}
            Cond::Cmp(x, ..) => f(x),
            Cond::And(a, b) | Cond::Or(a, b) => {
                cond(a, f);
                cond(b, f);
            }
            Cond::Expr(e) => e.for_each_field(&mut |x| f(x)),
        }
    }
    match e {
        SpansetExpr::Filter(c) => cond(c, f),
        SpansetExpr::And(a, b)
        | SpansetExpr::Or(a, b)
        | SpansetExpr::Child(a, b)
        | SpansetExpr::Descendant(a, b)
        | SpansetExpr::Struct(_, a, b) => {
            for_each_query_field(a, f);
            for_each_query_field(b, f);
        }
        SpansetExpr::Pipeline(input, stages) => {
            for_each_query_field(input, f);
            for s in stages {
                match s {
                    Stage::Spans(e) => for_each_query_field(e, f),
                    Stage::Scalar(a, ..) => match a {
                        Aggregate::Count => {}
                        Aggregate::Avg(e)
                        | Aggregate::Min(e)
                        | Aggregate::Max(e)
                        | Aggregate::Sum(e) => e.for_each_field(&mut |x| f(x)),
                    },
                    Stage::By(es) => {
                        for e in es {
                            e.for_each_field(&mut |x| f(x));
                        }
                    }
                    Stage::Select(fs) => fs.iter().for_each(&mut *f),
                    Stage::Coalesce => {}
                }
            }
        }
    }
}

/// The fields of every `select(...)` stage of `e`, without repeats.
pub(crate) fn selected_fields(e: &SpansetExpr) -> Vec<Field> {
    fn go(e: &SpansetExpr, out: &mut Vec<Field>) {
        match e {
            SpansetExpr::Filter(_) => {}
            SpansetExpr::And(a, b)
            | SpansetExpr::Or(a, b)
            | SpansetExpr::Child(a, b)
            | SpansetExpr::Descendant(a, b)
            | SpansetExpr::Struct(_, a, b) => {
                go(a, out);
                go(b, out);
            }
            SpansetExpr::Pipeline(input, stages) => {
                go(input, out);
                for s in stages {
                    match s {
                        Stage::Select(fs) => {
                            for f in fs {
                                if !out.contains(f) {
                                    out.push(f.clone());
                                }
                            }
                        }
                        Stage::Spans(e) => go(e, out),
                        _ => {}
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    go(e, &mut out);
    out
}

/// A numeric literal as a number (durations in nanoseconds).
pub(crate) fn literal_number(l: &Literal) -> f64 {
    match l {
        Literal::Int(i) => *i as f64,
        Literal::Float(x) => *x,
        Literal::Duration(d) => *d as f64,
        _ => f64::NAN,
    }
}

/// A trace that may match: which filters matched some of its spans, and an upper bound on its
/// start time (the earliest matching span seen).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Candidate {
    pub mask: u64,
    pub first_match_ns: u64,
}

/// Phase one: every trace with a span matching some filter, from blocks (in parallel) and
/// the unsealed builder.
pub(crate) fn candidate_traces(
    snapshot: &Snapshot,
    compiled: &Compiled,
    range: TimeRange,
) -> Result<HashMap<TraceId, Candidate>> {
    snapshot.require_all_blocks()?;
    let blocks: Vec<_> = snapshot.blocks().cloned().collect();
    let parts =
        scan::parallel_blocks(&blocks, HashMap::<TraceId, Candidate>::new, |block, acc| {
            scan::scan_block(block, &compiled.filters, range, false, &mut |fi, row| {
                add(
                    acc,
                    row.trace_id(),
                    fi,
                    crate::eval::SpanView::start_ns(row),
                );
            })
        })?;
    let mut out: HashMap<TraceId, Candidate> = HashMap::new();
    for part in parts {
        if out.is_empty() {
            out = part;
            continue;
        }
        for (t, c) in part {
            let e = out.entry(t).or_insert(Candidate {
                mask: 0,
                first_match_ns: u64::MAX,
            });
            e.mask |= c.mask;
            e.first_match_ns = e.first_match_ns.min(c.first_match_ns);
        }
    }
    scan::scan_unsealed(
        snapshot.unsealed_spans()?,
        &compiled.filters,
        range,
        &mut |fi, s| {
            add(&mut out, s.span.trace_id, fi, s.span.start_ns);
        },
    );
    out.retain(|_, c| compiled.may_match(c.mask));
    Ok(out)
}

fn add(acc: &mut HashMap<TraceId, Candidate>, t: TraceId, filter: usize, start: u64) {
    let e = acc.entry(t).or_insert(Candidate {
        mask: 0,
        first_match_ns: u64::MAX,
    });
    e.mask |= 1u64 << filter;
    e.first_match_ns = e.first_match_ns.min(start);
}
