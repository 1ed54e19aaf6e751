//! Explain one trace: a short, deterministic account for a person or an LLM, as data and
//! as sentences. No model and no network: every statement is computed from the trace and
//! the store's rollups.
//!
//! - **Duration and rank**: the trace's duration against every request to its root
//!   operation (the rollups' duration sketch of that service and span name, all data).
//! - **Critical path**: the (service, operation) pairs holding the most critical-path time.
//! - **Failure**: the error origin (the deepest error span none of whose children failed,
//!   the latest-starting one when several) and the services its failure propagated through
//!   up to the root.
//! - **Unusual spans**: spans longer than their operation's p99 (all data) that spent most
//!   of that time themselves (self time ≥ half their duration), worst first.
//! - **Health**: orphans, missing root, duplicate ids, clocks, links (see `health`).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use spandb_storage::rollup::Sketch;
use spandb_storage::{Snapshot, Span, TraceId, Value};

use super::critical_path::{critical_path, critical_time_per_span};
use super::health::{health_of, TraceHealth};
use super::self_time::self_times;
use crate::error::Result;
use crate::trace_tree::{trace, TraceTree};

const TOP_CRITICAL: usize = 5;
const TOP_UNUSUAL: usize = 5;

/// How the trace's duration ranks among requests to its root operation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DurationRank {
    /// Requests to the root operation in the store.
    pub requests: u64,
    /// Share of them that took at most as long as this trace (0 to 1).
    pub percentile: f64,
    pub typical_p50_ns: f64,
    pub typical_p99_ns: f64,
}

/// A (service, operation) and its critical-path time in this trace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CriticalShare {
    pub service: String,
    pub operation: String,
    pub critical_ns: u64,
    /// Of the trace's whole critical path (0 to 1).
    pub share: f64,
}

/// Where a failure started and how it travelled.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FailureStory {
    pub origin_span_id: String,
    pub service: String,
    pub operation: String,
    /// `exception.type` of the origin's exception event, or "".
    pub exception_type: String,
    /// `exception.message`, else the status message.
    pub message: String,
    /// Services of the failed ancestors, from the origin's parent up to the root.
    pub propagated_through: Vec<String>,
    /// Error spans in the trace.
    pub error_spans: usize,
}

/// A span far slower than its operation usually is, by its own doing.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UnusualSpan {
    pub span_id: String,
    pub service: String,
    pub operation: String,
    pub duration_ns: u64,
    pub self_ns: u64,
    pub typical_p99_ns: f64,
}

/// The account of one trace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explanation {
    pub trace_id: String,
    pub root_service: Option<String>,
    pub root_operation: Option<String>,
    pub start_ns: u64,
    pub duration_ns: u64,
    pub spans: usize,
    pub services: Vec<String>,
    pub rank: Option<DurationRank>,
    pub critical_path: Vec<CriticalShare>,
    pub failure: Option<FailureStory>,
    pub unusual_spans: Vec<UnusualSpan>,
    pub health: TraceHealth,
    /// The account in sentences, in the order above.
    pub summary: Vec<String>,
}

/// Explains a trace; `None` when the store has no span of it.
pub fn explain(snapshot: &Snapshot, trace_id: &TraceId) -> Result<Option<Explanation>> {
    let Some(tree) = trace(snapshot, trace_id)? else {
        return Ok(None);
    };
    let ops = operation_sketches(snapshot, &tree)?;
    let mut health = health_of(&tree);
    health.unsealed_spans = snapshot
        .unsealed_spans()?
        .filter(|s| s.trace_id == *trace_id)
        .count();
    let root = tree.root_span();
    let rank = root.and_then(|r| {
        let sketch = ops.get(&(r.service().to_owned(), r.name.clone()))?;
        let requests = sketch.count();
        (requests > 0).then(|| DurationRank {
            requests,
            percentile: sketch.count_at_most(tree.duration_ns()) as f64 / requests as f64,
            typical_p50_ns: sketch.quantile(0.5).unwrap_or(0.0),
            typical_p99_ns: sketch.quantile(0.99).unwrap_or(0.0),
        })
    });
    let mut e = Explanation {
        trace_id: trace_id.to_string(),
        root_service: root.map(|r| r.service().to_owned()),
        root_operation: root.map(|r| r.name.clone()),
        start_ns: tree.start_ns,
        duration_ns: tree.duration_ns(),
        spans: tree.spans.len(),
        services: tree.services.iter().map(|(s, _)| s.clone()).collect(),
        rank,
        critical_path: critical_shares(&tree),
        failure: failure_story(&tree),
        unusual_spans: unusual_spans(&tree, &ops),
        health,
        summary: Vec::new(),
    };
    e.summary = sentences(&e);
    Ok(Some(e))
}

