//! Zipkin v2 JSON (`/api/v2/spans`): an array of spans with `localEndpoint` /
//! `remoteEndpoint`, `kind`, string `tags` and `annotations`, mapped to the OpenTelemetry
//! model as the OpenTelemetry Collector's Zipkin translator maps it (docs/IMPORT.md).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::foreign::{kind, micros, span_id, trace_id, Shared, SpecialTags};
use crate::error::Result;
use crate::{Event, KeyValue, Resource, Span, SpanKind, Value};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ZipkinSpan {
    trace_id: String,
    id: String,
    parent_id: Option<String>,
    #[serde(default)]
    name: String,
    kind: Option<String>,
    timestamp: Option<i64>,
    duration: Option<i64>,
    local_endpoint: Option<Endpoint>,
    remote_endpoint: Option<Endpoint>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    annotations: Vec<Annotation>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Endpoint {
    service_name: Option<String>,
    ipv4: Option<String>,
    ipv6: Option<String>,
    port: Option<i64>,
}

#[derive(Deserialize)]
struct Annotation {
    timestamp: i64,
    value: String,
}

/// Appends the spans to `out`.
pub(super) fn decode(spans: Vec<ZipkinSpan>, out: &mut Vec<Span>) -> Result<()> {
    let mut shared = Shared::default();
    for s in spans {
        out.push(span(s, &mut shared)?);
    }
    Ok(())
}

fn endpoint_attrs(e: &Endpoint, ip: &str, port: &str, out: &mut Vec<KeyValue>) {
    if let Some(addr) = e.ipv4.as_ref().or(e.ipv6.as_ref()) {
        out.push(KeyValue::new(ip, Value::Str(addr.clone())));
    }
    if let Some(p) = e.port.filter(|p| *p > 0) {
        out.push(KeyValue::new(port, Value::Int(p)));
    }
}

fn span(s: ZipkinSpan, shared: &mut Shared) -> Result<Span> {
    let mut attributes: Vec<KeyValue> = s
        .tags
        .into_iter()
        .map(|(k, v)| KeyValue::new(k, Value::Str(v)))
        .collect();
    let special = SpecialTags::take(&mut attributes);
    let (status_code, status_message) = special.status();
    let service = s
        .local_endpoint
        .as_ref()
        .and_then(|e| e.service_name.clone())
        .unwrap_or_default();
    let resource_attrs = vec![KeyValue::new("service.name", Value::Str(service))];
    if let Some(local) = &s.local_endpoint {
        endpoint_attrs(local, "net.host.ip", "net.host.port", &mut attributes);
    }
    if let Some(remote) = &s.remote_endpoint {
        if let Some(peer) = &remote.service_name {
            attributes.push(KeyValue::new("peer.service", Value::Str(peer.clone())));
        }
        endpoint_attrs(remote, "net.peer.ip", "net.peer.port", &mut attributes);
    }
    let start_ns = micros(s.timestamp.unwrap_or(0), "timestamp")?;
    let end_ns = start_ns.saturating_add(micros(s.duration.unwrap_or(0), "duration")?);
    let events = s
        .annotations
        .into_iter()
        .map(|a| {
            Ok(Event {
                time_ns: micros(a.timestamp, "annotation timestamp")?,
                name: a.value,
                ..Event::default()
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Span {
        trace_id: trace_id(&s.trace_id)?,
        span_id: span_id(&s.id)?,
        parent_span_id: s.parent_id.as_deref().map(span_id).transpose()?,
        trace_state: special.trace_state.clone().unwrap_or_default(),
        name: s.name,
        kind: s
            .kind
            .as_deref()
            .and_then(kind)
            .or(special.kind)
            .unwrap_or(SpanKind::Internal),
        start_ns,
        end_ns,
        status_code,
        status_message,
        resource: shared.resource(Resource {
            attributes: resource_attrs,
            ..Resource::default()
        }),
        scope: shared.scope(special.scope_name, special.scope_version),
        attributes,
        events,
        ..Span::default()
    })
}
