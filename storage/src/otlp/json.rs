//! OTLP JSON, as the OpenTelemetry Collector `file` exporter writes it: one
//! `ExportTraceServiceRequest` object a line, hex ids, 64-bit integers as decimal strings
//! (numbers accepted too), enums as integers (names accepted too), unknown fields ignored.

use std::borrow::Cow;
use std::fmt;
use std::io::BufRead;
use std::sync::Arc;

use base64::Engine;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};

use crate::error::{Error, Result};
use crate::model::{
    Event, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind, StatusCode, TraceId, Value,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JRequest<'a> {
    #[serde(borrow, default)]
    resource_spans: Vec<JResourceSpans<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JResourceSpans<'a> {
    #[serde(borrow, default)]
    resource: Option<JResource<'a>>,
    #[serde(borrow, default)]
    scope_spans: Vec<JScopeSpans<'a>>,
    #[serde(borrow, default)]
    schema_url: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JResource<'a> {
    #[serde(borrow, default)]
    attributes: Vec<JKeyValue<'a>>,
    #[serde(default, deserialize_with = "de_u32")]
    dropped_attributes_count: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JScopeSpans<'a> {
    #[serde(borrow, default)]
    scope: Option<JScope<'a>>,
    #[serde(borrow, default)]
    spans: Vec<JSpan<'a>>,
    #[serde(borrow, default)]
    schema_url: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JScope<'a> {
    #[serde(borrow, default)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    version: Cow<'a, str>,
    #[serde(borrow, default)]
    attributes: Vec<JKeyValue<'a>>,
    #[serde(default, deserialize_with = "de_u32")]
    dropped_attributes_count: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JSpan<'a> {
    #[serde(borrow, default)]
    trace_id: Cow<'a, str>,
    #[serde(borrow, default)]
    span_id: Cow<'a, str>,
    #[serde(borrow, default)]
    trace_state: Cow<'a, str>,
    #[serde(borrow, default)]
    parent_span_id: Cow<'a, str>,
    #[serde(default, deserialize_with = "de_u32")]
    flags: u32,
    #[serde(borrow, default)]
    name: Cow<'a, str>,
    #[serde(default, deserialize_with = "de_kind")]
    kind: u8,
    #[serde(default, deserialize_with = "de_u64")]
    start_time_unix_nano: u64,
    #[serde(default, deserialize_with = "de_u64")]
    end_time_unix_nano: u64,
    #[serde(borrow, default)]
    attributes: Vec<JKeyValue<'a>>,
    #[serde(default, deserialize_with = "de_u32")]
    dropped_attributes_count: u32,
    #[serde(borrow, default)]
    events: Vec<JEvent<'a>>,
    #[serde(default, deserialize_with = "de_u32")]
    dropped_events_count: u32,
    #[serde(borrow, default)]
    links: Vec<JLink<'a>>,
    #[serde(default, deserialize_with = "de_u32")]
    dropped_links_count: u32,
    #[serde(borrow, default)]
    status: Option<JStatus<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JStatus<'a> {
    #[serde(borrow, default)]
    message: Cow<'a, str>,
    #[serde(default, deserialize_with = "de_status")]
    code: u8,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JEvent<'a> {
    #[serde(default, deserialize_with = "de_u64")]
    time_unix_nano: u64,
    #[serde(borrow, default)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    attributes: Vec<JKeyValue<'a>>,
    #[serde(default, deserialize_with = "de_u32")]
    dropped_attributes_count: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JLink<'a> {
    #[serde(borrow, default)]
    trace_id: Cow<'a, str>,
    #[serde(borrow, default)]
    span_id: Cow<'a, str>,
    #[serde(borrow, default)]
    trace_state: Cow<'a, str>,
    #[serde(default, deserialize_with = "de_u32")]
    flags: u32,
    #[serde(borrow, default)]
    attributes: Vec<JKeyValue<'a>>,
    #[serde(default, deserialize_with = "de_u32")]
    dropped_attributes_count: u32,
}

