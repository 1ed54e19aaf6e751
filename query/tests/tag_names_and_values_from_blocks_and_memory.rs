//! Tag names and values for query completion: the same answer from sealed blocks (footer
//! indexes for few values, the attribute stream for many) and from unsealed spans.

use std::sync::Arc;

use spandb_query::tags::{tag_names, tag_values, TagScope, TagValue};
use spandb_query::TimeRange;
use spandb_storage::{KeyValue, Options, Resource, Span, SpanId, TraceId, Value};

const T0: u64 = 1_750_000_000_000_000_000;

fn spans() -> Vec<Span> {
    let resource = Arc::new(Resource {
        attributes: vec![KeyValue::new("service.name", Value::Str("api".into()))],
        ..Resource::default()
    });
    (0..1500u64)
        .map(|i| Span {
            trace_id: TraceId([(i % 200) as u8 + 1; 16]),
            span_id: SpanId((i + 1).to_be_bytes()),
            name: format!("op-{}", i % 3),
            start_ns: T0 + i * 1_000,
            end_ns: T0 + i * 1_000 + 500,
            resource: resource.clone(),
            // 1500 distinct users: too many to index; 2 regions: indexed.
            attributes: vec![
                KeyValue::new("user.id", Value::Str(format!("u{i:04}"))),
                KeyValue::new("region", Value::Str(["eu", "us"][(i % 2) as usize].into())),
            ],
            ..Span::default()
        })
        .collect()
}

#[test]
fn names_and_values_agree_sealed_and_unsealed() {
    let mut answers = Vec::new();
    for seal in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let db = Options::new()
            .block_max_spans(1_000_000)
            .maintenance_interval(None)
            .open(dir.path())
            .unwrap();
        db.write(spans()).unwrap();
        if seal {
            db.flush().unwrap();
        }
        let snap = db.snapshot().unwrap();
        assert_eq!(snap.blocks().count(), usize::from(seal));
        let names = tag_names(&snap, TimeRange::ALL).unwrap();
        assert_eq!(names.span, vec!["region", "user.id"]);
        assert_eq!(names.resource, vec!["service.name"]);
        let regions =
            tag_values(&snap, Some(TagScope::Span), "region", TimeRange::ALL, 100).unwrap();
        assert_eq!(
            regions,
            vec![TagValue::Str("eu".into()), TagValue::Str("us".into())]
        );
        let users = tag_values(&snap, None, "user.id", TimeRange::ALL, 50).unwrap();
        assert_eq!(users.len(), 50);
        assert!(users.windows(2).all(|w| w[0] < w[1]));
        let service = tag_values(
            &snap,
            Some(TagScope::Resource),
            "service.name",
            TimeRange::ALL,
            10,
        )
        .unwrap();
        assert_eq!(service, vec![TagValue::Str("api".into())]);
        assert!(tag_values(
            &snap,
            Some(TagScope::Resource),
            "region",
            TimeRange::ALL,
            10
        )
        .unwrap()
        .is_empty());
        // A range before the data has nothing.
        let before = TimeRange::new(0, T0 - 1);
        assert!(tag_names(&snap, before).unwrap().span.is_empty());
        let all_users = tag_values(&snap, None, "user.id", TimeRange::ALL, 5000).unwrap();
        answers.push(all_users);
    }
    assert_eq!(answers[0].len(), 1500);
    assert_eq!(answers[0], answers[1]);
}
