//! The facade end to end on a small shop (the query crate's test data): `Db::search`,
//! `Db::metrics` and `Db::trace_tree`, rendered as Grafana Tempo's JSON and as tables.

#[path = "../query/tests/common/mod.rs"]
mod common;

use common::{shop, BASE_NS, S};
use spandb::render::{table, tempo};
use spandb::{Error, MetricsRequest, Options, TimeRange};

fn shop_db(dir: &std::path::Path) -> spandb::Db {
    let db = Options::new()
        .block_max_spans(9)
        .rows_per_group(3)
        .maintenance_interval(None)
        .open(dir)
        .unwrap();
    for chunk in shop().chunks(3) {
        db.write(chunk.to_vec()).unwrap();
    }
    db
}

#[test]
fn search_and_metrics_render_as_tempo_json_and_tables() {
    let dir = tempfile::tempdir().unwrap();
    let db = shop_db(dir.path());
    let all = db.search("{ }", TimeRange::ALL, 10).unwrap();
    assert_eq!(all.len(), 4);
    let hits = db
        .search(
            r#"{ resource.service.name = "db" && status = error }"#,
            TimeRange::ALL,
            10,
        )
        .unwrap();
    assert_eq!(hits.len(), 1);

    // Tempo JSON shape.
    let j = serde_json::to_value(tempo::SearchResponse::new(&hits)).unwrap();
    let t0 = &j["traces"][0];
    assert_eq!(t0["traceID"], hits[0].trace_id.to_string());
    assert_eq!(t0["rootServiceName"], "web");
    assert_eq!(t0["rootTraceName"], "GET /checkout");
    assert_eq!(t0["startTimeUnixNano"], (BASE_NS + 120 * S).to_string());
    assert_eq!(t0["durationMs"], 900);
    assert_eq!(t0["spanSet"]["matched"], 1);
    assert_eq!(t0["spanSets"][0]["spans"][0]["name"], "SELECT");
    assert_eq!(
        t0["spanSet"]["spans"][0]["attributes"][0]["value"]["stringValue"],
        "db"
    );
    assert_eq!(j["metrics"]["inspectedTraces"], 1);

    // Table: a header, one aligned row per trace, a count.
    let text = table::search_table(&all);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("TRACE ID"), "{text}");
    assert_eq!(lines.len(), 6, "{text}");
    let col = lines[0].find("ROOT SERVICE").unwrap();
    assert!(
        lines[1..5].iter().all(|l| &l[col..col + 3] == "web"),
        "{text}"
    );

    // Metrics JSON and table.
    let req = MetricsRequest::aligned(BASE_NS, BASE_NS + 240 * S, 60 * S);
    let m = db
        .metrics(
            "{ status = error } | count_over_time() by (resource.service.name)",
            req,
        )
        .unwrap();
    let mj = serde_json::to_value(tempo::QueryRangeResponse::new(&m)).unwrap();
    let series = mj["series"].as_array().unwrap();
    assert_eq!(series.len(), 2);
    assert_eq!(series[0]["labels"][0]["key"], "resource.service.name");
    assert_eq!(series[0]["labels"][0]["value"]["stringValue"], "api");
    assert_eq!(series[0]["promLabels"], r#"{resource_service_name="api"}"#);
    let samples = series[0]["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 4);
    assert_eq!(
        samples[2]["timestampMs"],
        ((BASE_NS + 120 * S) / 1_000_000).to_string()
    );
    assert_eq!(samples[2]["value"], 1.0);
    assert_eq!(samples[1]["value"], 0.0);
    let mt = table::metrics_table(&m, table::ValueUnit::Count);
    assert!(
        mt.lines().next().unwrap().contains("resource.service.name"),
        "{mt}"
    );
    assert_eq!(mt.lines().count(), 1 + 8, "{mt}");

    // The trace tree, as text.
    let tree = db.trace_tree(&hits[0].trace_id).unwrap();
    let text = table::trace_tree(&tree);
    assert!(text.starts_with(&format!("trace {}: 3 spans, 3 services", hits[0].trace_id)));
    assert!(
        text.contains("    db SELECT [client] +20.0ms 700.0ms  ERROR (boom)"),
        "{text}"
    );
}

#[test]
fn facade_errors_say_what_a_caller_can_act_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = shop_db(dir.path());
    let missing = "00000000000000000000000000000009".parse().unwrap();
    assert!(matches!(
        db.trace_tree(&missing),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(db.trace(&missing), Err(Error::NotFound { .. })));
    let e = db
        .search("{ status = error } |", TimeRange::ALL, 5)
        .unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Query {
                position: spandb::Position {
                    line: 1,
                    column: Some(21)
                },
                ..
            }
        ),
        "{e:?}"
    );
    let e = db.search("{ } | rate()", TimeRange::ALL, 5).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { .. }) && e.to_string().contains("metrics pipeline"),
        "{e}"
    );
    assert!(matches!(
        "xyz".parse::<spandb::TraceId>().map_err(Error::from),
        Err(Error::InvalidInput { .. })
    ));
    let id: spandb::TraceId = "5B8EFFF798038103D269B633813FC60C".parse().unwrap();
    assert_eq!(id.to_string(), "5b8efff798038103d269b633813fc60c");
    let nowhere = dir.path().join("absent");
    assert!(matches!(
        spandb::Db::open_existing(&nowhere, Options::new()),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn a_snapshot_streams_spans_block_by_block() {
    let dir = tempfile::tempdir().unwrap();
    let db = shop_db(dir.path());
    let snap = db.snapshot().unwrap();
    let spans: Vec<_> = snap
        .spans(spandb::ScanFilter::default())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(spans.len(), shop().len());
    let errors = snap
        .spans(spandb::ScanFilter {
            error_only: true,
            ..Default::default()
        })
        .unwrap()
        .count();
    assert_eq!(errors, 2);
    // Writes after the snapshot are not in it.
    db.write(shop()).unwrap();
    assert_eq!(
        snap.spans(spandb::ScanFilter::default()).unwrap().count(),
        shop().len()
    );
}
