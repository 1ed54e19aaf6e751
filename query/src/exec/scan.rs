//! Scans that hand matching rows to a callback (metrics, candidate traces): blocks pruned by
//! time, rows decided by the block executor (`exec::rows`), the light columns (and, when
//! asked, the whole span) of matching rows decoded; blocks run in parallel on crossbeam
//! scoped threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use roaring::RoaringBitmap;
use spandb_storage::block::{GroupLight, LoadedFooter};
use spandb_storage::{BlockReader, Resource, Span, SpanKind, StatusCode, TraceId, Value};

use crate::error::{Error, Result};
use crate::eval::{eval, Matcher, SpanRef, SpanView, TraceCtx};
use crate::plan::TimeRange;

use super::rows::BlockRows;

/// A matching row of a block, as the callback sees it.
pub(crate) struct RowView<'a> {
    /// The block's decoded footer (names, resources).
    pub footer: &'a LoadedFooter,
    pub light: &'a GroupLight,
    /// Row inside the group.
    pub i: usize,
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
        self.footer
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
        match self.footer.resources.get(id as usize) {
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
}

/// Calls `emit(filter index, row)` for every row of `block` in `range` that matches one of
/// `filters`, as the block executor decides them. A row whose answer depends on the trace
/// (trace-level intrinsics) is emitted: the caller decides it on the assembled trace. With
/// `full`, every emitted row carries its decoded span.
pub(crate) fn scan_block(
    block: &BlockReader,
    filters: &[Matcher],
    range: TimeRange,
    full: bool,
    emit: &mut dyn FnMut(usize, &RowView<'_>),
) -> Result<()> {
    let m = block.meta();
    if m.rows == 0 || !range.overlaps(m.min_start_ns, m.max_start_ns) {
        return Ok(());
    }
    let f = block.footer()?;
    // Row groups that start after the window hold no row of it.
    let mut cand = RoaringBitmap::new();
    for group in &f.groups {
        if group.min_start_ns < range.end_ns {
            cand.insert_range(group.first_row..group.first_row + group.rows);
        }
    }
    let mut rows = BlockRows::new(block)?;
    let mut hits = Vec::with_capacity(filters.len());
    let mut any = RoaringBitmap::new();
    for m in filters {
        let hit = rows.eval(m, &cand)?;
        any |= &hit;
        hits.push(hit);
    }
    for (g, group) in f.groups.iter().enumerate() {
        let (lo, hi) = (group.first_row, group.first_row + group.rows);
        if any.range_cardinality(lo..hi) == 0 {
            continue;
        }
        let light = block.group_light(g)?;
        let spans = if full {
            block.decode_group(g, |i| any.contains(lo + i as u32))?
        } else {
            Vec::new()
        };
        let mut by_row: Vec<Option<&Span>> = vec![None; if full { group.rows as usize } else { 0 }];
        for (i, s) in &spans {
            if let Some(slot) = by_row.get_mut(*i) {
                *slot = Some(s);
            }
        }
        for (fi, hit) in hits.iter().enumerate() {
            for row in hit.range(lo..hi) {
                let i = (row - lo) as usize;
                let view = RowView {
                    footer: &f,
                    light: &light,
                    i,
                    span: by_row.get(i).copied().flatten(),
                };
                if range.contains(view.start_ns()) {
                    emit(fi, &view);
                }
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
        let view = SpanRef {
            span,
            trace: None,
            parent: None,
            pos: None,
        };
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
    parallel_items(blocks, init, |b, acc| work(b, acc))
}

/// Runs `work` on every item on up to `available_parallelism` crossbeam scoped threads, each
/// taking the next item from a shared counter and folding into its own accumulator; returns
/// the accumulators (one per thread, in no particular order).
pub(crate) fn parallel_items<T: Sync, A: Send>(
    items: &[T],
    init: impl Fn() -> A + Sync,
    work: impl Fn(&T, &mut A) -> Result<()> + Sync,
) -> Result<Vec<A>> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(items.len())
        .max(1);
    if threads == 1 {
        let mut acc = init();
        for item in items {
            work(item, &mut acc)?;
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
                        let Some(item) = items.get(i) else {
                            return Ok(acc);
                        };
                        work(item, &mut acc)?;
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Internal("a query worker panicked".into())))
            })
            .collect::<Result<Vec<A>>>()
    })
    .unwrap_or_else(|_| Err(Error::Internal("a query worker panicked".into())))?;
    Ok(results)
}

/// `f` over `items` on the threads of [`parallel_items`]; the results in item order.
pub(crate) fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let indexed: Vec<(usize, &T)> = items.iter().enumerate().collect();
    let parts = parallel_items(
        &indexed,
        Vec::new,
        |&(i, item), acc: &mut Vec<(usize, R)>| {
            acc.push((i, f(item)?));
            Ok(())
        },
    )?;
    let mut all: Vec<(usize, R)> = parts.into_iter().flatten().collect();
    all.sort_unstable_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, r)| r).collect())
}
