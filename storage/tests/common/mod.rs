//! Shared test support: proptest strategies for spans with every OpenTelemetry field.
#![allow(dead_code)]

pub mod faultfs;

use std::sync::Arc;

use proptest::prelude::*;
use spandb_storage::{
    Event, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind, StatusCode, TraceId, Value,
};

pub fn value(depth: u32) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Empty),
        "[a-z/]{0,12}".prop_map(Value::Str),
        any::<i64>().prop_map(Value::Int),
        (-1e12f64..1e12).prop_map(Value::Double),
        any::<bool>().prop_map(Value::Bool),
        proptest::collection::vec(any::<u8>(), 0..6).prop_map(Value::Bytes),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        4 => leaf,
        1 => proptest::collection::vec(value(depth - 1), 0..3).prop_map(Value::Array),
        1 => proptest::collection::vec(("[a-c]{1,3}", value(depth - 1)).prop_map(|(k, v)| KeyValue::new(k, v)), 0..3)
            .prop_map(Value::KvList),
    ]
    .boxed()
}

pub fn attrs(max: usize) -> impl Strategy<Value = Vec<KeyValue>> {
    proptest::collection::vec(
        (
            prop_oneof![
                "http\\.[a-z]{1,2}",
                "db\\.system",
                "user\\.id",
                "[a-z]{1,4}"
            ],
            value(2),
        )
            .prop_map(|(k, v)| KeyValue::new(k, v)),
        0..max,
    )
}

pub fn resources() -> impl Strategy<Value = Vec<Arc<Resource>>> {
    proptest::collection::vec(
        (
            prop_oneof!["frontend", "checkout", "db", ""],
            attrs(3),
            0u32..3,
            prop_oneof!["", "https://x/1"],
        )
            .prop_map(|(svc, mut a, d, url)| {
                if !svc.is_empty() {
                    a.insert(0, KeyValue::new("service.name", Value::Str(svc)));
                }
                Arc::new(Resource {
                    attributes: a,
                    dropped_attributes_count: d,
                    schema_url: url,
                })
            }),
        1..4,
    )
}

pub fn scopes() -> impl Strategy<Value = Vec<Arc<Scope>>> {
    proptest::collection::vec(
        (
            "[a-z.]{0,8}",
            "[0-9.]{0,5}",
            attrs(2),
            0u32..2,
            prop_oneof!["", "s"],
        )
            .prop_map(|(name, version, a, d, url)| {
                Arc::new(Scope {
                    name,
                    version,
                    attributes: a,
                    dropped_attributes_count: d,
                    schema_url: url,
                })
            }),
        1..3,
    )
}

/// Raw material for one span; ids and times are filled in by `spans`.
/// A link: (trace id, span id, trace state, flags, attributes).
pub type LinkSpec = ([u8; 16], [u8; 8], String, u32, Vec<KeyValue>);

#[derive(Clone, Debug)]
pub struct SpanSeed {
    pub trace: u8,
    pub parent: Option<usize>,
    pub name: String,
    pub kind: u8,
    pub start_offset: u64,
    pub duration: u64,
    pub status: u8,
    pub status_message: String,
    pub resource: usize,
    pub scope: usize,
    pub attributes: Vec<KeyValue>,
    pub events: Vec<(u64, String, Vec<KeyValue>, u32)>,
    pub links: Vec<LinkSpec>,
    pub trace_state: String,
    pub flags: u32,
    pub dropped: (u32, u32, u32),
}

fn seed() -> impl Strategy<Value = SpanSeed> {
    (
        (
            0u8..6,
            proptest::option::of(0usize..40),
            prop_oneof!["GET /a", "SELECT x", "work", "publish"],
            0u8..6,
        ),
        (
            0u64..3_600_000_000_000,
            prop_oneof![0u64..1000, 0u64..5_000_000_000],
            0u8..3,
            prop_oneof!["", "boom"],
        ),
        (0usize..4, 0usize..3, attrs(5)),
        proptest::collection::vec(
            (
                0u64..1_000_000,
                prop_oneof!["exception", "log"],
                attrs(2),
                0u32..2,
            ),
            0..2,
        ),
        proptest::collection::vec(
            (
                any::<[u8; 16]>(),
                any::<[u8; 8]>(),
                "[a-z=]{0,4}",
                0u32..3,
                attrs(2),
            ),
            0..2,
        ),
        (
            "[a-z=,]{0,6}",
            prop_oneof![Just(0u32), Just(256u32), any::<u32>()],
            (0u32..3, 0u32..3, 0u32..3),
        ),
    )
        .prop_map(
            |(
                (trace, parent, name, kind),
                (start_offset, duration, status, msg),
                (r, s, a),
                ev,
                lk,
                (ts, flags, dropped),
            )| SpanSeed {
                trace,
                parent,
                name,
                kind,
                start_offset,
                duration,
                status,
                status_message: msg,
                resource: r,
                scope: s,
                attributes: a,
                events: ev,
                links: lk,
                trace_state: ts,
                flags,
                dropped,
            },
        )
}

