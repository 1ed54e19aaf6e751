//! A trace waterfall as a static SVG image (and, through [`super::png`], a PNG): for reports,
//! tickets and chat. The same picture as the HTML page without the interaction: the tree on
//! the left, bars coloured by service on a shared time axis, duration after each bar, the
//! critical path as a dark line through the bars, errors outlined in red, event ticks.

use std::fmt::Write as _;

use spandb_query::TraceTree;

use super::table::format_duration;
use super::trace_view::{escape_xml, nice_step, TraceView, ERROR_COLOR};

/// The font every image names; README says which package provides it.
pub const FONT: &str = "DejaVu Sans, Liberation Sans, Arial, sans-serif";

/// How to draw the image.
#[derive(Clone, Debug)]
pub struct TraceSvgOptions {
    /// Image width in pixels. Defaults to 1200.
    pub width: u32,
    /// At most this many rows, in waterfall order. Defaults to 2000.
    pub max_rows: usize,
}

impl Default for TraceSvgOptions {
    fn default() -> Self {
        TraceSvgOptions {
            width: 1200,
            max_rows: 2000,
        }
    }
}

const ROW_H: f64 = 18.0;
const HEADER_H: f64 = 62.0;
const RULER_H: f64 = 20.0;

/// Text cut to about `px` pixels of an 11 px sans-serif font.
pub(crate) fn fit_px(s: &str, px: f64, font_px: f64) -> String {
    let max = ((px / (font_px * 0.6)).floor() as usize).max(1);
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The waterfall of `tree` as an SVG document.
pub fn trace_svg(tree: &TraceTree, opts: &TraceSvgOptions) -> String {
    let view = TraceView::new(tree);
    let rows: Vec<usize> = view.order.iter().copied().take(opts.max_rows).collect();
    let more = view.order.len() - rows.len();
    let w = f64::from(opts.width.max(400));
    let label_w = (w * 0.36).round();
    let lane_x = label_w + 8.0;
    let lane_w = w - lane_x - 64.0;
    let footer = if more > 0 { ROW_H } else { 0.0 };
    let h = HEADER_H + RULER_H + rows.len() as f64 * ROW_H + footer + 8.0;
    let d = tree.duration_ns().max(1) as f64;
    let x_of = |t: u64| lane_x + (t.saturating_sub(tree.start_ns) as f64 / d) * lane_w;

    let mut s = String::with_capacity(256 * rows.len() + 4096);
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{FONT}" font-size="11">
<rect width="100%" height="100%" fill="#ffffff"/>
"##
    );
    let errors = tree.spans.iter().filter(|s| s.is_error()).count();
    let _ = writeln!(
        s,
        r##"<text x="10" y="20" font-size="14" font-weight="bold" fill="#1d2330">trace {} · {} spans · {} services · {} · {} errors</text>"##,
        tree.trace_id,
        tree.spans.len(),
        tree.services.len(),
        format_duration(tree.duration_ns()),
        errors
    );
    // Legend.
    let mut lx = 10.0;
    let mut ly = 40.0;
    for (k, (name, count)) in tree.services.iter().enumerate() {
        let label = format!("{name} ({count})");
        let item_w = 16.0 + label.chars().count() as f64 * 6.6 + 14.0;
        if lx + item_w > w - 10.0 {
            lx = 10.0;
            ly += 14.0;
            if ly > HEADER_H - 4.0 {
                break;
            }
        }
        let _ = writeln!(
            s,
            r##"<rect x="{lx}" y="{}" width="10" height="10" rx="2" fill="{}"/><text x="{}" y="{ly}" fill="#39414f">{}</text>"##,
            ly - 9.0,
            super::trace_view::service_color(k),
            lx + 14.0,
            escape_xml(&label)
        );
        lx += item_w;
    }
    // Ruler and grid.
    let top = HEADER_H + RULER_H;
    let bottom = top + rows.len() as f64 * ROW_H;
    let _ = writeln!(
        s,
        r##"<rect x="0" y="{HEADER_H}" width="{w}" height="{RULER_H}" fill="#f4f5f8"/><text x="10" y="{}" fill="#5a6275">service · operation</text>"##,
        HEADER_H + 14.0
    );
    let step = nice_step(d, ((lane_w / 110.0) as usize).max(2));
    let mut t = 0.0;
    while t <= d {
        let x = lane_x + t / d * lane_w;
        let label = if t == 0.0 {
            "0".to_owned()
        } else {
            format_duration(t as u64)
        };
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{HEADER_H}" x2="{x:.1}" y2="{bottom}" stroke="#e1e4ea"/><text x="{:.1}" y="{}" fill="#5a6275">{label}</text>"##,
            x + 3.0,
            HEADER_H + 14.0
        );
        t += step;
    }
    let _ = writeln!(
        s,
        r##"<line x1="{label_w}" y1="{HEADER_H}" x2="{label_w}" y2="{bottom}" stroke="#d6dae2"/>"##
    );
    for (r, &i) in rows.iter().enumerate() {
        let span = view.span(i);
        let node = &tree.nodes[i];
        let y = top + r as f64 * ROW_H;
        if r % 2 == 1 {
            let _ = writeln!(
                s,
                r##"<rect x="0" y="{y}" width="{w}" height="{ROW_H}" fill="#f8f9fb"/>"##
            );
        }
        let indent = 10.0 + f64::from(node.depth.min(24)) * 10.0;
        let color = view.color(i);
        let _ = write!(
            s,
            r##"<rect x="{indent}" y="{}" width="8" height="8" rx="1.5" fill="{color}"/>"##,
            y + 5.0
        );
        let mark = if span.is_error() { "! " } else { "" };
        let text = fit_px(
            &format!("{mark}{} {}", span.service(), span.name),
            label_w - indent - 20.0,
            11.0,
        );
        let fill = if span.is_error() {
            ERROR_COLOR
        } else {
            "#1d2330"
        };
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" fill="{fill}">{}</text>"##,
            indent + 12.0,
            y + 13.0,
            escape_xml(&text)
        );
        let x0 = x_of(span.start_ns);
        let bw = (x_of(span.end_ns.max(span.start_ns)) - x0).max(1.5);
        let stroke = if span.is_error() {
            format!(r#" stroke="{ERROR_COLOR}" stroke-width="1.5""#)
        } else {
            String::new()
        };
        let _ = write!(
            s,
            r##"<rect x="{x0:.1}" y="{}" width="{bw:.1}" height="10" rx="1.5" fill="{color}"{stroke}/>"##,
            y + 4.0
        );
        for &(a, b) in &view.critical[i] {
            let xa = x_of(a);
            let _ = write!(
                s,
                r##"<rect x="{xa:.1}" y="{}" width="{:.1}" height="3" fill="#111111"/>"##,
                y + 7.5,
                (x_of(b) - xa).max(0.8)
            );
        }
        for e in &span.events {
            let fill = if e.name == "exception" {
                ERROR_COLOR
            } else {
                "#222222"
            };
            let _ = write!(
                s,
                r##"<rect x="{:.1}" y="{}" width="1.5" height="14" fill="{fill}"/>"##,
                x_of(e.time_ns),
                y + 2.0
            );
        }
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{}" font-size="10" fill="#39414f">{}</text>"##,
            x0 + bw + 4.0,
            y + 12.5,
            format_duration(span.duration_ns())
        );
    }
    if more > 0 {
        let _ = writeln!(
            s,
            r##"<text x="10" y="{}" fill="#5a6275">… {more} more spans not drawn</text>"##,
            bottom + 13.0
        );
    }
    s.push_str("</svg>\n");
    s
}
