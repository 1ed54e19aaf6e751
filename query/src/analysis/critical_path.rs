//! The critical path of one trace: the sections of spans that determine its end-to-end
//! latency, computed as Jaeger UI computes it (jaeger-ui, `TracePage/CriticalPath`,
//! Apache-2.0), so the two tools agree on the same trace:
//!
//! 1. Non-blocking children are dropped with their subtrees: a consumer span whose parent
//!    is a producer ran asynchronously and cannot have delayed it (jaeger-ui's
//!    `utils/cpspan.ts`, `isBlockingSpan`; whatever the timing, as Jaeger UI decides it).
//! 2. Children are clipped to their parent (top-down, so a parent is clipped before its
//!    children are held against it); a child wholly outside its parent is dropped, in the
//!    order of `utils/sanitizeOverFlowingChildren.ts` (a zero-length child at its parent's
//!    start is kept).
//! 3. From the root, repeatedly descend into the last-finishing child; when a span has no
//!    child left that ends before the point we came back from, its section runs from its
//!    start, and the walk returns to its parent with that start as the new horizon.
//!
//! Times are the spans' own (not skew-adjusted), as in Jaeger UI. The walk is a loop, not
//! recursion, so a 100,000-span chain cannot overflow the stack.

use spandb_storage::SpanKind;

use crate::trace_tree::TraceTree;

/// One stretch of time during which `span` (an index into [`TraceTree::spans`]) was the span
/// the trace was waiting on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CriticalSection {
    pub span: usize,
    pub start_ns: u64,
    pub end_ns: u64,
}

impl CriticalSection {
    pub fn duration_ns(&self) -> u64 {
        self.end_ns - self.start_ns
    }
}

/// The critical path of `tree`, in the order the walk finds the sections: from the end of
/// the trace backwards, one root after another (roots and orphans by start time).
pub fn critical_path(tree: &TraceTree) -> Vec<CriticalSection> {
    let clipped = ClippedTree::new(tree);
    let mut sections = Vec::new();
    for &root in &tree.roots {
        walk(&clipped, root, &mut sections);
    }
    sections
}

/// Critical-path time per span (`out[i]` for `tree.spans[i]`): the sum of its sections.
pub fn critical_time_per_span(tree: &TraceTree, sections: &[CriticalSection]) -> Vec<u64> {
    let mut out = vec![0u64; tree.spans.len()];
    for s in sections {
        if let Some(t) = out.get_mut(s.span) {
            *t += s.duration_ns();
        }
    }
    out
}

/// Each span's interval after steps 1 and 2; `None` for a dropped span. `children` keeps
/// the tree's order (start time), which decides ties between children ending together.
struct ClippedTree<'t> {
    tree: &'t TraceTree,
    interval: Vec<Option<(u64, u64)>>,
}

impl<'t> ClippedTree<'t> {
    fn new(tree: &'t TraceTree) -> Self {
        let spans = &tree.spans;
        let mut interval: Vec<Option<(u64, u64)>> = vec![None; spans.len()];
        let mut stack: Vec<usize> = Vec::new();
        for &root in &tree.roots {
            let s = &spans[root];
            interval[root] = Some((s.start_ns, s.end_ns.max(s.start_ns)));
            stack.push(root);
        }
        while let Some(parent) = stack.pop() {
            let Some((p_start, p_end)) = interval[parent] else {
                continue;
            };
            let parent_kind = spans[parent].kind;
            for &child in &tree.nodes[parent].children {
                let c = &spans[child];
                if parent_kind == SpanKind::Producer && c.kind == SpanKind::Consumer {
                    continue; // non-blocking: dropped with its subtree
                }
                let Some(clipped) = clip(c.start_ns, c.end_ns.max(c.start_ns), p_start, p_end)
                else {
                    continue; // wholly outside its parent
                };
                interval[child] = Some(clipped);
                stack.push(child);
            }
        }
        ClippedTree { tree, interval }
    }

    fn end(&self, span: usize) -> Option<u64> {
        self.interval[span].map(|(_, end)| end)
    }

    /// The child of `span` that ends last, among those ending strictly before `horizon`
    /// when one is given. The first in start order wins a tie.
    fn last_finishing_child(&self, span: usize, horizon: Option<u64>) -> Option<usize> {
        let mut best: Option<(usize, u64)> = None;
        for &child in &self.tree.nodes[span].children {
            let Some(end) = self.end(child) else { continue };
            if horizon.is_some_and(|h| end >= h) {
                continue;
            }
            if best.is_none_or(|(_, best_end)| end > best_end) {
                best = Some((child, end));
            }
        }
        best.map(|(child, _)| child)
    }
}

/// A child's interval clipped to its parent's, `None` when it lies wholly outside. The
/// comparisons are jaeger-ui's: a child starting inside (or at the start of) its parent is
/// kept even when it has no length.
fn clip(c_start: u64, c_end: u64, p_start: u64, p_end: u64) -> Option<(u64, u64)> {
    if c_start >= p_start {
        (c_start < p_end).then_some((c_start, c_end.min(p_end)))
    } else {
        (c_end > p_start).then_some((p_start, c_end.min(p_end)))
    }
}

fn walk(clipped: &ClippedTree<'_>, root: usize, out: &mut Vec<CriticalSection>) {
    let Some(_) = clipped.interval[root] else {
        return;
    };
    let mut span = root;
    let mut horizon: Option<u64> = None;
    loop {
        let Some((start, end)) = clipped.interval[span] else {
            return;
        };
        let section_end = horizon.unwrap_or(end);
        if let Some(child) = clipped.last_finishing_child(span, horizon) {
            let child_end = clipped.end(child).unwrap_or(section_end);
            push_section(out, span, child_end, section_end);
            span = child;
            horizon = None;
        } else {
            push_section(out, span, start, section_end);
            if span == root {
                return;
            }
            match clipped.tree.nodes[span].parent {
                Some(parent) => {
                    horizon = Some(start);
                    span = parent;
                }
                None => return,
            }
        }
    }
}

fn push_section(out: &mut Vec<CriticalSection>, span: usize, start_ns: u64, end_ns: u64) {
    if end_ns > start_ns {
        out.push(CriticalSection {
            span,
            start_ns,
            end_ns,
        });
    }
}

#[cfg(test)]
#[path = "critical_path_tests.rs"]
mod tests;
