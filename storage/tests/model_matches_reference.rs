//! Model-based test: random sequences of write / flush / reopen / trace lookup / filtered scan
//! against the database and a plain in-memory list of spans; they never diverge.

mod common;

use proptest::prelude::*;
use spandb_storage::{Db, Durability, Options, ScanFilter, Span, Value};

#[derive(Clone, Debug)]
enum Op {
    Write(Vec<Span>),
    Flush,
    Compact,
    Reopen,
    Trace(u8, u8),
    Scan(ScanFilter),
}

fn filter() -> impl Strategy<Value = ScanFilter> {
    (
        proptest::option::of(0u64..3_600_000_000_000),
        proptest::option::of(0u64..3_600_000_000_000),
        proptest::option::of(prop_oneof!["frontend", "checkout", "db", "nope"]),
        proptest::option::of(prop_oneof!["GET /a", "SELECT x", "work"]),
        any::<bool>(),
        proptest::option::of((
            "http\\.[a-z]",
            prop_oneof![
                "[a-z/]{0,2}".prop_map(Value::Str),
                (-2i64..2).prop_map(Value::Int),
                any::<bool>().prop_map(Value::Bool)
            ],
        )),
    )
        .prop_map(|(s, e, service, name, error_only, attr)| ScanFilter {
            start_ns: s.map(|v| common::BASE_NS + v),
            end_ns: e.map(|v| common::BASE_NS + v),
            service,
            name,
            error_only,
            attributes: attr.into_iter().collect(),
        })
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(
        prop_oneof![
            4 => common::span_batch(30).prop_map(Op::Write),
            1 => Just(Op::Flush),
            1 => Just(Op::Compact),
            1 => Just(Op::Reopen),
            2 => (0u8..6, any::<u8>()).prop_map(|(t, s)| Op::Trace(t, s)),
            2 => filter().prop_map(Op::Scan),
        ],
        1..25,
    )
}

fn open(dir: &std::path::Path) -> Db {
    Options::new()
        .durability(Durability::Sync)
        .block_max_spans(40)
        .rows_per_group(7)
        .compact_below_spans(30)
        .maintenance_interval(None)
        .open(dir)
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn database_matches_the_model(ops in ops()) {
        let dir = tempfile::tempdir().unwrap();
        let mut db = open(dir.path());
        let mut model: Vec<Span> = Vec::new();
        let mut next_id = 0u64;
        for op in ops {
            match op {
                Op::Write(mut spans) => {
                    // Unique span ids across batches, as real tracers produce.
                    for s in &mut spans {
                        next_id += 1;
                        s.span_id = spandb_storage::SpanId((next_id << 8).to_be_bytes());
                    }
                    db.write(spans.clone()).unwrap();
                    model.extend(spans);
                }
                Op::Flush => db.flush().unwrap(),
                Op::Compact => {
                    db.compact().unwrap();
                }
                Op::Reopen => {
                    db.close().unwrap();
                    drop(db);
                    db = open(dir.path());
                }
                Op::Trace(t, salt) => {
                    let id = model.get(usize::from(salt) % model.len().max(1)).map(|s| s.trace_id)
                        .unwrap_or_else(|| common::trace_id(t, salt));
                    let got = common::sorted(db.trace(&id).unwrap());
                    let want = common::sorted(model.iter().filter(|s| s.trace_id == id).cloned().collect());
                    prop_assert_eq!(got, want);
                }
                Op::Scan(f) => {
                    let got = common::sorted(db.snapshot().unwrap().scan(&f).unwrap());
                    let want = common::sorted(model.iter().filter(|s| f.matches(s)).cloned().collect());
                    prop_assert_eq!(got, want, "filter {:?}", f);
                }
            }
        }
        let stats = db.stats().unwrap();
        prop_assert_eq!(stats.spans, model.len() as u64);
        let traces: std::collections::HashSet<_> = model.iter().map(|s| s.trace_id).collect();
        prop_assert_eq!(stats.traces, traces.len() as u64);
        let report = db.check().unwrap();
        prop_assert!(report.is_ok(), "{:?}", report.problems);
    }
}
