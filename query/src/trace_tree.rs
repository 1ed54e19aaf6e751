//! Trace assembly: the span tree of one trace, tolerant of what real traces look like —
//! spans whose parent never arrived (orphans, kept and marked), several roots, duplicate span
//! ids, parent cycles, and clocks that disagree between hosts.

use std::collections::{BTreeMap, HashMap};

use spandb_storage::{Snapshot, Span, SpanId, SpanKind, TraceId};

use crate::error::Result;
use crate::eval::TraceCtx;

/// Cuts every loop in the parent links, in time linear in the number of spans: each span's
/// ancestor chain is walked once, and a loop found on the walk is cut at its earliest span
/// (lowest index = earliest start), which becomes an orphan. A quadratic check (walking up
/// from every span) lets one 100,000-span chain sent by a client stall a query for seconds.
fn break_parent_cycles(parent: &mut [Option<usize>]) {
    const UNSEEN: u8 = 0;
    const ON_PATH: u8 = 1;
    const DONE: u8 = 2;
    let n = parent.len();
    let mut state = vec![UNSEEN; n];
    let mut path: Vec<usize> = Vec::new();
    for start in 0..n {
        if state[start] != UNSEEN {
            continue;
        }
        path.clear();
        let mut cur = start;
        loop {
            match state[cur] {
                DONE => break,
                ON_PATH => {
                    // `cur` was reached again: the path from its first visit loops.
                    let from = path.iter().rposition(|&s| s == cur).unwrap_or(0);
                    if let Some(&cut) = path[from..].iter().min() {
                        parent[cut] = None;
                    }
                    break;
                }
                _ => {
                    state[cur] = ON_PATH;
                    path.push(cur);
                    match parent[cur] {
                        Some(p) => cur = p,
                        None => break,
                    }
                }
            }
        }
        for &s in &path {
            state[s] = DONE;
        }
    }
}

/// One span in the tree.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Index of the span in [`TraceTree::spans`].
    pub span: usize,
    pub parent: Option<usize>,
    /// Children, ordered by start time.
    pub children: Vec<usize>,
    /// Distance from its root (roots and orphans are 0).
    pub depth: u32,
    /// The span names a parent that is not in the trace (or whose parent chain loops).
    pub orphan: bool,
    /// Shift (ns) that places this span inside its parent when the two were timed on
    /// clocks that disagree (a child in another service that starts before or ends after its
    /// parent). Cumulative along the path from the root; 0 when the clocks agree.
    pub skew_adjust_ns: i64,
}

/// Where a span sits in its trace's tree, for `span:childCount` and the nested-set
/// intrinsics. Spans under a root are numbered depth first from 1 (a span's left bound is
/// one past its previous sibling's right bound, its right bound one past its last
/// descendant's); orphan subtrees, which Tempo does not number either, keep 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TreePos {
    pub child_count: u32,
    pub left: i64,
    pub right: i64,
    /// The parent's left bound; -1 on a root, 0 in an orphan subtree.
    pub parent: i64,
}

/// An assembled trace.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceTree {
    pub trace_id: TraceId,
    /// The spans, ordered by start time (then span id).
    pub spans: Vec<Span>,
    /// `nodes[i]` describes `spans[i]`.
    pub nodes: Vec<Node>,
    /// Spans without a parent id, then orphans: the tops of the tree, by start time.
    pub roots: Vec<usize>,
    /// The root span: the earliest span without a parent id (`None` when it has not arrived).
    pub root: Option<usize>,
    pub start_ns: u64,
    pub end_ns: u64,
    /// Span count per service, by count (descending) then name.
    pub services: Vec<(String, usize)>,
}