/// A base time (2025-06-01) so times look like real Unix nanoseconds.
pub const BASE_NS: u64 = 1_748_736_000_000_000_000;

pub fn trace_id(n: u8, salt: u8) -> TraceId {
    let mut t = [0u8; 16];
    t[0] = salt | 1;
    t[15] = n;
    t[7] = n.wrapping_mul(37);
    TraceId(t)
}

/// Builds spans from seeds: unique span ids, parents pointing at earlier spans of the same
/// trace when the seed asks (or at a missing span: an orphan).
pub fn build(
    seeds: &[SpanSeed],
    resources: &[Arc<Resource>],
    scopes: &[Arc<Scope>],
    salt: u8,
    id_base: u64,
) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    for (i, s) in seeds.iter().enumerate() {
        let trace_id = trace_id(s.trace, salt);
        let span_id = SpanId((id_base + i as u64 + 1).to_be_bytes());
        let parent_span_id = s.parent.map(|p| {
            out.iter()
                .filter(|o| o.trace_id == trace_id)
                .nth(p % 4)
                .map(|o| o.span_id)
                .unwrap_or(SpanId([0xEE; 8]))
        });
        let start = BASE_NS + s.start_offset;
        out.push(Span {
            trace_id,
            span_id,
            parent_span_id: if s.parent.is_some_and(|p| p > 30) {
                None
            } else {
                parent_span_id
            },
            trace_state: s.trace_state.clone(),
            flags: s.flags,
            name: s.name.clone(),
            kind: SpanKind::from_u8(s.kind).unwrap_or_default(),
            start_ns: start,
            end_ns: start + s.duration,
            status_code: StatusCode::from_u8(s.status).unwrap_or_default(),
            status_message: s.status_message.clone(),
            resource: resources[s.resource % resources.len()].clone(),
            scope: scopes[s.scope % scopes.len()].clone(),
            attributes: s.attributes.clone(),
            dropped_attributes_count: s.dropped.0,
            events: s
                .events
                .iter()
                .map(|(t, n, a, d)| Event {
                    time_ns: start + t,
                    name: n.clone(),
                    attributes: a.clone(),
                    dropped_attributes_count: *d,
                })
                .collect(),
            dropped_events_count: s.dropped.1,
            links: s
                .links
                .iter()
                .map(|(t, sp, ts, f, a)| Link {
                    trace_id: TraceId(*t),
                    span_id: SpanId(*sp),
                    trace_state: ts.clone(),
                    flags: *f,
                    attributes: a.clone(),
                    dropped_attributes_count: 0,
                })
                .collect(),
            dropped_links_count: s.dropped.2,
        });
    }
    out
}

/// Batches of random spans sharing a few resources and scopes.
pub fn span_batch(max: usize) -> impl Strategy<Value = Vec<Span>> {
    (
        proptest::collection::vec(seed(), 1..max),
        resources(),
        scopes(),
        any::<u8>(),
    )
        .prop_map(|(seeds, r, s, salt)| build(&seeds, &r, &s, salt, 0))
}

/// Canonical order for comparing span sets.
pub fn sorted(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by_key(|s| (s.trace_id, s.span_id, s.start_ns));
    spans
}

/// [`spandb_testkit::numbered_batch`] with spans 500 ns long.
pub fn numbered_batch(i: u64, per: u64, start_ns: u64) -> Vec<Span> {
    spandb_testkit::numbered_batch(i, per, start_ns, 500)
}

/// The batch number a span of [`numbered_batch`] carries.
pub fn batch_of(s: &Span) -> u64 {
    match s.attr("batch") {
        Some(Value::Int(i)) => *i as u64,
        other => panic!("span {} has no batch attribute: {other:?}", s.span_id),
    }
}

/// Every log record of `snap`, sealed and unsealed, in a stable order (time, trace, span,
/// body), so two sets compare with `assert_eq!`.
pub fn all_logs(snap: &spandb_storage::Snapshot) -> Vec<spandb_storage::LogRecord> {
    let mut out: Vec<spandb_storage::LogRecord> = snap.unsealed_logs().unwrap().cloned().collect();
    for b in snap.log_blocks() {
        out.extend(b.all_records().unwrap());
    }
    sorted_logs(out)
}

pub fn sorted_logs(mut logs: Vec<spandb_storage::LogRecord>) -> Vec<spandb_storage::LogRecord> {
    logs.sort_by(|a, b| {
        (a.time_ns, a.trace_id, a.span_id)
            .cmp(&(b.time_ns, b.trace_id, b.span_id))
            .then_with(|| a.body_text().cmp(&b.body_text()))
    });
    logs
}

/// A scratch directory, in memory when the machine has /dev/shm: for tests whose durability is
/// modelled (a fault-injecting file system) or beside the point (stress), where real fsyncs only
/// cost time.
pub fn scratch_dir() -> tempfile::TempDir {
    if std::path::Path::new("/dev/shm").is_dir() {
        if let Ok(d) = tempfile::tempdir_in("/dev/shm") {
            return d;
        }
    }
    tempfile::tempdir().unwrap()
}
