//! The service graph from the blocks' edge rollups equals the graph computed from whole
//! traces by a full scan, however the spans were split: small batches, tiny blocks, spans
//! arriving late and out of order, parents that never arrive, links across traces, unsealed
//! spans, and after compaction merged the blocks.

mod common;

use common::{resource, span, BASE_NS, S};
use proptest::prelude::*;
use spandb_query::analysis::{service_graph, service_graph_reference, EdgeKind, NodeKind};
use spandb_query::TimeRange;
use spandb_storage::{KeyValue, Link, Options, Span, SpanKind, StatusCode, Value};

const SERVICES: [&str; 5] = ["web", "api", "pay", "stock", "mail"];

fn attr(k: &str, v: &str) -> KeyValue {
    KeyValue::new(k, Value::Str(v.into()))
}

/// A random forest of traces: every span picks a parent among the earlier spans of its trace
/// (or none, or a missing one), a service, a kind and sometimes a database, peer or queue.
fn traces(seed: u64, n_traces: u32) -> Vec<Span> {
    let mut rng = spandb_testkit::Rng(seed);
    let mut spans: Vec<Span> = Vec::new();
    let mut producers: Vec<(u32, u32)> = Vec::new();
    for t in 0..n_traces {
        let n = 1 + rng.next(10) as u32;
        let base = BASE_NS + rng.next(300) * S;
        for i in 0..n {
            let parent = match (i, rng.next(10)) {
                (0, _) => None,
                (_, 0) => Some(1000 + i), // never arrives
                _ => Some(t * 100 + rng.next(u64::from(i)) as u32),
            };
            let service = SERVICES[rng.next(5) as usize];
            let kind = [
                SpanKind::Server,
                SpanKind::Client,
                SpanKind::Internal,
                SpanKind::Producer,
                SpanKind::Consumer,
            ][rng.next(5) as usize];
            let mut attributes = Vec::new();
            match rng.next(6) {
                0 => attributes.push(attr("db.system", "postgresql")),
                1 => {
                    attributes.push(attr("db.system", "redis"));
                    attributes.push(attr("db.namespace", "cache"));
                }
                2 => attributes.push(attr("peer.service", "stripe")),
                3 => attributes.push(attr("server.address", "api.internal")),
                4 => attributes.push(attr("messaging.destination.name", "orders")),
                _ => {}
            }
            let status = if rng.next(7) == 0 {
                StatusCode::Error
            } else {
                StatusCode::Unset
            };
            let start = base + rng.next(120) * S + u64::from(i);
            let mut s = span(
                t,
                t * 100 + i,
                parent,
                &resource(Some(service), "eu"),
                &format!("op{}", rng.next(4)),
                kind,
                status,
                start,
                1 + rng.next(5_000_000),
                attributes,
            );
            if kind == SpanKind::Producer {
                producers.push((t, i));
            }
            if kind == SpanKind::Consumer && rng.next(2) == 0 {
                if let Some(&(pt, pi)) =
                    producers.get(rng.next(producers.len() as u64 + 1) as usize)
                {
                    let target = spans.iter().find(|x| {
                        x.span_id == span_id_of(pt * 100 + pi) && x.trace_id == trace_id_of(pt)
                    });
                    if let Some(p) = target {
                        s.links.push(Link {
                            trace_id: p.trace_id,
                            span_id: p.span_id,
                            ..Link::default()
                        });
                    }
                }
            }
            spans.push(s);
        }
    }
    spans
}

fn span_id_of(id: u32) -> spandb_storage::SpanId {
    span(
        0,
        id,
        None,
        &resource(None, ""),
        "",
        SpanKind::Internal,
        StatusCode::Unset,
        0,
        0,
        vec![],
    )
    .span_id
}

fn trace_id_of(t: u32) -> spandb_storage::TraceId {
    span(
        t,
        0,
        None,
        &resource(None, ""),
        "",
        SpanKind::Internal,
        StatusCode::Unset,
        0,
        0,
        vec![],
    )
    .trace_id
}

fn shuffle(spans: &mut [Span], seed: u64) {
    let mut rng = spandb_testkit::Rng(seed ^ 0x5eed);
    for i in (1..spans.len()).rev() {
        spans.swap(i, rng.next(i as u64 + 1) as usize);
    }
}

