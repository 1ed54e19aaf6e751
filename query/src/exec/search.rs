//! Search: the newest traces matching a spanset expression, as trace summaries.
//!
//! Blocks are visited newest first; each turns the rows matching the filters (`rows`) into
//! traces through its footer's trace table. Traces wholly inside one block are answered from
//! the table (single span-local filter) or from that block alone; traces split across blocks
//! or with unsealed spans are assembled (`Snapshot::trace`) and decided exactly. Candidates
//! are resolved from the latest possible start down, and the search stops as soon as no
//! remaining candidate or block can start later than the `limit`-th result.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use roaring::RoaringBitmap;
use rustc_hash::{FxHashMap, FxHashSet};
use spandb_storage::block::{FooterRef, LoadedFooter, RowSummary};
use spandb_storage::{BlockReader, Snapshot, SpanId, StatusCode, TraceId};

use super::rows::BlockRows;
use super::scan::{parallel_items, parallel_map};
use super::split::{split_index, SplitIndex};
use super::Compiled;
use crate::ast::{Field, Query};
use crate::error::{Error, Result};
use crate::eval::{eval, SpanRef};
use crate::plan::TimeRange;
use crate::trace_tree::TraceTree;

/// A matching span inside a trace summary.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchedSpan {
    pub span_id: SpanId,
    pub name: String,
    pub service: String,
    pub start_ns: u64,
    pub duration_ns: u64,
    pub status: StatusCode,
    /// The fields a `select(...)` stage asked for that the span has, by their TraceQL text.
    pub selected: Vec<(String, crate::LabelValue)>,
}

/// One search result, in the shape of Grafana Tempo's trace search metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceSummary {
    pub trace_id: TraceId,
    /// `None` when the root span has not been received.
    pub root_service: Option<String>,
    pub root_name: Option<String>,
    /// Start of the earliest span.
    pub start_ns: u64,
    /// From the earliest start to the latest end.
    pub duration_ns: u64,
    /// Spans in the trace.
    pub span_count: usize,
    /// The spans the query matched, by start time.
    pub matched: Vec<MatchedSpan>,
}

/// Runs a search: traces matching `query` whose time span (earliest start to latest end)
/// overlaps `range`, newest trace start first (ties by trace id), at most `limit` of them.
/// Span conditions look at every span of a trace, whatever its own start.
pub fn search(
    snapshot: &Snapshot,
    query: &Query,
    range: TimeRange,
    limit: usize,
) -> Result<Vec<TraceSummary>> {
    if query.pipeline.is_some() {
        return Err(Error::InvalidInput(
            "this query has a metrics pipeline (`| ...`): run it with `metrics`, not `search`"
                .into(),
        ));
    }
    if limit == 0 {
        return Ok(Vec::new());
    }
    let compiled = Compiled::new(query)?;
    let count_stages = compiled.span_count_stages();
    snapshot.require_all_blocks()?;
    let blocks: Vec<Arc<BlockReader>> = snapshot.blocks().cloned().collect();
    // With room for every trace there is, no block can be skipped: the traces to assemble are
    // collected per block and decided afterwards, blocks in parallel.
    let traces: usize = blocks.iter().map(|b| b.meta().trace_count as usize).sum();
    let mut s = Search {
        snapshot,
        compiled: &compiled,
        range,
        limit,
        span_local: compiled.is_span_local() || count_stages.is_some(),
        count_stages,
        split: split_index(&blocks)?,
        blocks: &blocks,
        matched: vec![None; blocks.len()],
        unsealed_ids: Vec::new(),
        pending: BinaryHeap::new(),
        seen: FxHashSet::default(),
        results: BinaryHeap::new(),
        deferred: None,
    };
    s.unsealed()?;
    s.deferred = (limit >= traces.saturating_add(s.unsealed_ids.len())).then(Vec::new);
    let mut order: Vec<usize> = (0..blocks.len())
        .filter(|&b| blocks[b].meta().rows > 0)
        .collect();
    order.sort_by_key(|&b| Reverse(blocks[b].meta().max_start_ns));
    // An all-matches search visits every block: their filters are evaluated in parallel first.
    let mut precomputed: Vec<Option<Vec<RoaringBitmap>>> = if s.deferred.is_some() {
        parallel_map(&order, |&b| {
            s.filter_hits(b, &s.unsealed_here(b)?).map(Some)
        })?
    } else {
        Vec::new()
    };
    let mut next = 0usize;
    loop {
        // No trace still unseen starts after `bound`: its matching rows are in a block not
        // yet visited, and a trace starts no later than any of its spans.
        let bound = order.get(next).map(|&b| blocks[b].meta().max_start_ns);
        while let Some(top) = s.pending.peek() {
            if bound.is_some_and(|b| top.ub < b) {
                break;
            }
            if s.full_before(top.ub) {
                s.pending.clear();
                break;
            }
            if let Some(c) = s.pending.pop() {
                s.resolve(c)?;
            }
        }
        let Some(bound) = bound else { break };
        if s.full_before(bound) {
            break;
        }
        let hits = precomputed.get_mut(next).and_then(Option::take);
        s.visit_block(order[next], hits)?;
        next += 1;
    }
    s.decide_deferred()?;
    s.finish()
}

