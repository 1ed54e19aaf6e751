//! Encoding: spans into an OTLP JSON request (OTLP's default values omitted).

use base64::Engine;
use serde_json::{json, Map, Value as Json};

use crate::model::{KeyValue, Span, Value};

pub(super) fn value_json(v: &Value) -> Json {
    match v {
        Value::Empty => json!({}),
        Value::Str(s) => json!({ "stringValue": s }),
        Value::Int(i) => json!({ "intValue": i.to_string() }),
        Value::Double(d) if d.is_finite() => json!({ "doubleValue": d }),
        Value::Double(d) => {
            json!({ "doubleValue": if d.is_nan() { "NaN" } else if *d > 0.0 { "Infinity" } else { "-Infinity" } })
        }
        Value::Bool(b) => json!({ "boolValue": b }),
        Value::Bytes(b) => {
            json!({ "bytesValue": base64::engine::general_purpose::STANDARD.encode(b) })
        }
        Value::Array(items) => {
            json!({ "arrayValue": { "values": items.iter().map(value_json).collect::<Vec<_>>() } })
        }
        Value::KvList(kvs) => json!({ "kvlistValue": { "values": attrs_json(kvs) } }),
    }
}

pub(super) fn attrs_json(attrs: &[KeyValue]) -> Vec<Json> {
    attrs
        .iter()
        .map(|kv| json!({ "key": kv.key, "value": value_json(&kv.value) }))
        .collect()
}

/// Inserts `key: value` unless the value is OTLP's default (empty fields are omitted).
pub(super) fn put(map: &mut Map<String, Json>, key: &str, value: Json) {
    let empty = match &value {
        Json::String(s) => s.is_empty(),
        Json::Number(n) => n.as_u64() == Some(0),
        Json::Array(a) => a.is_empty(),
        Json::Null => true,
        _ => false,
    };
    if !empty {
        map.insert(key.to_owned(), value);
    }
}

/// Inserts `attributes` and `droppedAttributesCount` (each unless empty).
pub(super) fn put_attributes(map: &mut Map<String, Json>, attrs: &[KeyValue], dropped: u32) {
    put(map, "attributes", Json::Array(attrs_json(attrs)));
    put(map, "droppedAttributesCount", json!(dropped));
}

fn span_json(s: &Span) -> Json {
    let mut m = Map::new();
    m.insert("traceId".into(), json!(s.trace_id.to_string()));
    m.insert("spanId".into(), json!(s.span_id.to_string()));
    put(&mut m, "traceState", json!(s.trace_state));
    if let Some(p) = s.parent_span_id {
        m.insert("parentSpanId".into(), json!(p.to_string()));
    }
    put(&mut m, "flags", json!(s.flags));
    m.insert("name".into(), json!(s.name));
    put(&mut m, "kind", json!(s.kind as u8));
    m.insert("startTimeUnixNano".into(), json!(s.start_ns.to_string()));
    m.insert("endTimeUnixNano".into(), json!(s.end_ns.to_string()));
    put_attributes(&mut m, &s.attributes, s.dropped_attributes_count);
    let events: Vec<Json> = s
        .events
        .iter()
        .map(|e| {
            let mut em = Map::new();
            em.insert("timeUnixNano".into(), json!(e.time_ns.to_string()));
            em.insert("name".into(), json!(e.name));
            put_attributes(&mut em, &e.attributes, e.dropped_attributes_count);
            Json::Object(em)
        })
        .collect();
    put(&mut m, "events", Json::Array(events));
    put(&mut m, "droppedEventsCount", json!(s.dropped_events_count));
    let links: Vec<Json> = s
        .links
        .iter()
        .map(|l| {
            let mut lm = Map::new();
            lm.insert("traceId".into(), json!(l.trace_id.to_string()));
            lm.insert("spanId".into(), json!(l.span_id.to_string()));
            put(&mut lm, "traceState", json!(l.trace_state));
            put(&mut lm, "flags", json!(l.flags));
            put_attributes(&mut lm, &l.attributes, l.dropped_attributes_count);
            Json::Object(lm)
        })
        .collect();
    put(&mut m, "links", Json::Array(links));
    put(&mut m, "droppedLinksCount", json!(s.dropped_links_count));
    let mut status = Map::new();
    put(&mut status, "message", json!(s.status_message));
    put(&mut status, "code", json!(s.status_code as u8));
    m.insert("status".into(), Json::Object(status));
    Json::Object(m)
}

/// Encodes spans as one OTLP JSON `ExportTraceServiceRequest`, grouping consecutive spans
/// that share a resource and scope. The output reads back with [`decode_json_request`].
pub fn encode_json_request(spans: &[Span]) -> Json {
    let mut resource_spans: Vec<Json> = Vec::new();
    for (r, group) in crate::otlp::group_by_resource_scope(spans) {
        let mut rm = Map::new();
        let mut res = Map::new();
        put_attributes(&mut res, &r.attributes, r.dropped_attributes_count);
        rm.insert("resource".into(), Json::Object(res));
        let scope_spans: Vec<Json> = group
            .iter()
            .map(|(sc, scope_group)| {
                let mut sm = Map::new();
                let mut scope = Map::new();
                put(&mut scope, "name", json!(sc.name));
                put(&mut scope, "version", json!(sc.version));
                put_attributes(&mut scope, &sc.attributes, sc.dropped_attributes_count);
                sm.insert("scope".into(), Json::Object(scope));
                sm.insert(
                    "spans".into(),
                    Json::Array(scope_group.iter().map(span_json).collect()),
                );
                put(&mut sm, "schemaUrl", json!(sc.schema_url));
                Json::Object(sm)
            })
            .collect();
        rm.insert("scopeSpans".into(), Json::Array(scope_spans));
        put(&mut rm, "schemaUrl", json!(r.schema_url));
        resource_spans.push(Json::Object(rm));
    }
    json!({ "resourceSpans": resource_spans })
}
