//! The service map: the service graph drawn as boxes and arrows, as Graphviz dot, SVG
//! (and PNG through [`super::png`]) and a self-contained HTML page. Nodes are services,
//! databases, queues and peers; each edge is labelled with its call rate, error share and
//! p99 latency and coloured by health (red at 5 % errors and above, orange from 1 %, green
//! below). The layout is [`super::graph_layout::layered`]: callers left of callees.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::analysis::{GraphEdge, NodeKind, ServiceGraph};

use super::graph_layout::{layered, Spacing};
use super::graph_table::service_graph_table;
use super::table::format_duration;
use super::trace_svg::{fit_px, FONT};
use super::trace_view::escape_xml;

const SPACING: Spacing = Spacing {
    node_w: 190.0,
    node_h: 46.0,
    gap_x: 210.0,
    gap_y: 34.0,
    margin: 24.0,
};
const HEADER_H: f64 = 34.0;

/// Error share from which an edge is drawn as unhealthy (red).
pub const ERROR_RED: f64 = 0.05;
/// Error share from which an edge is drawn as degraded (orange).
pub const ERROR_ORANGE: f64 = 0.01;

/// Health colour for an error share.
pub fn health_color(error_ratio: f64) -> &'static str {
    if error_ratio >= ERROR_RED {
        "#d62728"
    } else if error_ratio >= ERROR_ORANGE {
        "#f28e2b"
    } else {
        "#4c9a5f"
    }
}

fn kind_word(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Service => "service",
        NodeKind::Database => "database",
        NodeKind::Messaging => "queue",
        NodeKind::Peer => "peer",
    }
}

fn node_fill(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Service => "#eaf1fb",
        NodeKind::Database => "#f3ecf7",
        NodeKind::Messaging => "#fdf3e3",
        NodeKind::Peer => "#f1f2f4",
    }
}

/// Calls per second over the minutes the graph has calls in (narrower than its range when
/// that was "everything").
fn rate(graph: &ServiceGraph, calls: u64) -> f64 {
    let (start, end) = active_window(graph);
    let secs = (end.saturating_sub(start) as f64 / 1e9).max(1.0);
    calls as f64 / secs
}

/// From the first to the end of the last minute with calls, within the graph's range.
fn active_window(graph: &ServiceGraph) -> (u64, u64) {
    let minutes = graph
        .edges
        .iter()
        .flat_map(|e| e.per_minute.iter().map(|m| m.minute_ns));
    let (first, last) = minutes.fold((u64::MAX, 0), |(a, b), m| (a.min(m), b.max(m)));
    let (start, end) = if first <= last {
        (
            first.max(graph.start_ns),
            (last + 60_000_000_000).min(graph.end_ns),
        )
    } else {
        (graph.start_ns, graph.end_ns)
    };
    (start, end)
}

/// Edges labelled on the map: all of them up to this many, beyond that the unhealthy ones
/// and the busiest (every edge keeps its label as a hover title).
pub const LABEL_ALL_UP_TO: usize = 30;

fn format_rate(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}/s")
    } else if r >= 1.0 {
        format!("{r:.1}/s")
    } else if r >= 1.0 / 60.0 {
        format!("{:.1}/min", r * 60.0)
    } else {
        format!("{:.2}/min", r * 60.0)
    }
}

/// `12.0/s · 1.2% err · p99 45.0ms`
pub fn edge_label(graph: &ServiceGraph, e: &GraphEdge) -> String {
    let p99 = e
        .client_latency
        .or(e.server_latency)
        .map(|l| format!(" · p99 {}", format_duration(l.p99_ns.round() as u64)))
        .unwrap_or_default();
    format!(
        "{} · {:.1}% err{p99}",
        format_rate(rate(graph, e.calls)),
        100.0 * e.error_ratio()
    )
}

/// Node indices by (name, kind).
type NodeIds<'a> = HashMap<(&'a str, NodeKind), usize>;

/// Node indices by (name, kind), and the edges as index pairs.
fn index(graph: &ServiceGraph) -> (NodeIds<'_>, Vec<(usize, usize)>) {
    let mut ids: HashMap<(&str, NodeKind), usize> = HashMap::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        ids.insert((n.name.as_str(), n.kind), i);
    }
    let edges = graph
        .edges
        .iter()
        .map(|e| {
            (
                ids.get(&(e.client.as_str(), e.client_kind))
                    .copied()
                    .unwrap_or(usize::MAX),
                ids.get(&(e.server.as_str(), e.server_kind))
                    .copied()
                    .unwrap_or(usize::MAX),
            )
        })
        .collect();
    (ids, edges)
}

