//! Where the time of many traces goes: critical-path time and self time summed per
//! (service, operation) over a set of traces ("where does the time of slow checkout
//! requests go"). The traces are a search's newest matches, fetched in one pass per block
//! ([`super::fetch::traces`]).

use std::collections::BTreeMap;

use serde::Serialize;
use spandb_storage::Snapshot;

use super::critical_path::{critical_path, critical_time_per_span};
use super::self_time::self_times;
use crate::ast::Query;
use crate::error::Result;
use crate::plan::TimeRange;
use crate::trace_tree::TraceTree;

/// One (service, operation) pair's share of the time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimeShare {
    pub service: String,
    pub operation: String,
    /// Summed over every trace.
    pub total_ns: u64,
    /// `total_ns` over the sum of all pairs' totals (0 to 1).
    pub share: f64,
    /// Traces in which the pair had some of this time.
    pub traces: usize,
    /// Percentiles (nearest rank) of the pair's time per trace for critical-path time, per
    /// span for self time, over the traces or spans that had any.
    pub p50_ns: u64,
    pub p99_ns: u64,
}

/// Critical-path and self time per (service, operation), largest total first.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TimeBreakdown {
    /// Traces analysed.
    pub traces: usize,
    /// Sum of the traces' critical paths (their roots' durations).
    pub critical_path_ns: u64,
    pub critical_path: Vec<TimeShare>,
    /// Sum of every span's self time.
    pub self_time_ns: u64,
    pub self_time: Vec<TimeShare>,
}

/// The breakdown of the newest `limit` traces matching `query` in `range`.
pub fn time_breakdown(
    snapshot: &Snapshot,
    query: &Query,
    range: TimeRange,
    limit: usize,
) -> Result<TimeBreakdown> {
    let found = crate::exec::search::search(snapshot, query, range, limit)?;
    let ids: Vec<_> = found.iter().map(|t| t.trace_id).collect();
    let trees = super::fetch::traces(snapshot, &ids)?;
    Ok(breakdown_of(&trees))
}

#[derive(Default)]
struct Acc {
    total: u64,
    traces: usize,
    values: Vec<u64>,
}

/// The breakdown of already assembled traces.
pub fn breakdown_of(trees: &[TraceTree]) -> TimeBreakdown {
    let mut cp: BTreeMap<(&str, &str), Acc> = BTreeMap::new();
    let mut st: BTreeMap<(&str, &str), Acc> = BTreeMap::new();
    let mut per_trace: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let mut seen: BTreeMap<(&str, &str), ()> = BTreeMap::new();
    for t in trees {
        let sections = critical_path(t);
        per_trace.clear();
        for (i, ns) in critical_time_per_span(t, &sections).into_iter().enumerate() {
            if ns > 0 {
                let s = &t.spans[i];
                *per_trace.entry((s.service(), s.name.as_str())).or_default() += ns;
            }
        }
        for (&key, &ns) in &per_trace {
            let a = cp.entry(key).or_default();
            a.total += ns;
            a.traces += 1;
            a.values.push(ns);
        }
        seen.clear();
        for (i, ns) in self_times(t).into_iter().enumerate() {
            let s = &t.spans[i];
            let key = (s.service(), s.name.as_str());
            let a = st.entry(key).or_default();
            a.total += ns;
            a.values.push(ns);
            if seen.insert(key, ()).is_none() {
                a.traces += 1;
            }
        }
    }
    let (critical_path_ns, critical_path) = shares(cp);
    let (self_time_ns, self_time) = shares(st);
    TimeBreakdown {
        traces: trees.len(),
        critical_path_ns,
        critical_path,
        self_time_ns,
        self_time,
    }
}

fn shares(map: BTreeMap<(&str, &str), Acc>) -> (u64, Vec<TimeShare>) {
    let total: u64 = map.values().map(|a| a.total).sum();
    let mut out: Vec<TimeShare> = map
        .into_iter()
        .map(|((service, operation), mut a)| {
            a.values.sort_unstable();
            TimeShare {
                service: service.to_owned(),
                operation: operation.to_owned(),
                total_ns: a.total,
                share: if total == 0 {
                    0.0
                } else {
                    a.total as f64 / total as f64
                },
                traces: a.traces,
                p50_ns: nearest_rank(&a.values, 0.50),
                p99_ns: nearest_rank(&a.values, 0.99),
            }
        })
        .collect();
    // Largest first; the BTreeMap order (service, operation) breaks ties deterministically.
    out.sort_by_key(|s| std::cmp::Reverse(s.total_ns));
    (total, out)
}

/// The nearest-rank percentile of sorted `values` (0 when empty).
pub(crate) fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use spandb_storage::{KeyValue, Resource, Span, SpanId, TraceId, Value};

    use super::*;

    fn span(trace: u8, id: u8, parent: Option<u8>, svc: &str, start: u64, end: u64) -> Span {
        Span {
            trace_id: TraceId([trace; 16]),
            span_id: SpanId([id; 8]),
            parent_span_id: parent.map(|p| SpanId([p; 8])),
            name: format!("op{id}"),
            start_ns: start,
            end_ns: end,
            resource: Arc::new(Resource {
                attributes: vec![KeyValue::new("service.name", Value::Str(svc.into()))],
                ..Resource::default()
            }),
            ..Span::default()
        }
    }

    #[test]
    fn critical_and_self_time_add_up_per_operation() {
        // web op1 [0,100] calls api op2 [10,90] which calls db op3 [20,30] and [40,80].
        let trees: Vec<TraceTree> = (1..=2u8)
            .map(|t| {
                TraceTree::from_spans(vec![
                    span(t, 1, None, "web", 0, 100),
                    span(t, 2, Some(1), "api", 10, 90),
                    span(t, 3, Some(2), "db", 20, 30),
                    span(t, 4, Some(2), "db", 40, 80 + u64::from(t)),
                ])
                .unwrap()
            })
            .collect();
        let b = breakdown_of(&trees);
        assert_eq!(b.traces, 2);
        assert_eq!(b.critical_path_ns, 200);
        let get = |v: &[TimeShare], op: &str| v.iter().find(|s| s.operation == op).cloned();
        let web = get(&b.critical_path, "op1").unwrap();
        assert_eq!(web.total_ns, 40);
        assert_eq!((web.p50_ns, web.p99_ns), (20, 20));
        let op4 = get(&b.critical_path, "op4").unwrap();
        assert_eq!(op4.total_ns, 41 + 42);
        assert_eq!((op4.p50_ns, op4.p99_ns), (41, 42));
        assert_eq!(b.critical_path[0].operation, "op4", "largest first");
        let shares: f64 = b.critical_path.iter().map(|s| s.share).sum();
        assert!((shares - 1.0).abs() < 1e-9);
        // Self time: api ran alone during [10,20], [30,40] and [8x,90].
        let api = get(&b.self_time, "op2").unwrap();
        assert_eq!(api.total_ns, (10 + 10 + 9) + (10 + 10 + 8));
        assert_eq!(api.traces, 2);
        assert_eq!(
            b.self_time_ns, 200,
            "a synchronous trace's self times sum to its root"
        );
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(nearest_rank(&v, 0.5), 50);
        assert_eq!(nearest_rank(&v, 0.99), 99);
        assert_eq!(nearest_rank(&[7], 0.99), 7);
        assert_eq!(nearest_rank(&[], 0.5), 0);
    }
}
