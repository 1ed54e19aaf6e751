//! The scan paths: span-local filters decided block by block by the block executor
//! (`run_scan`), and filters that need the whole trace (`run_traces`): candidate traces
//! assembled and decided exactly, then their matching spans aggregated.

use spandb_storage::Snapshot;

use super::agg::{group_needs_span, Agg, Detail};
use super::MetricsRequest;
use crate::ast::Field;
use crate::error::Result;
use crate::eval::SpanRef;
use crate::exec::scan::{parallel_blocks, scan_block, scan_unsealed};
use crate::exec::{candidate_traces, Compiled};
use crate::plan::TimeRange;
use crate::trace_tree::TraceTree;

pub(super) fn run_scan<'q>(
    snapshot: &Snapshot,
    compiled: &Compiled,
    range: TimeRange,
    req: MetricsRequest,
    by: &'q [Field],
    detail: Detail,
) -> Result<Agg<'q>> {
    let blocks: Vec<_> = snapshot.blocks().cloned().collect();
    let full = group_needs_span(by);
    let parts = parallel_blocks(
        &blocks,
        || Agg::new(req, by, detail),
        |block, acc| {
            scan_block(block, &compiled.filters, range, full, &mut |_, row| {
                acc.add_view(row)
            })
        },
    )?;
    let mut agg = Agg::new(req, by, detail);
    for p in parts {
        agg.merge(p);
    }
    scan_unsealed(
        snapshot.unsealed_spans()?,
        &compiled.filters,
        range,
        &mut |_, s| agg.add_view(s),
    );
    Ok(agg)
}

pub(super) fn run_traces<'q>(
    snapshot: &Snapshot,
    compiled: &Compiled,
    range: TimeRange,
    req: MetricsRequest,
    by: &'q [Field],
    detail: Detail,
) -> Result<Agg<'q>> {
    let mut agg = Agg::new(req, by, detail);
    let mut ids: Vec<_> = candidate_traces(snapshot, compiled, range)?
        .into_keys()
        .collect();
    ids.sort_unstable();
    for id in ids {
        let Some(tree) = TraceTree::from_spans(snapshot.trace(&id)?) else {
            continue;
        };
        let ctx = tree.ctx();
        for i in compiled.match_trace(&tree, range) {
            if let Some(span) = tree.spans.get(i) {
                agg.add_view(&SpanRef {
                    span,
                    trace: Some(&ctx),
                    parent: None,
                    pos: None,
                });
            }
        }
    }
    Ok(agg)
}
