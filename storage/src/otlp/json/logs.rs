//! OTLP JSON logs: one `ExportLogsServiceRequest` object a line, as the Collector `file`
//! exporter writes them (`resourceLogs[].scopeLogs[].logRecords[]`). Same conventions as the
//! span mapping (hex ids, 64-bit integers as strings or numbers, enums as numbers or names);
//! the attribute and value converters are the span decoder's.

use std::borrow::Cow;
use std::sync::Arc;

use serde::de::Deserializer;
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};

use super::encode::{put, put_attributes, value_json};
use super::schema::{de_u32, de_u64, JAnyValue, JKeyValue, JResource, JScope};
use super::values::{conv_attrs, conv_value};
use crate::error::{Error, Result};
use crate::model::{LogRecord, Resource, Scope, SpanId, TraceId, Value};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JLogsRequest<'a> {
    #[serde(borrow, default)]
    resource_logs: Vec<JResourceLogs<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JResourceLogs<'a> {
    #[serde(borrow, default)]
    resource: Option<JResource<'a>>,
    #[serde(borrow, default)]
    scope_logs: Vec<JScopeLogs<'a>>,
    #[serde(borrow, default)]
    schema_url: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JScopeLogs<'a> {
    #[serde(borrow, default)]
    scope: Option<JScope<'a>>,
    #[serde(borrow, default)]
    log_records: Vec<JLogRecord<'a>>,
    #[serde(borrow, default)]
    schema_url: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JLogRecord<'a> {
    #[serde(default, deserialize_with = "de_u64")]
    time_unix_nano: u64,
    #[serde(default, deserialize_with = "de_u64")]
    observed_time_unix_nano: u64,
    #[serde(default, deserialize_with = "de_severity")]
    severity_number: u8,
    #[serde(borrow, default)]
    severity_text: Cow<'a, str>,
    #[serde(borrow, default)]
    body: Option<JAnyValue<'a>>,
    #[serde(borrow, default)]
    attributes: Vec<JKeyValue<'a>>,
    #[serde(default, deserialize_with = "de_u32")]
    dropped_attributes_count: u32,
    #[serde(default, deserialize_with = "de_u32")]
    flags: u32,
    #[serde(borrow, default)]
    trace_id: Cow<'a, str>,
    #[serde(borrow, default)]
    span_id: Cow<'a, str>,
    #[serde(borrow, default)]
    event_name: Cow<'a, str>,
}

/// A severity number out of 0..=24 (as a number or a `SEVERITY_NUMBER_*` name).
const BAD_SEVERITY: u8 = u8::MAX;

fn de_severity<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let v = Json::deserialize(d)?;
    Ok(match &v {
        Json::Number(n) => n
            .as_u64()
            .filter(|n| *n <= 24)
            .map_or(BAD_SEVERITY, |n| n as u8),
        Json::String(s) => severity_number_of_name(s).unwrap_or(BAD_SEVERITY),
        _ => BAD_SEVERITY,
    })
}

/// `SEVERITY_NUMBER_WARN2` -> 14, `SEVERITY_NUMBER_UNSPECIFIED` -> 0.
fn severity_number_of_name(s: &str) -> Option<u8> {
    let rest = s.strip_prefix("SEVERITY_NUMBER_")?;
    if rest == "UNSPECIFIED" {
        return Some(0);
    }
    let split = rest
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (name, digit) = rest.split_at(split);
    let base = crate::model::severity_from_name(name).filter(|b| *b > 0)?;
    let offset: u8 = if digit.is_empty() {
        1
    } else {
        digit.parse().ok()?
    };
    (1..=4).contains(&offset).then_some(base + offset - 1)
}

fn hex_id<const N: usize>(text: &str, path: &str) -> Result<[u8; N], String> {
    if text.is_empty() {
        return Ok([0; N]);
    }
    let what = if N == 16 { "traceId" } else { "spanId" };
    let parsed = if N == 16 {
        TraceId::from_hex(text).map(|t| t.0.to_vec())
    } else {
        SpanId::from_hex(text).map(|s| s.0.to_vec())
    };
    parsed
        .ok()
        .and_then(|v| <[u8; N]>::try_from(v.as_slice()).ok())
        .ok_or_else(|| format!("{path}.{what}: {text:?} is not {} hex characters", N * 2))
}

