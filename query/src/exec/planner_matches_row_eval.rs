//! Differential test: the index planner and the block executor give, on random blocks and
//! random conditions, exactly the rows a row-by-row evaluation of the decoded spans gives.
//! Every exact index answer equals the row-by-row set of its comparison, every superset
//! contains it.

use std::sync::Arc;

use proptest::prelude::*;
use roaring::RoaringBitmap;
use spandb_storage::block::{encode_block, BlockLayout, IndexRows};
use spandb_storage::{
    BlockReader, KeyValue, Resource, Span, SpanId, SpanKind, StatusCode, TraceId, Value,
};

use super::rows::BlockRows;
use crate::ast::{Cond, Field, Literal, Op};
use crate::eval::{eval, Matcher, SpanRef};
use crate::plan::leaf_index;

const SERVICES: [&str; 3] = ["checkout", "cart", ""];
const NAMES: [&str; 4] = ["GET /a", "GET /b", "db.query", "publish"];
const DURATIONS: [u64; 4] = [1_000, 50_000, 2_000_000, 2_000_000];

#[derive(Clone, Debug)]
struct SpanSpec {
    trace: u8,
    resource: u8,
    name: u8,
    status: u8,
    kind: u8,
    duration: u8,
    http: u8,
    region: u8,
    flag: u8,
}

fn span_spec() -> impl Strategy<Value = SpanSpec> {
    (
        (0u8..6, 0u8..6, 0u8..4, 0u8..3),
        (0u8..5, 0u8..4, 0u8..7, 0u8..4, 0u8..3),
    )
        .prop_map(
            |((trace, resource, name, status), (kind, duration, http, region, flag))| SpanSpec {
                trace,
                resource,
                name,
                status,
                kind,
                duration,
                http,
                region,
                flag,
            },
        )
}

/// Resources: services (one literally empty), one without `service.name`, one whose
/// `service.name` is not a string, and a `region` attribute on some.
fn resources() -> Vec<Arc<Resource>> {
    let mut out = Vec::new();
    for (i, s) in SERVICES.iter().enumerate() {
        let mut attributes = vec![KeyValue::new("service.name", Value::Str((*s).into()))];
        if i == 0 {
            attributes.push(KeyValue::new("region", Value::Str("eu".into())));
        }
        out.push(Arc::new(Resource {
            attributes,
            ..Resource::default()
        }));
    }
    out.push(Arc::new(Resource {
        attributes: vec![KeyValue::new("region", Value::Str("us".into()))],
        ..Resource::default()
    }));
    out.push(Arc::new(Resource {
        attributes: vec![KeyValue::new("service.name", Value::Int(7))],
        ..Resource::default()
    }));
    out.push(Arc::new(Resource::default()));
    out
}

fn build(specs: &[SpanSpec], wide: bool) -> Vec<Span> {
    let res = resources();
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut attributes = Vec::new();
            match s.http {
                0 => attributes.push(KeyValue::new("http.status", Value::Int(200))),
                1 => attributes.push(KeyValue::new("http.status", Value::Int(500))),
                2 => attributes.push(KeyValue::new("http.status", Value::Str("500".into()))),
                3 => attributes.push(KeyValue::new("http.status", Value::Double(404.0))),
                4 => attributes.push(KeyValue::new(
                    "http.status",
                    Value::Array(vec![Value::Int(500)]),
                )),
                _ => {}
            }
            match s.region {
                0 => attributes.push(KeyValue::new("region", Value::Str("eu".into()))),
                1 => attributes.push(KeyValue::new("region", Value::Str("ap".into()))),
                _ => {}
            }
            if s.flag < 2 {
                attributes.push(KeyValue::new("flag", Value::Bool(s.flag == 0)));
            }
            if wide {
                // More distinct values than a block indexes: stored inline, no index.
                attributes.push(KeyValue::new("user", Value::Str(format!("u{i}"))));
            } else if i % 3 == 0 {
                attributes.push(KeyValue::new("user", Value::Str(format!("u{}", i % 5))));
            }
            let mut trace = [0x11u8; 16];
            trace[15] = s.trace;
            let start = 1_700_000_000_000_000_000 + (i as u64) * 1_000;
            Span {
                trace_id: TraceId(trace),
                span_id: SpanId((i as u64 + 1).to_be_bytes()),
                name: NAMES[s.name as usize % NAMES.len()].into(),
                kind: [
                    SpanKind::Internal,
                    SpanKind::Server,
                    SpanKind::Client,
                    SpanKind::Producer,
                    SpanKind::Consumer,
                ][s.kind as usize % 5],
                status_code: [StatusCode::Unset, StatusCode::Ok, StatusCode::Error]
                    [s.status as usize % 3],
                status_message: if s.status == 2 {
                    "boom".into()
                } else {
                    String::new()
                },
                start_ns: start,
                end_ns: start + DURATIONS[s.duration as usize % DURATIONS.len()],
                resource: res[s.resource as usize % res.len()].clone(),
                attributes,
                ..Span::default()
            }
        })
        .collect()
}

fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        Just(Field::Name),
        Just(Field::Status),
        Just(Field::Kind),
        Just(Field::Duration),
        Just(Field::StatusMessage),
        Just(Field::Resource("service.name".into())),
        Just(Field::Resource("region".into())),
        Just(Field::Span("http.status".into())),
        Just(Field::Span("flag".into())),
        Just(Field::Span("user".into())),
        Just(Field::Span("missing".into())),
        Just(Field::Unscoped("region".into())),
        Just(Field::Unscoped("service.name".into())),
        Just(Field::Unscoped("http.status".into())),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Eq),
        Just(Op::Ne),
        Just(Op::Gt),
        Just(Op::Ge),
        Just(Op::Lt),
        Just(Op::Le),
        Just(Op::Match),
        Just(Op::NotMatch),
    ]
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        prop::sample::select(vec![
            "checkout", "cart", "", "GET /a", "db.query", "eu", "ap", "us", "500", "u3", "u1000",
            "boom", "GET.*", "c.*",
        ])
        .prop_map(|s| Literal::Str(s.into())),
        prop::sample::select(vec![200i64, 404, 500, 7]).prop_map(Literal::Int),
        prop::sample::select(vec![404.0f64, 500.0, 250.5]).prop_map(Literal::Float),
        any::<bool>().prop_map(Literal::Bool),
        prop::sample::select(DURATIONS.to_vec()).prop_map(Literal::Duration),
        prop::sample::select(vec![StatusCode::Unset, StatusCode::Ok, StatusCode::Error])
            .prop_map(Literal::Status),
        prop::sample::select(vec![SpanKind::Server, SpanKind::Client]).prop_map(Literal::Kind),
    ]
}

fn cond() -> impl Strategy<Value = Cond> {
    let leaf = prop_oneof![
        1 => Just(Cond::True),
        12 => (field(), op(), literal()).prop_map(|(f, o, l)| Cond::Cmp(f, o, l)),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Cond::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Cond::Or(Box::new(a), Box::new(b))),
        ]
    })
}

/// Rows of `spans` (in block row order) where `m` holds, one decoded span at a time.
fn row_by_row(m: &Matcher, spans: &[Span]) -> RoaringBitmap {
    let mut out = RoaringBitmap::new();
    for (r, span) in spans.iter().enumerate() {
        if eval(
            m,
            &SpanRef {
                span,
                trace: None,
                parent: None,
                pos: None,
            },
        ) == Some(true)
        {
            out.insert(r as u32);
        }
    }
    out
}

fn check(specs: &[SpanSpec], wide: bool, conds: &[Cond]) -> Result<(), TestCaseError> {
    let spans = build(specs, wide);
    let layout = BlockLayout {
        rows_per_group: 7,
        zstd_level: 1,
        attributes_zstd_level: 1,
    };
    let encoded = encode_block(spans.iter().collect(), &layout).unwrap();
    let block = BlockReader::from_bytes(encoded.bytes, "differential").unwrap();
    let in_row_order = block.all_spans().unwrap();
    for c in conds {
        let m = Matcher::compile(c);
        let expected = row_by_row(&m, &in_row_order);
        let got = BlockRows::new(&block)
            .unwrap()
            .eval(&m, &block.footer().unwrap().all_rows())
            .unwrap();
        prop_assert_eq!(&got, &expected, "executor on {:?}", c);
        let mut leaf_checks = Vec::new();
        m.for_each_leaf(&mut |leaf| leaf_checks.push(leaf));
        for leaf in leaf_checks {
            let Some(answer) = leaf_index(leaf, &block.footer().unwrap()) else {
                continue;
            };
            let single = Matcher::Cmp(crate::eval::Leaf {
                field: leaf.field.clone(),
                op: leaf.op,
                lit: leaf.lit.clone(),
                re: leaf.re.clone(),
            });
            let truth = row_by_row(&single, &in_row_order);
            match answer {
                IndexRows::Exact(rows) => {
                    prop_assert_eq!(rows, truth, "exact index answer for {:?}", leaf)
                }
                IndexRows::Superset(rows) => prop_assert!(
                    truth.is_subset(&rows),
                    "superset index answer for {:?} misses rows",
                    leaf
                ),
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn planner_and_executor_match_row_by_row_evaluation(
        specs in prop::collection::vec(span_spec(), 1..60),
        conds in prop::collection::vec(cond(), 1..6),
    ) {
        check(&specs, false, &conds)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn unindexed_high_cardinality_keys_match_row_by_row_evaluation(
        spec in span_spec(),
        conds in prop::collection::vec(cond(), 4..12),
    ) {
        // More distinct `user` values than a block indexes.
        let specs: Vec<SpanSpec> = (0..1100u32)
            .map(|i| SpanSpec { trace: (i % 6) as u8, name: (i % 4) as u8, ..spec.clone() })
            .collect();
        check(&specs, true, &conds)?;
    }
}