/// Duration sketches (all data) of the operations in `tree`.
fn operation_sketches(
    snapshot: &Snapshot,
    tree: &TraceTree,
) -> Result<HashMap<(String, String), Sketch>> {
    let wanted: std::collections::HashSet<(String, String)> = tree
        .spans
        .iter()
        .map(|s| (s.service().to_owned(), s.name.clone()))
        .collect();
    let mut out: HashMap<(String, String), Sketch> = HashMap::new();
    for block in snapshot.blocks() {
        let f = block.footer()?;
        let mut ids: HashMap<(u32, u32), &(String, String)> = HashMap::new();
        for op in &wanted {
            if let (Some(s), Some(n)) = (f.string_id(&op.0), f.string_id(&op.1)) {
                ids.insert((s, n), op);
            }
        }
        if ids.is_empty() {
            continue;
        }
        for (key, cell) in &f.rollup().cells {
            if let Some(op) = ids.get(&(key.service, key.name)) {
                out.entry((*op).clone()).or_default().merge(&cell.durations);
            }
        }
    }
    for s in snapshot.unsealed_spans()? {
        let op = (s.service().to_owned(), s.name.clone());
        if wanted.contains(&op) {
            out.entry(op).or_default().add(s.duration_ns());
        }
    }
    Ok(out)
}

fn critical_shares(tree: &TraceTree) -> Vec<CriticalShare> {
    let sections = critical_path(tree);
    let per_span = critical_time_per_span(tree, &sections);
    let total: u64 = per_span.iter().sum();
    let mut per_op: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for (i, t) in per_span.iter().enumerate() {
        if *t > 0 {
            let s = &tree.spans[i];
            *per_op.entry((s.service(), &s.name)).or_default() += t;
        }
    }
    let mut shares: Vec<CriticalShare> = per_op
        .into_iter()
        .map(|((service, operation), critical_ns)| CriticalShare {
            service: service.to_owned(),
            operation: operation.to_owned(),
            critical_ns,
            share: critical_ns as f64 / total.max(1) as f64,
        })
        .collect();
    shares.sort_by_key(|s| std::cmp::Reverse(s.critical_ns));
    shares.truncate(TOP_CRITICAL);
    shares
}

fn str_attr<'s>(attrs: &'s [spandb_storage::KeyValue], key: &str) -> Option<&'s str> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match &kv.value {
            Value::Str(s) => Some(s.as_str()),
            _ => None,
        })
}

fn failure_story(tree: &TraceTree) -> Option<FailureStory> {
    let spans = &tree.spans;
    let failed = |i: usize| spans[i].is_error();
    let error_spans = (0..spans.len()).filter(|&i| failed(i)).count();
    // Origins: error spans without a failed child; the latest starting wins (spans are in
    // start order), which is the deepest on a synchronous chain.
    let origin = (0..spans.len())
        .filter(|&i| failed(i) && !tree.nodes[i].children.iter().any(|&c| failed(c)))
        .max_by_key(|&i| (tree.nodes[i].depth, spans[i].start_ns))?;
    let span: &Span = &spans[origin];
    let exception = span.events.iter().find(|e| e.name == "exception");
    let exception_type = exception
        .and_then(|e| str_attr(&e.attributes, "exception.type"))
        .unwrap_or_default()
        .to_owned();
    let message = exception
        .and_then(|e| str_attr(&e.attributes, "exception.message"))
        .unwrap_or(&span.status_message)
        .to_owned();
    let mut propagated_through: Vec<String> = Vec::new();
    let mut at = tree.nodes[origin].parent;
    while let Some(p) = at {
        if failed(p) {
            let service = spans[p].service();
            if propagated_through.last().map(String::as_str) != Some(service)
                && service != span.service()
            {
                propagated_through.push(service.to_owned());
            }
        }
        at = tree.nodes[p].parent;
    }
    Some(FailureStory {
        origin_span_id: span.span_id.to_string(),
        service: span.service().to_owned(),
        operation: span.name.clone(),
        exception_type,
        message,
        propagated_through,
        error_spans,
    })
}