impl TraceTree {
    /// Assembles a trace from its spans (any order). `None` when `spans` is empty.
    pub fn from_spans(mut spans: Vec<Span>) -> Option<TraceTree> {
        let trace_id = spans.first()?.trace_id;
        spans.sort_by(|a, b| {
            (a.start_ns, a.span_id, a.end_ns).cmp(&(b.start_ns, b.span_id, b.end_ns))
        });
        let n = spans.len();
        // The first (earliest) span with an id wins when a client sent duplicates.
        let mut by_id: HashMap<SpanId, usize> = HashMap::with_capacity(n);
        for (i, s) in spans.iter().enumerate() {
            by_id.entry(s.span_id).or_insert(i);
        }
        let mut parent: Vec<Option<usize>> = spans
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.parent_span_id
                    .filter(|p| !p.is_zero())
                    .and_then(|p| by_id.get(&p).copied())
                    .filter(|&p| p != i)
            })
            .collect();
        break_parent_cycles(&mut parent);
        let mut nodes: Vec<Node> = (0..n)
            .map(|i| Node {
                span: i,
                parent: parent[i],
                children: Vec::new(),
                depth: 0,
                orphan: parent[i].is_none()
                    && spans[i].parent_span_id.is_some_and(|p| !p.is_zero()),
                skew_adjust_ns: 0,
            })
            .collect();
        for (i, p) in parent.iter().enumerate() {
            if let Some(node) = p.and_then(|p| nodes.get_mut(p)) {
                node.children.push(i);
            }
        }
        let mut roots: Vec<usize> = (0..n).filter(|&i| parent[i].is_none()).collect();
        roots.sort_by_key(|&i| (nodes[i].orphan, spans[i].start_ns, i));
        let root = roots.iter().copied().find(|&i| !nodes[i].orphan);
        // Depth and skew, top-down (children are in index = start order already).
        let mut stack: Vec<usize> = roots.clone();
        while let Some(i) = stack.pop() {
            let (depth, adjust) = (nodes[i].depth, nodes[i].skew_adjust_ns);
            let children = nodes[i].children.clone();
            for c in children {
                let mut child_adjust = adjust;
                if spans[c].service() != spans[i].service() {
                    child_adjust += skew_shift(&spans[i], adjust, &spans[c], adjust);
                }
                nodes[c].depth = depth + 1;
                nodes[c].skew_adjust_ns = child_adjust;
                stack.push(c);
            }
        }
        let start_ns = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
        // The latest end, never before the start: a span ending before it starts does not
        // stretch the trace (the block trace table's definition).
        let end_ns = spans
            .iter()
            .map(|s| s.end_ns)
            .max()
            .unwrap_or(0)
            .max(start_ns);
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for s in &spans {
            *counts.entry(s.service()).or_default() += 1;
        }
        let mut services: Vec<(String, usize)> =
            counts.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        services.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Some(TraceTree {
            trace_id,
            spans,
            nodes,
            roots,
            root,
            start_ns,
            end_ns,
            services,
        })
    }

    /// `end - start` over every span.
    pub fn duration_ns(&self) -> u64 {
        self.end_ns - self.start_ns
    }
    pub fn root_span(&self) -> Option<&Span> {
        self.root.and_then(|i| self.spans.get(i))
    }
    pub fn orphan_count(&self) -> usize {
        self.nodes.iter().filter(|n| n.orphan).count()
    }
    /// Depth-first order from the roots, children by start time: the waterfall order.
    pub fn depth_first(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.spans.len());
        let mut stack: Vec<usize> = self.roots.iter().rev().copied().collect();
        while let Some(i) = stack.pop() {
            out.push(i);
            if let Some(n) = self.nodes.get(i) {
                stack.extend(n.children.iter().rev());
            }
        }
        out
    }
    /// Each span's [`TreePos`] (indexed like `spans`).
    pub fn positions(&self) -> Vec<TreePos> {
        let mut pos: Vec<TreePos> = self
            .nodes
            .iter()
            .map(|n| TreePos {
                child_count: u32::try_from(n.children.len()).unwrap_or(u32::MAX),
                ..TreePos::default()
            })
            .collect();
        let mut next = 1i64;
        // (span, children visited): an explicit stack, so a deep trace cannot overflow.
        let mut stack: Vec<(usize, bool)> = Vec::new();
        for &r in self.roots.iter().rev() {
            if self.nodes.get(r).is_some_and(|n| !n.orphan) {
                stack.push((r, false));
            }
        }
        while let Some((i, done)) = stack.pop() {
            if done {
                if let Some(p) = pos.get_mut(i) {
                    p.right = next;
                }
                next += 1;
                continue;
            }
            let parent_left = match self.nodes.get(i).and_then(|n| n.parent) {
                Some(p) => pos.get(p).map_or(0, |p| p.left),
                None => -1,
            };
            if let Some(p) = pos.get_mut(i) {
                p.left = next;
                p.parent = parent_left;
            }
            next += 1;
            stack.push((i, true));
            if let Some(n) = self.nodes.get(i) {
                stack.extend(n.children.iter().rev().map(|&c| (c, false)));
            }
        }
        pos
    }
    /// What trace-level TraceQL intrinsics see.
    pub(crate) fn ctx(&self) -> TraceCtx {
        TraceCtx {
            root_service: self.root_span().map(|s| s.service().to_owned()),
            root_name: self.root_span().map(|s| s.name.clone()),
            duration_ns: self.duration_ns(),
        }
    }
}

