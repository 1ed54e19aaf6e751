//! The service graph over a time range: nodes (services, databases, queues, peers) and the
//! calls between them, with calls, errors, latency quantiles from both sides and per-minute
//! series.
//!
//! Without a filter the graph comes from the blocks' edge rollups (computed at seal, merged
//! by compaction): complete observations are added up without decoding a span, and each
//! block's few loose ends (calls split across blocks) are resolved against the whole store:
//! a trace lookup for the parent, and for a tentative virtual call a trace-index probe that
//! only fetches the trace when it lives in more than one block. Blocks of format version 1
//! (no edge rollup) are decoded and rolled up on the fly, as are unsealed spans.
//!
//! With a TraceQL filter only matching traces count, so the graph is computed from those
//! traces, whole.
//!
//! An observation counts when its owner span (the callee of a pair, the caller of a virtual
//! call) starts inside the range; the range is widened to whole minutes, the rollups'
//! granularity.

use std::collections::{BTreeMap, HashMap, HashSet};

use rustc_hash::FxHashMap;
use spandb_storage::edges::{
    minute_of, resolve_loose_end, span_half, trace_observations, EdgeCell, EdgeKey, EdgeRollup,
    EdgeTotal, LooseEnd, NodeKind, Observation, SpanHalf,
};
use spandb_storage::rollup::{DenseSketch, ROLLUP_BUCKET_NS};
use spandb_storage::{Snapshot, Span, SpanId, SpanParts, TraceId};

use super::graph_types::{
    EdgeLatencyState, EdgeMinute, GraphEdge, GraphNode, LatencySummary, ServiceGraph,
};
use crate::ast::Query;
use crate::error::Result;
use crate::plan::TimeRange;
use crate::sketch_state::SketchState;

/// `range` widened to whole minutes.
pub fn minute_aligned(range: TimeRange) -> TimeRange {
    let start = minute_of(range.start_ns);
    let end = if range.end_ns == u64::MAX {
        u64::MAX
    } else {
        let m = minute_of(range.end_ns);
        if m == range.end_ns {
            m
        } else {
            m.saturating_add(ROLLUP_BUCKET_NS)
        }
    };
    TimeRange::new(start, end)
}

/// The service graph of the calls in `range`, counting only traces that match `filter` when
/// one is given.
pub fn service_graph(
    snapshot: &Snapshot,
    range: TimeRange,
    filter: Option<&Query>,
) -> Result<ServiceGraph> {
    snapshot.require_all_blocks()?;
    let range = minute_aligned(range);
    let mut graph = GraphBuilder::default();
    let mut store = StoreLookup::new(snapshot);
    if let Some(filter) = filter {
        let matches = crate::exec::search::search(snapshot, filter, TimeRange::ALL, usize::MAX)?;
        for t in matches {
            let spans = snapshot.trace(&t.trace_id)?;
            let mut find = |t: &TraceId, id: &SpanId| store.find_span(t, id);
            for o in trace_observations(&spans, &mut find) {
                if range.contains(o.time_ns) {
                    graph.add(&o);
                }
            }
        }
        return Ok(graph.finish(range));
    }
    for block in snapshot.blocks() {
        let m = block.meta();
        if !range.overlaps(m.min_start_ns, m.max_start_ns) {
            continue;
        }
        let f = block.footer()?;
        match f.edges_with_totals() {
            Some(edges) => graph.add_rollup(edges, Some(block.id()), range, &mut store)?,
            None => {
                let spans = block.all_spans()?;
                let refs: Vec<&Span> = spans.iter().collect();
                graph.add_rollup(
                    &EdgeRollup::of_spans(&refs),
                    Some(block.id()),
                    range,
                    &mut store,
                )?;
            }
        }
    }
    let unsealed: Vec<&Span> = snapshot.unsealed_spans()?.collect();
    if !unsealed.is_empty() {
        graph.add_rollup(&EdgeRollup::of_spans(&unsealed), None, range, &mut store)?;
    }
    Ok(graph.finish(range))
}

