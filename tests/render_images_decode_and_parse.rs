//! Every image renderer's output as a reader sees it: SVGs parse as XML with an `<svg>` root,
//! PNGs decode to the size drawn and are not blank (many pixels differ from the white
//! background, in more than one colour).

use std::sync::Arc;

use spandb::render::png::{decode_png, parse_svg, svg_to_png};
use spandb::render::trace_svg::{trace_svg, TraceSvgOptions};
use spandb::{KeyValue, Resource, Span, SpanId, StatusCode, TraceId, TraceTree, Value};

fn resource(service: &str) -> Arc<Resource> {
    Arc::new(Resource {
        attributes: vec![KeyValue::new("service.name", Value::Str(service.into()))],
        ..Resource::default()
    })
}

/// A trace of `n` spans: a root and a chain of fan-outs over 5 services.
fn trace(n: usize) -> TraceTree {
    let services: Vec<Arc<Resource>> = ["web", "api", "db", "cache", "queue"]
        .iter()
        .map(|s| resource(s))
        .collect();
    let spans = (0..n)
        .map(|i| {
            let parent = if i == 0 { None } else { Some((i - 1) / 4) };
            let start = i as u64 * 1_000_000;
            Span {
                trace_id: TraceId([9; 16]),
                span_id: SpanId((i as u64 + 1).to_be_bytes()),
                parent_span_id: parent.map(|p| SpanId((p as u64 + 1).to_be_bytes())),
                name: format!("operation {i} <&>"),
                start_ns: start,
                end_ns: if i == 0 {
                    n as u64 * 1_000_000 + 5_000_000
                } else {
                    start + 3_000_000
                },
                status_code: if i % 17 == 5 {
                    StatusCode::Error
                } else {
                    StatusCode::Unset
                },
                resource: services[i % services.len()].clone(),
                ..Span::default()
            }
        })
        .collect();
    TraceTree::from_spans(spans).unwrap()
}

/// (width, height, share of non-white pixels, distinct colours seen (capped)).
fn look(png: &[u8]) -> (u32, u32, f64, usize) {
    let (w, h, rgba) = decode_png(png).unwrap();
    let mut colours = std::collections::HashSet::new();
    let mut inked = 0usize;
    for px in rgba.chunks_exact(4) {
        if px[..3] != [255, 255, 255] {
            inked += 1;
        }
        if colours.len() < 64 {
            colours.insert([px[0], px[1], px[2]]);
        }
    }
    (w, h, inked as f64 / (w as f64 * h as f64), colours.len())
}

#[test]
fn trace_waterfall_svg_parses_and_png_has_ink() {
    let tree = trace(40);
    let svg = trace_svg(&tree, &TraceSvgOptions::default());
    assert_eq!(parse_svg(&svg).unwrap(), "svg");
    assert!(
        svg.contains("operation 3 &lt;&amp;&gt;"),
        "names are escaped"
    );
    let png = svg_to_png(&svg).unwrap();
    let (w, h, ink, colours) = look(&png);
    assert_eq!(w, 1200);
    assert!(h > 40 * 18, "one row per span: {h}px");
    assert!(ink > 0.05, "non-blank: {ink}");
    assert!(colours > 8, "service colours: {colours}");
}

#[test]
fn trace_images_cap_their_rows() {
    let tree = trace(300);
    let svg = trace_svg(
        &tree,
        &TraceSvgOptions {
            width: 800,
            max_rows: 50,
        },
    );
    assert!(svg.contains("250 more spans not drawn"));
    let (w, h, _, _) = look(&svg_to_png(&svg).unwrap());
    assert_eq!(w, 800);
    assert!(h < 60 * 18 + 120, "{h}");
}

