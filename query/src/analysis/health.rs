//! Trace health: is this trace whole and are its clocks sane? Orphans (a parent that never
//! arrived), a missing root, duplicate span ids, children outside their parent's time with
//! the clock skew estimated per service pair, span links followed to the traces they point
//! at, and whether spans of the trace are still unsealed (it may still be receiving spans).

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use spandb_storage::{Snapshot, SpanId, TraceId};

use crate::ast::Query;
use crate::error::Result;
use crate::plan::TimeRange;
use crate::trace_tree::{is_async_child, TraceTree};

/// Links followed at most per trace (each is one trace lookup).
pub const MAX_LINKS_FOLLOWED: usize = 100;

/// A span whose parent is not in the trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Orphan {
    pub span_id: String,
    pub service: String,
    pub name: String,
    pub missing_parent_id: String,
}

/// A span id used by more than one span.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DuplicateId {
    pub span_id: String,
    pub spans: usize,
}

/// A child that starts before or ends after its parent (raw times, before any adjustment).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OutsideParent {
    pub span_id: String,
    pub service: String,
    pub name: String,
    pub parent_span_id: String,
    pub parent_service: String,
    /// How long before the parent's start the child starts (0 when it does not).
    pub early_ns: u64,
    /// How long after the parent's end the child ends (0 when it does not).
    pub late_ns: u64,
}

/// Clock skew between a parent service and a child service, from their parent/child
/// pairs in this trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceSkew {
    pub parent_service: String,
    pub child_service: String,
    /// Parent/child pairs between the two services.
    pub pairs: usize,
    /// Pairs where the child lies outside its parent.
    pub outside: usize,
    /// Median shift (ns) that places the outside children inside their parents: the child
    /// service's clock is behind the parent's by about this much (negative: ahead).
    pub estimated_skew_ns: i64,
}

/// A span link and whether what it points at is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LinkTarget {
    pub span_id: String,
    pub linked_trace_id: String,
    pub linked_span_id: String,
    /// The linked trace has spans in the store.
    pub trace_found: bool,
    /// The linked span itself is stored.
    pub span_found: bool,
    /// Spans in the linked trace (0 when not found).
    pub linked_trace_spans: usize,
}

/// Everything [`trace_health`] found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceHealth {
    pub trace_id: String,
    pub spans: usize,
    /// No span without a parent id arrived.
    pub missing_root: bool,
    /// Spans without a parent id (more than one is suspicious).
    pub roots: usize,
    pub orphans: Vec<Orphan>,
    pub duplicate_span_ids: Vec<DuplicateId>,
    pub outside_parent: Vec<OutsideParent>,
    pub skew: Vec<ServiceSkew>,
    pub links: Vec<LinkTarget>,
    /// Links not followed beyond [`MAX_LINKS_FOLLOWED`].
    pub links_not_followed: usize,
    /// Spans of the trace not yet sealed into a block: the trace may still be receiving.
    pub unsealed_spans: usize,
    /// The latest span end, unix ns.
    pub last_end_ns: u64,
}

impl TraceHealth {
    /// No problem found (still-unsealed spans are not a problem).
    pub fn is_healthy(&self) -> bool {
        !self.missing_root
            && self.roots <= 1
            && self.orphans.is_empty()
            && self.duplicate_span_ids.is_empty()
            && self.outside_parent.is_empty()
            && self.links.iter().all(|l| l.trace_found)
    }
}

/// The health of one trace; `None` when the store has no span of it.
pub fn trace_health(snapshot: &Snapshot, trace_id: &TraceId) -> Result<Option<TraceHealth>> {
    let Some(tree) = crate::trace_tree::trace(snapshot, trace_id)? else {
        return Ok(None);
    };
    let unsealed = snapshot
        .unsealed_spans()?
        .filter(|s| s.trace_id == *trace_id)
        .count();
    let mut links = Vec::new();
    let mut not_followed = 0;
    let mut cache: FxHashMap<TraceId, FxHashSet<SpanId>> = FxHashMap::default();
    for span in &tree.spans {
        for link in &span.links {
            if links.len() >= MAX_LINKS_FOLLOWED {
                not_followed += 1;
                continue;
            }
            let ids = match cache.get(&link.trace_id) {
                Some(ids) => ids,
                None => {
                    let ids: FxHashSet<SpanId> = if link.trace_id == *trace_id {
                        tree.spans.iter().map(|s| s.span_id).collect()
                    } else {
                        snapshot
                            .trace(&link.trace_id)?
                            .iter()
                            .map(|s| s.span_id)
                            .collect()
                    };
                    cache.entry(link.trace_id).or_insert(ids)
                }
            };
            links.push(LinkTarget {
                span_id: span.span_id.to_string(),
                linked_trace_id: link.trace_id.to_string(),
                linked_span_id: link.span_id.to_string(),
                trace_found: !ids.is_empty(),
                span_found: ids.contains(&link.span_id),
                linked_trace_spans: ids.len(),
            });
        }
    }
    let mut health = health_of(&tree);
    health.links = links;
    health.links_not_followed = not_followed;
    health.unsealed_spans = unsealed;
    Ok(Some(health))
}

