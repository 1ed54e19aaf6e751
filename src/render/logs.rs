//! Log records for people: a newest-first table, a trace's logs grouped under its spans, and
//! patterns.

use std::fmt::Write as _;

use spandb_query::logs::{LogPatterns, TraceLogs};
use spandb_query::TraceTree;
use spandb_storage::{severity_name, LogRecord};

use super::table::format_time;

/// The severity as a short upper-case word: the record's text, else its range name.
pub fn severity_label(l: &LogRecord) -> String {
    if !l.severity_text.is_empty() {
        l.severity_text.clone()
    } else {
        severity_name(l.severity_number).to_uppercase()
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// One record as a line: time, severity, service, body, and its trace/span ids.
pub fn log_line(l: &LogRecord) -> String {
    let mut out = format!(
        "{}  {:<5}  {}  {}",
        format_time(l.timestamp_ns()),
        severity_label(l),
        l.service(),
        one_line(&l.body_text())
    );
    if let Some(t) = l.trace() {
        let _ = write!(out, "  trace={t}");
        if let Some(s) = l.span() {
            let _ = write!(out, " span={s}");
        }
    }
    out
}

/// Records, one line each (newest first as given), with a count at the end.
pub fn logs_table(logs: &[LogRecord]) -> String {
    let mut out = String::new();
    for l in logs {
        let _ = writeln!(out, "{}", log_line(l));
    }
    let _ = writeln!(out, "({} log records)", logs.len());
    out
}

/// A trace's logs under the spans they belong to (in the tree's span order), then the
/// trace's other logs; inferred joins are marked `~`.
pub fn trace_logs_text(tree: &TraceTree, logs: &TraceLogs) -> String {
    let mut out = String::new();
    if logs.total() == 0 {
        return out;
    }
    let _ = writeln!(
        out,
        "\nlogs: {} records ({} error or worse{})",
        logs.total(),
        logs.errors(),
        if logs.inferred() > 0 {
            format!(
                ", {} inferred by service and time, marked ~",
                logs.inferred()
            )
        } else {
            String::new()
        }
    );
    for (i, s) in tree.spans.iter().enumerate() {
        let Some(list) = logs.by_span.get(&i) else {
            continue;
        };
        let _ = writeln!(out, "  {} {} ({})", s.service(), s.name, s.span_id);
        for l in list {
            let r = &l.record;
            let _ = writeln!(
                out,
                "    {}{} {:<5} {}",
                if l.inferred { "~" } else { " " },
                format_time(r.timestamp_ns()),
                severity_label(r),
                one_line(&r.body_text())
            );
        }
    }
    if !logs.other.is_empty() {
        let _ = writeln!(out, "  other logs of the trace (no span of it named)");
        for l in &logs.other {
            let r = &l.record;
            let _ = writeln!(
                out,
                "     {} {:<5} {}  {}",
                format_time(r.timestamp_ns()),
                severity_label(r),
                r.service(),
                one_line(&r.body_text())
            );
        }
    }
    out
}

/// Patterns as a table: count, new flag, severity mix, trend, template, example.
pub fn patterns_table(p: &LogPatterns) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} records, {} patterns{}",
        p.records,
        p.patterns.len(),
        if p.baseline.is_some() {
            format!(
                ", {} new against the baseline",
                p.patterns.iter().filter(|x| x.new).count()
            )
        } else {
            String::new()
        }
    );
    for x in &p.patterns {
        let sev: Vec<String> = x
            .severities
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect();
        let _ = writeln!(
            out,
            "{:>8}  {}{}  [{}]  {}",
            x.count,
            if x.new { "NEW " } else { "" },
            sparkline(&x.per_minute),
            sev.join(" "),
            x.template
        );
        let _ = writeln!(out, "          e.g. {}", one_line(&x.example));
    }
    out
}

/// Per-minute counts as a line of block characters (at most 60, the last minutes).
fn sparkline(counts: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let tail = &counts[counts.len().saturating_sub(60)..];
    let max = tail.iter().copied().max().unwrap_or(0).max(1);
    tail.iter()
        .map(|&c| {
            if c == 0 {
                ' '
            } else {
                BARS[((c * 7) / max) as usize]
            }
        })
        .collect()
}