/// The graph computed the slow, obvious way: group every span by trace and observe each
/// whole trace. The oracle the rollup path is tested against.
pub fn service_graph_reference(spans: &[Span], range: TimeRange) -> ServiceGraph {
    let range = minute_aligned(range);
    let mut traces: BTreeMap<TraceId, Vec<Span>> = BTreeMap::new();
    let mut all: HashMap<(TraceId, SpanId), &Span> = HashMap::new();
    let mut sorted: Vec<&Span> = spans.iter().collect();
    sorted.sort_by_key(|s| (s.trace_id, s.start_ns, s.span_id, s.end_ns));
    for s in &sorted {
        traces.entry(s.trace_id).or_default().push((*s).clone());
        all.entry((s.trace_id, s.span_id)).or_insert(s);
    }
    let mut graph = GraphBuilder::default();
    for trace in traces.values() {
        let mut find = |t: &TraceId, id: &SpanId| all.get(&(*t, *id)).map(|s| span_half(s));
        for o in trace_observations(trace, &mut find) {
            if range.contains(o.time_ns) {
                graph.add(&o);
            }
        }
    }
    graph.finish(range)
}

/// Whole traces fetched from the store while resolving loose ends, each fetched once.
struct StoreLookup<'s> {
    snapshot: &'s Snapshot,
    traces: FxHashMap<TraceId, Vec<Span>>,
    unsealed_traces: Option<HashSet<TraceId>>,
    error: Option<crate::error::Error>,
}

impl<'s> StoreLookup<'s> {
    fn new(snapshot: &'s Snapshot) -> Self {
        StoreLookup {
            snapshot,
            traces: FxHashMap::default(),
            unsealed_traces: None,
            error: None,
        }
    }

    fn trace(&mut self, trace: &TraceId) -> &[Span] {
        if !self.traces.contains_key(trace) {
            // Resolution reads span halves (service, kind, times, status) and parent ids:
            // no attribute, event or link is decoded.
            let mut spans = match self.snapshot.trace_with(trace, SpanParts::CORE) {
                Ok(s) => s,
                Err(e) => {
                    self.error.get_or_insert(e.into());
                    Vec::new()
                }
            };
            // Earliest first, so the first span of a duplicated id is the one trace assembly
            // and the rollups pair with.
            spans.sort_by_key(|s| (s.start_ns, s.span_id, s.end_ns));
            self.traces.insert(*trace, spans);
        }
        self.traces
            .get(trace)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    fn find_span(&mut self, trace: &TraceId, id: &SpanId) -> Option<SpanHalf> {
        self.trace(trace)
            .iter()
            .find(|s| s.span_id == *id)
            .map(span_half)
    }

    /// Whether spans of `trace` are stored outside `block` (`None`: outside the unsealed
    /// spans).
    fn lives_elsewhere(&mut self, trace: &TraceId, block: Option<u64>) -> bool {
        let blocks = match self.snapshot.blocks_of_trace(trace) {
            Ok(b) => b,
            Err(e) => {
                self.error.get_or_insert(e.into());
                return true;
            }
        };
        if blocks.iter().any(|b| Some(*b) != block) {
            return true;
        }
        if block.is_none() {
            return false;
        }
        if self.unsealed_traces.is_none() {
            match self.snapshot.unsealed_spans() {
                Ok(spans) => self.unsealed_traces = Some(spans.map(|s| s.trace_id).collect()),
                Err(e) => {
                    self.error.get_or_insert(e.into());
                    return true;
                }
            }
        }
        self.unsealed_traces
            .as_ref()
            .is_some_and(|t| t.contains(trace))
    }

    fn has_remote_child(&mut self, trace: &TraceId, span: &SpanId, service: &str) -> bool {
        let spans = self.trace(trace);
        spans.iter().any(|child| {
            child.parent_span_id == Some(*span)
                && child.span_id != *span
                && child.service() != service
                // The child pairs with the first span of that id, which the virtual call's
                // owner is.
                && spans.iter().find(|s| s.span_id == *span).map(Span::service) == Some(service)
        })
    }
}

/// One edge's totals. Dense sketches: a graph merges thousands of per-minute sketches.
#[derive(Default)]
struct EdgeAgg {
    calls: u64,
    errors: u64,
    client: DenseSketch,
    server: DenseSketch,
    minutes: BTreeMap<u64, (u64, u64)>,
}

#[derive(Default)]
struct GraphBuilder {
    edges: FxHashMap<EdgeKey, EdgeAgg>,
}

impl GraphBuilder {
    /// The edge's totals, cloning its key only the first time it is seen.
    fn edge(&mut self, key: &EdgeKey) -> &mut EdgeAgg {
        if !self.edges.contains_key(key) {
            self.edges.insert(key.clone(), EdgeAgg::default());
        }
        // Present: inserted just above when it was missing.
        self.edges.get_mut(key).expect("edge inserted above")
    }