/// A trace that may match, with an upper bound on its start.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    ub: u64,
    trace_id: Reverse<TraceId>,
    kind: PendingKind,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum PendingKind {
    /// All of the trace is in this block (trace table index), with exact start `ub`.
    Whole { block: usize, trace: usize },
    /// Spans in several blocks or unsealed: assemble to decide.
    Split,
}

enum Hit {
    /// Whole trace answered from block `block`'s trace table (index `trace`) and the rows
    /// matched there.
    Table {
        block: usize,
        trace: usize,
    },
    Done(TraceSummary),
}

struct Ranked {
    start_ns: u64,
    trace_id: TraceId,
    hit: Hit,
}

impl Ranked {
    /// Result order: newest start first, then trace id.
    fn key(&self) -> (Reverse<u64>, TraceId) {
        (Reverse(self.start_ns), self.trace_id)
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

struct Search<'a> {
    snapshot: &'a Snapshot,
    compiled: &'a Compiled,
    range: TimeRange,
    limit: usize,
    /// One filter, no trace-level intrinsic (possibly followed by `count()` comparisons): rows
    /// decide alone, whole traces are answered from the trace table.
    span_local: bool,
    /// The `count()` comparisons a whole trace's matching rows must pass
    /// (`Compiled::span_count_stages`).
    count_stages: Option<Vec<(crate::ast::Op, f64)>>,
    split: Arc<SplitIndex>,
    blocks: &'a [Arc<BlockReader>],
    /// Per block: rows matching the (single) filter, kept for building summaries.
    matched: Vec<Option<RoaringBitmap>>,
    /// Traces with unsealed spans, sorted.
    unsealed_ids: Vec<TraceId>,
    pending: BinaryHeap<Pending>,
    seen: FxHashSet<TraceId>,
    /// At most `limit`, the last in result order (oldest start, then highest trace id) on
    /// top.
    results: BinaryHeap<Ranked>,
    /// In an all-matches search: per block, the whole traces to assemble and decide, left for
    /// `decide_deferred` to do in parallel.
    deferred: Option<Vec<(usize, Vec<Pending>)>>,
}

impl Search<'_> {
    /// The results are full and their last starts after `t`: nothing starting at `t` or
    /// earlier can enter.
    fn full_before(&self, t: u64) -> bool {
        self.results.len() >= self.limit && self.results.peek().is_some_and(|r| r.start_ns > t)
    }

    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.range.overlaps(start, end)
    }

    /// Unsealed spans: every trace with one is assembled when it may match.
    fn unsealed(&mut self) -> Result<()> {
        let mut traces: FxHashMap<TraceId, (u64, u64)> = FxHashMap::default();
        for span in self.snapshot.unsealed_spans()? {
            let e = traces.entry(span.trace_id).or_insert((u64::MAX, 0));
            e.0 = e.0.min(span.start_ns);
            let view = SpanRef {
                span,
                trace: None,
                parent: None,
                pos: None,
            };
            for (fi, m) in self.compiled.filters.iter().enumerate() {
                if eval(m, &view) != Some(false) {
                    e.1 |= 1u64 << fi;
                }
            }
        }
        self.unsealed_ids = traces.keys().copied().collect();
        self.unsealed_ids.sort_unstable();
        for (id, (start, mask)) in traces {
            if mask != 0 {
                self.pending.push(Pending {
                    ub: start,
                    trace_id: Reverse(id),
                    kind: PendingKind::Split,
                });
            }
        }
        Ok(())
    }

    /// Traces of block `b` that also have unsealed spans, sorted.
    fn unsealed_here(&self, b: usize) -> Result<Vec<usize>> {
        let f = self.blocks[b].footer()?;
        Ok(if self.unsealed_ids.is_empty() {
            Vec::new()
        } else if self.unsealed_ids.len() * 16 < f.traces.len() {
            self.unsealed_ids
                .iter()
                .filter_map(|id| f.traces.binary_search_by(|e| e.trace_id.cmp(id)).ok())
                .collect()
        } else {
            let mut out = Vec::new();
            let mut u = self.unsealed_ids.iter().peekable();
            for (t, e) in f.traces.iter().enumerate() {
                while u.peek().is_some_and(|id| **id < e.trace_id) {
                    u.next();
                }
                if u.peek().is_some_and(|id| **id == e.trace_id) {
                    out.push(t);
                }
            }
            out
        })
    }

    /// The rows of block `b` matching each filter, among the rows that may overlap the window
    /// (empty when none may). Reads the block only: all-matches searches run it for every block
    /// in parallel before visiting them in order.
    fn filter_hits(&self, b: usize, unsealed_here: &[usize]) -> Result<Vec<RoaringBitmap>> {
        let block = &self.blocks[b];
        let f = block.footer()?;
        let range = self.range;
        let overlapping = self.overlaps(f.min_start_ns, f.max_end_ns.max(f.max_start_ns));
        let inside = f.min_start_ns >= range.start_ns && f.max_start_ns < range.end_ns;
        let split = &self.split;
        let is_split = |t: usize| split.is_split(b, t) || unsealed_here.binary_search(&t).is_ok();
        let mut split_traces: RoaringBitmap = split.of_block(b).iter().copied().collect();
        split_traces.extend(unsealed_here.iter().map(|&t| t as u32));
        let mut rows = BlockRows::new(block)?.with_split_traces(split_traces);
        let add_trace = |cand: &mut RoaringBitmap, t: usize| {
            if let Some(r) = f.trace_rows(t) {
                cand.insert_range(r);
            }
        };
        let cand = if !overlapping {
            // Only traces with spans elsewhere can still overlap the window.
            let mut cand = RoaringBitmap::new();
            for &t in split.of_block(b) {
                add_trace(&mut cand, t as usize);
            }
            for &t in unsealed_here {
                add_trace(&mut cand, t);
            }
            cand
        } else if inside || self.compiled.filters.iter().all(|m| rows.is_cheap(m)) {
            rows.all()
        } else {
            let mut cand = RoaringBitmap::new();
            for (t, e) in f.traces.iter().enumerate() {
                if is_split(t) || self.overlaps(e.start_ns, e.start_ns + e.duration_ns) {
                    add_trace(&mut cand, t);
                }
            }
            cand
        };
        if cand.is_empty() {
            return Ok(Vec::new());
        }
        self.compiled
            .filters
            .iter()
            .map(|m| rows.eval(m, &cand))
            .collect()
    }

    /// Finds block `b`'s candidate traces, from its filters' `hits` when they were evaluated
    /// ahead.
    fn visit_block(&mut self, b: usize, hits: Option<Vec<RoaringBitmap>>) -> Result<()> {
        let blocks = self.blocks;
        let block = &blocks[b];
        let f = block.footer()?;
        let unsealed_here = self.unsealed_here(b)?;
        let split = self.split.clone();
        let is_split = |t: usize| split.is_split(b, t) || unsealed_here.binary_search(&t).is_ok();
        let hits = match hits {
            Some(hits) => hits,
            None => self.filter_hits(b, &unsealed_here)?,
        };
        // Trace index -> filters matched by some of its rows.
        let mut masks: Vec<(usize, u64)> = Vec::new();
        for (fi, hit) in hits.into_iter().enumerate() {
            let mut end = 0u32;
            for r in hit.iter() {
                if r < end {
                    continue;
                }
                let Some(t) = f.trace_of_row(r) else {
                    continue;
                };
                end = f.trace_rows(t).map_or(r + 1, |x| x.end);
                masks.push((t, 1u64 << fi));
            }
            if self.span_local {
                self.matched[b] = Some(hit);
            }
        }
        if self.compiled.filters.len() > 1 {
            masks.sort_unstable_by_key(|(t, _)| *t);
            masks.dedup_by(|next, prev| {
                if next.0 == prev.0 {
                    prev.1 |= next.1;
                    true
                } else {
                    false
                }
            });
        }
        let mut whole: Vec<Pending> = Vec::new();
        for (t, mask) in masks {
            let Some(e) = f.traces.get(t) else { continue };
            if is_split(t) {
                self.pending.push(Pending {
                    ub: e.start_ns,
                    trace_id: Reverse(e.trace_id),
                    kind: PendingKind::Split,
                });
            } else if self.compiled.may_match(mask)
                && self.overlaps(e.start_ns, e.start_ns + e.duration_ns)
                && self.counts_pass(b, f.trace_rows(t))
            {
                whole.push(Pending {
                    ub: e.start_ns,
                    trace_id: Reverse(e.trace_id),
                    kind: PendingKind::Whole { block: b, trace: t },
                });
            }
        }
        // Whole traces are decided on the table alone: beyond the `limit` newest, none can
        // enter the results.
        if self.span_local && whole.len() > self.limit {
            whole.select_nth_unstable_by(self.limit - 1, |a, b| b.cmp(a));
            whole.truncate(self.limit);
        }
        // Traces that must be assembled, when most of them will be resolved anyway (an
        // all-matches search, or few candidates): decided here in one pass over the block,
        // each row group decoded once, instead of one trace at a time.
        if !self.span_local && !whole.is_empty() && whole.len() <= self.limit.saturating_mul(2) {
            if let Some(deferred) = &mut self.deferred {
                deferred.push((b, whole));
                return Ok(());
            }
            return self.decide_whole_traces(b, whole);
        }
        self.pending.extend(whole);
        Ok(())
    }

    /// Whether the matched rows of block `b` among `rows` (a whole trace's) are as many as
    /// the query's `count()` comparisons ask (always, without any).
    fn counts_pass(&self, b: usize, rows: Option<std::ops::Range<u32>>) -> bool {
        let Some(stages) = &self.count_stages else {
            return true;
        };
        let n = match (self.matched.get(b), rows) {
            (Some(Some(hit)), Some(rows)) => hit.range_cardinality(rows),
            _ => 0,
        };
        stages
            .iter()
            .all(|(op, v)| super::compare_f64(*op, n as f64, *v))
    }

    /// Decides traces wholly inside block `b` from one decode of their rows.
    fn decide_whole_traces(&mut self, b: usize, whole: Vec<Pending>) -> Result<()> {
        for ranked in decide_block_traces(self.compiled, self.range, &self.blocks[b], &whole)? {
            if self.seen.insert(ranked.trace_id) {
                self.rank(ranked);
            }
        }
        Ok(())
    }

    /// Decides the deferred blocks' traces, blocks in parallel, and ranks what matched.
    fn decide_deferred(&mut self) -> Result<()> {
        let Some(deferred) = self.deferred.take() else {
            return Ok(());
        };
        let (compiled, range, blocks) = (self.compiled, self.range, self.blocks);
        let parts = parallel_items(&deferred, Vec::new, |(b, whole), acc: &mut Vec<Ranked>| {
            acc.extend(decide_block_traces(compiled, range, &blocks[*b], whole)?);
            Ok(())
        })?;
        for ranked in parts.into_iter().flatten() {
            if self.seen.insert(ranked.trace_id) {
                self.rank(ranked);
            }
        }
        Ok(())
    }

    fn resolve(&mut self, c: Pending) -> Result<()> {
        let id = c.trace_id.0;
        if !self.seen.insert(id) {
            return Ok(());
        }
        let ranked = match c.kind {
            PendingKind::Whole { block, trace } if self.span_local => Some(Ranked {
                start_ns: c.ub,
                trace_id: id,
                hit: Hit::Table { block, trace },
            }),
            PendingKind::Whole { block, .. } => {
                let spans = self
                    .blocks
                    .get(block)
                    .map_or(Ok(Vec::new()), |b| b.trace(&id))?;
                self.decide(spans)
            }
            PendingKind::Split => {
                let spans = self.snapshot.trace(&id)?;
                self.decide(spans)
            }
        };
        if let Some(r) = ranked {
            self.rank(r);
        }
        Ok(())
    }

    /// Puts a matching trace in its place among the results, keeping the `limit` newest.
    fn rank(&mut self, r: Ranked) {
        self.results.push(r);
        if self.results.len() > self.limit {
            self.results.pop();
        }
    }

    /// Decides an assembled trace exactly.
    fn decide(&self, spans: Vec<spandb_storage::Span>) -> Option<Ranked> {
        decide_trace(self.compiled, self.range, spans)
    }

    /// Builds the summaries of the results, those answered from a trace table from their
    /// matched rows: only those rows of each row group are read (`group_row_summaries`),
    /// groups in parallel, and the summaries are assembled in parallel.
    fn finish(mut self) -> Result<Vec<TraceSummary>> {
        let results = std::mem::take(&mut self.results).into_sorted_vec();
        let blocks = self.blocks;
        let mut footers: Vec<Option<FooterRef>> = vec![None; blocks.len()];
        // Every matched row of a table-answered result, and per result its part of them.
        let mut wanted: Vec<(usize, u32)> = Vec::new();
        let mut parts: Vec<std::ops::Range<usize>> = Vec::with_capacity(results.len());
        for r in &results {
            let from = wanted.len();
            if let Hit::Table { block: b, trace: t } = r.hit {
                let f = match &footers[b] {
                    Some(f) => f.clone(),
                    None => footers[b].insert(blocks[b].footer()?).clone(),
                };
                if let (Some(rows), Some(Some(hit))) = (f.trace_rows(t), self.matched.get(b)) {
                    wanted.extend(hit.range(rows).map(|row| (b, row)));
                }
            }
            parts.push(from..wanted.len());
        }
        let summaries = row_summaries(blocks, &footers, &wanted)?;
        let chunks: Vec<std::ops::Range<usize>> = (0..results.len())
            .step_by(ASSEMBLY_CHUNK)
            .map(|i| i..(i + ASSEMBLY_CHUNK).min(results.len()))
            .collect();
        let assembled = parallel_map(&chunks, |range| {
            range
                .clone()
                .map(|i| match results[i].hit {
                    Hit::Table { block, trace } => table_summary(
                        footers[block].as_deref(),
                        trace,
                        &summaries[parts[i].clone()],
                    ),
                    Hit::Done(_) => Ok(None),
                })
                .collect::<Result<Vec<Option<TraceSummary>>>>()
        })?;
        let mut out = Vec::with_capacity(results.len());
        for (r, built) in results.into_iter().zip(assembled.into_iter().flatten()) {
            match r.hit {
                Hit::Done(s) => out.push(s),
                Hit::Table { .. } => out.extend(built),
            }
        }
        Ok(out)
    }
}