fn dot_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Graphviz dot (`dot -Tsvg map.dot > map.svg`).
pub fn service_map_dot(graph: &ServiceGraph) -> String {
    let mut s = String::from(
        "digraph services {\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fontname=\"DejaVu Sans\", fontsize=11];\n  edge [fontname=\"DejaVu Sans\", fontsize=9];\n",
    );
    for n in &graph.nodes {
        let shape = match n.kind {
            NodeKind::Database => ", shape=cylinder",
            NodeKind::Messaging => ", shape=cds",
            NodeKind::Peer => ", style=\"rounded,dashed\"",
            NodeKind::Service => "",
        };
        let _ = writeln!(
            s,
            "  {} [label={}, fillcolor={}{shape}];",
            dot_quote(&format!("{}:{}", kind_word(n.kind), n.name)),
            dot_quote(&n.name),
            dot_quote(node_fill(n.kind)),
        );
    }
    for e in &graph.edges {
        let _ = writeln!(
            s,
            "  {} -> {} [label={}, color={}, fontcolor={}];",
            dot_quote(&format!("{}:{}", kind_word(e.client_kind), e.client)),
            dot_quote(&format!("{}:{}", kind_word(e.server_kind), e.server)),
            dot_quote(&edge_label(graph, e)),
            dot_quote(health_color(e.error_ratio())),
            dot_quote(health_color(e.error_ratio())),
        );
    }
    s.push_str("}\n");
    s
}

