//! Differential property test: random spans in a real database (several blocks, row groups and
//! unsealed spans) and random TraceQL queries; search and metrics must equal the naive
//! full-scan reference evaluator (metrics quantiles within the sketch's 1% bound).

mod common;

use common::*;
use proptest::prelude::*;
use spandb_query::ast::{
    Aggregate, Cond, Field, Literal, MetricsFn, Op, Pipeline, Query, SecondStage, SpansetExpr,
    Stage, StructOp,
};
use spandb_query::{
    metrics, parse, reference, search, LabelValue, MetricsRequest, Series, TimeRange,
    QUANTILE_RELATIVE_ERROR,
};
use spandb_storage::{KeyValue, Span, SpanKind, StatusCode, Value};

const SERVICES: [Option<&str>; 4] = [Some("web"), Some("api"), Some("db"), None];
const NAMES: [&str; 4] = ["GET /", "POST /pay", "SELECT", "op"];
const KINDS: [SpanKind; 3] = [SpanKind::Server, SpanKind::Client, SpanKind::Internal];
const STATUSES: [StatusCode; 3] = [StatusCode::Unset, StatusCode::Ok, StatusCode::Error];

#[derive(Clone, Debug)]
struct SpanSpec {
    parent: Option<usize>,
    orphan: bool,
    service: usize,
    region: bool,
    name: usize,
    kind: usize,
    status: usize,
    start_s: u64,
    dur_ms: u64,
    http: Option<i64>,
    env: Option<bool>,
    ratio: Option<f64>,
    flag: Option<bool>,
}

fn span_spec() -> impl Strategy<Value = SpanSpec> {
    (
        (
            any::<Option<prop::sample::Index>>(),
            prop::bool::weighted(0.1),
            0..4usize,
            any::<bool>(),
            0..4usize,
            0..3usize,
            0..3usize,
        ),
        (
            0..300u64,
            0..2500u64,
            prop::option::of(prop::sample::select(vec![200i64, 404, 500])),
            any::<Option<bool>>(),
            prop::option::of(0.0..1.0f64),
            any::<Option<bool>>(),
        ),
    )
        .prop_map(
            |(
                (parent, orphan, service, region, name, kind, status),
                (start_s, dur_ms, http, env, ratio, flag),
            )| SpanSpec {
                parent: parent.map(|i| i.index(1 << 20)),
                orphan,
                service,
                region,
                name,
                kind,
                status,
                start_s,
                dur_ms,
                http,
                env,
                ratio,
                flag,
            },
        )
}

fn build_spans(traces: &[Vec<SpanSpec>]) -> Vec<Span> {
    let resources: Vec<_> = (0..8)
        .map(|i| resource(SERVICES[i % 4], if i / 4 == 0 { "eu" } else { "us" }))
        .collect();
    let mut out = Vec::new();
    let mut next_id = 0u32;
    for (t, specs) in traces.iter().enumerate() {
        let first_id = next_id;
        for (i, s) in specs.iter().enumerate() {
            // Parents only among earlier spans of the trace (no cycles), sometimes missing.
            let parent = match (i, s.parent) {
                (0, _) | (_, None) => None,
                (_, Some(_)) if s.orphan => Some(900_000 + next_id),
                (_, Some(p)) => Some(first_id + (p % i) as u32),
            };
            let mut attrs = Vec::new();
            if let Some(h) = s.http {
                attrs.push(KeyValue::new("http.status", Value::Int(h)));
            }
            if let Some(e) = s.env {
                attrs.push(KeyValue::new(
                    "env",
                    Value::Str(if e { "prod" } else { "dev" }.into()),
                ));
            }
            if let Some(r) = s.ratio {
                attrs.push(KeyValue::new("ratio", Value::Double(r)));
            }
            if let Some(f) = s.flag {
                attrs.push(KeyValue::new("flag", Value::Bool(f)));
            }
            out.push(span(
                t as u32,
                next_id,
                parent,
                &resources[s.service + if s.region { 4 } else { 0 }],
                NAMES[s.name],
                KINDS[s.kind],
                STATUSES[s.status],
                BASE_NS + s.start_s * 1_000_000_000 + u64::from(next_id),
                s.dur_ms * 1_000_000,
                attrs,
            ));
            next_id += 1;
        }
    }
    out
}

