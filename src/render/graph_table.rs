//! The service graph as text tables: one row per edge, then one per node.

use crate::analysis::{GraphEdge, LatencySummary, NodeKind, ServiceGraph};
use crate::render::table::{format_duration, table};

fn node_label(name: &str, kind: NodeKind) -> String {
    match kind {
        NodeKind::Service => name.to_owned(),
        NodeKind::Database => format!("{name} (db)"),
        NodeKind::Messaging => format!("{name} (queue)"),
        NodeKind::Peer => format!("{name} (peer)"),
    }
}

fn quantiles(l: Option<LatencySummary>) -> [String; 2] {
    match l {
        Some(l) => [
            format_duration(l.p50_ns.round() as u64),
            format_duration(l.p99_ns.round() as u64),
        ],
        None => ["-".into(), "-".into()],
    }
}

fn edge_row(e: &GraphEdge) -> Vec<String> {
    let [c50, c99] = quantiles(e.client_latency);
    let [s50, s99] = quantiles(e.server_latency);
    vec![
        node_label(&e.client, e.client_kind),
        node_label(&e.server, e.server_kind),
        serde_json::to_value(e.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        e.calls.to_string(),
        e.errors.to_string(),
        format!("{:.1}%", 100.0 * e.error_ratio()),
        c50,
        c99,
        s50,
        s99,
    ]
}

/// Edges by client then server, with calls, errors and latency from both sides.
pub fn service_graph_table(graph: &ServiceGraph) -> String {
    if graph.edges.is_empty() {
        return "no calls between services in this range\n".into();
    }
    let rows: Vec<Vec<String>> = graph.edges.iter().map(edge_row).collect();
    table(
        &[
            "CLIENT",
            "SERVER",
            "KIND",
            "CALLS",
            "ERRORS",
            "ERR%",
            "CLIENT P50",
            "CLIENT P99",
            "SERVER P50",
            "SERVER P99",
        ],
        &rows,
        &[3, 4, 5, 6, 7, 8, 9],
    )
}
