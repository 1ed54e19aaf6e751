//! OTLP protobuf (`ExportTraceServiceRequest`, wire-identical to `TracesData`) via the
//! `opentelemetry-proto` crate's prost types.

use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1 as pc;
use opentelemetry_proto::tonic::resource::v1 as pr;
use opentelemetry_proto::tonic::trace::v1 as pt;
use prost::Message;

use crate::error::{Error, Result};
use crate::model::{
    Event, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind, StatusCode, TraceId, Value,
};

/// Decodes an OTLP protobuf `ExportTraceServiceRequest` (or `TracesData`), appending its
/// spans to `out`. On error nothing is appended.
pub fn decode_proto_request(bytes: &[u8], out: &mut Vec<Span>) -> Result<()> {
    let data = pt::TracesData::decode(bytes)
        .map_err(|e| Error::InvalidInput(format!("not an OTLP protobuf request: {e}")))?;
    let before = out.len();
    from_proto(data, out).inspect_err(|_| out.truncate(before))
}

/// Encodes spans as an OTLP protobuf `ExportTraceServiceRequest`.
pub fn encode_proto_request(spans: &[Span]) -> Vec<u8> {
    to_proto(spans).encode_to_vec()
}

fn bytes_id<const N: usize>(b: &[u8], path: &str) -> Result<[u8; N]> {
    <[u8; N]>::try_from(b)
        .map_err(|_| Error::InvalidInput(format!("{path}: must be {N} bytes, got {}", b.len())))
}

fn attrs_from(attrs: Vec<pc::KeyValue>) -> Vec<KeyValue> {
    attrs
        .into_iter()
        .map(|kv| KeyValue {
            key: kv.key,
            value: kv.value.map(value_from).unwrap_or_default(),
        })
        .collect()
}

fn value_from(v: pc::AnyValue) -> Value {
    use pc::any_value::Value as V;
    match v.value {
        None => Value::Empty,
        Some(V::StringValue(s)) => Value::Str(s),
        Some(V::BoolValue(b)) => Value::Bool(b),
        Some(V::IntValue(i)) => Value::Int(i),
        Some(V::DoubleValue(d)) => Value::Double(d),
        Some(V::ArrayValue(a)) => Value::Array(a.values.into_iter().map(value_from).collect()),
        Some(V::KvlistValue(kv)) => Value::KvList(attrs_from(kv.values)),
        Some(V::BytesValue(b)) => Value::Bytes(b),
    }
}

fn from_proto(data: pt::TracesData, out: &mut Vec<Span>) -> Result<()> {
    for (ri, rs) in data.resource_spans.into_iter().enumerate() {
        let r = rs.resource.unwrap_or_default();
        let resource = Arc::new(Resource {
            attributes: attrs_from(r.attributes),
            dropped_attributes_count: r.dropped_attributes_count,
            schema_url: rs.schema_url,
        });
        for (si, ss) in rs.scope_spans.into_iter().enumerate() {
            let sc = ss.scope.unwrap_or_default();
            let scope = Arc::new(Scope {
                name: sc.name,
                version: sc.version,
                attributes: attrs_from(sc.attributes),
                dropped_attributes_count: sc.dropped_attributes_count,
                schema_url: ss.schema_url,
            });
            for (pi, s) in ss.spans.into_iter().enumerate() {
                let path = format!("resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]");
                let trace_id = TraceId(bytes_id(&s.trace_id, &format!("{path}.traceId"))?);
                if trace_id.is_zero() {
                    return Err(Error::InvalidInput(format!("{path}.traceId: all zeros")));
                }
                let parent_span_id = if s.parent_span_id.is_empty() {
                    None
                } else {
                    Some(SpanId(bytes_id(
                        &s.parent_span_id,
                        &format!("{path}.parentSpanId"),
                    )?))
                };
                let mut links = Vec::with_capacity(s.links.len());
                for (li, l) in s.links.into_iter().enumerate() {
                    links.push(Link {
                        trace_id: TraceId(bytes_id(
                            &l.trace_id,
                            &format!("{path}.links[{li}].traceId"),
                        )?),
                        span_id: SpanId(bytes_id(
                            &l.span_id,
                            &format!("{path}.links[{li}].spanId"),
                        )?),
                        trace_state: l.trace_state,
                        flags: l.flags,
                        attributes: attrs_from(l.attributes),
                        dropped_attributes_count: l.dropped_attributes_count,
                    });
                }
                let status = s.status.unwrap_or_default();
                out.push(Span {
                    trace_id,
                    span_id: SpanId(bytes_id(&s.span_id, &format!("{path}.spanId"))?),
                    parent_span_id,
                    trace_state: s.trace_state,
                    flags: s.flags,
                    name: s.name,
                    kind: u8::try_from(s.kind)
                        .ok()
                        .and_then(SpanKind::from_u8)
                        .unwrap_or_default(),
                    start_ns: s.start_time_unix_nano,
                    end_ns: s.end_time_unix_nano,
                    status_code: u8::try_from(status.code)
                        .ok()
                        .and_then(StatusCode::from_u8)
                        .unwrap_or_default(),
                    status_message: status.message,
                    resource: resource.clone(),
                    scope: scope.clone(),
                    attributes: attrs_from(s.attributes),
                    dropped_attributes_count: s.dropped_attributes_count,
                    events: s
                        .events
                        .into_iter()
                        .map(|e| Event {
                            time_ns: e.time_unix_nano,
                            name: e.name,
                            attributes: attrs_from(e.attributes),
                            dropped_attributes_count: e.dropped_attributes_count,
                        })
                        .collect(),
                    dropped_events_count: s.dropped_events_count,
                    links,
                    dropped_links_count: s.dropped_links_count,
                });
            }
        }
    }
    Ok(())
}