fn unusual_spans(tree: &TraceTree, ops: &HashMap<(String, String), Sketch>) -> Vec<UnusualSpan> {
    let self_ns = self_times(tree);
    let mut out: Vec<UnusualSpan> = tree
        .spans
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let sketch = ops.get(&(s.service().to_owned(), s.name.clone()))?;
            // Too few requests to call anything unusual.
            if sketch.count() < 20 {
                return None;
            }
            let p99 = sketch.quantile(0.99)?;
            let d = s.duration_ns();
            (d as f64 > p99 && self_ns[i] * 2 >= d).then(|| UnusualSpan {
                span_id: s.span_id.to_string(),
                service: s.service().to_owned(),
                operation: s.name.clone(),
                duration_ns: d,
                self_ns: self_ns[i],
                typical_p99_ns: p99,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        (b.duration_ns as f64 - b.typical_p99_ns)
            .total_cmp(&(a.duration_ns as f64 - a.typical_p99_ns))
    });
    out.truncate(TOP_UNUSUAL);
    out
}

/// `12.1ms`-style durations for the sentences.
fn dur(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2}s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.1}ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.0}us", ns / 1e3)
    } else {
        format!("{ns:.0}ns")
    }
}

fn sentences(e: &Explanation) -> Vec<String> {
    let mut out = Vec::new();
    let root = match (&e.root_service, &e.root_operation) {
        (Some(s), Some(o)) => format!("{s} \"{o}\""),
        _ => "a trace without its root span".into(),
    };
    let mut first = format!(
        "Trace {} is {root}: it took {} over {} spans in {} services.",
        e.trace_id,
        dur(e.duration_ns as f64),
        e.spans,
        e.services.len()
    );
    if let Some(r) = &e.rank {
        first.push_str(&format!(
            " That is at percentile {:.0} of the {} requests to this operation (typical p50 {}, p99 {}).",
            100.0 * r.percentile,
            r.requests,
            dur(r.typical_p50_ns),
            dur(r.typical_p99_ns)
        ));
    }
    out.push(first);
    if !e.critical_path.is_empty() {
        let parts: Vec<String> = e
            .critical_path
            .iter()
            .map(|c| {
                format!(
                    "{} \"{}\" {} ({:.0}%)",
                    c.service,
                    c.operation,
                    dur(c.critical_ns as f64),
                    100.0 * c.share
                )
            })
            .collect();
        out.push(format!("Its critical path went to {}.", parts.join(", ")));
    }
    match &e.failure {
        Some(f) => {
            let what = match (f.exception_type.is_empty(), f.message.is_empty()) {
                (false, false) => format!(" with {}: {}", f.exception_type, f.message),
                (false, true) => format!(" with {}", f.exception_type),
                (true, false) => format!(" with \"{}\"", f.message),
                (true, true) => String::new(),
            };
            let travelled = if f.propagated_through.is_empty() {
                "and did not propagate to other services".to_owned()
            } else {
                format!(
                    "and propagated through {}",
                    f.propagated_through.join(" -> ")
                )
            };
            out.push(format!(
                "It failed: the error started in {} \"{}\" (span {}){what}, {travelled} ({} error spans).",
                f.service, f.operation, f.origin_span_id, f.error_spans
            ));
        }
        None => out.push("No span failed.".into()),
    }
    for u in &e.unusual_spans {
        out.push(format!(
            "Unusual: {} \"{}\" (span {}) took {}, {} of it its own time; that operation's p99 is {}.",
            u.service,
            u.operation,
            u.span_id,
            dur(u.duration_ns as f64),
            dur(u.self_ns as f64),
            dur(u.typical_p99_ns)
        ));
    }
    out.push(health_sentence(&e.health));
    out
}

fn health_sentence(h: &TraceHealth) -> String {
    let mut problems = Vec::new();
    if h.missing_root {
        problems.push("its root span never arrived".to_owned());
    }
    if !h.orphans.is_empty() {
        problems.push(format!(
            "{} spans name a parent that never arrived",
            h.orphans.len()
        ));
    }
    if !h.duplicate_span_ids.is_empty() {
        problems.push(format!(
            "{} span ids are used twice",
            h.duplicate_span_ids.len()
        ));
    }
    if !h.outside_parent.is_empty() {
        problems.push(format!(
            "{} spans lie outside their parent's time (clock skew)",
            h.outside_parent.len()
        ));
    }
    let broken_links = h.links.iter().filter(|l| !l.trace_found).count();
    if broken_links > 0 {
        problems.push(format!("{broken_links} links point to traces not stored"));
    }
    let mut s = if problems.is_empty() {
        "The trace is complete and consistent.".to_owned()
    } else {
        format!("Health: {}.", problems.join("; "))
    };
    if h.unsealed_spans > 0 {
        s.push_str(&format!(
            " {} of its spans arrived recently (not yet sealed): it may still be receiving spans.",
            h.unsealed_spans
        ));
    }
    s
}