/// Whether `child` runs asynchronously from `parent` (a message consumed, or work a
/// producer handed off): it may start and end after its parent, so only starting before
/// the parent is a sign of clock skew.
pub fn is_async_child(parent: &Span, child: &Span) -> bool {
    parent.kind == SpanKind::Producer || child.kind == SpanKind::Consumer
}

/// How far to move a child (timed on another host) so it sits inside its parent: centred
/// when it fits, aligned to the parent's start otherwise; 0 when it is already inside. An
/// asynchronous child is only moved when it starts before its parent, to the parent's start.
fn skew_shift(parent: &Span, parent_adjust: i64, child: &Span, child_adjust: i64) -> i64 {
    let p_start = parent.start_ns as i128 + i128::from(parent_adjust);
    let p_dur = parent.duration_ns() as i128;
    let c_start = child.start_ns as i128 + i128::from(child_adjust);
    let c_dur = child.duration_ns() as i128;
    if is_async_child(parent, child) {
        return i64::try_from((p_start - c_start).max(0)).unwrap_or(0);
    }
    if c_start >= p_start && c_start + c_dur <= p_start + p_dur {
        return 0;
    }
    let target = if c_dur <= p_dur {
        p_start + (p_dur - c_dur) / 2
    } else {
        p_start
    };
    i64::try_from(target - c_start).unwrap_or(0)
}

