//! `compare({ filter })`: per attribute value, the spans of the selection (matching the
//! filter) and of the baseline (the other spans the query selects), per step, with totals
//! per attribute and a flag for attributes with more values than asked for.

mod common;

use common::*;
use spandb_query::{metrics, parse, reference, LabelValue, MetricsRequest, Series};
use spandb_storage::{KeyValue, Span, SpanKind, StatusCode, Value};

fn spans() -> Vec<Span> {
    let web = resource(Some("web"), "eu");
    let api = resource(Some("api"), "us");
    // (resource, second, status, http.status)
    let rows = [
        (&web, 0, StatusCode::Ok, 200),
        (&web, 1, StatusCode::Error, 500),
        (&api, 2, StatusCode::Error, 500),
        (&api, 3, StatusCode::Error, 503),
        (&api, 61, StatusCode::Ok, 200),
    ];
    rows.into_iter()
        .enumerate()
        .map(|(i, (res, sec, status, code))| {
            span(
                i as u32,
                i as u32,
                None,
                res,
                "op",
                SpanKind::Server,
                status,
                BASE_NS + sec * S,
                S,
                vec![KeyValue::new("http.status", Value::Int(code))],
            )
        })
        .collect()
}

fn find<'a>(series: &'a [Series], side: &str, attr: &str, value: LabelValue) -> Option<&'a Series> {
    series.iter().find(|s| {
        s.labels
            == vec![
                ("__meta_type".to_string(), LabelValue::Str(side.into())),
                (attr.to_string(), value.clone()),
            ]
    })
}

fn values(s: Option<&Series>) -> Vec<f64> {
    s.map(|s| s.samples.iter().map(|(_, v)| *v).collect())
        .unwrap_or_default()
}

#[test]
fn selection_and_baseline_are_counted_per_attribute_value() {
    let spans = spans();
    let dir = tempfile::tempdir().unwrap();
    let db = db_with(dir.path(), &spans, 3, 2);
    let snap = db.snapshot().unwrap();
    let req = MetricsRequest::aligned(BASE_NS, BASE_NS + 120 * S, 60 * S);
    let q = parse("{ } | compare({ status = error })").unwrap();
    let got = metrics(&snap, &q, req).unwrap().series;
    let svc = "resource.service.name";
    let s = |x: &str| LabelValue::Str(x.into());
    assert_eq!(
        values(find(&got, "selection", svc, s("api"))),
        vec![2.0, 0.0]
    );
    assert_eq!(
        values(find(&got, "selection", svc, s("web"))),
        vec![1.0, 0.0]
    );
    assert_eq!(
        values(find(&got, "baseline", svc, s("api"))),
        vec![0.0, 1.0]
    );
    assert_eq!(
        values(find(&got, "baseline", svc, s("web"))),
        vec![1.0, 0.0]
    );
    assert_eq!(
        values(find(
            &got,
            "selection",
            "span.http.status",
            LabelValue::Int(500)
        )),
        vec![2.0, 0.0]
    );
    assert_eq!(
        values(find(&got, "selection_total", svc, LabelValue::Nil)),
        vec![3.0, 0.0]
    );
    assert_eq!(
        values(find(&got, "baseline_total", svc, LabelValue::Nil)),
        vec![1.0, 1.0]
    );
    assert_eq!(
        values(find(&got, "selection", "status", s("error"))),
        vec![3.0, 0.0]
    );
    let mut want = reference::metrics(&spans, &q, req).unwrap();
    let mut got = got;
    let key = |s: &Series| format!("{:?}", s.labels);
    got.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(got, want);

    // Only the top value per attribute, and a flag for the attributes that had more.
    let q = parse("{ } | compare({ status = error }, 1)").unwrap();
    let got = metrics(&snap, &q, req).unwrap().series;
    assert_eq!(
        values(find(&got, "selection", svc, s("api"))),
        vec![2.0, 0.0]
    );
    assert!(find(&got, "selection", svc, s("web")).is_none());
    assert!(got.iter().any(|x| x.labels
        == vec![
            ("__meta_error".to_string(), s("__too_many_values__")),
            (svc.to_string(), LabelValue::Nil)
        ]));

    // A window: only spans starting in (start, end] can be selected.
    let text = format!(
        "{{ }} | compare({{ status = error }}, 10, {}, {})",
        BASE_NS + S,
        BASE_NS + 10 * S
    );
    let q = parse(&text).unwrap();
    let got = metrics(&snap, &q, req).unwrap().series;
    assert_eq!(
        values(find(&got, "selection_total", svc, LabelValue::Nil)),
        vec![2.0, 0.0]
    );
    assert_eq!(parse(&q.to_string()).unwrap(), q);

    // A narrower population.
    let q = parse(r#"{ resource.service.name = "api" } | compare({ span.http.status >= 500 })"#)
        .unwrap();
    let got = metrics(&snap, &q, req).unwrap().series;
    assert_eq!(
        values(find(&got, "baseline_total", svc, LabelValue::Nil)),
        vec![0.0, 1.0]
    );
    assert_eq!(
        values(find(&got, "selection_total", svc, LabelValue::Nil)),
        vec![2.0, 0.0]
    );

    for bad in [
        "{ } | compare({ status = error }, 0)",
        "{ } | compare({ status = error }, 10, 5)",
        "{ } | compare({ status = error }, 10, 9, 5)",
        "{ } | compare(status = error)",
    ] {
        assert!(parse(bad).is_err(), "{bad}");
    }
}
