//! Joining log records to a trace's spans: records with the trace's id go to the span their
//! span id names (or to the trace's "other logs" when it names none in the trace); on
//! request, records without trace context are *inferred* to belong to the innermost span of
//! the same service that was running at their time, and are marked so.

use std::collections::{BTreeSet, HashMap};

use roaring::RoaringBitmap;

use super::filter::LogQuery;
use super::search::{search_logs, LogSearch};
use crate::error::Result;
use crate::plan::TimeRange;
use crate::trace_tree::TraceTree;
use spandb_storage::{LogRecord, Snapshot, SpanId, TraceId};

/// A log record joined to a trace.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkedLog {
    pub record: LogRecord,
    /// Joined by service and time, not by the record's own trace context.
    pub inferred: bool,
}

/// A trace's log records: per span (index into [`TraceTree::spans`]) and the rest.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraceLogs {
    pub by_span: HashMap<usize, Vec<LinkedLog>>,
    /// Records of the trace whose span id names no span of it (or none).
    pub other: Vec<LinkedLog>,
}

impl TraceLogs {
    pub fn total(&self) -> usize {
        self.by_span.values().map(Vec::len).sum::<usize>() + self.other.len()
    }
    pub fn inferred(&self) -> usize {
        self.by_span
            .values()
            .flatten()
            .chain(&self.other)
            .filter(|l| l.inferred)
            .count()
    }
    /// Error-or-worse records (severity number 17 and up).
    pub fn errors(&self) -> usize {
        self.by_span
            .values()
            .flatten()
            .chain(&self.other)
            .filter(|l| l.record.severity_number >= 17)
            .count()
    }
}

/// Records without trace context considered for `inferred` joins, at most.
pub const MAX_INFERRED_CANDIDATES: usize = 10_000;

/// The log records of `tree`'s trace, joined to its spans; with `inferred`, also records
/// without trace context of the trace's services during its spans.
pub fn trace_logs(snap: &Snapshot, tree: &TraceTree, inferred: bool) -> Result<TraceLogs> {
    let mut logs = snap.trace_logs(&tree.trace_id)?;
    logs.sort_by_key(|l| l.timestamp_ns());
    let by_id: HashMap<[u8; 8], usize> = tree
        .spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span_id.0, i))
        .collect();
    let mut out = TraceLogs::default();
    for record in logs {
        let link = LinkedLog {
            record,
            inferred: false,
        };
        match link.record.span().and_then(|s| by_id.get(&s.0)) {
            Some(i) => out.by_span.entry(*i).or_default().push(link),
            None => out.other.push(link),
        }
    }
    if inferred && tree.end_ns >= tree.start_ns {
        let candidates = search_logs(
            snap,
            &LogQuery::default(),
            &LogSearch {
                range: TimeRange::new(tree.start_ns, tree.end_ns.saturating_add(1)),
                limit: MAX_INFERRED_CANDIDATES,
            },
        )?;
        let mut found: Vec<(usize, LogRecord)> = Vec::new();
        for l in candidates.into_iter().filter(|l| l.trace().is_none()) {
            let t = l.timestamp_ns();
            // The innermost (shortest) span of the record's service running at its time.
            let best = tree
                .spans
                .iter()
                .enumerate()
                .filter(|(_, s)| s.service() == l.service() && s.start_ns <= t && t <= s.end_ns)
                .min_by_key(|(_, s)| s.duration_ns())
                .map(|(i, _)| i);
            if let Some(i) = best {
                found.push((i, l));
            }
        }
        found.sort_by_key(|(_, l)| l.timestamp_ns());
        for (i, record) in found {
            out.by_span.entry(i).or_default().push(LinkedLog {
                record,
                inferred: true,
            });
        }
        for v in out.by_span.values_mut() {
            v.sort_by_key(|l| l.record.timestamp_ns());
        }
    }
    Ok(out)
}

/// Every log record whose trace id and span id name one of `spans`, unordered. Per log block
/// the footer's trace table gives the rows of each trace, so only row groups holding one of
/// the traces are decoded; unsealed records are checked in memory.
pub fn span_logs(snap: &Snapshot, spans: &BTreeSet<(TraceId, SpanId)>) -> Result<Vec<LogRecord>> {
    snap.require_all_blocks()?;
    let traces: BTreeSet<TraceId> = spans.iter().map(|(t, _)| *t).collect();
    let wanted = |l: &LogRecord| spans.contains(&(l.trace_id, l.span_id));
    let mut out: Vec<LogRecord> = snap
        .unsealed_logs()?
        .filter(|l| wanted(l))
        .cloned()
        .collect();
    if traces.is_empty() {
        return Ok(out);
    }
    for b in snap.log_blocks() {
        let mut rows = RoaringBitmap::new();
        for t in &traces {
            rows |= b.rows_of_trace(t);
        }
        if rows.is_empty() {
            continue;
        }
        out.extend(
            b.records_at(&rows)?
                .into_iter()
                .map(|(_, l)| l)
                .filter(|l| wanted(l)),
        );
    }
    Ok(out)
}