/// Traces with structural problems among the newest matches of a query.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HealthScan {
    /// Traces examined (the newest matches, at most the limit asked for).
    pub examined: usize,
    /// Of those, traces with no root span, with several, with orphans, with duplicate span
    /// ids, with spans outside their parent's time.
    pub missing_root: usize,
    pub several_roots: usize,
    pub with_orphans: usize,
    pub with_duplicate_ids: usize,
    pub with_spans_outside_parent: usize,
    /// The unhealthy traces, newest first (links are not followed in a scan).
    pub unhealthy: Vec<TraceHealth>,
}

/// Finds the unhealthy traces among the newest `limit` traces matching `query` in `range`.
/// Each candidate is assembled once, with the batched fetch of [`super::fetch::traces`], so
/// the cost is that of reading `limit` traces; what a trace is missing cannot be indexed at
/// write time, since a parent may arrive later or in another block.
pub fn health_scan(
    snapshot: &Snapshot,
    query: &Query,
    range: TimeRange,
    limit: usize,
) -> Result<HealthScan> {
    let found = crate::exec::search::search(snapshot, query, range, limit)?;
    let ids: Vec<TraceId> = found.iter().map(|t| t.trace_id).collect();
    let trees = super::fetch::traces(snapshot, &ids)?;
    let mut scan = HealthScan {
        examined: trees.len(),
        ..HealthScan::default()
    };
    for tree in &trees {
        let h = health_of(tree);
        scan.missing_root += usize::from(h.missing_root);
        scan.several_roots += usize::from(h.roots > 1);
        scan.with_orphans += usize::from(!h.orphans.is_empty());
        scan.with_duplicate_ids += usize::from(!h.duplicate_span_ids.is_empty());
        scan.with_spans_outside_parent += usize::from(!h.outside_parent.is_empty());
        if !h.is_healthy() {
            scan.unhealthy.push(h);
        }
    }
    Ok(scan)
}