fn leaf() -> impl Strategy<Value = Cond> {
    let s = |f: Field, op: Op, v: &str| Cond::Cmp(f, op, Literal::Str(v.into()));
    let svc = || Field::Resource("service.name".into());
    prop_oneof![
        prop::sample::select(NAMES.to_vec()).prop_map(move |n| s(Field::Name, Op::Eq, n)),
        Just(s(Field::Name, Op::Match, "(GET|POST) .*")),
        Just(s(Field::Name, Op::Ne, "op")),
        prop::sample::select(vec!["web", "api", "db", "nope"]).prop_map(move |v| s(
            svc(),
            Op::Eq,
            v
        )),
        Just(s(svc(), Op::Ne, "db")),
        Just(s(svc(), Op::Match, "a.*|w.*")),
        prop::sample::select(STATUSES.to_vec()).prop_map(|st| Cond::Cmp(
            Field::Status,
            Op::Eq,
            Literal::Status(st)
        )),
        Just(Cond::Cmp(
            Field::Status,
            Op::Ne,
            Literal::Status(StatusCode::Error)
        )),
        Just(Cond::Cmp(
            Field::Kind,
            Op::Eq,
            Literal::Kind(SpanKind::Server)
        )),
        (
            0..2500u64,
            prop::sample::select(vec![Op::Gt, Op::Ge, Op::Lt, Op::Le, Op::Eq])
        )
            .prop_map(|(ms, op)| Cond::Cmp(
                Field::Duration,
                op,
                Literal::Duration(ms * 1_000_000)
            )),
        prop::sample::select(vec![200i64, 404, 500]).prop_map(|c| Cond::Cmp(
            Field::Span("http.status".into()),
            Op::Eq,
            Literal::Int(c)
        )),
        Just(Cond::Cmp(
            Field::Span("http.status".into()),
            Op::Ge,
            Literal::Int(400)
        )),
        Just(s(Field::Span("env".into()), Op::Eq, "prod")),
        Just(s(Field::Unscoped("env".into()), Op::Ne, "prod")),
        Just(s(Field::Unscoped("region".into()), Op::Eq, "eu")),
        Just(s(Field::Resource("region".into()), Op::Eq, "us")),
        Just(Cond::Cmp(
            Field::Span("ratio".into()),
            Op::Gt,
            Literal::Float(0.5)
        )),
        Just(Cond::Cmp(
            Field::Span("flag".into()),
            Op::Eq,
            Literal::Bool(true)
        )),
        Just(Cond::Cmp(
            Field::Span("missing".into()),
            Op::Eq,
            Literal::Int(1)
        )),
        Just(s(Field::StatusMessage, Op::Eq, "boom")),
        Just(s(Field::TraceRootService, Op::Eq, "web")),
        Just(s(Field::TraceRootName, Op::Match, "GET.*")),
        (
            0..3000u64,
            prop::sample::select(vec![Op::Gt, Op::Ge, Op::Lt, Op::Le, Op::Eq, Op::Ne])
        )
            .prop_map(|(ms, op)| Cond::Cmp(
                Field::TraceDuration,
                op,
                Literal::Duration(ms * 1_000_000)
            )),
    ]
}

/// Conditions in the general expression forms (decided on decoded spans), from text.
fn expr_leaf() -> impl Strategy<Value = Cond> {
    prop::sample::select(vec![
        "{ .flag }",
        "{ !span.flag }",
        "{ span.http.status + 0 = 500 }",
        "{ 500 = span.http.status }",
        "{ .ratio * 2 > 1 }",
        "{ -span.http.status < -300 }",
        "{ span.http.status != nil }",
        "{ .env = nil }",
        "{ span:parentID = nil }",
        "{ span:id != nil && trace:id != \"\" }",
        "{ parent.name = \"GET /\" }",
        "{ parent.span.http.status >= 404 }",
        "{ !(.env = \"prod\" || name =~ \"S.*\") }",
        "{ (span.http.status = 500) = true }",
        "{ duration > 1s * 1.5 }",
        "{ duration % 2 = 0 }",
        "{ event:name = \"exception\" }",
        "{ span:childCount > 1 }",
        "{ nestedSetParent = -1 }",
        "{ nestedSetRight - nestedSetLeft > 2 }",
        "{ 1 > 2 }",
    ])
    .prop_map(|t| match parse(t) {
        Ok(Query {
            spans: SpansetExpr::Filter(c),
            ..
        }) => c,
        other => panic!("{t}: {other:?}"),
    })
}

