//! Renderer benchmarks (issue 12's budgets): the HTML page of a 10,000-span trace (< 200 ms,
//! < 3 MB) and the PNG of a 500-span waterfall (< 300 ms).
//!
//!     cargo bench -p spandb-benches --bench render

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use spandb::render::png::svg_to_png;
use spandb::render::trace_html::trace_html;
use spandb::render::trace_svg::{trace_svg, TraceSvgOptions};
use spandb::{Event, KeyValue, Resource, Span, SpanId, StatusCode, TraceId, TraceTree, Value};

/// A trace of `n` spans over 12 services: a tree of fan-out 4 with sequential children,
/// three attributes per span, an event on every tenth and an error on every 97th.
fn trace(n: usize) -> TraceTree {
    let services: Vec<Arc<Resource>> = (0..12)
        .map(|k| {
            Arc::new(Resource {
                attributes: vec![
                    KeyValue::new("service.name", Value::Str(format!("service-{k}"))),
                    KeyValue::new("host.name", Value::Str(format!("host-{k}-7d9f"))),
                ],
                ..Resource::default()
            })
        })
        .collect();
    // Start and end per span: children split their parent's interval.
    let mut bounds = vec![(0u64, 10_000_000_000u64)];
    for i in 1..n {
        let p = (i - 1) / 4;
        let (ps, pe) = bounds[p];
        let slot = ((i - 1) % 4) as u64;
        let len = (pe - ps) / 4;
        bounds.push((ps + slot * len + len / 10, ps + (slot + 1) * len - len / 10));
    }
    let spans = (0..n)
        .map(|i| {
            let (start, end) = bounds[i];
            Span {
                trace_id: TraceId([3; 16]),
                span_id: SpanId((i as u64 + 1).to_be_bytes()),
                parent_span_id: (i > 0).then(|| SpanId((((i - 1) / 4) as u64 + 1).to_be_bytes())),
                name: format!("GET /api/v1/items/{}", i % 50),
                start_ns: start,
                end_ns: end,
                status_code: if i % 97 == 5 {
                    StatusCode::Error
                } else {
                    StatusCode::Unset
                },
                resource: services[i % 12].clone(),
                attributes: vec![
                    KeyValue::new("http.method", Value::Str("GET".into())),
                    KeyValue::new("http.status_code", Value::Int(200)),
                    KeyValue::new("item.id", Value::Int(i as i64)),
                ],
                events: if i % 10 == 0 {
                    vec![Event {
                        time_ns: start + (end - start) / 2,
                        name: "cache miss".into(),
                        ..Event::default()
                    }]
                } else {
                    Vec::new()
                },
                ..Span::default()
            }
        })
        .collect();
    TraceTree::from_spans(spans).expect("spans")
}

fn bench_render(c: &mut Criterion) {
    let big = trace(10_000);
    let html = trace_html(&big);
    eprintln!(
        "render: HTML of a 10,000-span trace is {:.2} MB",
        html.len() as f64 / 1e6
    );
    let mut g = c.benchmark_group("render");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function("trace_html_10000_spans", |b| b.iter(|| trace_html(&big)));
    let mid = trace(500);
    let png = svg_to_png(&trace_svg(&mid, &TraceSvgOptions::default())).expect("png");
    eprintln!(
        "render: PNG of a 500-span waterfall is {:.2} MB",
        png.len() as f64 / 1e6
    );
    g.bench_function("trace_png_500_spans", |b| {
        b.iter(|| svg_to_png(&trace_svg(&mid, &TraceSvgOptions::default())).expect("png"))
    });
    g.finish();
}

criterion_group!(benches, bench_render);
criterion_main!(benches);
