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
use crate::otlp::{Dropped, Lenience, SpanPath};

/// Decodes an OTLP protobuf `ExportTraceServiceRequest` (or `TracesData`), appending its
/// spans to `out`. On error nothing is appended.
pub fn decode_proto_request(bytes: &[u8], out: &mut Vec<Span>) -> Result<()> {
    decode(bytes, out, &mut Lenience(None))
}

/// Like [`decode_proto_request`], but keeps what it can (as
/// [`crate::otlp::json::decode_json_request_lenient`] does), counting what it drops.
pub fn decode_proto_request_lenient(
    bytes: &[u8],
    out: &mut Vec<Span>,
    dropped: &mut Dropped,
) -> Result<()> {
    let saved = *dropped;
    decode(bytes, out, &mut Lenience(Some(dropped))).inspect_err(|_| *dropped = saved)
}

fn decode(bytes: &[u8], out: &mut Vec<Span>, lenience: &mut Lenience<'_>) -> Result<()> {
    let data = pt::TracesData::decode(bytes)
        .map_err(|e| Error::InvalidInput(format!("not an OTLP protobuf request: {e}")))?;
    let before = out.len();
    from_proto(data, out, lenience).inspect_err(|_| out.truncate(before))
}

/// [`decode_proto_request_lenient`] for a request already decoded into `opentelemetry-proto`'s
/// types (what a gRPC server receives).
pub fn from_traces_data_lenient(
    data: pt::TracesData,
    out: &mut Vec<Span>,
    dropped: &mut Dropped,
) -> Result<()> {
    let (saved, before) = (*dropped, out.len());
    from_proto(data, out, &mut Lenience(Some(dropped))).inspect_err(|_| {
        *dropped = saved;
        out.truncate(before);
    })
}

/// Encodes spans as an OTLP protobuf `ExportTraceServiceRequest`.
pub fn encode_proto_request(spans: &[Span]) -> Vec<u8> {
    to_proto(spans).encode_to_vec()
}

fn bytes_id<const N: usize>(b: &[u8], path: &SpanPath, field: &str) -> Result<[u8; N]> {
    <[u8; N]>::try_from(b).map_err(|_| {
        Error::InvalidInput(format!(
            "{path}.{field}: must be {N} bytes, got {}",
            b.len()
        ))
    })
}

/// A trace id (never all zeros) and a span id (all zeros refused when `lenient`: strict
/// decoding has always accepted them).
fn ids(trace: &[u8], span: &[u8], path: &SpanPath, lenient: bool) -> Result<(TraceId, SpanId)> {
    let trace_id = TraceId(bytes_id(trace, path, "traceId")?);
    if trace_id.is_zero() {
        return Err(Error::InvalidInput(format!("{path}.traceId: all zeros")));
    }
    let span_id = SpanId(bytes_id(span, path, "spanId")?);
    if lenient && span_id.is_zero() {
        return Err(Error::InvalidInput(format!("{path}.spanId: all zeros")));
    }
    Ok((trace_id, span_id))
}

pub(super) fn attrs_from(attrs: Vec<pc::KeyValue>) -> Vec<KeyValue> {
    attrs
        .into_iter()
        .map(|kv| KeyValue {
            key: kv.key,
            value: kv.value.map(value_from).unwrap_or_default(),
        })
        .collect()
}

