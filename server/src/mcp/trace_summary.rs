//! One trace as a model can read it in a few thousand tokens: root, duration, services, the
//! explain sentences, the critical path, the errors, and the span tree trimmed to a budget
//! that keeps the spans that matter (critical path, errors, the shallow levels) first.

use std::collections::HashSet;

use serde_json::{json, Value};
use spandb::analysis::{CriticalPathReport, Explanation};
use spandb::render::table::{format_duration, format_time};
use spandb::{Span, TraceTree};

/// Errors listed at most.
const MAX_ERRORS: usize = 20;
/// Critical-path entries listed at most.
const MAX_CRITICAL: usize = 15;
/// Longest status or exception message kept.
const MAX_MESSAGE: usize = 300;

pub fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// `exception.type: exception.message` of a span's first exception event.
fn exception(span: &Span) -> Option<String> {
    let event = span.events.iter().find(|e| e.name == "exception")?;
    let attr = |k: &str| {
        event
            .attributes
            .iter()
            .find(|kv| kv.key == k)
            .map(|kv| kv.value.to_string())
    };
    match (attr("exception.type"), attr("exception.message")) {
        (None, None) => None,
        (t, m) => Some(clip(
            &format!("{}: {}", t.unwrap_or_default(), m.unwrap_or_default()),
            MAX_MESSAGE,
        )),
    }
}

/// The spans the tree lists: roots, where errors started, the critical path and the other
/// errors first (each with its ancestors), then breadth first, until `max` spans.
fn chosen(tree: &TraceTree, critical: &HashSet<usize>, max: usize) -> Vec<bool> {
    let n = tree.spans.len();
    let mut keep = vec![false; n];
    let mut kept = 0usize;
    let add_with_ancestors = |i: usize, keep: &mut Vec<bool>, kept: &mut usize| {
        let mut chain = Vec::new();
        let mut at = Some(i);
        while let Some(j) = at {
            if keep.get(j).copied().unwrap_or(true) || chain.len() > n {
                break;
            }
            chain.push(j);
            at = tree.nodes.get(j).and_then(|node| node.parent);
        }
        if *kept + chain.len() <= max {
            for j in chain {
                keep[j] = true;
                *kept += 1;
            }
        }
    };
    for &r in &tree.roots {
        add_with_ancestors(r, &mut keep, &mut kept);
    }
    let mut important: Vec<usize> = (0..n)
        .filter(|i| critical.contains(i) || tree.spans[*i].is_error())
        .collect();
    // Where errors started (an error span without an error child) first, then the critical
    // path, then the errors they propagated through; shallow before deep.
    let origin = |i: usize| {
        tree.spans[i].is_error()
            && !tree.nodes[i]
                .children
                .iter()
                .any(|c| tree.spans[*c].is_error())
    };
    important.sort_by_key(|i| (!origin(*i), !critical.contains(i), tree.nodes[*i].depth));
    for i in important {
        add_with_ancestors(i, &mut keep, &mut kept);
    }
    // Breadth first: a parent is always considered before its children.
    let mut queue: std::collections::VecDeque<usize> = tree.roots.iter().copied().collect();
    while let Some(i) = queue.pop_front() {
        if kept >= max {
            break;
        }
        if !keep[i] {
            keep[i] = true;
            kept += 1;
        }
        queue.extend(tree.nodes[i].children.iter().copied());
    }
    keep
}

/// One line per listed span, indented by depth, in tree order.
fn tree_lines(tree: &TraceTree, critical: &HashSet<usize>, keep: &[bool]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut stack: Vec<usize> = tree.roots.iter().rev().copied().collect();
    let mut visited = vec![false; tree.spans.len()];
    while let Some(i) = stack.pop() {
        if visited[i] || !keep[i] {
            continue;
        }
        visited[i] = true;
        let span = &tree.spans[i];
        let node = &tree.nodes[i];
        let omitted = node.children.iter().filter(|c| !keep[**c]).count();
        let mut line = format!(
            "{}{} {}: {} {} (+{}) span {}",
            "  ".repeat(node.depth.min(40) as usize),
            if critical.contains(&i) { "*" } else { "-" },
            span.service(),
            clip(&span.name, 120),
            format_duration(span.duration_ns()),
            format_duration(span.start_ns.saturating_sub(tree.start_ns)),
            span.span_id,
        );
        if span.is_error() {
            let why = exception(span).or_else(|| {
                (!span.status_message.is_empty()).then(|| clip(&span.status_message, 120))
            });
            line.push_str(" ERROR");
            if let Some(why) = why {
                line.push_str(&format!(" ({})", clip(&why, 120)));
            }
        }
        if node.orphan {
            line.push_str(" [orphan: parent missing]");
        }
        if omitted > 0 {
            line.push_str(&format!(" [children not listed: {omitted}]"));
        }
        lines.push(line);
        stack.extend(node.children.iter().rev().copied());
    }
    lines
}