/// What the assembled tree alone tells (links unfollowed, unsealed spans not counted).
pub fn health_of(tree: &TraceTree) -> TraceHealth {
    let spans = &tree.spans;
    let orphans = tree
        .nodes
        .iter()
        .filter(|n| n.orphan)
        .map(|n| {
            let s = &spans[n.span];
            Orphan {
                span_id: s.span_id.to_string(),
                service: s.service().to_owned(),
                name: s.name.clone(),
                missing_parent_id: s.parent_span_id.map(|p| p.to_string()).unwrap_or_default(),
            }
        })
        .collect();
    let mut ids: BTreeMap<SpanId, usize> = BTreeMap::new();
    for s in spans {
        *ids.entry(s.span_id).or_default() += 1;
    }
    let duplicate_span_ids = ids
        .into_iter()
        .filter(|&(_, n)| n > 1)
        .map(|(id, n)| DuplicateId {
            span_id: id.to_string(),
            spans: n,
        })
        .collect();
    let mut outside_parent = Vec::new();
    // (parent service, child service) -> (pairs, shifts of outside children)
    let mut pairs: BTreeMap<(&str, &str), (usize, Vec<i64>)> = BTreeMap::new();
    for node in &tree.nodes {
        let Some(p) = node.parent else { continue };
        let (c, ps) = (&spans[node.span], &spans[p]);
        let early = ps.start_ns.saturating_sub(c.start_ns);
        // A consumer (or work a producer handed off) may outlive its parent.
        let late = match is_async_child(ps, c) {
            true => 0,
            false => c.end_ns.saturating_sub(ps.end_ns.max(ps.start_ns)),
        };
        let outside = early > 0 || late > 0;
        if outside {
            outside_parent.push(OutsideParent {
                span_id: c.span_id.to_string(),
                service: c.service().to_owned(),
                name: c.name.clone(),
                parent_span_id: ps.span_id.to_string(),
                parent_service: ps.service().to_owned(),
                early_ns: early,
                late_ns: late,
            });
        }
        if c.service() != ps.service() {
            let e = pairs.entry((ps.service(), c.service())).or_default();
            e.0 += 1;
            if outside {
                // The trace tree's own adjustment of this edge: what centres the child.
                let shift = node.skew_adjust_ns - tree.nodes[p].skew_adjust_ns;
                e.1.push(shift);
            }
        }
    }
    let skew = pairs
        .into_iter()
        .filter(|(_, (_, shifts))| !shifts.is_empty())
        .map(|((parent, child), (n, mut shifts))| {
            shifts.sort_unstable();
            ServiceSkew {
                parent_service: parent.to_owned(),
                child_service: child.to_owned(),
                pairs: n,
                outside: shifts.len(),
                estimated_skew_ns: shifts[(shifts.len() - 1) / 2],
            }
        })
        .collect();
    TraceHealth {
        trace_id: tree.trace_id.to_string(),
        spans: spans.len(),
        missing_root: tree.root.is_none(),
        roots: tree
            .nodes
            .iter()
            .filter(|n| n.parent.is_none() && !n.orphan)
            .count(),
        orphans,
        duplicate_span_ids,
        outside_parent,
        skew,
        links: Vec::new(),
        links_not_followed: 0,
        unsealed_spans: 0,
        last_end_ns: tree.end_ns,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use spandb_storage::{KeyValue, Resource, Span, Value};

    use super::*;

    fn span(id: u8, parent: Option<u8>, service: &str, start: u64, end: u64) -> Span {
        Span {
            trace_id: TraceId([3; 16]),
            span_id: SpanId([id; 8]),
            parent_span_id: parent.map(|p| SpanId([p; 8])),
            name: format!("op{id}"),
            start_ns: start,
            end_ns: end,
            resource: Arc::new(Resource {
                attributes: vec![KeyValue::new("service.name", Value::Str(service.into()))],
                ..Resource::default()
            }),
            ..Span::default()
        }
    }

    #[test]
    fn a_whole_trace_is_healthy() {
        let t = TraceTree::from_spans(vec![
            span(1, None, "web", 0, 100),
            span(2, Some(1), "api", 10, 90),
        ])
        .unwrap();
        let h = health_of(&t);
        assert!(h.is_healthy(), "{h:?}");
        assert_eq!(h.roots, 1);
        assert!(h.skew.is_empty());
    }

    #[test]
    fn finds_orphans_duplicates_missing_root_and_skew() {
        let t = TraceTree::from_spans(vec![
            // The root never arrived; api's clock is 1000 behind web's.
            span(2, Some(1), "web", 1000, 1100),
            span(3, Some(2), "api", 20, 80),
            span(4, Some(2), "api", 30, 60),
            span(4, Some(2), "web", 1010, 1020),
            span(5, Some(2), "db", 1020, 1030),
        ])
        .unwrap();
        let h = health_of(&t);
        assert!(!h.is_healthy());
        assert!(h.missing_root);
        assert_eq!(h.orphans.len(), 1);
        assert_eq!(h.orphans[0].missing_parent_id, SpanId([1; 8]).to_string());
        assert_eq!(h.duplicate_span_ids.len(), 1);
        assert_eq!(h.duplicate_span_ids[0].spans, 2);
        assert_eq!(h.outside_parent.len(), 2, "{:?}", h.outside_parent);
        assert!(h.outside_parent.iter().all(|o| o.early_ns > 900));
        let api = h.skew.iter().find(|s| s.child_service == "api").unwrap();
        assert_eq!((api.pairs, api.outside), (2, 2));
        assert!(api.estimated_skew_ns > 900, "{api:?}");
        assert!(h.skew.iter().all(|s| s.child_service != "db"));
    }

    #[test]
    fn a_consumer_outliving_its_producer_is_healthy() {
        let mut producer = span(2, Some(1), "web", 10, 20);
        producer.kind = spandb_storage::SpanKind::Producer;
        let mut consumer = span(3, Some(2), "worker", 500, 900);
        consumer.kind = spandb_storage::SpanKind::Consumer;
        let t =
            TraceTree::from_spans(vec![span(1, None, "web", 0, 100), producer, consumer]).unwrap();
        let h = health_of(&t);
        assert!(h.is_healthy(), "{h:?}");
        assert!(h.skew.is_empty());
    }
}