fn convert(req: JLogsRequest<'_>, out: &mut Vec<LogRecord>) -> Result<(), String> {
    for (ri, rl) in req.resource_logs.into_iter().enumerate() {
        let rpath = format!("resourceLogs[{ri}]");
        let resource = Arc::new(match rl.resource {
            Some(r) => Resource {
                attributes: conv_attrs(r.attributes, &rpath)?,
                dropped_attributes_count: r.dropped_attributes_count,
                schema_url: rl.schema_url.into_owned(),
            },
            None => Resource {
                schema_url: rl.schema_url.into_owned(),
                ..Resource::default()
            },
        });
        for (si, sl) in rl.scope_logs.into_iter().enumerate() {
            let spath = format!("{rpath}.scopeLogs[{si}]");
            let scope = Arc::new(match sl.scope {
                Some(s) => Scope {
                    name: s.name.into_owned(),
                    version: s.version.into_owned(),
                    attributes: conv_attrs(s.attributes, &spath)?,
                    dropped_attributes_count: s.dropped_attributes_count,
                    schema_url: sl.schema_url.into_owned(),
                },
                None => Scope {
                    schema_url: sl.schema_url.into_owned(),
                    ..Scope::default()
                },
            });
            for (li, l) in sl.log_records.into_iter().enumerate() {
                let path = format!("{spath}.logRecords[{li}]");
                if l.severity_number == BAD_SEVERITY {
                    return Err(format!(
                        "{path}.severityNumber: not a severity number (0-24 or SEVERITY_NUMBER_*)"
                    ));
                }
                let body = match l.body {
                    Some(b) => conv_value(b, &path)?,
                    None => Value::Empty,
                };
                out.push(LogRecord {
                    time_ns: l.time_unix_nano,
                    observed_time_ns: l.observed_time_unix_nano,
                    severity_number: l.severity_number,
                    severity_text: l.severity_text.into_owned(),
                    body,
                    attributes: conv_attrs(l.attributes, &path)?,
                    dropped_attributes_count: l.dropped_attributes_count,
                    flags: l.flags,
                    trace_id: TraceId(hex_id::<16>(&l.trace_id, &path)?),
                    span_id: SpanId(hex_id::<8>(&l.span_id, &path)?),
                    event_name: l.event_name.into_owned(),
                    resource: resource.clone(),
                    scope: scope.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Decodes one `ExportLogsServiceRequest` JSON object, appending its records to `out`. On
/// error (`InvalidInput`, naming the field) nothing is appended. An absent or empty
/// `traceId`/`spanId` means no trace context; a malformed one is an error.
pub fn decode_json_logs_request(line: &[u8], out: &mut Vec<LogRecord>) -> Result<()> {
    let req: JLogsRequest<'_> = serde_json::from_slice(line).map_err(|e| {
        let de = &mut serde_json::Deserializer::from_slice(line);
        let path = match serde_path_to_error::deserialize::<_, JLogsRequest<'_>>(de) {
            Err(pe) => pe.path().to_string(),
            Ok(_) => String::new(),
        };
        Error::InvalidInput(if path.is_empty() || path == "." {
            format!("not an OTLP JSON logs request: {e}")
        } else {
            format!("{path}: {e}")
        })
    })?;
    let before = out.len();
    convert(req, out).map_err(|e| {
        out.truncate(before);
        Error::InvalidInput(e)
    })
}

/// One record as OTLP JSON (OTLP's default values omitted).
pub fn log_record_json(l: &LogRecord) -> Json {
    let mut m = Map::new();
    put(&mut m, "timeUnixNano", json!(nonzero_str(l.time_ns)));
    put(
        &mut m,
        "observedTimeUnixNano",
        json!(nonzero_str(l.observed_time_ns)),
    );
    put(&mut m, "severityNumber", json!(l.severity_number));
    put(&mut m, "severityText", json!(l.severity_text));
    if l.body != Value::Empty {
        m.insert("body".into(), value_json(&l.body));
    }
    put_attributes(&mut m, &l.attributes, l.dropped_attributes_count);
    put(&mut m, "flags", json!(l.flags));
    if let Some(t) = l.trace() {
        m.insert("traceId".into(), json!(t.to_string()));
    }
    if let Some(s) = l.span() {
        m.insert("spanId".into(), json!(s.to_string()));
    }
    put(&mut m, "eventName", json!(l.event_name));
    Json::Object(m)
}

fn nonzero_str(v: u64) -> String {
    if v == 0 {
        String::new()
    } else {
        v.to_string()
    }
}

/// Encodes records as one OTLP JSON `ExportLogsServiceRequest`, grouping consecutive records
/// that share a resource and scope. Reads back with [`decode_json_logs_request`].
pub fn encode_json_logs_request(logs: &[LogRecord]) -> Json {
    let same_res = |a: &LogRecord, b: &LogRecord| {
        Arc::ptr_eq(&a.resource, &b.resource) || a.resource == b.resource
    };
    let same_scope =
        |a: &LogRecord, b: &LogRecord| Arc::ptr_eq(&a.scope, &b.scope) || a.scope == b.scope;
    let mut resource_logs = Vec::new();
    for run in logs.chunk_by(same_res) {
        let Some(first) = run.first() else { continue };
        let r = &first.resource;
        let mut rm = Map::new();
        let mut res = Map::new();
        put_attributes(&mut res, &r.attributes, r.dropped_attributes_count);
        rm.insert("resource".into(), Json::Object(res));
        let mut scope_logs = Vec::new();
        for group in run.chunk_by(same_scope) {
            let Some(first) = group.first() else { continue };
            let sc = &first.scope;
            let mut sm = Map::new();
            let mut scope = Map::new();
            put(&mut scope, "name", json!(sc.name));
            put(&mut scope, "version", json!(sc.version));
            put_attributes(&mut scope, &sc.attributes, sc.dropped_attributes_count);
            sm.insert("scope".into(), Json::Object(scope));
            sm.insert(
                "logRecords".into(),
                Json::Array(group.iter().map(log_record_json).collect()),
            );
            put(&mut sm, "schemaUrl", json!(sc.schema_url));
            scope_logs.push(Json::Object(sm));
        }
        rm.insert("scopeLogs".into(), Json::Array(scope_logs));
        put(&mut rm, "schemaUrl", json!(r.schema_url));
        resource_logs.push(Json::Object(rm));
    }
    json!({ "resourceLogs": resource_logs })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"payment"}}]},"scopeLogs":[{"scope":{"name":"com.shop.Pay"},"logRecords":[{"timeUnixNano":"1748772001234355692","observedTimeUnixNano":"1748772001235071608","severityNumber":17,"severityText":"ERROR","body":{"stringValue":"card declined for user u42"},"attributes":[{"key":"thread.id","value":{"intValue":"327"}}],"flags":1,"traceId":"1027c4d1c386bbc4cd613e30d8f16adf","spanId":"6c0fd4f5f8130c43","eventName":"payment.declined"},{"observedTimeUnixNano":"5","severityNumber":"SEVERITY_NUMBER_WARN2","body":{"kvlistValue":{"values":[{"key":"a","value":{"intValue":1}}]}}}]}]}]}"#;

    #[test]
    fn decodes_every_field_and_round_trips() {
        let mut out = Vec::new();
        decode_json_logs_request(LINE.as_bytes(), &mut out).unwrap();
        assert_eq!(out.len(), 2);
        let l = &out[0];
        assert_eq!(l.service(), "payment");
        assert_eq!(l.severity_number, 17);
        assert_eq!(l.severity_text, "ERROR");
        assert_eq!(l.body_text(), "card declined for user u42");
        assert_eq!(l.event_name, "payment.declined");
        assert_eq!(l.flags, 1);
        assert_eq!(
            l.trace().unwrap().to_string(),
            "1027c4d1c386bbc4cd613e30d8f16adf"
        );
        assert_eq!(l.scope.name, "com.shop.Pay");
        let u = &out[1];
        assert_eq!(
            (u.severity_number, u.trace(), u.timestamp_ns()),
            (14, None, 5)
        );
        let again = encode_json_logs_request(&out).to_string();
        let mut back = Vec::new();
        decode_json_logs_request(again.as_bytes(), &mut back).unwrap();
        assert_eq!(back, out);
    }

    #[test]
    fn bad_fields_are_named_and_nothing_is_appended() {
        let mut out = Vec::new();
        let err =
            decode_json_logs_request(LINE.replace("6c0fd4f5f8130c43", "zz").as_bytes(), &mut out)
                .unwrap_err()
                .to_string();
        assert!(err.contains("logRecords[0].spanId"), "{err}");
        let err = decode_json_logs_request(LINE.replace(":17,", ":99,").as_bytes(), &mut out)
            .unwrap_err()
            .to_string();
        assert!(err.contains("severityNumber"), "{err}");
        assert!(decode_json_logs_request(b"{\"resourceLogs\":3}", &mut out).is_err());
        assert!(out.is_empty());
    }
}
