//! Shared helpers: random-ish spans and a real database holding them.
#![allow(dead_code)]

use std::sync::Arc;

use spandb_storage::{
    Db, KeyValue, Options, Resource, Span, SpanId, SpanKind, StatusCode, TraceId, Value,
};

/// A second in nanoseconds.
pub const S: u64 = 1_000_000_000;

/// Minute-aligned base time for generated spans.
pub const BASE_NS: u64 = 1_700_000_040_000_000_000;

/// A deterministic LCG (Knuth's MMIX constants): each call gives the high 31 bits of the next
/// state, for varied, reproducible test data.
pub fn lcg(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed;
    move || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x >> 33
    }
}

/// The three services the generated metrics datasets spread their spans over.
pub fn checkout_cart_auth() -> [Arc<Resource>; 3] {
    [
        resource(Some("checkout"), "eu"),
        resource(Some("cart"), "us"),
        resource(Some("auth"), "eu"),
    ]
}

/// The span names the generated metrics datasets draw from.
pub const OPERATIONS: [&str; 3] = ["GET /cart", "POST /pay", "SELECT"];

/// Canonical order for comparing series sets.
pub fn sorted(mut s: Vec<spandb_query::Series>) -> Vec<spandb_query::Series> {
    s.sort_by(|a, b| format!("{:?}", a.labels).cmp(&format!("{:?}", b.labels)));
    s
}

pub fn resource(service: Option<&str>, region: &str) -> Arc<Resource> {
    let mut attributes = Vec::new();
    if let Some(s) = service {
        attributes.push(KeyValue::new("service.name", Value::Str(s.into())));
    }
    attributes.push(KeyValue::new("region", Value::Str(region.into())));
    Arc::new(Resource {
        attributes,
        ..Resource::default()
    })
}

#[allow(clippy::too_many_arguments)]
pub fn span(
    trace: u32,
    id: u32,
    parent: Option<u32>,
    res: &Arc<Resource>,
    name: &str,
    kind: SpanKind,
    status: StatusCode,
    start_ns: u64,
    duration_ns: u64,
    attributes: Vec<KeyValue>,
) -> Span {
    let mut sid = [0u8; 8];
    sid[4..].copy_from_slice(&(id + 1).to_be_bytes());
    Span {
        trace_id: {
            let mut t = [0xabu8; 16];
            t[12..].copy_from_slice(&(trace + 1).to_be_bytes());
            TraceId(t)
        },
        span_id: SpanId(sid),
        parent_span_id: parent.map(|p| {
            let mut b = [0u8; 8];
            b[4..].copy_from_slice(&(p + 1).to_be_bytes());
            SpanId(b)
        }),
        name: name.into(),
        kind,
        start_ns,
        end_ns: start_ns + duration_ns,
        status_code: status,
        status_message: if status == StatusCode::Error {
            "boom".into()
        } else {
            String::new()
        },
        resource: res.clone(),
        attributes,
        ..Span::default()
    }
}

/// Writes `spans` in batches of `batch` into a fresh database sealing every `block_spans`
/// spans with tiny row groups, so data lands in several blocks, several groups, and the builder.
pub fn db_with(dir: &std::path::Path, spans: &[Span], block_spans: usize, batch: usize) -> Db {
    let db = Options::new()
        .block_max_spans(block_spans)
        .rows_per_group(3)
        // Keep the block layout the test asked for: no background compaction.
        .maintenance_interval(None)
        .open(dir)
        .unwrap();
    for chunk in spans.chunks(batch.max(1)) {
        db.write(chunk.to_vec()).unwrap();
    }
    // Sealing runs in the background: wait for it (`check` does) so the layout is settled.
    assert!(db.check().unwrap().is_ok());
    db
}

/// Trace t: web GET /checkout -> api POST /pay -> db SELECT; trace 2's db call fails.
pub fn shop() -> Vec<Span> {
    let web = resource(Some("web"), "eu");
    let api = resource(Some("api"), "eu");
    let db = resource(Some("db"), "us");
    let mut spans = Vec::new();
    for t in 0..4u32 {
        let base = BASE_NS + u64::from(t) * 60 * S;
        let id = t * 10;
        let err = if t == 2 {
            StatusCode::Error
        } else {
            StatusCode::Ok
        };
        let route = vec![KeyValue::new("http.route", Value::Str("/checkout".into()))];
        spans.push(span(
            t,
            id,
            None,
            &web,
            "GET /checkout",
            SpanKind::Server,
            StatusCode::Ok,
            base,
            900_000_000,
            route,
        ));
        spans.push(span(
            t,
            id + 1,
            Some(id),
            &api,
            "POST /pay",
            SpanKind::Server,
            err,
            base + 10_000_000,
            800_000_000,
            vec![],
        ));
        let code = vec![KeyValue::new("db.rows", Value::Int(i64::from(t)))];
        spans.push(span(
            t,
            id + 2,
            Some(id + 1),
            &db,
            "SELECT",
            SpanKind::Client,
            err,
            base + 20_000_000,
            700_000_000 + u64::from(t),
            code,
        ));
    }
    spans
}
