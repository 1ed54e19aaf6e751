//! Row matching inside blocks: prune, intersect bitmaps, decide rows on the cheap columns
//! (`group_light`), decode full spans only for rows still undecided, and run blocks in
//! parallel on crossbeam scoped threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use roaring::RoaringBitmap;
use spandb_storage::block::GroupLight;
use spandb_storage::{BlockReader, Resource, Span, SpanKind, StatusCode, TraceId, Value};

use crate::error::{Error, Result};
use crate::eval::{eval, Matcher, SpanRef, SpanView, TraceCtx};
use crate::plan::{BlockPlan, TimeRange};

/// A matching row of a block, as the callback sees it.
pub(crate) struct RowView<'a> {
    pub block: &'a BlockReader,
    pub light: &'a GroupLight,
    /// Row inside the group.
    pub i: usize,
    /// Row inside the block.
    pub row: u32,
    pub exact: &'a [Option<RoaringBitmap>],
    /// The decoded span, when the row needed it (or the caller asked for it).
    pub span: Option<&'a Span>,
}

static EMPTY_RESOURCE: std::sync::OnceLock<Resource> = std::sync::OnceLock::new();

impl RowView<'_> {
    pub(crate) fn trace_id(&self) -> TraceId {
        self.light
            .trace_ids
            .get(self.i)
            .copied()
            .unwrap_or_default()
    }
}

impl SpanView for RowView<'_> {
    fn start_ns(&self) -> u64 {
        self.light.start_ns.get(self.i).copied().unwrap_or(0)
    }
    fn duration_ns(&self) -> u64 {
        let end = self.light.end_ns.get(self.i).copied().unwrap_or(0);
        end.saturating_sub(self.start_ns())
    }
    fn name(&self) -> &str {
        let id = self.light.name.get(self.i).copied().unwrap_or(0);
        self.block
            .footer()
            .dict
            .get(id as usize)
            .map(String::as_str)
            .unwrap_or("")
    }
    fn status(&self) -> StatusCode {
        self.light.status.get(self.i).copied().unwrap_or_default()
    }
    fn kind(&self) -> SpanKind {
        self.light.kind.get(self.i).copied().unwrap_or_default()
    }
    fn resource(&self) -> &Resource {
        let id = self.light.resource.get(self.i).copied().unwrap_or(0);
        match self.block.footer().resources.get(id as usize) {
            Some(r) => r,
            None => EMPTY_RESOURCE.get_or_init(Resource::default),
        }
    }
    fn status_message(&self) -> Option<&str> {
        self.span.map(|s| s.status_message.as_str())
    }
    fn span_attr(&self, key: &str) -> Option<Option<&Value>> {
        self.span.map(|s| s.attr(key))
    }
    fn trace(&self) -> Option<&TraceCtx> {
        None
    }
    fn known_leaf(&self, leaf: usize) -> Option<bool> {
        self.exact
            .get(leaf)?
            .as_ref()
            .map(|rows| rows.contains(self.row))
    }
}

