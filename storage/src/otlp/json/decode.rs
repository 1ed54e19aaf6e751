//! Decoding: an OTLP JSON request into spans, naming the field of any error.

use std::borrow::Cow;
use std::fmt::Display;
use std::sync::Arc;

use base64::Engine;

use super::schema::{JAnyValue, JKeyValue, JRequest, JStatus};
use crate::error::{Error, Result};
use crate::model::{
    Event, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind, StatusCode, TraceId, Value,
};
use crate::otlp::{Dropped, Lenience, SpanPath};

fn bad(path: &dyn Display, what: String) -> String {
    format!("{path}: {what}")
}

pub(super) fn conv_attrs(
    attrs: Vec<JKeyValue<'_>>,
    path: &dyn Display,
) -> Result<Vec<KeyValue>, String> {
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

pub(super) fn conv_value(v: JAnyValue<'_>, path: &dyn Display) -> Result<Value, String> {
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

fn trace_id(text: &str, path: &SpanPath, field: &str) -> Result<TraceId, String> {
    let id = TraceId::from_hex(text).map_err(|e| bad(&format!("{path}.{field}"), e.to_string()))?;
    if id.is_zero() {
        return Err(bad(
            &format!("{path}.{field}"),
            "trace id is all zeros (invalid in OTLP)".into(),
        ));
    }
    Ok(id)
}

fn span_id(text: &str, path: &SpanPath, field: &str) -> Result<SpanId, String> {
    SpanId::from_hex(text).map_err(|e| bad(&format!("{path}.{field}"), e.to_string()))
}

/// A span's (or link's) trace id and span id. An all-zero span id is refused only when
/// `lenient` (strict decoding has always accepted it).
fn ids(
    trace: &str,
    span: &str,
    path: &SpanPath,
    lenient: bool,
) -> Result<(TraceId, SpanId), String> {
    let t = trace_id(trace, path, "traceId")?;
    let s = span_id(span, path, "spanId")?;
    if lenient && s.is_zero() {
        return Err(bad(&format!("{path}.spanId"), "all zeros".into()));
    }
    Ok((t, s))
}

fn convert(
    req: JRequest<'_>,
    out: &mut Vec<Span>,
    lenience: &mut Lenience<'_>,
) -> Result<(), String> {
    for (ri, rs) in req.resource_spans.into_iter().enumerate() {
        let rpath = SpanPath {
            resource: ri,
            ..SpanPath::default()
        };
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
            let spath = SpanPath {
                scope: Some(si),
                ..rpath
            };
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
                let path = SpanPath {
                    span: Some(pi),
                    ..spath
                };
                let lenient = lenience.is_lenient();
                let Some((span_trace_id, span_span_id)) = lenience
                    .part(ids(&s.trace_id, &s.span_id, &path, lenient), |d| {
                        &mut d.spans_without_ids
                    })?
                else {
                    continue;
                };
                let parent_span_id = if s.parent_span_id.is_empty() {
                    None
                } else {
                    lenience.part(span_id(&s.parent_span_id, &path, "parentSpanId"), |d| {
                        &mut d.invalid_parent_ids
                    })?
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
                        trace_state: l.trace_state.into_owned(),
                        flags: l.flags,
                        attributes: conv_attrs(l.attributes, &lpath)?,
                        dropped_attributes_count: l.dropped_attributes_count,
                    });
                }
                let kind = lenience
                    .part(
                        SpanKind::from_u8(s.kind).ok_or_else(|| {
                            bad(&format!("{path}.kind"), "not a valid span kind".into())
                        }),
                        |d| &mut d.out_of_range_enums,
                    )?
                    .unwrap_or_default();
                let status_code = lenience
                    .part(
                        StatusCode::from_u8(status.code).ok_or_else(|| {
                            bad(
                                &format!("{path}.status.code"),
                                "not a valid status code".into(),
                            )
                        }),
                        |d| &mut d.out_of_range_enums,
                    )?
                    .unwrap_or_default();
                out.push(Span {
                    trace_id: span_trace_id,
                    span_id: span_span_id,
                    parent_span_id,
                    trace_state: s.trace_state.into_owned(),
                    flags: s.flags,
                    name: s.name.into_owned(),
                    kind,
                    start_ns: s.start_time_unix_nano,
                    end_ns: s.end_time_unix_nano,
                    status_code,
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
/// On error (`Error::InvalidInput`) nothing is appended, and the message names the field.
pub fn decode_json_request(line: &[u8], out: &mut Vec<Span>) -> Result<()> {
    decode_request(line, out, &mut Lenience(None)).map_err(Error::InvalidInput)
}

/// Like [`decode_json_request`], but keeps what it can: a span without valid ids is skipped,
/// an invalid link or parent id is removed from its span, an out-of-range enum becomes
/// unspecified, each counted in `dropped`. Malformed JSON still fails the request (and then
/// neither `out` nor `dropped` changes).
pub fn decode_json_request_lenient(
    line: &[u8],
    out: &mut Vec<Span>,
    dropped: &mut Dropped,
) -> Result<()> {
    let saved = *dropped;
    decode_request(line, out, &mut Lenience(Some(dropped))).map_err(|e| {
        *dropped = saved;
        Error::InvalidInput(e)
    })
}

/// [`decode_json_request`] with the bare message as its error.
fn decode_request(
    line: &[u8],
    out: &mut Vec<Span>,
    lenience: &mut Lenience<'_>,
) -> Result<(), String> {
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
    convert(req, out, lenience).inspect_err(|_| out.truncate(before))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::json::GOOD;

    #[test]
    fn lenient_decoding_keeps_spans_without_their_bad_parts() {
        let line = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[
            {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"kept",
             "parentSpanId":"xyz","kind":9,
             "links":[{"traceId":"00000000000000000000000000000000","spanId":"eee19b7ec3c1b175"},
                      {"traceId":"5b8efff798038103d269b633813fc60d","spanId":"eee19b7ec3c1b176"}]},
            {"traceId":"00000000000000000000000000000000","spanId":"eee19b7ec3c1b177","name":"no trace id"},
            {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"0000000000000000","name":"zero span id"}]}]}]}"#;
        let mut strict = Vec::new();
        assert!(decode_json_request(line.as_bytes(), &mut strict).is_err());
        assert!(strict.is_empty(), "strict is all or nothing");
        let mut out = Vec::new();
        let mut dropped = Dropped::default();
        decode_json_request_lenient(line.as_bytes(), &mut out, &mut dropped).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].name, "kept");
        assert_eq!(out[0].parent_span_id, None);
        assert_eq!(out[0].kind, SpanKind::Unspecified);
        assert_eq!(out[0].links.len(), 1);
        assert_eq!(
            dropped,
            Dropped {
                spans_without_ids: 2,
                invalid_links: 1,
                invalid_parent_ids: 1,
                out_of_range_enums: 1,
            }
        );
        let before = dropped;
        assert!(decode_json_request_lenient(b"{not json", &mut out, &mut dropped).is_err());
        assert_eq!(
            (out.len(), dropped),
            (1, before),
            "a failed request changes nothing"
        );
    }

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
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("resourceSpans[0].scopeSpans[0].spans[0].spanId"),
            "{err}"
        );
        let err = decode_json_request(GOOD.replace(r#""42""#, r#""4x2""#).as_bytes(), &mut out)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue"),
            "{err}"
        );
        let err = decode_json_request(br#"{"resourceSpans": 3}"#, &mut out)
            .unwrap_err()
            .to_string();
        assert!(err.contains("resourceSpans"), "{err}");
        assert!(out.is_empty(), "nothing is appended from a bad line");
    }
}
