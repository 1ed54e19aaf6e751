//! Example-based tests, one or more per TraceQL form: a known trace, a query, the spans it
//! must match. The same answers come from the engine (sealed blocks and unsealed spans) and
//! from the full-scan reference.

mod common;

use std::sync::Arc;

use common::*;
use spandb_query::{parse, reference, search, LabelValue, TimeRange};
use spandb_storage::model::{Event, Link, Scope};
use spandb_storage::{KeyValue, Span, SpanKind, StatusCode, Value};

/// One trace:
/// ```text
/// root  web   GET /checkout   server  1s
/// ├─ pay   api   POST /pay     server  600ms  http.status=200, tags=["a","b"]
/// │  └─ sql  db    SELECT        client  400ms  error, event "exception" {exception.type=Timeout} at +50ms,
/// │                                            link to trace 0x77.., scope "pgx" v1.2 {lib.kind=sql}
/// └─ hit   cache GET           client  10ms   http.status=404, hit=false, tags="c"
/// ```
fn trace() -> Vec<Span> {
    let web = resource(Some("web"), "eu");
    let api = resource(Some("api"), "eu");
    let db = resource(Some("db"), "us");
    let cache = resource(Some("cache"), "us");
    let t = BASE_NS;
    let mut root = span(
        0,
        0,
        None,
        &web,
        "GET /checkout",
        SpanKind::Server,
        StatusCode::Ok,
        t,
        S,
        vec![],
    );
    root.attributes
        .push(KeyValue::new("flag", Value::Bool(true)));
    let pay = span(
        0,
        1,
        Some(0),
        &api,
        "POST /pay",
        SpanKind::Server,
        StatusCode::Ok,
        t + 10_000_000,
        600_000_000,
        vec![
            KeyValue::new("http.status", Value::Int(200)),
            KeyValue::new(
                "tags",
                Value::Array(vec![Value::Str("a".into()), Value::Str("b".into())]),
            ),
        ],
    );
    let mut sql = span(
        0,
        2,
        Some(1),
        &db,
        "SELECT",
        SpanKind::Client,
        StatusCode::Error,
        t + 20_000_000,
        400_000_000,
        vec![],
    );
    sql.events.push(Event {
        time_ns: t + 70_000_000,
        name: "exception".into(),
        attributes: vec![KeyValue::new(
            "exception.type",
            Value::Str("Timeout".into()),
        )],
        dropped_attributes_count: 0,
    });
    sql.links.push(Link {
        trace_id: spandb_storage::TraceId([0x77; 16]),
        span_id: spandb_storage::SpanId([0x11; 8]),
        attributes: vec![KeyValue::new("link.why", Value::Str("retry".into()))],
        ..Link::default()
    });
    sql.scope = Arc::new(Scope {
        name: "pgx".into(),
        version: "1.2".into(),
        attributes: vec![KeyValue::new("lib.kind", Value::Str("sql".into()))],
        ..Scope::default()
    });
    let hit = span(
        0,
        3,
        Some(0),
        &cache,
        "GET",
        SpanKind::Client,
        StatusCode::Unset,
        t + 700_000_000,
        10_000_000,
        vec![
            KeyValue::new("http.status", Value::Int(404)),
            KeyValue::new("hit", Value::Bool(false)),
            // The same key as a scalar on one span and an array on another.
            KeyValue::new("tags", Value::Str("c".into())),
        ],
    );
    vec![root, pay, sql, hit]
}

/// Names of the matched spans, sorted; empty when the trace does not match.
fn matched(spans: &[Span], q: &str, db: &spandb_storage::Db) -> Vec<String> {
    let query = parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    let snap = db.snapshot().unwrap();
    let got = search(&snap, &query, TimeRange::ALL, 10).unwrap();
    let want = reference::search(spans, &query, TimeRange::ALL, 10).unwrap();
    assert_eq!(got, want, "engine and reference differ on {q}");
    let mut names: Vec<String> = got
        .iter()
        .flat_map(|t| t.matched.iter().map(|m| m.name.clone()))
        .collect();
    names.sort();
    names
}