/// Calls `emit(filter index, row)` for every row of `block` in `range` that matches one of
/// `filters`. A row whose answer depends on the trace (trace-level intrinsics) is emitted:
/// the caller decides it on the assembled trace. With `full`, every emitted row carries its
/// decoded span.
pub(crate) fn scan_block(
    block: &BlockReader,
    filters: &[Matcher],
    range: TimeRange,
    full: bool,
    emit: &mut dyn FnMut(usize, &RowView<'_>),
) -> Result<()> {
    let f = block.footer();
    if f.rows == 0 || !range.overlaps(f.min_start_ns, f.max_start_ns) {
        return Ok(());
    }
    let plans: Vec<BlockPlan> = filters.iter().map(|m| BlockPlan::new(m, block)).collect();
    if plans.iter().all(BlockPlan::is_empty) {
        return Ok(());
    }
    for (g, group) in f.groups.iter().enumerate() {
        if group.min_start_ns >= range.end_ns {
            continue;
        }
        let (lo, hi) = (group.first_row, group.first_row + group.rows);
        let in_group = |p: &BlockPlan| {
            p.rows
                .as_ref()
                .is_none_or(|r| r.range_cardinality(lo..hi) > 0)
        };
        if !plans.iter().any(in_group) {
            continue;
        }
        let light = block.group_light(g)?;
        // (filter, in-group row) pairs that need the decoded span.
        let mut pending: Vec<(usize, usize)> = Vec::new();
        for (fi, (m, plan)) in filters.iter().zip(&plans).enumerate() {
            let mut visit = |i: usize| {
                let view = RowView {
                    block,
                    light: &light,
                    i,
                    row: lo + i as u32,
                    exact: &plan.exact,
                    span: None,
                };
                if !range.contains(view.start_ns()) {
                    return;
                }
                match eval(m, &view) {
                    Some(false) => {}
                    Some(true) if !full => emit(fi, &view),
                    _ => pending.push((fi, i)),
                }
            };
            match &plan.rows {
                Some(rows) => rows.range(lo..hi).for_each(|r| visit((r - lo) as usize)),
                None => (0..group.rows as usize).for_each(&mut visit),
            }
        }
        if pending.is_empty() {
            continue;
        }
        let mut want = RoaringBitmap::new();
        for (_, i) in &pending {
            want.insert(*i as u32);
        }
        let spans = block.decode_group(g, |i| want.contains(i as u32))?;
        let mut by_row: Vec<Option<&Span>> = vec![None; group.rows as usize];
        for (i, s) in &spans {
            if let Some(slot) = by_row.get_mut(*i) {
                *slot = Some(s);
            }
        }
        for (fi, i) in pending {
            let Some(span) = by_row.get(i).copied().flatten() else {
                continue;
            };
            let (Some(m), Some(plan)) = (filters.get(fi), plans.get(fi)) else {
                continue;
            };
            let view = RowView {
                block,
                light: &light,
                i,
                row: lo + i as u32,
                exact: &plan.exact,
                span: Some(span),
            };
            if eval(m, &view) != Some(false) {
                emit(fi, &view);
            }
        }
    }
    Ok(())
}

/// Calls `emit` on every span of the unsealed builder in `range` that matches a filter
/// (trace-dependent answers emitted, as for blocks).
pub(crate) fn scan_unsealed<'a>(
    spans: impl Iterator<Item = &'a Span>,
    filters: &[Matcher],
    range: TimeRange,
    emit: &mut dyn FnMut(usize, &SpanRef<'_>),
) {
    for span in spans {
        if !range.contains(span.start_ns) {
            continue;
        }
        let view = SpanRef { span, trace: None };
        for (fi, m) in filters.iter().enumerate() {
            if eval(m, &view) != Some(false) {
                emit(fi, &view);
            }
        }
    }
}

/// Runs `work` on every block on up to `available_parallelism` crossbeam scoped threads, each
/// folding into its own accumulator; returns the accumulators.
pub(crate) fn parallel_blocks<A: Send>(
    blocks: &[Arc<BlockReader>],
    init: impl Fn() -> A + Sync,
    work: impl Fn(&BlockReader, &mut A) -> Result<()> + Sync,
) -> Result<Vec<A>> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(blocks.len())
        .max(1);
    if threads == 1 {
        let mut acc = init();
        for b in blocks {
            work(b, &mut acc)?;
        }
        return Ok(vec![acc]);
    }
    let next = AtomicUsize::new(0);
    let results = crossbeam::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|_| -> Result<A> {
                    let mut acc = init();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(b) = blocks.get(i) else {
                            return Ok(acc);
                        };
                        work(b, &mut acc)?;
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::InvalidInput("a query worker panicked".into())))
            })
            .collect::<Result<Vec<A>>>()
    })
    .unwrap_or_else(|_| Err(Error::InvalidInput("a query worker panicked".into())))?;
    Ok(results)
}