#[derive(Deserialize)]
struct JKeyValue<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(borrow, default)]
    value: Option<JAnyValue<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JAnyValue<'a> {
    #[serde(borrow, default)]
    string_value: Option<Cow<'a, str>>,
    #[serde(default)]
    bool_value: Option<bool>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    int_value: Option<i64>,
    #[serde(default, deserialize_with = "de_opt_f64")]
    double_value: Option<f64>,
    #[serde(borrow, default)]
    array_value: Option<JValues<JAnyValue<'a>>>,
    #[serde(borrow, default)]
    kvlist_value: Option<JValues<JKeyValue<'a>>>,
    #[serde(borrow, default)]
    bytes_value: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct JValues<T> {
    #[serde(default = "Vec::new")]
    values: Vec<T>,
}

/// A number written as a JSON number or a decimal string (proto3 JSON allows both).
struct NumVisitor<T>(std::marker::PhantomData<T>);

macro_rules! num_visitor {
    ($t:ty, $what:literal) => {
        impl<'de> Visitor<'de> for NumVisitor<$t> {
            type Value = $t;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($what)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<$t, E> {
                <$t>::try_from(v)
                    .map_err(|_| E::custom(format!("{v} is out of range for {}", $what)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<$t, E> {
                <$t>::try_from(v)
                    .map_err(|_| E::custom(format!("{v} is out of range for {}", $what)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<$t, E> {
                v.parse::<$t>()
                    .map_err(|_| E::custom(format!("{v:?} is not {}", $what)))
            }
        }
    };
}
num_visitor!(u64, "an unsigned 64-bit integer");
num_visitor!(u32, "an unsigned 32-bit integer");
num_visitor!(i64, "a signed 64-bit integer");

fn de_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_any(NumVisitor::<u64>(Default::default()))
}
fn de_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    d.deserialize_any(NumVisitor::<u32>(Default::default()))
}
fn de_opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_any(NumVisitor::<i64>(Default::default()))
        .map(Some)
}

struct F64Visitor;
impl<'de> Visitor<'de> for F64Visitor {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        match v {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => v
                .parse()
                .map_err(|_| E::custom(format!("{v:?} is not a number"))),
        }
    }
}
fn de_opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    d.deserialize_any(F64Visitor).map(Some)
}

/// An enum as its number or its proto name.
struct EnumVisitor(&'static [&'static str], &'static str);
impl<'de> Visitor<'de> for EnumVisitor {
    type Value = u8;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} number or name", self.1)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u8, E> {
        if (v as usize) < self.0.len() {
            Ok(v as u8)
        } else {
            Err(E::custom(format!("{v} is not a valid {}", self.1)))
        }
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u8, E> {
        u64::try_from(v)
            .map_err(|_| E::custom(format!("{v} is not a valid {}", self.1)))
            .and_then(|v| self.visit_u64(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u8, E> {
        self.0
            .iter()
            .position(|n| *n == v)
            .map(|p| p as u8)
            .ok_or_else(|| E::custom(format!("{v:?} is not a valid {}", self.1)))
    }
}
const KIND_NAMES: &[&str] = &[
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];
const STATUS_NAMES: &[&str] = &["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];
fn de_kind<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    d.deserialize_any(EnumVisitor(KIND_NAMES, "span kind"))
}
fn de_status<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    d.deserialize_any(EnumVisitor(STATUS_NAMES, "status code"))
}

fn bad(path: &str, what: String) -> String {
    format!("{path}: {what}")
}

fn conv_attrs(attrs: Vec<JKeyValue<'_>>, path: &str) -> Result<Vec<KeyValue>, String> {
    attrs
        .into_iter()
        .map(|kv| {
            let value = match kv.value {
                Some(v) => conv_value(v, path)?,
                None => Value::Empty,
            };
            Ok(KeyValue {
                key: kv.key.into_owned(),
                value,
            })
        })
        .collect()
}

fn conv_value(v: JAnyValue<'_>, path: &str) -> Result<Value, String> {
    Ok(if let Some(s) = v.string_value {
        Value::Str(s.into_owned())
    } else if let Some(i) = v.int_value {
        Value::Int(i)
    } else if let Some(b) = v.bool_value {
        Value::Bool(b)
    } else if let Some(d) = v.double_value {
        Value::Double(d)
    } else if let Some(a) = v.array_value {
        Value::Array(
            a.values
                .into_iter()
                .map(|v| conv_value(v, path))
                .collect::<Result<_, _>>()?,
        )
    } else if let Some(kv) = v.kvlist_value {
        Value::KvList(conv_attrs(kv.values, path)?)
    } else if let Some(b) = v.bytes_value {
        Value::Bytes(
            base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .map_err(|e| bad(path, format!("bytesValue is not base64: {e}")))?,
        )
    } else {
        Value::Empty
    })
}

fn trace_id(text: &str, path: &str, field: &str) -> Result<TraceId, String> {
    let id = TraceId::from_hex(text).map_err(|e| bad(&format!("{path}.{field}"), e.to_string()))?;
    if id.is_zero() {
        return Err(bad(
            &format!("{path}.{field}"),
            "trace id is all zeros (invalid in OTLP)".into(),
        ));
    }
    Ok(id)
}

fn span_id(text: &str, path: &str, field: &str) -> Result<SpanId, String> {
    SpanId::from_hex(text).map_err(|e| bad(&format!("{path}.{field}"), e.to_string()))
}

fn convert(req: JRequest<'_>, out: &mut Vec<Span>) -> Result<(), String> {
    for (ri, rs) in req.resource_spans.into_iter().enumerate() {
        let rpath = format!("resourceSpans[{ri}]");
        let resource = match rs.resource {
            Some(r) => Resource {
                attributes: conv_attrs(r.attributes, &rpath)?,
                dropped_attributes_count: r.dropped_attributes_count,
                schema_url: rs.schema_url.into_owned(),
            },
            None => Resource {
                schema_url: rs.schema_url.into_owned(),
                ..Resource::default()
            },
        };
        let resource = Arc::new(resource);
        for (si, ss) in rs.scope_spans.into_iter().enumerate() {
            let spath = format!("{rpath}.scopeSpans[{si}]");
            let scope = match ss.scope {
                Some(s) => Scope {
                    name: s.name.into_owned(),
                    version: s.version.into_owned(),
                    attributes: conv_attrs(s.attributes, &spath)?,
                    dropped_attributes_count: s.dropped_attributes_count,
                    schema_url: ss.schema_url.into_owned(),
                },
                None => Scope {
                    schema_url: ss.schema_url.into_owned(),
                    ..Scope::default()
                },
            };
            let scope = Arc::new(scope);
            for (pi, s) in ss.spans.into_iter().enumerate() {
                let path = format!("{spath}.spans[{pi}]");
                let parent_span_id = if s.parent_span_id.is_empty() {
                    None
                } else {
                    Some(span_id(&s.parent_span_id, &path, "parentSpanId")?)
                };
                let status = s.status.unwrap_or(JStatus {
                    message: Cow::Borrowed(""),
                    code: 0,
                });
                let mut events = Vec::with_capacity(s.events.len());
                for e in s.events {
                    events.push(Event {
                        time_ns: e.time_unix_nano,
                        name: e.name.into_owned(),
                        attributes: conv_attrs(e.attributes, &path)?,
                        dropped_attributes_count: e.dropped_attributes_count,
                    });
                }
                let mut links = Vec::with_capacity(s.links.len());
                for (li, l) in s.links.into_iter().enumerate() {
                    let lpath = format!("{path}.links[{li}]");
                    links.push(Link {
                        trace_id: trace_id(&l.trace_id, &lpath, "traceId")?,
                        span_id: span_id(&l.span_id, &lpath, "spanId")?,
                        trace_state: l.trace_state.into_owned(),
                        flags: l.flags,
                        attributes: conv_attrs(l.attributes, &lpath)?,
                        dropped_attributes_count: l.dropped_attributes_count,
                    });
                }
                out.push(Span {
                    trace_id: trace_id(&s.trace_id, &path, "traceId")?,
                    span_id: span_id(&s.span_id, &path, "spanId")?,
                    parent_span_id,
                    trace_state: s.trace_state.into_owned(),
                    flags: s.flags,
                    name: s.name.into_owned(),
                    kind: SpanKind::from_u8(s.kind).unwrap_or_default(),
                    start_ns: s.start_time_unix_nano,
                    end_ns: s.end_time_unix_nano,
                    status_code: StatusCode::from_u8(status.code).unwrap_or_default(),
                    status_message: status.message.into_owned(),
                    resource: resource.clone(),
                    scope: scope.clone(),
                    attributes: conv_attrs(s.attributes, &path)?,
                    dropped_attributes_count: s.dropped_attributes_count,
                    events,
                    dropped_events_count: s.dropped_events_count,
                    links,
                    dropped_links_count: s.dropped_links_count,
                });
            }
        }
    }
    Ok(())
}

/// Decodes one line (one `ExportTraceServiceRequest` JSON object), appending its spans to `out`.
/// On error nothing is appended, and the message names the field.
pub fn decode_json_request(line: &[u8], out: &mut Vec<Span>) -> Result<(), String> {
    let req: JRequest<'_> = match serde_json::from_slice(line) {
        Ok(r) => r,
        Err(e) => {
            // Parse again, slowly, only to name the field the error is in.
            let de = &mut serde_json::Deserializer::from_slice(line);
            let path = match serde_path_to_error::deserialize::<_, JRequest<'_>>(de) {
                Err(pe) => pe.path().to_string(),
                Ok(_) => String::new(),
            };
            return Err(if path.is_empty() || path == "." {
                format!("not an OTLP JSON request: {e}")
            } else {
                format!("{path}: {e}")
            });
        }
    };
    let before = out.len();
    convert(req, out).inspect_err(|_| out.truncate(before))
}

