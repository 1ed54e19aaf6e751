//! Jaeger JSON, as Jaeger UI's "Download JSON" and Jaeger's `/api/traces` write it:
//! `{"data":[{"traceID","spans":[...],"processes":{"p1":{"serviceName","tags"}}}]}`, mapped to
//! the OpenTelemetry model as the OpenTelemetry Collector's Jaeger translator maps it
//! (docs/IMPORT.md lists every rule).

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;

use super::foreign::{micros, span_id, trace_id, Shared, SpecialTags};
use crate::error::{Error, Result};
use crate::{Event, KeyValue, Link, Resource, Span, SpanKind, Value};

#[derive(Deserialize)]
pub(super) struct Document {
    #[serde(default)]
    data: Vec<Trace>,
}

#[derive(Deserialize)]
struct Trace {
    #[serde(default)]
    spans: Vec<JaegerSpan>,
    #[serde(default)]
    processes: HashMap<String, Process>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JaegerSpan {
    #[serde(rename = "traceID")]
    trace_id: String,
    #[serde(rename = "spanID")]
    span_id: String,
    #[serde(default)]
    operation_name: String,
    #[serde(default)]
    references: Vec<Reference>,
    start_time: i64,
    #[serde(default)]
    duration: i64,
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(default)]
    logs: Vec<Log>,
    #[serde(rename = "processID", default)]
    process_id: String,
    /// Some writers inline the process instead of referring to `processes`.
    process: Option<Process>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reference {
    ref_type: String,
    #[serde(rename = "traceID")]
    trace_id: String,
    #[serde(rename = "spanID")]
    span_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Process {
    #[serde(default)]
    service_name: String,
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
struct Tag {
    key: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    value: serde_json::Value,
}

#[derive(Deserialize)]
struct Log {
    timestamp: i64,
    #[serde(default)]
    fields: Vec<Tag>,
}

/// A Jaeger tag as an attribute: its declared type decides the value (Jaeger JSON writes
/// int64 as a number, binary as base64 text kept as a string).
fn attribute(t: &Tag) -> KeyValue {
    use serde_json::Value as J;
    let value = match (t.kind.as_str(), &t.value) {
        ("bool", J::Bool(b)) => Value::Bool(*b),
        ("bool", J::String(s)) => Value::Bool(s == "true"),
        ("int64", J::Number(n)) => n
            .as_i64()
            .map(Value::Int)
            .unwrap_or_else(|| Value::Double(n.as_f64().unwrap_or(0.0))),
        ("int64", J::String(s)) => s.parse().map(Value::Int).unwrap_or(Value::Str(s.clone())),
        ("float64", J::Number(n)) => Value::Double(n.as_f64().unwrap_or(0.0)),
        (_, J::String(s)) => Value::Str(s.clone()),
        (_, J::Bool(b)) => Value::Bool(*b),
        (_, J::Number(n)) => n
            .as_i64()
            .map(Value::Int)
            .unwrap_or_else(|| Value::Double(n.as_f64().unwrap_or(0.0))),
        (_, J::Null) => Value::Empty,
        (_, other) => Value::Str(other.to_string()),
    };
    KeyValue::new(t.key.clone(), value)
}

fn resource(p: &Process) -> Resource {
    let mut attributes = vec![KeyValue::new(
        "service.name",
        Value::Str(p.service_name.clone()),
    )];
    attributes.extend(p.tags.iter().map(attribute));
    Resource {
        attributes,
        ..Resource::default()
    }
}

/// Appends every span of `doc` to `out`.
pub(super) fn decode(doc: Document, out: &mut Vec<Span>) -> Result<()> {
    let mut shared = Shared::default();
    for trace in doc.data {
        // One resource per process of the trace, built once, not per span.
        let resources: HashMap<&str, Arc<Resource>> = trace
            .processes
            .iter()
            .map(|(id, p)| (id.as_str(), shared.resource(resource(p))))
            .collect();
        for mut s in trace.spans {
            let process = match s.process.take() {
                Some(inline) => shared.resource(resource(&inline)),
                None => resources
                    .get(s.process_id.as_str())
                    .cloned()
                    .ok_or_else(|| {
                        Error::invalid(format!(
                            "span {} names process {:?}, which the trace does not list",
                            s.span_id, s.process_id
                        ))
                    })?,
            };
            out.push(span(s, process, &mut shared)?);
        }
    }
    Ok(())
}

fn span(s: JaegerSpan, resource: Arc<Resource>, shared: &mut Shared) -> Result<Span> {
    let trace = trace_id(&s.trace_id)?;
    let mut attributes: Vec<KeyValue> = s.tags.iter().map(attribute).collect();
    let special = SpecialTags::take(&mut attributes);
    let (status_code, status_message) = special.status();
    // The parent is the first CHILD_OF reference in the same trace (else the first
    // FOLLOWS_FROM); every other reference is a link.
    let parent_at = s
        .references
        .iter()
        .position(|r| r.ref_type == "CHILD_OF" && trace_id(&r.trace_id).ok() == Some(trace))
        .or_else(|| {
            s.references.iter().position(|r| {
                r.ref_type == "FOLLOWS_FROM" && trace_id(&r.trace_id).ok() == Some(trace)
            })
        });
    let mut parent_span_id = None;
    let mut links = Vec::new();
    for (i, r) in s.references.iter().enumerate() {
        if Some(i) == parent_at {
            parent_span_id = Some(span_id(&r.span_id)?);
        } else {
            links.push(Link {
                trace_id: trace_id(&r.trace_id)?,
                span_id: span_id(&r.span_id)?,
                attributes: vec![KeyValue::new(
                    "opentracing.ref_type",
                    Value::Str(r.ref_type.to_ascii_lowercase()),
                )],
                ..Link::default()
            });
        }
    }
    let events = s
        .logs
        .iter()
        .map(|l| {
            let mut attributes: Vec<KeyValue> = l.fields.iter().map(attribute).collect();
            let name = attributes
                .iter()
                .position(|kv| kv.key == "event")
                .map(|i| attributes.remove(i).value.to_string())
                .unwrap_or_default();
            Ok(Event {
                time_ns: micros(l.timestamp, "log timestamp")?,
                name,
                attributes,
                dropped_attributes_count: 0,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let start_ns = micros(s.start_time, "startTime")?;
    let end_ns = start_ns.saturating_add(micros(s.duration, "duration")?);
    Ok(Span {
        trace_id: trace,
        span_id: span_id(&s.span_id)?,
        parent_span_id,
        trace_state: special.trace_state.clone().unwrap_or_default(),
        name: s.operation_name,
        kind: special.kind.unwrap_or(SpanKind::Internal),
        start_ns,
        end_ns,
        status_code,
        status_message,
        resource,
        scope: shared.scope(special.scope_name, special.scope_version),
        attributes,
        events,
        links,
        ..Span::default()
    })
}