fn graph() -> spandb::analysis::ServiceGraph {
    use spandb::analysis::{
        EdgeKind, EdgeMinute, GraphEdge, GraphNode, LatencySummary, NodeKind, ServiceGraph,
    };
    let node = |name: &str, kind| GraphNode {
        name: name.into(),
        kind,
        calls_in: 10,
        errors_in: 1,
    };
    let edge = |client: &str, server: &str, kind, calls, errors| GraphEdge {
        client: client.into(),
        client_kind: NodeKind::Service,
        server: server.into(),
        server_kind: if server == "postgres" {
            NodeKind::Database
        } else {
            NodeKind::Service
        },
        kind,
        calls,
        errors,
        client_latency: Some(LatencySummary {
            p50_ns: 1e6,
            p90_ns: 5e6,
            p99_ns: 12.1e6,
        }),
        server_latency: None,
        latency_state: None,
        per_minute: vec![EdgeMinute {
            minute_ns: 60_000_000_000,
            calls,
            errors,
        }],
    };
    ServiceGraph {
        start_ns: 0,
        end_ns: 600_000_000_000,
        nodes: vec![
            node("web", NodeKind::Service),
            node("api", NodeKind::Service),
            node("auth", NodeKind::Service),
            node("postgres", NodeKind::Database),
        ],
        edges: vec![
            edge("web", "api", EdgeKind::Direct, 600, 0),
            edge("api", "auth", EdgeKind::Direct, 120, 12),
            edge("api", "postgres", EdgeKind::Database, 1200, 0),
            edge("auth", "api", EdgeKind::Direct, 6, 0),
        ],
    }
}

#[test]
fn service_map_dot_svg_png_and_html() {
    use spandb::render::graph_map::{service_map_dot, service_map_html, service_map_svg};
    let g = graph();
    let dot = service_map_dot(&g);
    assert!(dot.starts_with("digraph services {"), "{dot}");
    assert!(
        dot.contains(r#""service:web" -> "service:api" [label="10.0/s · 0.0% err · p99 12.1ms""#),
        "{dot}"
    );
    assert!(dot.contains("shape=cylinder"), "{dot}");
    let svg = service_map_svg(&g);
    assert_eq!(parse_svg(&svg).unwrap(), "svg");
    // The unhealthy edge (10 % errors) is red; the others green.
    assert!(svg.contains("2.0/s · 10.0% err · p99 12.1ms"), "{svg}");
    assert!(svg.contains(r##"stroke="#d62728""##), "{svg}");
    let (w, h, ink, colours) = look(&svg_to_png(&svg).unwrap());
    assert!(w >= 480 && h > 100, "{w}x{h}");
    assert!(ink > 0.02 && colours > 8, "{ink} {colours}");
    let html = service_map_html(&g);
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"));
    assert!(!html.contains("http://") && !html.contains("https://"));
}

#[test]
fn metrics_chart_with_25_series_svg_png_and_html() {
    use spandb::render::chart::{metrics_chart_html, metrics_chart_svg, ChartOptions};
    use spandb::render::table::ValueUnit;
    use spandb::{LabelValue, MetricsResult, Series};
    let step = 60_000_000_000u64;
    let series: Vec<Series> = (0..25)
        .map(|k| Series {
            labels: vec![(
                "resource.service.name".into(),
                LabelValue::Str(format!("service-{k:02}")),
            )],
            samples: (0..30u64)
                // A gap at steps 10..12 for odd series: the line breaks there.
                .filter(|i| k % 2 == 0 || !(10..12).contains(i))
                .map(|i| {
                    (
                        i * step,
                        0.001 * (1 + k) as f64 * (1.0 + (i as f64 / 3.0).sin()),
                    )
                })
                .collect(),
        })
        .collect();
    let result = MetricsResult {
        series,
        path: spandb::query::MetricsPath::Rollup,
    };
    let mut opts = ChartOptions::new(ValueUnit::Seconds, step);
    opts.title = "{ } | avg_over_time(duration) by (resource.service.name)".into();
    let svg = metrics_chart_svg(&result, &opts);
    assert_eq!(parse_svg(&svg).unwrap(), "svg");
    assert_eq!(
        svg.matches(r#"class="legend""#).count(),
        25,
        "every series in the legend"
    );
    assert!(svg.contains("service-24"));
    assert!(svg.contains(">50.0ms<"), "value axis with units: {svg}");
    assert!(svg.contains(">00:10<"), "time axis: {svg}");
    // Odd series break at the gap: two polylines each.
    assert_eq!(svg.matches("<polyline").count(), 13 + 12 * 2);
    let (w, h, ink, colours) = look(&svg_to_png(&svg).unwrap());
    assert_eq!((w, h), (1100, 520));
    assert!(ink > 0.02 && colours > 12, "{ink} {colours}");
    let html = metrics_chart_html(&result, &opts);
    assert!(html.contains("<svg") && !html.contains("http://"));
}