/// Results assembled per task in [`Search::finish`]: enough to outweigh a thread's start.
const ASSEMBLY_CHUNK: usize = 512;

/// The summaries of block rows `wanted` ((block, row), any order), in that order: each row
/// group holding some is read once, groups in parallel.
fn row_summaries(
    blocks: &[Arc<BlockReader>],
    footers: &[Option<FooterRef>],
    wanted: &[(usize, u32)],
) -> Result<Vec<RowSummary>> {
    let mut order: Vec<usize> = (0..wanted.len()).collect();
    order.sort_unstable_by_key(|&i| wanted[i]);
    // Per row group holding some: (block, group, its block rows, in-group rows ascending,
    // the part of `order` they come from).
    let mut units: Vec<SummaryUnit> = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        let (b, row) = wanted[i];
        let Some(f) = footers.get(b).and_then(Option::as_ref) else {
            return Err(Error::Internal(format!("footer of block {b} not held")));
        };
        match units.last_mut() {
            Some((ub, _, span, rows, part)) if *ub == b && span.contains(&row) => {
                if rows.last() != Some(&(row - span.start)) {
                    rows.push(row - span.start);
                }
                part.end = k + 1;
            }
            _ => {
                let g = f.groups.partition_point(|x| x.first_row + x.rows <= row);
                let Some(group) = f.groups.get(g) else {
                    return Err(Error::Internal(format!("row {row} past the last group")));
                };
                let lo = group.first_row;
                units.push((b, g, lo..lo + group.rows, vec![row - lo], k..k + 1));
            }
        }
    }
    let decoded = parallel_map(&units, |(b, g, _, rows, _)| {
        blocks[*b]
            .group_row_summaries(*g, rows)
            .map_err(Error::from)
    })?;
    let mut out = vec![RowSummary::default(); wanted.len()];
    for ((_, _, span, rows, part), got) in units.iter().zip(decoded) {
        for &i in order.get(part.clone()).unwrap_or_default() {
            if let Some(s) = rows
                .binary_search(&(wanted[i].1 - span.start))
                .ok()
                .and_then(|p| got.get(p))
            {
                out[i] = *s;
            }
        }
    }
    Ok(out)
}

