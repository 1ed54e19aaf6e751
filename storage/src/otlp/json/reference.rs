//! The serde decoder of OTLP JSON requests that the hand-written one (`decode`) replaced,
//! kept as the reference the differential tests compare it with.

use std::borrow::Cow;
use std::fmt::Display;
use std::sync::Arc;

use super::decode::{ids, span_id};
use super::schema::{JRequest, JStatus};
use super::values::conv_attrs;
use crate::model::{Event, Link, Resource, Scope, Span, SpanKind, StatusCode};
use crate::otlp::{Lenience, SpanPath};

fn bad(path: &dyn Display, what: String) -> String {
    format!("{path}: {what}")
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
/// The serde decoding of one request, with the bare message as its error.
pub(super) fn decode_request_serde(
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