/// The map as an SVG document.
pub fn service_map_svg(graph: &ServiceGraph) -> String {
    let (_, edges) = index(graph);
    let layout = layered(graph.nodes.len(), &edges, SPACING);
    let w = layout.width.max(480.0);
    let h = layout.height + HEADER_H + 40.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{FONT}" font-size="11">
<defs>{}</defs>
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="12" y="22" font-size="14" font-weight="bold" fill="#1d2330">service map · {} nodes · {} edges · {} – {}</text>"##,
        ["#d62728", "#f28e2b", "#4c9a5f"]
            .iter()
            .map(|c| format!(
                r#"<marker id="arrow{}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{c}"/></marker>"#,
                &c[1..]
            ))
            .collect::<String>(),
        graph.nodes.len(),
        graph.edges.len(),
        super::table::format_time(active_window(graph).0),
        super::table::format_time(active_window(graph).1),
    );
    let node_at = |i: usize| layout.nodes.get(i).map(|p| (p.x, p.y + HEADER_H));
    // Edges first, under the nodes; labels after both so they stay readable.
    let mut labels = String::new();
    let labelled: Vec<bool> = if graph.edges.len() <= LABEL_ALL_UP_TO {
        vec![true; graph.edges.len()]
    } else {
        let mut by_calls: Vec<u64> = graph.edges.iter().map(|e| e.calls).collect();
        by_calls.sort_unstable_by(|a, b| b.cmp(a));
        let busy = by_calls.get(LABEL_ALL_UP_TO / 2).copied().unwrap_or(0);
        graph
            .edges
            .iter()
            .map(|e| e.error_ratio() >= ERROR_ORANGE || e.calls > busy)
            .collect()
    };
    for (k, (e, &(a, b))) in graph.edges.iter().zip(&edges).enumerate() {
        let (Some((ax, ay)), Some((bx, by))) = (node_at(a), node_at(b)) else {
            continue;
        };
        let color = health_color(e.error_ratio());
        let width = 1.0 + (e.calls as f64).log10().clamp(0.0, 4.0) * 0.8;
        let (x1, y1, x2, y2, path) = if layout.back.get(k).copied().unwrap_or(false) || a == b {
            // Back edge: leave from the bottom, arc below, arrive at the bottom.
            let (x1, y1) = (ax + SPACING.node_w / 2.0, ay + SPACING.node_h);
            let (x2, y2) = (bx + SPACING.node_w / 2.0, by + SPACING.node_h);
            let dip = y1.max(y2) + 40.0;
            (
                x1,
                y1,
                x2,
                y2,
                format!("M{x1:.1},{y1:.1} C{x1:.1},{dip:.1} {x2:.1},{dip:.1} {x2:.1},{y2:.1}"),
            )
        } else {
            let (x1, y1) = (ax + SPACING.node_w, ay + SPACING.node_h / 2.0);
            let (x2, y2) = (bx, by + SPACING.node_h / 2.0);
            let mx = (x1 + x2) / 2.0;
            (
                x1,
                y1,
                x2,
                y2,
                format!("M{x1:.1},{y1:.1} C{mx:.1},{y1:.1} {mx:.1},{y2:.1} {x2:.1},{y2:.1}"),
            )
        };
        let _ = writeln!(
            s,
            r##"<path d="{path}" fill="none" stroke="{color}" stroke-width="{width:.1}" stroke-opacity="0.85" marker-end="url(#arrow{})"><title>{} → {}: {}</title></path>"##,
            &color[1..],
            escape_xml(&e.client),
            escape_xml(&e.server),
            escape_xml(&edge_label(graph, e))
        );
        if !labelled[k] {
            continue;
        }
        // Label near the callee end of the edge, where fan-ins separate.
        let t = 0.62;
        let lx = x1 + (x2 - x1) * t;
        let ly = y1 + (y2 - y1) * t - 3.0;
        let text = edge_label(graph, e);
        let tw = text.chars().count() as f64 * 5.4 + 6.0;
        let _ = writeln!(
            labels,
            r##"<rect x="{:.1}" y="{:.1}" width="{tw:.1}" height="12" rx="2" fill="#ffffff" fill-opacity="0.85"/><text x="{lx:.1}" y="{ly:.1}" font-size="9" text-anchor="middle" fill="{color}">{}</text>"##,
            lx - tw / 2.0,
            ly - 9.5,
            escape_xml(&text)
        );
    }
    for (i, n) in graph.nodes.iter().enumerate() {
        let Some((x, y)) = node_at(i) else {
            continue;
        };
        let err = if n.calls_in == 0 {
            0.0
        } else {
            n.errors_in as f64 / n.calls_in as f64
        };
        let border = if n.calls_in == 0 {
            "#7a8296"
        } else {
            health_color(err)
        };
        let dash = if n.kind == NodeKind::Peer {
            r#" stroke-dasharray="4 3""#
        } else {
            ""
        };
        let rx = if n.kind == NodeKind::Database { 14 } else { 6 };
        let _ = writeln!(
            s,
            r##"<g><title>{} ({}): {} calls in, {} errors</title><rect x="{x:.1}" y="{y:.1}" width="{}" height="{}" rx="{rx}" fill="{}" stroke="{border}" stroke-width="1.6"{dash}/><text x="{:.1}" y="{:.1}" font-size="12" font-weight="bold" fill="#1d2330">{}</text><text x="{:.1}" y="{:.1}" font-size="10" fill="#5a6275">{} · {} in · {:.1}% err</text></g>"##,
            escape_xml(&n.name),
            kind_word(n.kind),
            n.calls_in,
            n.errors_in,
            SPACING.node_w,
            SPACING.node_h,
            node_fill(n.kind),
            x + 8.0,
            y + 19.0,
            escape_xml(&fit_px(&n.name, SPACING.node_w - 16.0, 12.0)),
            x + 8.0,
            y + 36.0,
            kind_word(n.kind),
            n.calls_in,
            100.0 * err
        );
    }
    s.push_str(&labels);
    // Legend.
    let ly = h - 14.0;
    let _ = writeln!(
        s,
        r##"<text x="12" y="{ly}" font-size="10" fill="#5a6275">edges: calls/s · error % · p99 (caller side) — colour: </text><text x="330" y="{ly}" font-size="10" fill="#4c9a5f">&lt; 1% errors</text><text x="400" y="{ly}" font-size="10" fill="#f28e2b">≥ 1%</text><text x="432" y="{ly}" font-size="10" fill="#d62728">≥ 5%</text>"##
    );
    s.push_str("</svg>\n");
    s
}

/// A self-contained page: the map, then the edge table.
pub fn service_map_html(graph: &ServiceGraph) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>spandb service map</title>\n\
         <style>body{{font:13px system-ui,\"DejaVu Sans\",sans-serif;margin:12px;color:#1d2330}}\
         .map{{overflow:auto;border:1px solid #d6dae2}}pre{{font-size:12px;background:#f7f8fa;padding:8px;overflow:auto}}</style>\n\
         </head>\n<body>\n<div class=\"map\">{}</div>\n<h2>Edges</h2>\n<pre>{}</pre>\n</body>\n</html>\n",
        service_map_svg(graph).replace(r#" xmlns="http://www.w3.org/2000/svg""#, ""),
        escape_xml(&service_graph_table(graph))
    )
}
