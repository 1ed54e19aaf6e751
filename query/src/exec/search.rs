//! Search: the newest traces matching a spanset expression, as trace summaries.
//!
//! Phase one finds candidate traces from the blocks' indexes and cheap columns (see
//! `scan`), with an upper bound on each trace's start (its earliest matching span). Phase two
//! visits candidates from the latest bound down, assembles each (`Snapshot::trace`), decides
//! it exactly (structural operators, trace-level intrinsics) and stops as soon as no remaining
//! candidate can start later than the `limit`-th result.

use std::cmp::Reverse;

use spandb_storage::{Snapshot, SpanId, StatusCode, TraceId};

use super::{candidate_traces, Compiled};
use crate::ast::Query;
use crate::error::{Error, Result};
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

/// Runs a search: traces with spans matching `query` among spans starting in `range`, newest
/// trace start first (ties by trace id), at most `limit` of them.
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
    let candidates = candidate_traces(snapshot, &compiled, range)?;
    let mut order: Vec<(u64, TraceId)> = candidates
        .iter()
        .map(|(t, c)| (c.first_match_ns, *t))
        .collect();
    order.sort_unstable_by_key(|(ub, t)| (Reverse(*ub), *t));
    // Results kept sorted: newest start first, then trace id.
    let mut results: Vec<TraceSummary> = Vec::new();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut next = 0usize;
    while next < order.len() {
        if results.len() >= limit
            && results
                .last()
                .is_some_and(|last| order[next].0 < last.start_ns)
        {
            break;
        }
        // Assemble the next few candidates in parallel: as many as could still enter the
        // results, at least one per core.
        let want = limit.saturating_sub(results.len()).clamp(threads, 64);
        let batch = &order[next..(next + want).min(order.len())];
        next += batch.len();
        for (upper_bound, summary) in fetch_batch(snapshot, &compiled, range, batch)? {
            if results.len() >= limit
                && results
                    .last()
                    .is_some_and(|last| upper_bound < last.start_ns)
            {
                continue;
            }
            let Some(summary) = summary else { continue };
            let key = |s: &TraceSummary| (Reverse(s.start_ns), s.trace_id);
            let pos = results.partition_point(|r| key(r) < key(&summary));
            results.insert(pos, summary);
            results.truncate(limit);
        }
    }
    Ok(results)
}

/// Assembles and decides a batch of candidates on crossbeam scoped threads, keeping order.
fn fetch_batch(
    snapshot: &Snapshot,
    compiled: &Compiled,
    range: TimeRange,
    batch: &[(u64, TraceId)],
) -> Result<Vec<(u64, Option<TraceSummary>)>> {
    let one = |(ub, id): &(u64, TraceId)| -> Result<(u64, Option<TraceSummary>)> {
        let Some(tree) = TraceTree::from_spans(snapshot.trace(id)?) else {
            return Ok((*ub, None));
        };
        let matched = compiled.match_trace(&tree, range);
        Ok((
            *ub,
            (!matched.is_empty()).then(|| summarize(&tree, &matched)),
        ))
    };
    if batch.len() < 2 {
        return batch.iter().map(one).collect();
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(batch.len());
    let chunk = batch.len().div_ceil(threads);
    crossbeam::thread::scope(|s| {
        let handles: Vec<_> = batch
            .chunks(chunk)
            .map(|part| s.spawn(move |_| part.iter().map(one).collect::<Result<Vec<_>>>()))
            .collect();
        let mut out = Vec::with_capacity(batch.len());
        for h in handles {
            out.extend(
                h.join().unwrap_or_else(|_| {
                    Err(Error::InvalidInput("a search worker panicked".into()))
                })?,
            );
        }
        Ok(out)
    })
    .unwrap_or_else(|_| Err(Error::InvalidInput("a search worker panicked".into())))
}

pub(crate) fn summarize(tree: &TraceTree, matched: &[usize]) -> TraceSummary {
    let root = tree.root_span();
    TraceSummary {
        trace_id: tree.trace_id,
        root_service: root.map(|s| s.service().to_owned()),
        root_name: root.map(|s| s.name.clone()),
        start_ns: tree.start_ns,
        duration_ns: tree.duration_ns(),
        span_count: tree.spans.len(),
        matched: matched
            .iter()
            .filter_map(|&i| tree.spans.get(i))
            .map(|s| MatchedSpan {
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
