//! Tests of the critical path. The `jaeger_*` cases are transcribed from jaeger-ui
//! (Apache-2.0, Copyright The Jaeger Authors), folder
//! `packages/jaeger-ui/src/components/TracePage/CriticalPath/testCases/` (trees and expected
//! `criticalPathSections`, commit c321fb32bbca0bdce9e8c2d40afb35abbf54c12b); each test names
//! its file. Jaeger's span ids are used as span names here.

use std::sync::Arc;

use proptest::prelude::*;
use spandb_storage::{KeyValue, Resource, Span, SpanId, SpanKind, TraceId, Value};

use super::*;
use crate::analysis::self_times;
use crate::trace_tree::TraceTree;

/// (name, parent name, kind, start, duration): Jaeger's fixtures give start and duration.
type Def<'a> = (&'a str, Option<&'a str>, SpanKind, u64, u64);

fn id_of(names: &[&str], name: &str) -> SpanId {
    let i = names.iter().position(|n| *n == name).expect("known span") as u64 + 1;
    SpanId(i.to_be_bytes())
}

fn tree(defs: &[Def<'_>]) -> TraceTree {
    let names: Vec<&str> = defs.iter().map(|d| d.0).collect();
    let resource = Arc::new(Resource {
        attributes: vec![KeyValue::new("service.name", Value::Str("svc".into()))],
        ..Resource::default()
    });
    let spans = defs
        .iter()
        .map(|&(name, parent, kind, start, duration)| Span {
            trace_id: TraceId([1; 16]),
            span_id: id_of(&names, name),
            parent_span_id: parent.map(|p| id_of(&names, p)),
            name: name.to_owned(),
            kind,
            start_ns: start,
            end_ns: start + duration,
            resource: resource.clone(),
            ..Span::default()
        })
        .collect();
    TraceTree::from_spans(spans).expect("spans")
}

/// The path as (span name, start, end), the shape of Jaeger's `criticalPathSections`.
fn path(t: &TraceTree) -> Vec<(String, u64, u64)> {
    critical_path(t)
        .iter()
        .map(|s| (t.spans[s.span].name.clone(), s.start_ns, s.end_ns))
        .collect()
}

fn expect(sections: &[(&str, u64, u64)]) -> Vec<(String, u64, u64)> {
    sections
        .iter()
        .map(|&(n, s, e)| (n.to_owned(), s, e))
        .collect()
}

use SpanKind::{Consumer, Internal, Producer};

#[test]
fn jaeger_test1_two_sequential_children() {
    // testCases/test1.js
    let t = tree(&[
        ("span-E", Some("span-C"), Internal, 50, 10),
        ("span-C", None, Internal, 1, 100),
        ("span-D", Some("span-C"), Internal, 20, 20),
    ]);
    assert_eq!(
        path(&t),
        expect(&[
            ("span-C", 60, 101),
            ("span-E", 50, 60),
            ("span-C", 40, 50),
            ("span-D", 20, 40),
            ("span-C", 1, 20),
        ])
    );
}

#[test]
fn jaeger_test2_overlapping_children_last_finisher_wins() {
    // testCases/test2.js
    let t = tree(&[
        ("span-X", None, Internal, 1, 100),
        ("span-A", Some("span-X"), Internal, 10, 40),
        ("span-C", Some("span-X"), Internal, 20, 40),
    ]);
    assert_eq!(
        path(&t),
        expect(&[("span-X", 60, 101), ("span-C", 20, 60), ("span-X", 1, 20)])
    );
}

#[test]
fn jaeger_test3_child_starting_after_parent_end_is_dropped() {
    // testCases/test3.js, whose trace is TraceStatistics/tableValuesTestTrace/
    // traceWithSingleChildLongerThanParentAndStartsAfterParent.json
    let t = tree(&[
        ("send", None, Internal, 100, 40),
        ("async task 1", Some("send"), Internal, 200, 300),
    ]);
    assert_eq!(path(&t), expect(&[("send", 100, 140)]));
}

#[test]
fn jaeger_test4_child_and_grandchild_after_parent_are_dropped() {
    // testCases/test4.js
    let t = tree(&[
        ("span-A", None, Internal, 1, 30),
        ("span-B", Some("span-A"), Internal, 40, 40),
        ("span-c", Some("span-B"), Internal, 50, 10),
    ]);
    assert_eq!(path(&t), expect(&[("span-A", 1, 31)]));
}

#[test]
fn jaeger_test5_consumer_of_producer_is_not_blocking() {
    // testCases/test5.js: the consumer ends before its producer parent and is still dropped
    // (with its child): Jaeger UI decides by kind alone.
    let t = tree(&[
        ("span-A", None, Producer, 1, 30),
        ("span-B", Some("span-A"), Consumer, 10, 10),
        ("span-C", Some("span-B"), Internal, 12, 2),
    ]);
    assert_eq!(path(&t), expect(&[("span-A", 1, 31)]));
}

#[test]
fn jaeger_test6_child_overflowing_both_ends_is_clipped() {
    // testCases/test6.js
    let t = tree(&[
        ("span-A", None, Internal, 1, 29),
        ("span-B", Some("span-A"), Internal, 15, 20),
        ("span-C", Some("span-B"), Internal, 10, 15),
    ]);
    assert_eq!(
        path(&t),
        expect(&[("span-B", 25, 30), ("span-C", 15, 25), ("span-A", 1, 15)])
    );
}

#[test]
fn jaeger_test7_chain_overflowing_the_root_end() {
    // testCases/test7.js
    let t = tree(&[
        ("span-A", None, Internal, 1, 29),
        ("span-B", Some("span-A"), Internal, 15, 20),
        ("span-C", Some("span-B"), Internal, 20, 20),
    ]);
    assert_eq!(
        path(&t),
        expect(&[("span-C", 20, 30), ("span-B", 15, 20), ("span-A", 1, 15)])
    );
}

#[test]
fn jaeger_test8_child_wider_than_parent_takes_the_whole_path() {
    // testCases/test8.js
    let t = tree(&[
        ("span-A", None, Internal, 10, 20),
        ("span-B", Some("span-A"), Internal, 5, 30),
    ]);
    assert_eq!(path(&t), expect(&[("span-B", 10, 30)]));
}

#[test]
fn jaeger_test9_child_before_parent_is_dropped() {
    // testCases/test9.js
    let t = tree(&[
        ("span-A", None, Internal, 10, 20),
        ("span-B", Some("span-A"), Internal, 1, 4),
    ]);
    assert_eq!(path(&t), expect(&[("span-A", 10, 30)]));
}

#[test]
fn producer_child_outliving_its_server_parent_is_clipped_not_dropped() {
    // Only consumer-of-producer is non-blocking in Jaeger UI; a producer that outlives
    // its parent is clipped like any other child.
    let t = tree(&[
        ("root", None, SpanKind::Server, 0, 100),
        ("publish", Some("root"), Producer, 50, 100),
    ]);
    assert_eq!(path(&t), expect(&[("publish", 50, 100), ("root", 0, 50)]));
}

#[test]
fn zero_length_child_at_parent_start_is_kept_and_harmless() {
    let t = tree(&[
        ("root", None, Internal, 10, 20),
        ("marker", Some("root"), Internal, 10, 0),
    ]);
    assert_eq!(path(&t), expect(&[("root", 10, 30)]));
}

#[test]
fn critical_time_sums_sections_per_span() {
    let t = tree(&[
        ("span-E", Some("span-C"), Internal, 50, 10),
        ("span-C", None, Internal, 1, 100),
        ("span-D", Some("span-C"), Internal, 20, 20),
    ]);
    let sections = critical_path(&t);
    let times = critical_time_per_span(&t, &sections);
    let of = |name: &str| times[t.spans.iter().position(|s| s.name == name).unwrap()];
    assert_eq!(of("span-C"), 41 + 10 + 19);
    assert_eq!(of("span-D"), 20);
    assert_eq!(of("span-E"), 10);
}

#[test]
fn a_deep_chain_does_not_overflow_the_stack() {
    let n = 30_000u64; // deep enough to overflow a recursive walk; TraceTree::from_spans is quadratic on chains
    let names: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
    let defs: Vec<Def<'_>> = (0..n as usize)
        .map(|i| {
            let parent = (i > 0).then(|| names[i - 1].as_str());
            (
                names[i].as_str(),
                parent,
                Internal,
                i as u64,
                2 * (n - i as u64),
            )
        })
        .collect();
    let t = tree(&defs);
    let total: u64 = critical_path(&t).iter().map(|s| s.duration_ns()).sum();
    assert_eq!(total, 2 * n);
}

/// Random traces: span i's parent is one of the spans before it (or none for some), random
/// kinds and intervals (children may overflow their parents, as with clock skew).
fn arb_tree() -> impl Strategy<Value = TraceTree> {
    prop::collection::vec(
        (
            any::<prop::sample::Index>(),
            0u8..6,
            0u64..1_000,
            0u64..400,
            prop::bool::weighted(0.1),
        ),
        1..40,
    )
    .prop_map(|rows| {
        let resource = Arc::new(Resource::default());
        let spans: Vec<Span> = rows
            .iter()
            .enumerate()
            .map(|(i, &(parent, kind, start, dur, detached))| Span {
                trace_id: TraceId([2; 16]),
                span_id: SpanId((i as u64 + 1).to_be_bytes()),
                parent_span_id: (i > 0 && !detached)
                    .then(|| SpanId((parent.index(i) as u64 + 1).to_be_bytes())),
                kind: SpanKind::from_u8(kind).unwrap_or_default(),
                start_ns: start,
                end_ns: start + dur,
                resource: resource.clone(),
                ..Span::default()
            })
            .collect();
        TraceTree::from_spans(spans).expect("at least one span")
    })
}

proptest! {
    /// Per root, the sections tile the root's interval: contiguous from its end back to its
    /// start, never overlapping, so they sum to the root's duration.
    #[test]
    fn sections_tile_each_root(t in arb_tree()) {
        let sections = critical_path(&t);
        let mut rest = sections.as_slice();
        for &root in &t.roots {
            let r = &t.spans[root];
            let mut expected_end = r.end_ns;
            while let Some((s, tail)) = rest.split_first() {
                if expected_end == r.start_ns {
                    break;
                }
                prop_assert_eq!(s.end_ns, expected_end, "contiguous, newest first");
                prop_assert!(s.start_ns < s.end_ns && s.start_ns >= r.start_ns);
                expected_end = s.start_ns;
                rest = tail;
            }
            prop_assert_eq!(expected_end, r.start_ns, "reaches the root's start");
        }
        prop_assert!(rest.is_empty());
        let total: u64 = sections.iter().map(|s| s.duration_ns()).sum();
        let roots: u64 = t.roots.iter().map(|&r| t.spans[r].duration_ns()).sum();
        prop_assert_eq!(total, roots);
        prop_assert!(t.roots.len() > 1 || total <= t.duration_ns());
    }

    /// A section lies within its own span (after clipping, so within the span's raw interval).
    #[test]
    fn sections_lie_within_their_span(t in arb_tree()) {
        for s in critical_path(&t) {
            let span = &t.spans[s.span];
            prop_assert!(s.start_ns >= span.start_ns && s.end_ns <= span.end_ns);
        }
    }

    #[test]
    fn self_time_never_exceeds_duration(t in arb_tree()) {
        for (i, st) in self_times(&t).into_iter().enumerate() {
            prop_assert!(st <= t.spans[i].duration_ns());
        }
    }
}
