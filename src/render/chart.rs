//! Line charts of metrics series (`spandb metrics --output svg|png|html`): one line per
//! series on a shared UTC time axis, a value axis with units (durations as `12.1ms`, rates
//! as `/s`), and a legend. Readable with 25 series: 12 palette colours drawn solid, then
//! the same colours dashed, then dotted; the HTML page hides or shows a series when its
//! legend entry is clicked.

use std::fmt::Write as _;

use spandb_query::MetricsResult;

use super::table::{format_time, ValueUnit};
use super::trace_svg::{fit_px, FONT};
use super::trace_view::{escape_xml, nice_step, service_color};

/// How to draw a chart.
#[derive(Clone, Debug)]
pub struct ChartOptions {
    /// Title above the chart (the query, usually). Defaults to none.
    pub title: String,
    pub unit: ValueUnit,
    /// The bucket width, to break lines where a series has no sample.
    pub step_ns: u64,
    /// Defaults to 1100 × 520 pixels.
    pub width: u32,
    pub height: u32,
}

impl ChartOptions {
    pub fn new(unit: ValueUnit, step_ns: u64) -> ChartOptions {
        ChartOptions {
            title: String::new(),
            unit,
            step_ns,
            width: 1100,
            height: 520,
        }
    }
}

const DASHES: [&str; 3] = [
    "",
    r#" stroke-dasharray="7 4""#,
    r#" stroke-dasharray="2 3""#,
];

/// The colour and dash of the `k`-th series.
fn style(k: usize) -> (&'static str, &'static str) {
    (service_color(k), DASHES[(k / 12) % DASHES.len()])
}