fn attrs_to(attrs: &[KeyValue]) -> Vec<pc::KeyValue> {
    attrs
        .iter()
        .map(|kv| pc::KeyValue {
            key: kv.key.clone(),
            value: Some(value_to(&kv.value)),
        })
        .collect()
}

fn value_to(v: &Value) -> pc::AnyValue {
    use pc::any_value::Value as V;
    let value = match v {
        Value::Empty => None,
        Value::Str(s) => Some(V::StringValue(s.clone())),
        Value::Int(i) => Some(V::IntValue(*i)),
        Value::Double(d) => Some(V::DoubleValue(*d)),
        Value::Bool(b) => Some(V::BoolValue(*b)),
        Value::Bytes(b) => Some(V::BytesValue(b.clone())),
        Value::Array(items) => Some(V::ArrayValue(pc::ArrayValue {
            values: items.iter().map(value_to).collect(),
        })),
        Value::KvList(kvs) => Some(V::KvlistValue(pc::KeyValueList {
            values: attrs_to(kvs),
        })),
    };
    pc::AnyValue { value }
}

fn span_to(s: &Span) -> pt::Span {
    pt::Span {
        trace_id: s.trace_id.0.to_vec(),
        span_id: s.span_id.0.to_vec(),
        trace_state: s.trace_state.clone(),
        parent_span_id: s.parent_span_id.map(|p| p.0.to_vec()).unwrap_or_default(),
        flags: s.flags,
        name: s.name.clone(),
        kind: i32::from(s.kind as u8),
        start_time_unix_nano: s.start_ns,
        end_time_unix_nano: s.end_ns,
        attributes: attrs_to(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s
            .events
            .iter()
            .map(|e| pt::span::Event {
                time_unix_nano: e.time_ns,
                name: e.name.clone(),
                attributes: attrs_to(&e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: s.dropped_events_count,
        links: s
            .links
            .iter()
            .map(|l| pt::span::Link {
                trace_id: l.trace_id.0.to_vec(),
                span_id: l.span_id.0.to_vec(),
                trace_state: l.trace_state.clone(),
                attributes: attrs_to(&l.attributes),
                dropped_attributes_count: l.dropped_attributes_count,
                flags: l.flags,
            })
            .collect(),
        dropped_links_count: s.dropped_links_count,
        status: Some(pt::Status {
            message: s.status_message.clone(),
            code: i32::from(s.status_code as u8),
        }),
    }
}

/// Model spans as a prost `TracesData`.
pub fn to_proto(spans: &[Span]) -> pt::TracesData {
    let resource_spans = crate::otlp::group_by_resource_scope(spans)
        .into_iter()
        .map(|(r, group)| pt::ResourceSpans {
            resource: Some(pr::Resource {
                attributes: attrs_to(&r.attributes),
                dropped_attributes_count: r.dropped_attributes_count,
                ..Default::default()
            }),
            scope_spans: group
                .iter()
                .map(|(sc, sg)| pt::ScopeSpans {
                    scope: Some(pc::InstrumentationScope {
                        name: sc.name.clone(),
                        version: sc.version.clone(),
                        attributes: attrs_to(&sc.attributes),
                        dropped_attributes_count: sc.dropped_attributes_count,
                    }),
                    spans: sg.iter().map(span_to).collect(),
                    schema_url: sc.schema_url.clone(),
                })
                .collect(),
            schema_url: r.schema_url.clone(),
        })
        .collect();
    pt::TracesData { resource_spans }
}
