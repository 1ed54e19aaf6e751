//! The critical path of one trace as data for people and scripts: sections with span ids
//! and times, and each span's share.

use serde::Serialize;

use super::critical_path::{critical_path, critical_time_per_span};
use super::self_time::self_times;
use crate::trace_tree::TraceTree;

/// One section of the path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PathSection {
    /// 16 hex characters.
    pub span_id: String,
    pub service: String,
    pub name: String,
    /// Unix ns.
    pub start_ns: u64,
    pub end_ns: u64,
}

/// A span's time on the path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SpanPathTime {
    pub span_id: String,
    pub service: String,
    pub name: String,
    pub duration_ns: u64,
    /// Sum of the span's sections.
    pub critical_ns: u64,
    /// Exclusive time: duration minus the union of its children.
    pub self_ns: u64,
}

/// What `spandb critical-path` shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CriticalPathReport {
    pub trace_id: String,
    pub start_ns: u64,
    pub end_ns: u64,
    /// In the order the walk finds them: from the end of the trace backwards.
    pub sections: Vec<PathSection>,
    /// Spans with critical-path time, most first.
    pub spans: Vec<SpanPathTime>,
}

pub fn critical_path_report(tree: &TraceTree) -> CriticalPathReport {
    let sections = critical_path(tree);
    let critical = critical_time_per_span(tree, &sections);
    let self_ns = self_times(tree);
    let mut spans: Vec<SpanPathTime> = critical
        .iter()
        .enumerate()
        .filter(|(_, &c)| c > 0)
        .map(|(i, &c)| {
            let s = &tree.spans[i];
            SpanPathTime {
                span_id: s.span_id.to_string(),
                service: s.service().to_owned(),
                name: s.name.clone(),
                duration_ns: s.duration_ns(),
                critical_ns: c,
                self_ns: self_ns.get(i).copied().unwrap_or(0),
            }
        })
        .collect();
    spans.sort_by_key(|s| std::cmp::Reverse(s.critical_ns));
    CriticalPathReport {
        trace_id: tree.trace_id.to_string(),
        start_ns: tree.start_ns,
        end_ns: tree.end_ns,
        sections: sections
            .iter()
            .map(|c| {
                let s = &tree.spans[c.span];
                PathSection {
                    span_id: s.span_id.to_string(),
                    service: s.service().to_owned(),
                    name: s.name.clone(),
                    start_ns: c.start_ns,
                    end_ns: c.end_ns,
                }
            })
            .collect(),
        spans,
    }
}