/// The rows of one row group to summarize: (block, group, the group's block rows, in-group
/// rows ascending, the part of the sorted order they come from).
type SummaryUnit = (
    usize,
    usize,
    std::ops::Range<u32>,
    Vec<u32>,
    std::ops::Range<usize>,
);

/// The summary of trace `t` of a block (footer `f`), with the summaries of its matched rows.
fn table_summary(
    f: Option<&LoadedFooter>,
    t: usize,
    rows: &[RowSummary],
) -> Result<Option<TraceSummary>> {
    let Some(e) = f.and_then(|f| f.traces.get(t)) else {
        return Ok(None);
    };
    let Some(f) = f else { return Ok(None) };
    let mut matched = Vec::with_capacity(rows.len());
    for s in rows {
        matched.push(MatchedSpan {
            span_id: s.span_id,
            name: f.string(s.name)?.to_owned(),
            service: f
                .resources
                .get(s.resource as usize)
                .map(|r| r.service_name().to_owned())
                .unwrap_or_default(),
            start_ns: s.start_ns,
            duration_ns: s.duration_ns(),
            status: s.status,
            selected: Vec::new(),
        });
    }
    matched.sort_by(|a, b| {
        (a.start_ns, a.span_id, a.duration_ns).cmp(&(b.start_ns, b.span_id, b.duration_ns))
    });
    let (root_service, root_name) = match e.root {
        Some((svc, name)) => (
            Some(f.string(svc)?.to_owned()),
            Some(f.string(name)?.to_owned()),
        ),
        None => (None, None),
    };
    Ok(Some(TraceSummary {
        trace_id: e.trace_id,
        root_service,
        root_name,
        start_ns: e.start_ns,
        duration_ns: e.duration_ns,
        span_count: e.rows as usize,
        matched,
    }))
}

