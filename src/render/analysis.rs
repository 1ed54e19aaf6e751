//! Text for the analyses: critical path, time breakdown, error groups, trace health.

use std::fmt::Write as _;

use spandb_query::analysis::{
    CriticalPathReport, ErrorGroups, HealthScan, TimeBreakdown, TimeShare, TraceHealth,
};

use super::table::{format_duration, format_time, table};

/// The sections of a critical path (newest first, as found) and the spans on it.
pub fn critical_path_table(r: &CriticalPathReport) -> String {
    let mut out = format!(
        "trace {}  {}  critical path {}\n\n",
        r.trace_id,
        format_time(r.start_ns),
        format_duration(r.end_ns - r.start_ns)
    );
    let rows: Vec<Vec<String>> = r
        .sections
        .iter()
        .map(|s| {
            vec![
                format!(
                    "+{}",
                    format_duration(s.start_ns.saturating_sub(r.start_ns))
                ),
                format_duration(s.end_ns - s.start_ns),
                s.service.clone(),
                s.name.clone(),
                s.span_id.clone(),
            ]
        })
        .collect();
    out.push_str(&table(
        &["OFFSET", "SECTION", "SERVICE", "NAME", "SPAN"],
        &rows,
        &[0, 1],
    ));
    out.push('\n');
    let total: u64 = r.spans.iter().map(|s| s.critical_ns).sum::<u64>().max(1);
    let rows: Vec<Vec<String>> = r
        .spans
        .iter()
        .map(|s| {
            vec![
                format_duration(s.critical_ns),
                format!("{:.1}%", 100.0 * s.critical_ns as f64 / total as f64),
                format_duration(s.self_ns),
                format_duration(s.duration_ns),
                s.service.clone(),
                s.name.clone(),
                s.span_id.clone(),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "CRITICAL", "SHARE", "SELF", "DURATION", "SERVICE", "NAME", "SPAN",
        ],
        &rows,
        &[0, 1, 2, 3],
    ));
    out
}

fn shares_table(title: &str, total_ns: u64, shares: &[TimeShare], limit: usize) -> String {
    let mut out = format!("{title}: {} in all\n", format_duration(total_ns));
    let rows: Vec<Vec<String>> = shares
        .iter()
        .take(limit)
        .map(|s| {
            vec![
                format!("{:.1}%", 100.0 * s.share),
                format_duration(s.total_ns),
                s.traces.to_string(),
                format_duration(s.p50_ns),
                format_duration(s.p99_ns),
                s.service.clone(),
                s.operation.clone(),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "SHARE",
            "TOTAL",
            "TRACES",
            "P50",
            "P99",
            "SERVICE",
            "OPERATION",
        ],
        &rows,
        &[0, 1, 2, 3, 4],
    ));
    if shares.len() > limit {
        let _ = writeln!(out, "... {} more", shares.len() - limit);
    }
    out
}

/// Where the time went: critical path, then self time, largest first (top `limit` each).
pub fn breakdown_table(b: &TimeBreakdown, limit: usize) -> String {
    let mut out = format!("{} traces\n\n", b.traces);
    out.push_str(&shares_table(
        "critical path",
        b.critical_path_ns,
        &b.critical_path,
        limit,
    ));
    out.push('\n');
    out.push_str(&shares_table(
        "self time (P50/P99 per span)",
        b.self_time_ns,
        &b.self_time,
        limit,
    ));
    out
}

/// Error groups, most first, each with its origin and where it propagated.
pub fn error_groups_table(g: &ErrorGroups) -> String {
    let mut out = format!(
        "{} error spans, {} groups\n\n",
        g.error_spans,
        g.groups.len()
    );
    for e in &g.groups {
        let _ = writeln!(
            out,
            "{}{} × {} in {} traces  [{}]  {}: {}",
            if e.new { "NEW " } else { "" },
            e.count,
            e.service,
            e.traces,
            e.exception_type.as_deref().unwrap_or("error status"),
            e.operations.first().map_or("", |o| o.name.as_str()),
            if e.template.is_empty() {
                "(no message)"
            } else {
                &e.template
            }
        );
        let _ = writeln!(
            out,
            "    seen {} .. {}",
            format_time(e.first_seen_ns),
            format_time(e.last_seen_ns)
        );
        if let Some(o) = e.origins.first() {
            let _ = writeln!(
                out,
                "    origin {} / {} ({} of {}){}",
                o.service,
                o.operation,
                o.count,
                e.count,
                if e.propagated_to.is_empty() {
                    String::new()
                } else {
                    let to: Vec<&str> = e.propagated_to.iter().map(|p| p.name.as_str()).collect();
                    format!("; propagated to {}", to.join(", "))
                }
            );
        }
        if let Some(s) = e.stacks.first() {
            let _ = writeln!(
                out,
                "    stack {} ({} of {}): {}",
                s.fingerprint,
                s.count,
                e.count,
                s.top_frames.first().map_or("", String::as_str)
            );
        }
        if let Some(t) = e.sample_trace_ids.first() {
            let _ = writeln!(out, "    e.g. trace {t}");
        }
        if e.logs.count > 0 {
            let _ = writeln!(
                out,
                "    logs {} ({} error or worse), newest:",
                e.logs.count, e.logs.errors
            );
            for l in &e.logs.examples {
                let _ = writeln!(
                    out,
                    "      {}  {:<5}  {}  span={}",
                    format_time(l.time_ns),
                    l.severity,
                    l.body.replace(['\n', '\r'], " "),
                    l.span_id
                );
            }
        }
    }
    out
}