/// Fetches and assembles one trace. `None` when the store has no span of it.
pub fn trace(snapshot: &Snapshot, trace_id: &TraceId) -> Result<Option<TraceTree>> {
    Ok(TraceTree::from_spans(snapshot.trace(trace_id)?))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use spandb_storage::{KeyValue, Resource, Value};

    use super::*;

    fn span(id: u8, parent: Option<u8>, service: &str, start: u64, end: u64) -> Span {
        Span {
            trace_id: TraceId([7; 16]),
            span_id: SpanId([id; 8]),
            parent_span_id: parent.map(|p| SpanId([p; 8])),
            name: format!("op{id}"),
            start_ns: start,
            end_ns: end,
            resource: Arc::new(Resource {
                attributes: vec![KeyValue::new("service.name", Value::Str(service.into()))],
                ..Resource::default()
            }),
            ..Span::default()
        }
    }

    #[test]
    fn builds_parent_child_links_and_counts() {
        let t = TraceTree::from_spans(vec![
            span(3, Some(2), "db", 30, 40),
            span(1, None, "web", 0, 100),
            span(2, Some(1), "api", 10, 90),
            span(4, Some(1), "web", 20, 25),
        ])
        .unwrap();
        let root = t.root_span().unwrap();
        assert_eq!(root.name, "op1");
        assert_eq!(t.duration_ns(), 100);
        assert_eq!(t.nodes[t.root.unwrap()].children.len(), 2);
        let order: Vec<&str> = t
            .depth_first()
            .iter()
            .map(|&i| t.spans[i].name.as_str())
            .collect();
        assert_eq!(order, vec!["op1", "op2", "op3", "op4"]);
        let depth_of =
            |name: &str| t.nodes[t.spans.iter().position(|s| s.name == name).unwrap()].depth;
        assert_eq!(depth_of("op3"), 2);
        assert_eq!(
            t.services,
            vec![
                ("web".to_owned(), 2),
                ("api".to_owned(), 1),
                ("db".to_owned(), 1)
            ]
        );
        assert_eq!(t.orphan_count(), 0);
    }

    #[test]
    fn orphans_are_kept_and_marked() {
        let t = TraceTree::from_spans(vec![
            span(1, None, "web", 0, 100),
            span(5, Some(9), "api", 10, 20),
        ])
        .unwrap();
        assert_eq!(t.spans.len(), 2);
        assert_eq!(t.orphan_count(), 1);
        assert_eq!(t.roots.len(), 2);
        assert_eq!(t.root_span().unwrap().name, "op1");
        // A trace whose root never arrived has no root, but keeps its spans.
        let t = TraceTree::from_spans(vec![span(5, Some(9), "api", 10, 20)]).unwrap();
        assert!(t.root.is_none());
        assert!(t.nodes[0].orphan);
    }

    #[test]
    fn parent_cycles_do_not_hang_and_become_orphans() {
        let t = TraceTree::from_spans(vec![
            span(1, Some(2), "a", 0, 10),
            span(2, Some(1), "a", 1, 5),
        ])
        .unwrap();
        assert_eq!(t.depth_first().len(), 2);
        assert!(t.nodes.iter().any(|n| n.orphan));
    }

    #[test]
    fn a_cycle_is_cut_at_its_earliest_span_and_a_tail_into_it_keeps_its_parent() {
        // 1 -> 2 -> 3 -> 2 (a loop of 2 and 3), and 4 hangs below 3.
        let t = TraceTree::from_spans(vec![
            span(1, None, "a", 0, 100),
            span(2, Some(3), "a", 10, 50),
            span(3, Some(2), "a", 20, 40),
            span(4, Some(3), "a", 25, 30),
        ])
        .unwrap();
        let at = |name: &str| t.spans.iter().position(|s| s.name == name).unwrap();
        assert!(t.nodes[at("op2")].orphan, "the loop's earliest span is cut");
        assert_eq!(t.nodes[at("op3")].parent, Some(at("op2")));
        assert_eq!(t.nodes[at("op4")].parent, Some(at("op3")));
        assert_eq!(t.orphan_count(), 1);
        assert_eq!(t.depth_first().len(), 4);
    }

    #[test]
    fn a_hundred_thousand_span_chain_assembles_in_linear_time() {
        // Deep chains come from clients (recursion, retries); a quadratic parent check made
        // this take seconds. Ids are the chain position; the last span closes a loop to 1.
        let n: u64 = 100_000;
        let id = |i: u64| SpanId((i + 1).to_be_bytes());
        let mut spans: Vec<Span> = (0..n)
            .map(|i| Span {
                trace_id: TraceId([7; 16]),
                span_id: id(i),
                parent_span_id: (i > 0).then(|| id(i - 1)),
                name: format!("op{i}"),
                start_ns: i,
                end_ns: 2 * n - i,
                ..Span::default()
            })
            .collect();
        spans[0].parent_span_id = Some(id(n - 1));
        let t = TraceTree::from_spans(spans).unwrap();
        assert_eq!(t.orphan_count(), 1);
        assert!(t.nodes[0].orphan);
        assert_eq!(t.nodes[(n - 1) as usize].depth, (n - 1) as u32);
        assert_eq!(t.depth_first().len(), n as usize);
        // The analyses over the tree are iterative too (no recursion to overflow the stack),
        // and on nested spans the critical path and the self times each cover the trace.
        let total = |v: &[u64]| v.iter().sum::<u64>();
        let path = crate::analysis::critical_path(&t);
        let on_path: Vec<u64> = path.iter().map(|s| s.duration_ns()).collect();
        assert_eq!(total(&on_path), t.duration_ns());
        assert_eq!(total(&crate::analysis::self_times(&t)), t.duration_ns());
    }

    #[test]
    fn clock_skew_between_services_is_adjusted_not_fatal() {
        // The api host's clock is 1000ns behind: its server span starts before the client span.
        let t = TraceTree::from_spans(vec![
            span(1, None, "web", 1000, 1100),
            span(2, Some(1), "api", 20, 80),
            span(3, Some(2), "api", 30, 40),
        ])
        .unwrap();
        let i2 = t.spans.iter().position(|s| s.name == "op2").unwrap();
        let i3 = t.spans.iter().position(|s| s.name == "op3").unwrap();
        assert_eq!(t.nodes[i2].skew_adjust_ns, 1000);
        assert_eq!(
            t.nodes[i3].skew_adjust_ns, 1000,
            "descendants move with their parent"
        );
        assert_eq!(t.nodes[i2].parent, Some(t.root.unwrap()));
        // Same-service children are never shifted.
        let t = TraceTree::from_spans(vec![
            span(1, None, "web", 1000, 1100),
            span(2, Some(1), "web", 20, 80),
        ])
        .unwrap();
        assert!(t.nodes.iter().all(|n| n.skew_adjust_ns == 0));
    }

    #[test]
    fn a_consumer_running_after_its_producer_is_not_skew() {
        let mut producer = span(2, Some(1), "web", 10, 20);
        producer.kind = SpanKind::Producer;
        let mut consumer = span(3, Some(2), "worker", 500, 900);
        consumer.kind = SpanKind::Consumer;
        let mut early = span(4, Some(2), "worker", 5, 30);
        early.kind = SpanKind::Consumer;
        let t = TraceTree::from_spans(vec![
            span(1, None, "web", 0, 100),
            producer,
            consumer,
            early,
        ])
        .unwrap();
        let at = |name: &str| t.spans.iter().position(|s| s.name == name).unwrap();
        assert_eq!(
            t.nodes[at("op3")].skew_adjust_ns,
            0,
            "late is normal for a consumer"
        );
        assert_eq!(
            t.nodes[at("op4")].skew_adjust_ns,
            5,
            "starting before the producer is not"
        );
    }
}