fn cond() -> impl Strategy<Value = Cond> {
    prop_oneof![
        Just(Cond::True),
        prop_oneof![4 => leaf(), 1 => expr_leaf()].prop_recursive(3, 8, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Cond::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner).prop_map(|(a, b)| Cond::Or(Box::new(a), Box::new(b))),
            ]
        })
    ]
}

fn spanset() -> impl Strategy<Value = SpansetExpr> {
    cond()
        .prop_map(SpansetExpr::Filter)
        .prop_recursive(2, 4, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| SpansetExpr::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| SpansetExpr::Or(Box::new(a), Box::new(b))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| SpansetExpr::Child(Box::new(a), Box::new(b))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| SpansetExpr::Descendant(Box::new(a), Box::new(b))),
                (struct_op(), inner.clone(), inner.clone())
                    .prop_map(|(op, a, b)| SpansetExpr::Struct(op, Box::new(a), Box::new(b))),
                (inner.clone(), prop::collection::vec(stage(), 1..3))
                    .prop_map(|(a, st)| SpansetExpr::Pipeline(Box::new(a), st)),
                (inner, stage()).prop_map(|(a, st)| SpansetExpr::Pipeline(
                    Box::new(SpansetExpr::Filter(Cond::True)),
                    vec![Stage::Spans(a), st]
                )),
            ]
        })
}

fn struct_op() -> impl Strategy<Value = StructOp> {
    prop::sample::select(vec![
        StructOp::Parent,
        StructOp::Ancestor,
        StructOp::Sibling,
        StructOp::NotChild,
        StructOp::NotParent,
        StructOp::NotDescendant,
        StructOp::NotAncestor,
        StructOp::NotSibling,
        StructOp::UnionChild,
        StructOp::UnionParent,
        StructOp::UnionDescendant,
        StructOp::UnionAncestor,
        StructOp::UnionSibling,
    ])
}