/// A short health summary: one line per kind of problem, or one line saying it is whole.
pub fn health_lines(h: &TraceHealth) -> String {
    let mut out = String::new();
    if h.is_healthy() {
        let _ = writeln!(out, "health: ok ({} spans)", h.spans);
    } else {
        let _ = writeln!(out, "health: problems found ({} spans)", h.spans);
    }
    if h.missing_root {
        out.push_str("  missing root: no span without a parent arrived\n");
    } else if h.roots > 1 {
        let _ = writeln!(out, "  {} spans without a parent (several roots)", h.roots);
    }
    if !h.orphans.is_empty() {
        let _ = writeln!(
            out,
            "  {} orphans (parent never arrived), e.g. {} {} waiting for {}",
            h.orphans.len(),
            h.orphans[0].service,
            h.orphans[0].name,
            h.orphans[0].missing_parent_id
        );
    }
    for d in &h.duplicate_span_ids {
        let _ = writeln!(out, "  span id {} used by {} spans", d.span_id, d.spans);
    }
    if !h.outside_parent.is_empty() {
        let _ = writeln!(
            out,
            "  {} spans outside their parent's time",
            h.outside_parent.len()
        );
    }
    for s in &h.skew {
        let _ = writeln!(
            out,
            "  clock skew {} -> {}: ~{} ({} of {} calls outside)",
            s.parent_service,
            s.child_service,
            signed_duration(s.estimated_skew_ns),
            s.outside,
            s.pairs
        );
    }
    for l in &h.links {
        let what = if l.span_found {
            format!("found ({} spans)", l.linked_trace_spans)
        } else if l.trace_found {
            format!("trace found ({} spans), span missing", l.linked_trace_spans)
        } else {
            "not stored".to_owned()
        };
        let _ = writeln!(
            out,
            "  link {} -> {}/{}: {what}",
            l.span_id, l.linked_trace_id, l.linked_span_id
        );
    }
    if h.links_not_followed > 0 {
        let _ = writeln!(out, "  {} more links not followed", h.links_not_followed);
    }
    if h.unsealed_spans > 0 {
        let _ = writeln!(
            out,
            "  {} spans not yet sealed: the trace may still be receiving spans",
            h.unsealed_spans
        );
    }
    out
}

/// A health scan: counts per problem, then one row per unhealthy trace.
pub fn health_scan_table(scan: &HealthScan) -> String {
    let mut out = format!(
        "{} of {} traces unhealthy: {} without a root, {} with several roots, {} with orphans, \
         {} with duplicate span ids, {} with spans outside their parent\n",
        scan.unhealthy.len(),
        scan.examined,
        scan.missing_root,
        scan.several_roots,
        scan.with_orphans,
        scan.with_duplicate_ids,
        scan.with_spans_outside_parent
    );
    if scan.unhealthy.is_empty() {
        return out;
    }
    let rows: Vec<Vec<String>> = scan
        .unhealthy
        .iter()
        .map(|h| {
            let mut problems = Vec::new();
            if h.missing_root {
                problems.push("no root".to_owned());
            } else if h.roots > 1 {
                problems.push(format!("{} roots", h.roots));
            }
            if !h.orphans.is_empty() {
                problems.push(format!("{} orphans", h.orphans.len()));
            }
            if !h.duplicate_span_ids.is_empty() {
                problems.push(format!("{} duplicate ids", h.duplicate_span_ids.len()));
            }
            if !h.outside_parent.is_empty() {
                problems.push(format!("{} outside parent", h.outside_parent.len()));
            }
            vec![h.trace_id.clone(), h.spans.to_string(), problems.join(", ")]
        })
        .collect();
    out.push('\n');
    out.push_str(&table(&["trace", "spans", "problems"], &rows, &[1]));
    out
}

fn signed_duration(ns: i64) -> String {
    let d = format_duration(ns.unsigned_abs());
    if ns < 0 {
        format!("-{d}")
    } else {
        d
    }
}