/// What a JSON lines import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct JsonLinesReport {
    pub lines: u64,
    pub spans: u64,
    pub skipped_lines: u64,
    /// The first few skipped lines' errors, for the user.
    pub first_errors: Vec<String>,
}

/// Reads OTLP JSON lines, calling `sink` with each decoded batch of at most about
/// `batch_spans` spans. A malformed line is `Error::BadLine` naming the line and field, unless
/// `skip_bad_lines` is set, in which case it is counted and reported. Blank lines are ignored.
pub fn read_json_lines(
    reader: impl BufRead,
    skip_bad_lines: bool,
    batch_spans: usize,
    mut sink: impl FnMut(Vec<Span>) -> Result<()>,
) -> Result<JsonLinesReport> {
    let mut report = JsonLinesReport::default();
    let mut batch = Vec::new();
    let mut reader = reader;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        report.lines += 1;
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            continue;
        }
        if let Err(message) = decode_json_request(trimmed, &mut batch) {
            if !skip_bad_lines {
                if !batch.is_empty() {
                    report.spans += batch.len() as u64;
                    sink(std::mem::take(&mut batch))?;
                }
                return Err(Error::BadLine {
                    line: report.lines,
                    message,
                });
            }
            report.skipped_lines += 1;
            if report.first_errors.len() < 5 {
                report
                    .first_errors
                    .push(format!("line {}: {message}", report.lines));
            }
            continue;
        }
        if batch.len() >= batch_spans {
            report.spans += batch.len() as u64;
            sink(std::mem::take(&mut batch))?;
        }
    }
    if !batch.is_empty() {
        report.spans += batch.len() as u64;
        sink(batch)?;
    }
    Ok(report)
}