fn check(seed: u64, n_traces: u32, block_spans: usize, batch: usize, compact: bool) {
    let mut spans = traces(seed, n_traces);
    shuffle(&mut spans, seed);
    let dir = tempfile::tempdir().unwrap();
    let db = Options::new()
        .block_max_spans(block_spans)
        .rows_per_group(4)
        .maintenance_interval(None)
        .open(dir.path())
        .unwrap();
    // Most spans sealed in many small blocks; the last batch stays unsealed.
    let (sealed, unsealed) = spans.split_at(spans.len() * 4 / 5);
    for chunk in sealed.chunks(batch) {
        db.write(chunk.to_vec()).unwrap();
    }
    db.flush().unwrap();
    if compact {
        db.compact().unwrap();
    }
    assert!(db.check().unwrap().is_ok());
    db.write(unsealed.to_vec()).unwrap();
    let snapshot = db.snapshot().unwrap();
    let ranges = [
        TimeRange::ALL,
        TimeRange::new(BASE_NS + 90 * S, BASE_NS + 250 * S),
    ];
    for range in ranges {
        let fast = service_graph(&snapshot, range, None).unwrap();
        let reference = service_graph_reference(&spans, range);
        assert_eq!(fast, reference, "range {range:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn rollup_graph_equals_whole_trace_graph(
        seed in any::<u64>(),
        n_traces in 1u32..25,
        block_spans in 2usize..40,
        batch in 1usize..30,
        compact in any::<bool>(),
    ) {
        check(seed, n_traces, block_spans, batch, compact);
    }
}

#[test]
fn a_graph_with_every_kind_of_edge() {
    let web = resource(Some("web"), "eu");
    let api = resource(Some("api"), "eu");
    let worker = resource(Some("worker"), "eu");
    let mk = |id, parent, res: &_, kind, attrs: Vec<KeyValue>, status| {
        span(
            1,
            id,
            parent,
            res,
            "op",
            kind,
            status,
            BASE_NS + u64::from(id) * S,
            S / 10,
            attrs,
        )
    };
    let spans = vec![
        mk(0, None, &web, SpanKind::Server, vec![], StatusCode::Unset),
        mk(
            1,
            Some(0),
            &web,
            SpanKind::Client,
            vec![attr("server.address", "api")],
            StatusCode::Unset,
        ),
        mk(
            2,
            Some(1),
            &api,
            SpanKind::Server,
            vec![],
            StatusCode::Error,
        ),
        mk(
            3,
            Some(2),
            &api,
            SpanKind::Client,
            vec![
                attr("db.system", "postgresql"),
                attr("db.namespace", "shop"),
            ],
            StatusCode::Unset,
        ),
        mk(
            4,
            Some(2),
            &api,
            SpanKind::Producer,
            vec![attr("messaging.destination.name", "mails")],
            StatusCode::Unset,
        ),
        mk(
            5,
            Some(4),
            &worker,
            SpanKind::Consumer,
            vec![],
            StatusCode::Unset,
        ),
        mk(
            6,
            Some(0),
            &web,
            SpanKind::Client,
            vec![attr("peer.service", "stripe")],
            StatusCode::Unset,
        ),
    ];
    // One span per block, written one at a time: every pair is split across blocks.
    let dir = tempfile::tempdir().unwrap();
    let db = common::db_with(dir.path(), &spans, 1, 1);
    let graph = service_graph(&db.snapshot().unwrap(), TimeRange::ALL, None).unwrap();
    let edges: Vec<(&str, &str, EdgeKind, NodeKind, u64, u64)> = graph
        .edges
        .iter()
        .map(|e| {
            (
                e.client.as_str(),
                e.server.as_str(),
                e.kind,
                e.server_kind,
                e.calls,
                e.errors,
            )
        })
        .collect();
    assert_eq!(
        edges,
        vec![
            (
                "api",
                "postgresql/shop",
                EdgeKind::Database,
                NodeKind::Database,
                1,
                0
            ),
            (
                "api",
                "worker",
                EdgeKind::Messaging,
                NodeKind::Service,
                1,
                0
            ),
            ("web", "api", EdgeKind::Direct, NodeKind::Service, 1, 1),
            ("web", "stripe", EdgeKind::VirtualPeer, NodeKind::Peer, 1, 0),
        ]
    );
    let direct = &graph.edges[2];
    let client = direct.client_latency.unwrap();
    assert!((client.p50_ns - 1e8).abs() <= 1e6, "{client:?}");
    assert_eq!(direct.per_minute.len(), 1);
    assert_eq!(graph.nodes.len(), 5, "{:?}", graph.nodes);
}