/// Decides an assembled trace exactly: its summary when it overlaps `range` and matches.
fn decide_trace(
    compiled: &Compiled,
    range: TimeRange,
    spans: Vec<spandb_storage::Span>,
) -> Option<Ranked> {
    let tree = TraceTree::from_spans(spans)?;
    if !range.overlaps(tree.start_ns, tree.end_ns) {
        return None;
    }
    let matched = compiled.match_trace(&tree, TimeRange::ALL);
    (!matched.is_empty()).then(|| Ranked {
        start_ns: tree.start_ns,
        trace_id: tree.trace_id,
        hit: Hit::Done(summarize(&tree, &matched, &compiled.select)),
    })
}

/// Decides traces wholly inside `block` from one decode of their rows (each row group once).
fn decide_block_traces(
    compiled: &Compiled,
    range: TimeRange,
    block: &BlockReader,
    whole: &[Pending],
) -> Result<Vec<Ranked>> {
    let f = block.footer()?;
    let mut traces: Vec<(usize, std::ops::Range<u32>)> = whole
        .iter()
        .filter_map(|p| match p.kind {
            PendingKind::Whole { trace, .. } => Some((trace, f.trace_rows(trace)?)),
            PendingKind::Split => None,
        })
        .collect();
    traces.sort_unstable_by_key(|(_, r)| r.start);
    let mut rows = RoaringBitmap::new();
    for (_, r) in &traces {
        rows.insert_range(r.clone());
    }
    let mut spans = block
        .spans_at_with(&rows, compiled.parts)?
        .into_iter()
        .peekable();
    let mut out = Vec::new();
    for (_, r) in traces {
        let mut trace = Vec::with_capacity(r.len());
        while let Some((row, _)) = spans.peek() {
            if *row >= r.end {
                break;
            }
            if let Some((row, span)) = spans.next() {
                if row >= r.start {
                    trace.push(span);
                }
            }
        }
        out.extend(decide_trace(compiled, range, trace));
    }
    Ok(out)
}

