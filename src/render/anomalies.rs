//! Incidents as text: one block per incident, strongest first.

use std::fmt::Write as _;

use crate::analysis::{Anomalies, Deviation, Metric};
use crate::render::table::{format_duration, format_time, table};

fn value(metric: Metric, v: f64) -> String {
    match metric {
        Metric::ErrorRatio => format!("{:.1}%", 100.0 * v),
        Metric::LatencyP50 | Metric::LatencyP99 => format_duration(v.round() as u64),
        Metric::Rate => format!("{v:.0}/min"),
    }
}

fn metric_name(metric: Metric) -> &'static str {
    match metric {
        Metric::ErrorRatio => "errors",
        Metric::LatencyP50 => "p50",
        Metric::LatencyP99 => "p99",
        Metric::Rate => "rate",
    }
}

fn deviation_row(d: &Deviation) -> Vec<String> {
    vec![
        d.service.clone(),
        d.operation.clone(),
        metric_name(d.metric).into(),
        value(d.metric, d.peak),
        value(d.metric, d.baseline),
        format!("{:.0}", d.score),
        format_time(d.start_ns),
        format_duration(d.end_ns - d.start_ns),
    ]
}

/// The incidents with their origin, deviations, attributes and example traces.
pub fn anomalies_text(a: &Anomalies) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "window {} .. {} ({}), baseline {} .. {}",
        format_time(a.start_ns),
        format_time(a.end_ns),
        format_duration(a.end_ns - a.start_ns),
        format_time(a.baseline_start_ns),
        format_time(a.baseline_end_ns),
    );
    if a.incidents.is_empty() {
        out.push_str("no incidents\n");
        return out;
    }
    for (i, inc) in a.incidents.iter().enumerate() {
        let origin = inc.origin.as_ref().map_or("unknown".into(), |o| {
            format!("{} {}", o.service, o.operation)
        });
        let _ = writeln!(
            out,
            "\nincident {}: {} from {} for {}, score {:.0}\n  origin: {origin}",
            i + 1,
            inc.kinds.join("+"),
            format_time(inc.start_ns),
            format_duration(inc.end_ns - inc.start_ns),
            inc.score,
        );
        if !inc.affected_services.is_empty() {
            let _ = writeln!(out, "  also affected: {}", inc.affected_services.join(", "));
        }
        for attr in &inc.attributes {
            let _ = writeln!(
                out,
                "  {}={}: {:.0}% of anomalous spans, {:.0}% before",
                attr.key,
                attr.value,
                100.0 * attr.anomalous_share,
                100.0 * attr.baseline_share
            );
        }
        if !inc.sample_trace_ids.is_empty() {
            let _ = writeln!(out, "  traces: {}", inc.sample_trace_ids.join(" "));
        }
        let rows: Vec<Vec<String>> = inc.deviations.iter().take(10).map(deviation_row).collect();
        for line in table(
            &[
                "SERVICE",
                "OPERATION",
                "METRIC",
                "PEAK",
                "BASELINE",
                "SCORE",
                "FROM",
                "FOR",
            ],
            &rows,
            &[3, 4, 5],
        )
        .lines()
        {
            let _ = writeln!(out, "  {line}");
        }
        if inc.deviations.len() > 10 {
            let _ = writeln!(out, "  ... {} more deviations", inc.deviations.len() - 10);
        }
    }
    out
}
