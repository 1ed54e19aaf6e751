//! Many traces at once: each block is asked once for all of them (its trace table answers
//! which rows, and each row group is decoded once however many of the traces it holds),
//! instead of one trace-index lookup and one or two row-group decodes per trace. The
//! newest 1,000 traces of a search sit in the same few blocks, so per-trace lookups
//! would decode the same row groups over and over.

use std::collections::HashMap;

use roaring::RoaringBitmap;
use rustc_hash::{FxHashMap, FxHashSet};
use spandb_storage::{Snapshot, Span, TraceId};

use crate::error::Result;
use crate::exec::scan::parallel_blocks;
use crate::trace_tree::TraceTree;

/// The traces with ids in `ids` that have spans (sealed or not), assembled, in the order of
/// `ids`; ids without spans are left out.
pub fn traces(snapshot: &Snapshot, ids: &[TraceId]) -> Result<Vec<TraceTree>> {
    snapshot.require_all_blocks()?;
    let mut wanted: Vec<TraceId> = ids.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    let blocks: Vec<_> = snapshot.blocks().cloned().collect();
    let parts = parallel_blocks(&blocks, Vec::<Span>::new, |block, acc| {
        let f = block.footer()?;
        let mut rows = RoaringBitmap::new();
        for id in &wanted {
            if let Ok(t) = f.traces.binary_search_by(|e| e.trace_id.cmp(id)) {
                if let Some(r) = f.trace_rows(t) {
                    rows.insert_range(r);
                }
            }
        }
        if !rows.is_empty() {
            acc.extend(block.spans_at(&rows)?.into_iter().map(|(_, s)| s));
        }
        Ok(())
    })?;
    let wanted_set: FxHashSet<TraceId> = wanted.iter().copied().collect();
    let mut by_trace: FxHashMap<TraceId, Vec<Span>> = FxHashMap::default();
    for span in parts.into_iter().flatten().chain(
        snapshot
            .unsealed_spans()?
            .filter(|s| wanted_set.contains(&s.trace_id))
            .cloned(),
    ) {
        by_trace.entry(span.trace_id).or_default().push(span);
    }
    let mut order: HashMap<TraceId, usize> = HashMap::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        order.entry(*id).or_insert(i);
    }
    let mut trees: Vec<TraceTree> = by_trace
        .into_values()
        .filter_map(TraceTree::from_spans)
        .collect();
    trees.sort_by_key(|t| order.get(&t.trace_id).copied().unwrap_or(usize::MAX));
    Ok(trees)
}
