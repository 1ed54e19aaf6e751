//! Text for people: aligned tables, times, durations and byte counts, and the tables of
//! search results, metrics series and trace trees. The one text renderer of spandb (the CLI
//! prints what it returns).

use std::fmt::Write as _;

use spandb_query::{MetricsFn, MetricsResult, Query, TraceSummary, TraceTree};

use super::tempo::ROOT_NOT_RECEIVED;

/// Formats nanoseconds since the epoch as RFC 3339 UTC with milliseconds.
pub fn format_time(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let ms = (ns / 1_000_000) % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Human duration: `1.23s`, `45.6ms`, `789us`, `12ns`.
pub fn format_duration(ns: u64) -> String {
    let x = ns as f64;
    if ns >= 60_000_000_000 {
        format!("{:.1}m", x / 60e9)
    } else if ns >= 1_000_000_000 {
        format!("{:.2}s", x / 1e9)
    } else if ns >= 1_000_000 {
        format!("{:.1}ms", x / 1e6)
    } else if ns >= 1_000 {
        format!("{:.0}us", x / 1e3)
    } else {
        format!("{ns}ns")
    }
}

/// Left-aligned columns, two spaces apart; numeric columns (by index) right-aligned.
pub fn table(header: &[&str], rows: &[Vec<String>], right: &[usize]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            if i > 0 {
                l.push_str("  ");
            }
            if right.contains(&i) {
                let _ = write!(l, "{c:>w$}");
            } else {
                let _ = write!(l, "{c:<w$}");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
    out
}

/// The search results as an aligned table, newest first.
pub fn search_table(traces: &[TraceSummary]) -> String {
    if traces.is_empty() {
        return "no matching traces\n".into();
    }
    let rows: Vec<Vec<String>> = traces
        .iter()
        .map(|t| {
            vec![
                t.trace_id.to_string(),
                format_time(t.start_ns),
                format_duration(t.duration_ns),
                t.root_service
                    .clone()
                    .unwrap_or_else(|| ROOT_NOT_RECEIVED.into()),
                t.root_name.clone().unwrap_or_default(),
                t.span_count.to_string(),
                t.matched.len().to_string(),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "TRACE ID",
            "START",
            "DURATION",
            "ROOT SERVICE",
            "ROOT NAME",
            "SPANS",
            "MATCHED",
        ],
        &rows,
        &[2, 5, 6],
    );
    let _ = writeln!(
        out,
        "{} trace{}",
        traces.len(),
        if traces.len() == 1 { "" } else { "s" }
    );
    out
}

/// What the values of a metrics series measure, for units on axes and in tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueUnit {
    /// Spans per step (`count_over_time`).
    Count,
    /// Spans per second (`rate`).
    PerSecond,
    /// Durations in seconds (`avg_over_time`, `quantile_over_time`, `min/max/sum_over_time`).
    Seconds,
}

impl ValueUnit {
    /// The unit of `query`'s pipeline (a count when it has none).
    pub fn of(query: &Query) -> ValueUnit {
        match query.pipeline.as_ref().map(|p| &p.func) {
            Some(MetricsFn::Rate) => ValueUnit::PerSecond,
            Some(
                MetricsFn::AvgOverTime
                | MetricsFn::QuantileOverTime(_)
                | MetricsFn::MinOverTime
                | MetricsFn::MaxOverTime
                | MetricsFn::SumOverTime,
            ) => ValueUnit::Seconds,
            // Arithmetic results are plain numbers whatever their operands.
            Some(
                MetricsFn::CountOverTime
                | MetricsFn::HistogramOverTime
                | MetricsFn::Compare { .. }
                | MetricsFn::Math(_),
            )
            | None => ValueUnit::Count,
        }
    }

    /// `v` with its unit: `12.1ms`, `3.50/s`, `42`.
    pub fn format(self, v: f64) -> String {
        match self {
            ValueUnit::Seconds if v.is_finite() && v >= 0.0 => {
                format_duration((v * 1e9).round() as u64)
            }
            ValueUnit::PerSecond => {
                let t = format!("{v:.3}");
                let t = if t.contains('.') {
                    t.trim_end_matches('0').trim_end_matches('.')
                } else {
                    &t
                };
                format!("{t}/s")
            }
            _ => format_value(v),
        }
    }
}

/// The metrics series as a table: one row per series and step with a value, the value
/// with its unit.
pub fn metrics_table(result: &MetricsResult, unit: ValueUnit) -> String {
    if result.series.is_empty() {
        return "no matching spans\n".into();
    }
    let label_keys: Vec<String> = result
        .series
        .first()
        .map(|s| s.labels.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    let mut header: Vec<&str> = vec!["TIME"];
    header.extend(label_keys.iter().map(String::as_str));
    header.push("VALUE");
    let mut rows = Vec::new();
    for s in &result.series {
        for (t, v) in &s.samples {
            let mut row = vec![format_time(*t)];
            row.extend(s.labels.iter().map(|(_, v)| v.to_string()));
            rows.push((row, *v));
        }
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(mut row, v)| {
            row.push(unit.format(v));
            row
        })
        .collect();
    let value_col = header.len() - 1;
    table(&header, &rows, &[value_col])
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 0.001 {
        format!("{v:.4}")
    } else {
        format!("{v:.3e}")
    }
}

/// `12.3 MiB` for a byte count.
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = UNITS[0];
    for next in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = next;
    }
    if unit == "B" {
        format!("{n} B")
    } else {
        format!("{v:.1} {unit}")
    }
}

/// A trace as an indented tree: service, name, kind, offset from the trace start, duration,
/// marks for errors and for spans whose parent is missing (shown as extra roots).
pub fn trace_tree(tree: &TraceTree) -> String {
    let mut out = format!(
        "trace {}: {} spans, {} services, {}\n",
        tree.trace_id,
        tree.spans.len(),
        tree.services.len(),
        format_duration(tree.duration_ns())
    );
    for i in tree.depth_first() {
        let Some(node) = tree.nodes.get(i) else {
            continue;
        };
        let Some(s) = tree.spans.get(node.span) else {
            continue;
        };
        let mut marks = String::new();
        if s.is_error() {
            marks.push_str("  ERROR");
            if !s.status_message.is_empty() {
                let _ = write!(marks, " ({})", s.status_message);
            }
        }
        if node.orphan {
            marks.push_str("  (parent missing)");
        }
        let _ = writeln!(
            out,
            "{:indent$}{} {} [{}] +{} {}{}",
            "",
            s.service(),
            s.name,
            s.kind.as_str(),
            format_duration(s.start_ns.saturating_sub(tree.start_ns)),
            format_duration(s.duration_ns()),
            marks,
            indent = node.depth as usize * 2
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_as_rfc3339() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_time(1_748_772_001_228_347_535),
            "2025-06-01T10:00:01.228Z"
        );
        assert_eq!(
            format_time(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(format_duration(12), "12ns");
        assert_eq!(format_duration(1_500), "2us");
        assert_eq!(format_duration(45_600_000), "45.6ms");
        assert_eq!(format_duration(1_234_000_000), "1.23s");
    }

    #[test]
    fn metric_values_carry_their_unit() {
        assert_eq!(ValueUnit::Seconds.format(0.0121), "12.1ms");
        assert_eq!(ValueUnit::PerSecond.format(3.5), "3.5/s");
        assert_eq!(ValueUnit::Count.format(42.0), "42");
    }

    #[test]
    fn bytes_pick_a_binary_unit() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}
