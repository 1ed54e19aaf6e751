//! Presentation, kept out of the engine: text tables for people ([`table`]) and Grafana
//! Tempo's JSON shapes for tools ([`tempo`]). The CLI, the C ABI and (later) the server all
//! render through here.

pub mod analysis;
pub mod anomalies;
pub mod chart;
pub mod graph_layout;
pub mod graph_map;
pub mod graph_table;
pub mod logs;
pub mod png;
pub mod table;
pub mod tempo;
pub mod trace_html;
pub mod trace_svg;
pub mod trace_view;
pub mod waterfall;