/// The summary `get_trace` returns.
pub fn trace_summary(
    tree: &TraceTree,
    path: &CriticalPathReport,
    explanation: &Explanation,
    max_spans: usize,
) -> Value {
    let on_path: HashSet<String> = path
        .spans
        .iter()
        .filter(|s| s.critical_ns > 0)
        .map(|s| s.span_id.clone())
        .collect();
    let critical: HashSet<usize> = tree
        .spans
        .iter()
        .enumerate()
        .filter(|(_, s)| on_path.contains(&s.span_id.to_string()))
        .map(|(i, _)| i)
        .collect();
    let keep = chosen(tree, &critical, max_spans);
    let listed = keep.iter().filter(|k| **k).count();
    let root = tree.root.and_then(|r| tree.spans.get(r));
    let error_spans: Vec<&Span> = tree.spans.iter().filter(|s| s.is_error()).collect();
    let errors: Vec<Value> = error_spans
        .iter()
        .take(MAX_ERRORS)
        .map(|s| {
            json!({
                "span_id": s.span_id.to_string(),
                "service": s.service(),
                "name": clip(&s.name, 200),
                "status_message": clip(&s.status_message, MAX_MESSAGE),
                "exception": exception(s),
            })
        })
        .collect();
    let critical_path: Vec<Value> = explanation
        .critical_path
        .iter()
        .take(MAX_CRITICAL)
        .map(|c| {
            json!({
                "service": c.service,
                "operation": c.operation,
                "time": format_duration(c.critical_ns),
                "share": (c.share * 1000.0).round() / 1000.0,
            })
        })
        .collect();
    json!({
        "trace_id": tree.trace_id.to_string(),
        "root": root.map(|r| json!({ "service": r.service(), "name": r.name })),
        "start": format_time(tree.start_ns),
        "duration": format_duration(tree.end_ns.saturating_sub(tree.start_ns)),
        "span_count": tree.spans.len(),
        "services": tree.services.iter().map(|(s, n)| json!({ "service": s, "spans": n })).collect::<Vec<_>>(),
        "explain": explanation.summary,
        "critical_path": critical_path,
        "error_span_count": error_spans.len(),
        "errors": errors,
        "healthy": explanation.health.is_healthy(),
        "span_tree_legend": "indent = depth; * = on the critical path; SERVICE: NAME DURATION (+OFFSET FROM TRACE START) span ID",
        "span_tree": tree_lines(tree, &critical, &keep),
        "spans_not_listed": tree.spans.len() - listed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use spandb::{SpanId, StatusCode, TraceId};

    fn span(id: u8, parent: Option<u8>, start: u64, error: bool) -> Span {
        Span {
            trace_id: TraceId([7; 16]),
            span_id: SpanId([0, 0, 0, 0, 0, 0, 0, id]),
            parent_span_id: parent.map(|p| SpanId([0, 0, 0, 0, 0, 0, 0, p])),
            name: format!("op-{id}"),
            start_ns: start,
            end_ns: start + 10,
            status_code: if error {
                StatusCode::Error
            } else {
                StatusCode::Unset
            },
            ..Span::default()
        }
    }

    #[test]
    fn a_trimmed_tree_keeps_where_the_error_started_and_its_ancestors() {
        // root(1) -> 2 -> 3 -> 4 (error); root also has ten healthy children 10..20.
        let mut spans = vec![
            span(1, None, 0, false),
            span(2, Some(1), 1, false),
            span(3, Some(2), 2, false),
            span(4, Some(3), 3, true),
        ];
        spans.extend((10..20).map(|i| span(i, Some(1), u64::from(i), false)));
        let tree = TraceTree::from_spans(spans).unwrap();
        let keep = chosen(&tree, &HashSet::new(), 4);
        let kept: Vec<String> = (0..tree.spans.len())
            .filter(|i| keep[*i])
            .map(|i| tree.spans[i].name.clone())
            .collect();
        assert_eq!(kept, ["op-1", "op-2", "op-3", "op-4"]);
        let lines = tree_lines(&tree, &HashSet::new(), &keep);
        assert_eq!(lines.len(), 4);
        assert!(lines[0].contains("[children not listed: 10]"), "{lines:?}");
        assert!(
            lines[3].starts_with("      - ") && lines[3].contains("ERROR"),
            "{lines:?}"
        );
    }
}