pub(super) fn value_from(v: pc::AnyValue) -> Value {
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

fn from_proto(
    data: pt::TracesData,
    out: &mut Vec<Span>,
    lenience: &mut Lenience<'_>,
) -> Result<()> {
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
                let path = SpanPath {
                    resource: ri,
                    scope: Some(si),
                    span: Some(pi),
                    link: None,
                };
                let lenient = lenience.is_lenient();
                let Some((trace_id, span_id)) = lenience
                    .part(ids(&s.trace_id, &s.span_id, &path, lenient), |d| {
                        &mut d.spans_without_ids
                    })?
                else {
                    continue;
                };
                let parent_span_id = if s.parent_span_id.is_empty() {
                    None
                } else {
                    lenience
                        .part(bytes_id(&s.parent_span_id, &path, "parentSpanId"), |d| {
                            &mut d.invalid_parent_ids
                        })?
                        .map(SpanId)
                };
                let mut links = Vec::with_capacity(s.links.len());
                for (li, l) in s.links.into_iter().enumerate() {
                    let lpath = SpanPath {
                        link: Some(li),
                        ..path
                    };
                    let Some((link_trace_id, link_span_id)) = lenience
                        .part(ids(&l.trace_id, &l.span_id, &lpath, lenient), |d| {
                            &mut d.invalid_links
                        })?
                    else {
                        continue;
                    };
                    links.push(Link {
                        trace_id: link_trace_id,
                        span_id: link_span_id,
                        trace_state: l.trace_state,
                        flags: l.flags,
                        attributes: attrs_from(l.attributes),
                        dropped_attributes_count: l.dropped_attributes_count,
                    });
                }
                let status = s.status.unwrap_or_default();
                let kind = lenience
                    .part(
                        u8::try_from(s.kind)
                            .ok()
                            .and_then(SpanKind::from_u8)
                            .ok_or_else(|| {
                                Error::InvalidInput(format!(
                                    "{path}.kind: {} is not a valid span kind",
                                    s.kind
                                ))
                            }),
                        |d| &mut d.out_of_range_enums,
                    )?
                    .unwrap_or_default();
                let status_code = lenience
                    .part(
                        u8::try_from(status.code)
                            .ok()
                            .and_then(StatusCode::from_u8)
                            .ok_or_else(|| {
                                Error::InvalidInput(format!(
                                    "{path}.status.code: {} is not a valid status code",
                                    status.code
                                ))
                            }),
                        |d| &mut d.out_of_range_enums,
                    )?
                    .unwrap_or_default();
                out.push(Span {
                    trace_id,
                    span_id,
                    parent_span_id,
                    trace_state: s.trace_state,
                    flags: s.flags,
                    name: s.name,
                    kind,
                    start_ns: s.start_time_unix_nano,
                    end_ns: s.end_time_unix_nano,
                    status_code,
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

pub(super) fn attrs_to(attrs: &[KeyValue]) -> Vec<pc::KeyValue> {
    attrs
        .iter()
        .map(|kv| pc::KeyValue {
            key: kv.key.clone(),
            value: Some(value_to(&kv.value)),
        })
        .collect()
}

pub(super) fn value_to(v: &Value) -> pc::AnyValue {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A request of one resource holding two scopes; the bad id is in the second scope's
    /// second span (or in that span's first link).
    fn request(parent: Vec<u8>, link_span: Vec<u8>) -> Vec<u8> {
        let span = |parent_span_id: Vec<u8>, links: Vec<pt::span::Link>| pt::Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            parent_span_id,
            links,
            ..Default::default()
        };
        let good = pt::ScopeSpans {
            spans: vec![span(Vec::new(), Vec::new())],
            ..Default::default()
        };
        let link = pt::span::Link {
            trace_id: vec![3; 16],
            span_id: link_span,
            ..Default::default()
        };
        let bad = pt::ScopeSpans {
            spans: vec![span(Vec::new(), Vec::new()), span(parent, vec![link])],
            ..Default::default()
        };
        pt::TracesData {
            resource_spans: vec![pt::ResourceSpans {
                scope_spans: vec![good, bad],
                ..Default::default()
            }],
        }
        .encode_to_vec()
    }

    #[test]
    fn a_bad_id_is_named_by_its_path() {
        let mut out = Vec::new();
        decode_proto_request(&request(vec![4; 8], vec![5; 8]), &mut out).unwrap();
        assert_eq!(out.len(), 3);
        let err = decode_proto_request(&request(vec![4; 3], vec![5; 8]), &mut out)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "resourceSpans[0].scopeSpans[1].spans[1].parentSpanId: must be 8 bytes, got 3"
            ),
            "{err}"
        );
        let err = decode_proto_request(&request(vec![4; 8], vec![5; 9]), &mut out)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "resourceSpans[0].scopeSpans[1].spans[1].links[0].spanId: must be 8 bytes, got 9"
            ),
            "{err}"
        );
        assert_eq!(out.len(), 3, "nothing is appended from a bad request");
    }
}