pub(crate) fn summarize(tree: &TraceTree, matched: &[usize], select: &[Field]) -> TraceSummary {
    let ctx = tree.ctx();
    let root = tree.root_span();
    let positions = if select.iter().any(Field::is_tree_pos) {
        tree.positions()
    } else {
        Vec::new()
    };
    TraceSummary {
        trace_id: tree.trace_id,
        root_service: root.map(|s| s.service().to_owned()),
        root_name: root.map(|s| s.name.clone()),
        start_ns: tree.start_ns,
        duration_ns: tree.duration_ns(),
        span_count: tree.spans.len(),
        matched: matched
            .iter()
            .filter_map(|&i| Some((i, tree.spans.get(i)?)))
            .map(|(i, s)| MatchedSpan {
                selected: crate::expr::selected_values(
                    select,
                    &crate::expr::Ctx {
                        span: s,
                        trace: Some(&ctx),
                        parent: Some(
                            tree.nodes
                                .get(i)
                                .and_then(|n| n.parent)
                                .and_then(|p| tree.spans.get(p)),
                        ),
                        pos: positions.get(i).copied(),
                    },
                ),
                span_id: s.span_id,
                name: s.name.clone(),
                service: s.service().to_owned(),
                start_ns: s.start_ns,
                duration_ns: s.duration_ns(),
                status: s.status_code,
            })
            .collect(),
    }
}