// ---- encoding -------------------------------------------------------------------------------

fn value_json(v: &Value) -> Json {
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

fn attrs_json(attrs: &[KeyValue]) -> Vec<Json> {
    attrs
        .iter()
        .map(|kv| json!({ "key": kv.key, "value": value_json(&kv.value) }))
        .collect()
}

/// Inserts `key: value` unless the value is OTLP's default (empty fields are omitted).
fn put(map: &mut Map<String, Json>, key: &str, value: Json) {
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
    put(&mut m, "attributes", Json::Array(attrs_json(&s.attributes)));
    put(
        &mut m,
        "droppedAttributesCount",
        json!(s.dropped_attributes_count),
    );
    let events: Vec<Json> = s
        .events
        .iter()
        .map(|e| {
            let mut em = Map::new();
            em.insert("timeUnixNano".into(), json!(e.time_ns.to_string()));
            em.insert("name".into(), json!(e.name));
            put(
                &mut em,
                "attributes",
                Json::Array(attrs_json(&e.attributes)),
            );
            put(
                &mut em,
                "droppedAttributesCount",
                json!(e.dropped_attributes_count),
            );
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
            put(
                &mut lm,
                "attributes",
                Json::Array(attrs_json(&l.attributes)),
            );
            put(
                &mut lm,
                "droppedAttributesCount",
                json!(l.dropped_attributes_count),
            );
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
        put(
            &mut res,
            "attributes",
            Json::Array(attrs_json(&r.attributes)),
        );
        put(
            &mut res,
            "droppedAttributesCount",
            json!(r.dropped_attributes_count),
        );
        rm.insert("resource".into(), Json::Object(res));
        let scope_spans: Vec<Json> = group
            .iter()
            .map(|(sc, scope_group)| {
                let mut sm = Map::new();
                let mut scope = Map::new();
                put(&mut scope, "name", json!(sc.name));
                put(&mut scope, "version", json!(sc.version));
                put(
                    &mut scope,
                    "attributes",
                    Json::Array(attrs_json(&sc.attributes)),
                );
                put(
                    &mut scope,
                    "droppedAttributesCount",
                    json!(sc.dropped_attributes_count),
                );
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

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},"scopeSpans":[{"scope":{"name":"lib"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"GET /x","kind":2,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000","attributes":[{"key":"n","value":{"intValue":"42"}},{"key":"d","value":{"doubleValue":1.5}}],"status":{"code":2,"message":"boom"}}]}]}]}"#;

    #[test]
    fn decodes_the_collector_file_exporter_shape() {
        let mut out = Vec::new();
        decode_json_request(GOOD.as_bytes(), &mut out).unwrap();
        let s = &out[0];
        assert_eq!(s.service(), "checkout");
        assert_eq!(s.trace_id.to_string(), "5b8efff798038103d269b633813fc60c");
        assert_eq!(s.kind, SpanKind::Server);
        assert_eq!(s.duration_ns(), 1_000_000_000);
        assert_eq!(s.attr("n"), Some(&Value::Int(42)));
        assert_eq!(s.status_code, StatusCode::Error);
        assert_eq!(s.scope.name, "lib");
    }

    #[test]
    fn enum_names_and_numeric_times_are_accepted() {
        let line = GOOD
            .replace(r#""kind":2"#, r#""kind":"SPAN_KIND_CLIENT""#)
            .replace(r#""1544712660000000000""#, "1544712660000000000");
        let mut out = Vec::new();
        decode_json_request(line.as_bytes(), &mut out).unwrap();
        assert_eq!(out[0].kind, SpanKind::Client);
        assert_eq!(out[0].start_ns, 1544712660000000000);
    }

    #[test]
    fn a_bad_field_is_named() {
        let mut out = Vec::new();
        let err = decode_json_request(GOOD.replace("eee19b7ec3c1b174", "xyz").as_bytes(), &mut out)
            .unwrap_err();
        assert!(
            err.contains("resourceSpans[0].scopeSpans[0].spans[0].spanId"),
            "{err}"
        );
        let err = decode_json_request(GOOD.replace(r#""42""#, r#""4x2""#).as_bytes(), &mut out)
            .unwrap_err();
        assert!(
            err.contains("resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue"),
            "{err}"
        );
        let err = decode_json_request(br#"{"resourceSpans": 3}"#, &mut out).unwrap_err();
        assert!(err.contains("resourceSpans"), "{err}");
        assert!(out.is_empty(), "nothing is appended from a bad line");
    }

    #[test]
    fn bad_lines_stop_the_import_or_are_skipped_and_counted() {
        let text = format!("{GOOD}\n\n{{not json\n{GOOD}\n");
        let mut got = 0;
        let err = read_json_lines(text.as_bytes(), false, 1000, |b| {
            got += b.len();
            Ok(())
        })
        .unwrap_err();
        assert!(matches!(err, Error::BadLine { line: 3, .. }), "{err}");
        assert_eq!(got, 1, "spans before the bad line are delivered, not lost");
        let report = read_json_lines(text.as_bytes(), true, 1000, |_| Ok(())).unwrap();
        assert_eq!((report.spans, report.skipped_lines), (2, 1));
        assert!(
            report.first_errors[0].starts_with("line 3:"),
            "{:?}",
            report.first_errors
        );
    }
}
