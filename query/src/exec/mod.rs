//! Query execution: search (trace summaries) and metrics (range aggregations).

pub(crate) mod metrics;
#[cfg(test)]
mod planner_matches_row_eval;
pub(crate) mod rows;
pub(crate) mod scan;
pub(crate) mod search;
pub(crate) mod split;

use std::collections::HashMap;

use spandb_storage::{Snapshot, TraceId};

use crate::ast::{Query, SpansetExpr};
use crate::error::{Error, Result};
use crate::eval::{eval, Matcher, SpanRef};
use crate::plan::TimeRange;
use crate::trace_tree::TraceTree;

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
}

#[derive(Debug)]
pub(crate) struct Compiled {
    pub expr: CExpr,
    pub filters: Vec<Matcher>,
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
        Ok(Compiled { expr, filters })
    }

    /// True when a span's match is decided by its own filter alone (one filter, no
    /// trace-level intrinsic): no trace assembly needed to know which spans match.
    pub(crate) fn is_span_local(&self) -> bool {
        matches!(self.expr, CExpr::Filter(_)) && !self.filters.iter().any(Matcher::is_trace_level)
    }

    /// Whether a trace whose spans matched the filters in `mask` can match (structural
    /// relations are checked later, on the assembled trace).
    pub(crate) fn may_match(&self, mask: u64) -> bool {
        fn go(e: &CExpr, mask: u64) -> bool {
            match e {
                CExpr::Filter(i) => mask & (1u64 << i) != 0,
                CExpr::Or(a, b) => go(a, mask) || go(b, mask),
                CExpr::And(a, b) | CExpr::Child(a, b) | CExpr::Descendant(a, b) => {
                    go(a, mask) && go(b, mask)
                }
            }
        }
        go(&self.expr, mask)
    }

    /// The spans of `tree` the query matches (indices into `tree.spans`, ascending).
    pub(crate) fn match_trace(&self, tree: &TraceTree, range: TimeRange) -> Vec<usize> {
        let ctx = tree.ctx();
        let n = tree.spans.len();
        let mut per_filter: Vec<Option<Vec<bool>>> = vec![None; self.filters.len()];
        let mut filter_set = |i: usize| -> Vec<bool> {
            if let Some(Some(s)) = per_filter.get(i) {
                return s.clone();
            }
            let set: Vec<bool> = tree
                .spans
                .iter()
                .enumerate()
                .map(|(j, s)| {
                    range.contains(s.start_ns)
                        && self.filters.get(i).is_some_and(|m| {
                            eval(
                                m,
                                &SpanRef {
                                    span: s,
                                    trace: Some(&ctx),
                                    parent: Some(
                                        tree.nodes
                                            .get(j)
                                            .and_then(|n| n.parent)
                                            .and_then(|p| tree.spans.get(p)),
                                    ),
                                },
                            ) == Some(true)
                        })
                })
                .collect();
            if let Some(slot) = per_filter.get_mut(i) {
                *slot = Some(set.clone());
            }
            set
        };
        fn go(
            e: &CExpr,
            tree: &TraceTree,
            n: usize,
            f: &mut dyn FnMut(usize) -> Vec<bool>,
        ) -> Vec<bool> {
            match e {
                CExpr::Filter(i) => f(*i),
                CExpr::Or(a, b) => {
                    let (x, y) = (go(a, tree, n, f), go(b, tree, n, f));
                    x.iter().zip(&y).map(|(a, b)| *a || *b).collect()
                }
                CExpr::And(a, b) => {
                    let (x, y) = (go(a, tree, n, f), go(b, tree, n, f));
                    if x.iter().any(|v| *v) && y.iter().any(|v| *v) {
                        x.iter().zip(&y).map(|(a, b)| *a || *b).collect()
                    } else {
                        vec![false; n]
                    }
                }
                CExpr::Child(a, b) => {
                    let (x, y) = (go(a, tree, n, f), go(b, tree, n, f));
                    (0..n)
                        .map(|j| y[j] && tree.nodes[j].parent.is_some_and(|p| x[p]))
                        .collect()
                }
                CExpr::Descendant(a, b) => {
                    let (x, y) = (go(a, tree, n, f), go(b, tree, n, f));
                    (0..n)
                        .map(|j| {
                            if !y[j] {
                                return false;
                            }
                            let mut cur = tree.nodes[j].parent;
                            while let Some(p) = cur {
                                if x[p] {
                                    return true;
                                }
                                cur = tree.nodes[p].parent;
                            }
                            false
                        })
                        .collect()
                }
            }
        }
        let set = go(&self.expr, tree, n, &mut filter_set);
        (0..n).filter(|&j| set[j]).collect()
    }
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
        snapshot.unsealed_spans(),
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