/// A series' name for the legend: its label values (`checkout`, `checkout, 0.99`).
fn series_name(labels: &[(String, spandb_query::LabelValue)]) -> String {
    if labels.is_empty() {
        return "all".into();
    }
    labels
        .iter()
        .map(|(k, v)| {
            if k == "p" {
                format!("p{v}")
            } else {
                v.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Time tick steps: from a second to a day.
const TIME_STEPS: [u64; 14] = [
    1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 10_800, 21_600, 43_200, 86_400,
];

fn clock(ns: u64, with_seconds: bool) -> String {
    let t = format_time(ns); // 2025-06-01T10:00:00.000Z
    let hms = t.get(11..19).unwrap_or("");
    if with_seconds {
        hms.to_owned()
    } else {
        hms.get(..5).unwrap_or("").to_owned()
    }
}

/// The chart as an SVG document.
pub fn metrics_chart_svg(result: &MetricsResult, opts: &ChartOptions) -> String {
    let w = f64::from(opts.width.max(400));
    let h = f64::from(opts.height.max(240));
    let legend_w = 250.0;
    let (left, right, top, bottom) = (78.0, w - legend_w - 16.0, 44.0, h - 48.0);
    let samples = result.series.iter().flat_map(|s| s.samples.iter());
    let (t_min, t_max) = samples
        .clone()
        .fold((u64::MAX, 0u64), |(a, b), (t, _)| (a.min(*t), b.max(*t)));
    let (t_min, t_max) = if t_min > t_max {
        (0, 1)
    } else {
        (t_min, t_max.max(t_min + opts.step_ns.max(1)))
    };
    let v_max = samples
        .map(|(_, v)| *v)
        .filter(|v| v.is_finite())
        .fold(0f64, f64::max);
    let v_step = nice_step(if v_max > 0.0 { v_max } else { 1.0 }, 5);
    let v_top = ((v_max / v_step).ceil() * v_step).max(v_step);
    let x_of = |t: u64| left + (t - t_min) as f64 / (t_max - t_min) as f64 * (right - left);
    let y_of = |v: f64| bottom - (v / v_top) * (bottom - top);

    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{FONT}" font-size="11">
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="12" y="22" font-size="14" font-weight="bold" fill="#1d2330">{}</text>"##,
        escape_xml(&fit_px(&opts.title, w - 24.0, 14.0))
    );
    // Value axis.
    let mut v = 0.0;
    while v <= v_top + v_step * 1e-9 {
        let y = y_of(v);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{y:.1}" x2="{right}" y2="{y:.1}" stroke="#e6e8ee"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#5a6275">{}</text>"##,
            left - 6.0,
            y + 4.0,
            escape_xml(&opts.unit.format(v))
        );
        v += v_step;
    }
    let unit_name = match opts.unit {
        ValueUnit::Count => "spans per step",
        ValueUnit::PerSecond => "spans per second",
        ValueUnit::Seconds => "duration",
    };
    let _ = writeln!(
        s,
        r##"<text transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle" fill="#39414f">{unit_name}</text>"##,
        (top + bottom) / 2.0
    );
    // Time axis.
    let span_s = (t_max - t_min) as f64 / 1e9;
    let step_s = TIME_STEPS
        .iter()
        .copied()
        .find(|&st| span_s / st as f64 <= ((right - left) / 90.0).max(2.0))
        .unwrap_or(86_400);
    let step_ns = step_s * 1_000_000_000;
    let mut t = t_min.div_ceil(step_ns) * step_ns;
    while t <= t_max {
        let x = x_of(t);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{bottom}" stroke="#eef0f4"/><line x1="{x:.1}" y1="{bottom}" x2="{x:.1}" y2="{:.1}" stroke="#8a92a3"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#5a6275">{}</text>"##,
            bottom + 4.0,
            bottom + 16.0,
            clock(t, step_s < 60)
        );
        t += step_ns;
    }
    let _ = writeln!(
        s,
        r##"<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#8a92a3"/><line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#8a92a3"/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#39414f">time (UTC) from {}</text>"##,
        (left + right) / 2.0,
        h - 12.0,
        format_time(t_min)
    );
    // Lines, breaking where a step has no sample.
    let gap = opts.step_ns.max(1) * 3 / 2;
    for (k, series) in result.series.iter().enumerate() {
        let (color, dash) = style(k);
        let _ = write!(
            s,
            r#"<g class="series" data-series="{k}" fill="none" stroke="{color}" stroke-width="1.8"{dash}>"#
        );
        let mut run: Vec<(u64, f64)> = Vec::new();
        let flush = |run: &mut Vec<(u64, f64)>, s: &mut String| {
            if run.len() == 1 {
                let (t, v) = run[0];
                let _ = write!(
                    s,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="2.2" fill="{color}"/>"#,
                    x_of(t),
                    y_of(v)
                );
            } else if run.len() > 1 {
                let pts: Vec<String> = run
                    .iter()
                    .map(|&(t, v)| format!("{:.1},{:.1}", x_of(t), y_of(v)))
                    .collect();
                let _ = write!(s, r#"<polyline points="{}"/>"#, pts.join(" "));
            }
            run.clear();
        };
        for &(t, v) in &series.samples {
            if !v.is_finite() {
                continue;
            }
            if run
                .last()
                .is_some_and(|&(pt, _)| t.saturating_sub(pt) > gap)
            {
                flush(&mut run, &mut s);
            }
            run.push((t, v));
        }
        flush(&mut run, &mut s);
        s.push_str("</g>\n");
    }
    // Legend: one entry per series, as many as fit, then "+N more".
    let lx = right + 18.0;
    let per = 15.0;
    let fits = (((bottom - top) / per).floor() as usize).max(1);
    for (k, series) in result.series.iter().enumerate() {
        if k >= fits && result.series.len() > fits {
            let _ = writeln!(
                s,
                r##"<text x="{lx}" y="{:.1}" fill="#5a6275">+{} more</text>"##,
                top + k as f64 * per + 4.0,
                result.series.len() - k
            );
            break;
        }
        let (color, dash) = style(k);
        let y = top + k as f64 * per;
        let _ = writeln!(
            s,
            r##"<g class="legend" data-series="{k}"><line x1="{lx}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{color}" stroke-width="2.5"{dash}/><text x="{:.1}" y="{:.1}" fill="#1d2330">{}</text></g>"##,
            lx + 22.0,
            lx + 28.0,
            y + 4.0,
            escape_xml(&fit_px(&series_name(&series.labels), legend_w - 40.0, 11.0))
        );
    }
    if result.series.is_empty() {
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#5a6275">no matching spans</text>"##,
            (left + right) / 2.0,
            (top + bottom) / 2.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A self-contained page with the chart; clicking a legend entry hides or shows its line.
pub fn metrics_chart_html(result: &MetricsResult, opts: &ChartOptions) -> String {
    let svg = metrics_chart_svg(result, opts).replace(r#" xmlns="http://www.w3.org/2000/svg""#, "");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n\
         <style>body{{font:13px system-ui,\"DejaVu Sans\",sans-serif;margin:12px}}.legend{{cursor:pointer}}\
         .legend.off{{opacity:.3}}</style>\n</head>\n<body>\n{svg}<p>Click a legend entry to hide or show its line.</p>\n\
         <script>\ndocument.querySelectorAll('.legend').forEach(function (g) {{\n  g.addEventListener('click', function () {{\n\
         var k = g.dataset.series, off = g.classList.toggle('off');\n\
         document.querySelectorAll('.series[data-series=\"' + k + '\"]').forEach(function (s) {{ s.style.display = off ? 'none' : ''; }});\n  }});\n}});\n</script>\n</body>\n</html>\n",
        escape_xml(&opts.title)
    )
}