    fn add(&mut self, o: &Observation) {
        let agg = self.edge(&o.edge);
        agg.calls += 1;
        agg.errors += u64::from(o.error);
        agg.client.add(o.client_ns);
        if let Some(s) = o.server_ns {
            agg.server.add(s);
        }
        let m = agg.minutes.entry(minute_of(o.time_ns)).or_default();
        m.0 += 1;
        m.1 += u64::from(o.error);
    }

    fn add_cell(&mut self, key: &EdgeKey, minute: u64, cell: &EdgeCell) {
        let agg = self.edge(key);
        agg.calls += cell.calls;
        agg.errors += cell.errors;
        agg.client.merge_sketch(&cell.client);
        agg.server.merge_sketch(&cell.server);
        let m = agg.minutes.entry(minute).or_default();
        m.0 += cell.calls;
        m.1 += cell.errors;
    }

    fn add_total(&mut self, total: &EdgeTotal) {
        let agg = self.edge(&total.key);
        agg.calls += total.calls;
        agg.errors += total.errors;
        agg.client.merge_compact(&total.client);
        agg.server.merge_compact(&total.server);
        for &(minute, calls, errors) in &total.minutes {
            let m = agg.minutes.entry(minute).or_default();
            m.0 += calls;
            m.1 += errors;
        }
    }

    fn add_rollup(
        &mut self,
        rollup: &EdgeRollup,
        block: Option<u64>,
        range: TimeRange,
        store: &mut StoreLookup<'_>,
    ) -> Result<()> {
        let covered = rollup
            .minute_span()
            .is_some_and(|(lo, hi)| range.contains(lo) && range.contains(hi));
        if covered {
            for total in rollup.totals() {
                self.add_total(total);
            }
        } else {
            for ((key, minute), cell) in &rollup.cells {
                if range.contains(*minute) {
                    self.add_cell(key, *minute, cell);
                }
            }
        }
        for end in &rollup.loose {
            if !range.contains(end.time_ns()) {
                continue;
            }
            let observation = match end {
                LooseEnd::Virtual { trace_id, call, .. }
                    if !store.lives_elsewhere(trace_id, block) =>
                {
                    Some(call.clone())
                }
                _ => {
                    let store = std::cell::RefCell::new(&mut *store);
                    resolve_loose_end(
                        end,
                        &mut |t, id| store.borrow_mut().find_span(t, id),
                        &mut |t, id, service| store.borrow_mut().has_remote_child(t, id, service),
                    )
                }
            };
            if let Some(o) = observation {
                self.add(&o);
            }
        }
        match store.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn finish(self, range: TimeRange) -> ServiceGraph {
        let mut nodes: BTreeMap<(NodeKind, String), GraphNode> = BTreeMap::new();
        let mut sorted: Vec<(EdgeKey, EdgeAgg)> = self.edges.into_iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut edges = Vec::with_capacity(sorted.len());
        for (key, agg) in sorted {
            let client_state = SketchState::of(&agg.client);
            let server_state = SketchState::of(&agg.server);
            nodes
                .entry((key.client_kind, key.client.clone()))
                .or_insert_with(|| node(&key.client, key.client_kind));
            let server = nodes
                .entry((key.server_kind, key.server.clone()))
                .or_insert_with(|| node(&key.server, key.server_kind));
            server.calls_in += agg.calls;
            server.errors_in += agg.errors;
            edges.push(GraphEdge {
                client: key.client,
                client_kind: key.client_kind,
                server: key.server,
                server_kind: key.server_kind,
                kind: key.kind,
                calls: agg.calls,
                errors: agg.errors,
                client_latency: LatencySummary::of(&client_state),
                server_latency: LatencySummary::of(&server_state),
                latency_state: Some(EdgeLatencyState {
                    client: client_state,
                    server: server_state,
                }),
                per_minute: agg
                    .minutes
                    .into_iter()
                    .map(|(minute_ns, (calls, errors))| EdgeMinute {
                        minute_ns,
                        calls,
                        errors,
                    })
                    .collect(),
            });
        }
        ServiceGraph {
            start_ns: range.start_ns,
            end_ns: range.end_ns,
            nodes: nodes.into_values().collect(),
            edges,
        }
    }
}

fn node(name: &str, kind: NodeKind) -> GraphNode {
    GraphNode {
        name: name.to_owned(),
        kind,
        calls_in: 0,
        errors_in: 0,
    }
}