fn stage() -> impl Strategy<Value = Stage> {
    let field = |t: &str| match parse(&format!("{{ }} | by({t})")) {
        Ok(Query {
            spans: SpansetExpr::Pipeline(_, mut st),
            ..
        }) => match st.pop() {
            Some(Stage::By(mut e)) => e.remove(0),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    let ops = || prop::sample::select(vec![Op::Eq, Op::Ne, Op::Gt, Op::Ge, Op::Lt, Op::Le]);
    prop_oneof![
        cond().prop_map(|c| Stage::Spans(SpansetExpr::Filter(c))),
        (ops(), 0..4i64).prop_map(|(op, n)| Stage::Scalar(Aggregate::Count, op, Literal::Int(n))),
        (ops(), 0..2500u64).prop_map(move |(op, ms)| Stage::Scalar(
            Aggregate::Avg(field("duration")),
            op,
            Literal::Duration(ms * 1_000_000)
        )),
        (ops(), 0..600i64).prop_map(move |(op, n)| Stage::Scalar(
            Aggregate::Max(field("span.http.status")),
            op,
            Literal::Int(n)
        )),
        (ops(), 0..3000i64).prop_map(move |(op, n)| Stage::Scalar(
            Aggregate::Sum(field("span.http.status")),
            op,
            Literal::Int(n)
        )),
        Just(Stage::By(vec![field("resource.service.name")])),
        Just(Stage::By(vec![field("span.http.status / 100")])),
        Just(Stage::Coalesce),
        Just(Stage::Select(vec![Field::Name, Field::Span("env".into())])),
    ]
}

fn range() -> impl Strategy<Value = TimeRange> {
    prop_oneof![
        Just(TimeRange::ALL),
        (0..300u64, 1..300u64).prop_map(|(a, len)| TimeRange::new(
            BASE_NS + a * 1_000_000_000,
            BASE_NS + (a + len) * 1_000_000_000
        )),
    ]
}

fn dataset() -> impl Strategy<Value = (Vec<Vec<SpanSpec>>, usize, usize)> {
    (
        prop::collection::vec(prop::collection::vec(span_spec(), 1..8), 1..8),
        2..20usize,
        1..9usize,
    )
}

fn assert_series_close(
    got: Vec<Series>,
    want: Vec<Series>,
    quantile: bool,
) -> Result<(), TestCaseError> {
    let (got, want) = (sorted(got), sorted(want));
    prop_assert_eq!(
        got.len(),
        want.len(),
        "series count: got {:?} want {:?}",
        got,
        want
    );
    for (g, w) in got.iter().zip(&want) {
        prop_assert_eq!(&g.labels, &w.labels);
        prop_assert_eq!(
            g.samples.len(),
            w.samples.len(),
            "samples of {:?}: got {:?} want {:?}",
            g.labels,
            g.samples,
            w.samples
        );
        for ((gt, gv), (wt, wv)) in g.samples.iter().zip(&w.samples) {
            prop_assert_eq!(gt, wt);
            let tol = if quantile {
                wv.abs() * QUANTILE_RELATIVE_ERROR + 1e-12
            } else {
                wv.abs() * 1e-9 + 1e-12
            };
            prop_assert!(
                (gv - wv).abs() <= tol,
                "{:?} at {}: got {} want {}",
                g.labels,
                gt,
                gv,
                wv
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// `{ filter } | count() op n | ...`: decided from the filter's rows per trace, without
    /// assembling traces (the random spansets above draw this shape rarely).
    #[test]
    fn count_pipelines_equal_the_reference(
        (traces, block_spans, batch) in dataset(),
        filter in cond(),
        counts in prop::collection::vec(
            (prop::sample::select(vec![Op::Eq, Op::Ne, Op::Gt, Op::Ge, Op::Lt, Op::Le]), 0..5i64),
            1..3,
        ),
        range in range(),
        limit in prop_oneof![1..4usize, Just(1000usize)],
    ) {
        let spans = build_spans(&traces);
        let dir = tempfile::tempdir().unwrap();
        let db = db_with(dir.path(), &spans, block_spans, batch);
        let stages = counts
            .into_iter()
            .map(|(op, n)| Stage::Scalar(Aggregate::Count, op, Literal::Int(n)))
            .collect();
        let query = Query {
            spans: SpansetExpr::Pipeline(Box::new(SpansetExpr::Filter(filter)), stages),
            pipeline: None,
        };
        let snap = db.snapshot().unwrap();
        let got = search(&snap, &query, range, limit).unwrap();
        let want = reference::search(&spans, &query, range, limit).unwrap();
        prop_assert_eq!(got, want, "query: {}", query);
    }

    #[test]
    fn search_equals_the_reference((traces, block_spans, batch) in dataset(), expr in spanset(), range in range(), limit in prop_oneof![1..4usize, Just(1000usize)]) {
        let spans = build_spans(&traces);
        let dir = tempfile::tempdir().unwrap();
        let db = db_with(dir.path(), &spans, block_spans, batch);
        let query = Query { spans: expr, pipeline: None };
        // The text form parses back to the same query.
        prop_assert_eq!(parse(&query.to_string()).unwrap(), query.clone(), "text: {}", query);
        let snap = db.snapshot().unwrap();
        let got = search(&snap, &query, range, limit).unwrap();
        let want = reference::search(&spans, &query, range, limit).unwrap();
        if std::env::var("SPANDB_TEST_DEBUG").is_ok() {
            eprintln!("SEARCH {} results, query {}", want.len(), query);
        }
        prop_assert_eq!(got, want, "query: {}", query);
    }

    #[test]
    fn metrics_equal_the_reference(
        (traces, block_spans, batch) in dataset(),
        expr in prop_oneof![3 => cond().prop_map(SpansetExpr::Filter), 1 => spanset()],
        func in prop_oneof![Just(MetricsFn::Rate), Just(MetricsFn::CountOverTime), Just(MetricsFn::AvgOverTime), Just(MetricsFn::QuantileOverTime(vec![0.0, 0.5, 0.9, 0.99, 1.0])), Just(MetricsFn::MinOverTime), Just(MetricsFn::MaxOverTime), Just(MetricsFn::SumOverTime)],
        second in prop_oneof![3 => Just(vec![]), 1 => Just(vec![SecondStage::TopK(1)]), 1 => Just(vec![SecondStage::BottomK(2)]), 1 => Just(vec![SecondStage::Filter(Op::Gt, 0.5)]), 1 => Just(vec![SecondStage::Filter(Op::Le, 2.0), SecondStage::TopK(2)])],
        by in prop::sample::subsequence(vec![Field::Resource("service.name".into()), Field::Name, Field::Span("env".into()), Field::Status, Field::Unscoped("region".into())], 0..3),
        (start_s, len_s, step_s) in (prop_oneof![Just(0u64), 0..120u64], prop_oneof![1..400u64, (1..7u64).prop_map(|m| m * 60)], prop_oneof![Just(60u64), Just(120), 1..90u64]),
    ) {
        let spans = build_spans(&traces);
        let dir = tempfile::tempdir().unwrap();
        let db = db_with(dir.path(), &spans, block_spans, batch);
        let quantile = matches!(func, MetricsFn::QuantileOverTime(_));
        // Second stages pick and drop samples by value: on sketch quantiles (1% error) a
        // near-tie may fall either way, so they are compared on exact functions only.
        let second = if quantile { Vec::new() } else { second };
        let query = Query { spans: expr, pipeline: Some(Pipeline { func, by, second }) };
        prop_assert_eq!(parse(&query.to_string()).unwrap(), query.clone(), "text: {}", query);
        let req = MetricsRequest { start_ns: BASE_NS + start_s * 1_000_000_000, end_ns: BASE_NS + (start_s + len_s) * 1_000_000_000, step_ns: step_s * 1_000_000_000 };
        let snap = db.snapshot().unwrap();
        let got = metrics(&snap, &query, req).unwrap();
        let want = reference::metrics(&spans, &query, req).unwrap();
        if std::env::var("SPANDB_TEST_DEBUG").is_ok() {
            eprintln!("PATH {:?} series {} query {}", got.path, want.len(), query);
        }
        assert_series_close(got.series, want, quantile)?;
    }
}

fn rollup_cond() -> impl Strategy<Value = Cond> {
    let s = |f: Field, op: Op, v: &str| Cond::Cmp(f, op, Literal::Str(v.into()));
    let svc = || Field::Resource("service.name".into());
    let leaf = prop_oneof![
        prop::sample::select(NAMES.to_vec()).prop_map(move |n| s(Field::Name, Op::Eq, n)),
        Just(s(Field::Name, Op::Match, "(GET|POST) .*")),
        prop::sample::select(vec!["web", "api", "db"]).prop_map(move |v| s(svc(), Op::Eq, v)),
        Just(s(svc(), Op::Ne, "db")),
    ];
    let body = prop_oneof![
        Just(Cond::True),
        leaf.prop_recursive(2, 4, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Cond::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner).prop_map(|(a, b)| Cond::Or(Box::new(a), Box::new(b))),
            ]
        })
    ];
    (body, any::<bool>()).prop_map(|(c, err)| {
        let e = Cond::Cmp(Field::Status, Op::Eq, Literal::Status(StatusCode::Error));
        match (err, c) {
            (false, c) => c,
            (true, Cond::True) => e,
            (true, c) => Cond::And(Box::new(c), Box::new(e)),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Filters and groupings the rollups cover, on minute-aligned windows: answered from the
    /// rollups (and the unsealed spans), equal to the reference.
    #[test]
    fn rollup_answers_equal_the_reference(
        (traces, block_spans, batch) in dataset(),
        cond in rollup_cond(),
        func in prop_oneof![Just(MetricsFn::Rate), Just(MetricsFn::CountOverTime), Just(MetricsFn::AvgOverTime), Just(MetricsFn::QuantileOverTime(vec![0.0, 0.5, 0.99, 1.0]))],
        by in prop::sample::subsequence(vec![Field::Resource("service.name".into()), Field::Name], 0..=2),
        (start_m, len_m, step_m) in (0..3u64, 1..6u64, 1..3u64),
    ) {
        let spans = build_spans(&traces);
        let dir = tempfile::tempdir().unwrap();
        let db = db_with(dir.path(), &spans, block_spans, batch);
        let has_error = { let mut e = false; cond.for_each_cmp(&mut |f, _, _| e |= *f == Field::Status); e };
        let quantile = matches!(func, MetricsFn::QuantileOverTime(_));
        let covered = !has_error || matches!(func, MetricsFn::Rate | MetricsFn::CountOverTime);
        let query = Query { spans: SpansetExpr::Filter(cond), pipeline: Some(Pipeline { func, by, second: Vec::new() }) };
        let m = 60_000_000_000;
        let req = MetricsRequest { start_ns: BASE_NS + start_m * m, end_ns: BASE_NS + (start_m + len_m) * m, step_ns: step_m * m };
        let got = metrics(&db.snapshot().unwrap(), &query, req).unwrap();
        prop_assert_eq!(got.path == spandb_query::MetricsPath::Rollup, covered, "query {}", query);
        let want = reference::metrics(&spans, &query, req).unwrap();
        assert_series_close(got.series, want, quantile)?;
    }
}

#[test]
fn label_values_keep_their_types() {
    // A guard on the test's own comparison: integer and string labels differ.
    assert_ne!(LabelValue::Int(1), LabelValue::Str("1".into()));
}
