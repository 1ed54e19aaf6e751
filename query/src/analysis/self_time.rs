//! Self time (exclusive time): how long a span was running with none of its children
//! running, i.e. its duration minus the union of its children's intervals clipped to it.
//! Overlapping children (parallel calls) are counted once, so self time is never negative
//! and the self times of a synchronous trace add up to its root's duration.

use crate::trace_tree::TraceTree;

/// Self time (ns) of every span: `out[i]` for `tree.spans[i]`.
pub fn self_times(tree: &TraceTree) -> Vec<u64> {
    let spans = &tree.spans;
    let mut intervals: Vec<(u64, u64)> = Vec::new();
    tree.nodes
        .iter()
        .map(|node| {
            let span = &spans[node.span];
            let (start, end) = (span.start_ns, span.end_ns.max(span.start_ns));
            intervals.clear();
            intervals.extend(node.children.iter().filter_map(|&c| {
                let child = &spans[c];
                let (c_start, c_end) = (child.start_ns.max(start), child.end_ns.min(end));
                (c_end > c_start).then_some((c_start, c_end))
            }));
            (end - start) - union_length(&mut intervals)
        })
        .collect()
}

/// Total length covered by `intervals` (sorted in place).
fn union_length(intervals: &mut [(u64, u64)]) -> u64 {
    intervals.sort_unstable();
    let mut total = 0;
    let mut current: Option<(u64, u64)> = None;
    for &(start, end) in intervals.iter() {
        match current {
            Some((cs, ce)) if start <= ce => current = Some((cs, ce.max(end))),
            Some((cs, ce)) => {
                total += ce - cs;
                current = Some((start, end));
            }
            None => current = Some((start, end)),
        }
    }
    total + current.map_or(0, |(s, e)| e - s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_counts_overlaps_once() {
        assert_eq!(union_length(&mut [(0, 10), (5, 15), (20, 25)]), 20);
        assert_eq!(union_length(&mut [(20, 25), (0, 30)]), 30);
        assert_eq!(union_length(&mut []), 0);
    }
}