#[test]
fn every_form_matches_the_spans_tempo_would() {
    let spans = trace();
    let dir = tempfile::tempdir().unwrap();
    // Sealed in two blocks and partly unsealed: every executor path sees the same trace.
    let db = db_with(dir.path(), &spans, 3, 2);
    let all = ["GET", "GET /checkout", "POST /pay", "SELECT"];
    let cases: Vec<(&str, Vec<&str>)> = vec![
        // Literals, constants, negation, arithmetic.
        ("{ true }", all.to_vec()),
        ("{ !true }", vec![]),
        ("{ 1 < 2 && name = \"GET\" }", vec!["GET"]),
        ("{ 200 = span.http.status }", vec!["POST /pay"]),
        ("{ span.http.status + 4 = 204 }", vec!["POST /pay"]),
        ("{ span.http.status / 100 = 4 }", vec!["GET"]),
        ("{ -span.http.status < -300 }", vec!["GET"]),
        ("{ duration * 2 > 1s }", vec!["GET /checkout", "POST /pay"]),
        ("{ duration > 300ms + 50ms && duration < 1s - 1ms }", vec!["POST /pay", "SELECT"]),
        // Booleans as conditions and existence.
        ("{ .flag }", vec!["GET /checkout"]),
        ("{ !.hit }", vec!["GET"]),
        ("{ .hit && true }", vec![]),
        ("{ span.http.status != nil }", vec!["GET", "POST /pay"]),
        ("{ span.http.status = nil }", vec!["GET /checkout", "SELECT"]),
        ("{ nil != .hit }", vec!["GET"]),
        // Cross-type comparisons are false, `!=` too.
        ("{ span.http.status = \"200\" }", vec![]),
        ("{ span.http.status != \"200\" }", vec![]),
        // Arrays: any element; `!=` and `!~` every element. The same in plain comparisons
        // (answered from the attribute stream) and in expressions.
        ("{ span.tags = \"b\" }", vec!["POST /pay"]),
        ("{ .tags = \"a\" }", vec!["POST /pay"]),
        ("{ span.tags = \"c\" }", vec!["GET"]),
        ("{ span.tags != \"a\" }", vec!["GET"]),
        ("{ span.tags != \"z\" }", vec!["GET", "POST /pay"]),
        ("{ span.tags =~ \"[ab]\" }", vec!["POST /pay"]),
        ("{ span.tags !~ \"[bc]\" }", vec![]),
        ("{ span.tags > \"a\" }", vec!["GET", "POST /pay"]),
        ("{ span.tags = \"b\" || span.tags + 1 = 2 }", vec!["POST /pay"]),
        ("{ (span.tags = \"b\") = true }", vec!["POST /pay"]),
        ("{ (span.tags != \"a\") = true }", vec!["GET"]),
        ("{ (span.tags =~ \"[ab]\") = true }", vec!["POST /pay"]),
        // Regexes are anchored.
        ("{ name =~ \"GET\" }", vec!["GET"]),
        ("{ name =~ \"GET.*\" }", vec!["GET", "GET /checkout"]),
        // Scopes and intrinsics.
        ("{ event:name = \"exception\" }", vec!["SELECT"]),
        ("{ event:name =~ \"exc.*\" }", vec!["SELECT"]),
        ("{ event:name = \"missing\" }", vec![]),
        // Spans without events have no event name: `!=` is false on them too.
        ("{ event:name != \"exception\" }", vec![]),
        ("{ event:name != \"missing\" }", vec!["SELECT"]),
        ("{ event.exception.type = \"Timeout\" }", vec!["SELECT"]),
        ("{ event:timeSinceStart >= 50ms && event:timeSinceStart < 51ms }", vec!["SELECT"]),
        ("{ link:traceID = \"77777777777777777777777777777777\" }", vec!["SELECT"]),
        ("{ link:spanID = \"1111111111111111\" && link.link.why = \"retry\" }", vec!["SELECT"]),
        ("{ instrumentation:name = \"pgx\" && instrumentation:version = \"1.2\" }", vec!["SELECT"]),
        ("{ instrumentation.lib.kind = \"sql\" }", vec!["SELECT"]),
        ("{ span:id = \"0000000000000002\" }", vec!["POST /pay"]),
        ("{ span:parentID = nil }", vec!["GET /checkout"]),
        ("{ span:parentID = \"0000000000000002\" }", vec!["SELECT"]),
        ("{ trace:id = \"abababababababababababab00000001\" && kind = client }", vec!["GET", "SELECT"]),
        ("{ traceDuration > 900ms && rootServiceName = \"web\" && rootName = \"GET /checkout\" && name = \"GET\" }", vec!["GET"]),
        ("{ parent.name = \"POST /pay\" }", vec!["SELECT"]),
        ("{ parent.resource.service.name = \"web\" }", vec!["GET", "POST /pay"]),
        ("{ parent.span.http.status = 200 }", vec!["SELECT"]),
        // The span's place in the tree: child count and nested-set bounds (root from 1,
        // a root's parent -1).
        ("{ span:childCount = 2 }", vec!["GET /checkout"]),
        ("{ span:childCount = 0 }", vec!["GET", "SELECT"]),
        ("{ nestedSetParent = -1 }", vec!["GET /checkout"]),
        ("{ nestedSetLeft = 1 && span:nestedSetRight = 8 }", vec!["GET /checkout"]),
        ("{ nestedSetParent = 1 }", vec!["GET", "POST /pay"]),
        ("{ nestedSetRight - nestedSetLeft = 3 }", vec!["POST /pay"]),
        ("{ } | max(span:childCount) = 2", all.to_vec()),
        ("{ } >> { nestedSetParent > 1 }", vec!["SELECT"]),
        // Structural operators.
        ("{ name = \"GET /checkout\" } > { }", vec!["GET", "POST /pay"]),
        ("{ status = error } < { }", vec!["POST /pay"]),
        ("{ } >> { status = error }", vec!["SELECT"]),
        ("{ status = error } << { }", vec!["GET /checkout", "POST /pay"]),
        ("{ name = \"GET\" } ~ { }", vec!["POST /pay"]),
        ("{ name = \"GET /checkout\" } !> { }", vec!["GET /checkout", "SELECT"]),
        ("{ status = error } !< { }", vec!["GET", "GET /checkout", "SELECT"]),
        ("{ resource.service.name = \"api\" } !>> { }", vec!["GET", "GET /checkout", "POST /pay"]),
        ("{ status = error } !<< { }", vec!["GET", "SELECT"]),
        ("{ name = \"GET\" } !~ { }", vec!["GET", "GET /checkout", "SELECT"]),
        ("{ name = \"GET /checkout\" } &> { kind = client }", vec!["GET", "GET /checkout"]),
        ("{ status = error } &< { }", vec!["POST /pay", "SELECT"]),
        ("{ kind = server } &>> { status = error }", vec!["GET /checkout", "POST /pay", "SELECT"]),
        ("{ status = error } &<< { kind = server }", vec!["GET /checkout", "POST /pay", "SELECT"]),
        ("{ name = \"GET\" } &~ { }", vec!["GET", "POST /pay"]),
        // Pipelines and aggregates.
        ("{ } | count() = 4", all.to_vec()),
        ("{ } | count() > 4", vec![]),
        ("{ kind = client } | avg(duration) > 200ms", vec!["GET", "SELECT"]),
        ("{ kind = client } | avg(duration) > 300ms", vec![]),
        ("{ } | max(span.http.status) = 404", all.to_vec()),
        ("{ } | min(duration) <= 10ms | { status = error }", vec!["SELECT"]),
        ("{ } | sum(span.http.status) = 604", all.to_vec()),
        ("{ } | by(resource.region) | count() = 2", all.to_vec()),
        ("{ } | by(kind) | count() = 2 | { kind = client }", vec!["GET", "SELECT"]),
        ("{ } | by(kind) | count() = 2 | coalesce() | count() = 4", all.to_vec()),
        ("{ } | by(resource.region) | { kind = client } | count() = 2 | coalesce()", vec!["GET", "SELECT"]),
        ("count() > 3 | { name = \"GET\" }", vec!["GET"]),
        ("({ kind = server } | count() = 2) && { status = error }", vec!["GET /checkout", "POST /pay", "SELECT"]),
        ("({ kind = server } | count() = 3) || { status = error }", vec!["SELECT"]),
        ("{ } | select(span.http.status)", all.to_vec()),
        ("{ status = error } | count() = 1 with(most_recent = true)", vec!["SELECT"]),
    ];
    let mut failures = Vec::new();
    for (q, want) in &cases {
        let got = matched(&spans, q, &db);
        if got != *want {
            failures.push(format!("{q}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn select_returns_the_selected_fields_with_each_span() {
    let spans = trace();
    let dir = tempfile::tempdir().unwrap();
    let db = db_with(dir.path(), &spans, 100, 100);
    let q =
        parse("{ span.http.status != nil } | select(span.http.status, resource.region, span:id)")
            .unwrap();
    let got = search(&db.snapshot().unwrap(), &q, TimeRange::ALL, 10).unwrap();
    let sel: Vec<_> = got[0].matched.iter().map(|m| m.selected.clone()).collect();
    assert_eq!(
        sel[0],
        vec![
            ("span.http.status".to_owned(), LabelValue::Int(200)),
            ("resource.region".to_owned(), LabelValue::Str("eu".into())),
            (
                "span:id".to_owned(),
                LabelValue::Str("0000000000000002".into())
            ),
        ]
    );
    assert_eq!(
        sel[1][0],
        ("span.http.status".to_owned(), LabelValue::Int(404))
    );
}
