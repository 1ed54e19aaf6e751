//! Decoding: an OTLP JSON request into spans in one pass over its bytes (`scan`), without an
//! intermediate tree. Fields may come in any order, unknown fields are skipped, `null` reads
//! as the field's default (proto3 JSON), and every error names its place.
//!
//! What a span's fields mean (ids valid, enums in range, bytes in base64) is checked when the
//! span's object ends, in the order the serde decoder it replaced checked it (`reference`,
//! kept to test against): so lenient decoding drops and counts exactly the same parts.

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine;

use super::scan::{At, ScanError, ScanResult, Scanner};
use super::schema::{KIND_NAMES, OUT_OF_RANGE, STATUS_NAMES};
use crate::error::{Error, Result};
use crate::model::{
    Event, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind, StatusCode, TraceId, Value,
};
use crate::otlp::{Dropped, Lenience, SpanPath};

const U64: &str = "an unsigned 64-bit integer";
const U32: &str = "an unsigned 32-bit integer";
const I64: &str = "a signed 64-bit integer";

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
pub(super) fn decode_request(
    line: &[u8],
    out: &mut Vec<Span>,
    lenience: &mut Lenience<'_>,
) -> Result<(), String> {
    let before = out.len();
    let mut decoder = Decoder {
        s: Scanner::new(line),
        lenience,
        no_resource: Arc::default(),
        no_scope: Arc::default(),
    };
    decoder.request(out).map_err(|e| {
        out.truncate(before);
        e.into_message()
    })
}

fn bad(path: &dyn std::fmt::Display, what: impl std::fmt::Display) -> String {
    format!("{path}: {what}")
}

fn trace_id(text: &str, path: &SpanPath, field: &str) -> Result<TraceId, String> {
    let id = TraceId::from_hex(text).map_err(|e| bad(&format_args!("{path}.{field}"), e))?;
    if id.is_zero() {
        return Err(bad(
            &format_args!("{path}.{field}"),
            "trace id is all zeros (invalid in OTLP)",
        ));
    }
    Ok(id)
}

pub(super) fn span_id(text: &str, path: &SpanPath, field: &str) -> Result<SpanId, String> {
    SpanId::from_hex(text).map_err(|e| bad(&format_args!("{path}.{field}"), e))
}

/// A span's (or link's) trace id and span id. An all-zero span id is refused only when
/// `lenient` (strict decoding has always accepted it).
pub(super) fn ids(
    trace: &str,
    span: &str,
    path: &SpanPath,
    lenient: bool,
) -> Result<(TraceId, SpanId), String> {
    let t = trace_id(trace, path, "traceId")?;
    let s = span_id(span, path, "spanId")?;
    if lenient && s.is_zero() {
        return Err(bad(&format_args!("{path}.spanId"), "all zeros"));
    }
    Ok((t, s))
}

/// The first invalid value (bytes not in base64) met in a part of a request, reported only if
/// the part is kept: lenient decoding drops a span without valid ids whatever else it holds.
type FirstInvalid = Option<String>;

fn note_invalid(first: &mut FirstInvalid, what: impl FnOnce() -> String) {
    if first.is_none() {
        *first = Some(what());
    }
}

/// Reports a part's first invalid value, at the part's path.
fn check_valid(first: FirstInvalid, path: &SpanPath) -> ScanResult<()> {
    match first {
        Some(what) => Err(ScanError::Invalid(bad(path, what))),
        None => Ok(()),
    }
}

/// A link as read, its ids still text: they are checked once its span's ids are.
struct RawLink<'a> {
    trace_id: Cow<'a, str>,
    span_id: Cow<'a, str>,
    link: Link,
    invalid: FirstInvalid,
}

/// A span as read, before its fields are checked (see the module comment).
#[derive(Default)]
struct RawSpan<'a> {
    trace_id: Cow<'a, str>,
    span_id: Cow<'a, str>,
    parent_span_id: Cow<'a, str>,
    trace_state: Cow<'a, str>,
    flags: u32,
    name: Cow<'a, str>,
    kind: u8,
    start_ns: u64,
    end_ns: u64,
    attributes: Vec<KeyValue>,
    attributes_invalid: FirstInvalid,
    dropped_attributes_count: u32,
    events: Vec<Event>,
    events_invalid: FirstInvalid,
    dropped_events_count: u32,
    links: Vec<RawLink<'a>>,
    dropped_links_count: u32,
    status_message: Cow<'a, str>,
    status_code: u8,
}

struct Decoder<'a, 'l, 'd> {
    s: Scanner<'a>,
    lenience: &'l mut Lenience<'d>,
    /// What spans point to until their resource (or scope) is known: the fields of
    /// `resourceSpans` and `scopeSpans` may come in any order.
    no_resource: Arc<Resource>,
    no_scope: Arc<Scope>,
}

impl<'a> Decoder<'a, '_, '_> {
    /// Each element of the array in field `name`.
    fn each(
        &mut self,
        name: &'static str,
        mut element: impl FnMut(&mut Self, usize) -> ScanResult<()>,
    ) -> ScanResult<()> {
        let mut array = self.s.array().field(name)?;
        while let Some(i) = self.s.next_element(&mut array).field(name)? {
            element(self, i).index(i).field(name)?;
        }
        Ok(())
    }

    fn string(&mut self, name: &'static str) -> ScanResult<Cow<'a, str>> {
        self.s.string().field(name)
    }

    fn owned(&mut self, name: &'static str) -> ScanResult<String> {
        Ok(self.s.string().field(name)?.into_owned())
    }

    fn u32(&mut self, name: &'static str) -> ScanResult<u32> {
        self.s.integer(U32).field(name)
    }

    fn u64(&mut self, name: &'static str) -> ScanResult<u64> {
        self.s.integer(U64).field(name)
    }

    fn request(&mut self, out: &mut Vec<Span>) -> ScanResult<()> {
        let mut object = self.s.object()?;
        while let Some(name) = self.s.next_field(&mut object)? {
            match &*name {
                "resourceSpans" => self.each("resourceSpans", |d, i| d.resource_spans(i, out))?,
                _ => self.s.skip_value()?,
            }
        }
        self.s.finish()
    }

    fn resource_spans(&mut self, ri: usize, out: &mut Vec<Span>) -> ScanResult<()> {
        let path = SpanPath {
            resource: ri,
            ..SpanPath::default()
        };
        let first_span = out.len();
        let mut resource = Resource::default();
        let mut object = self.s.object()?;
        while let Some(name) = self.s.next_field(&mut object)? {
            match &*name {
                "resource" => self.resource(&mut resource, &path).field("resource")?,
                "scopeSpans" => self.each("scopeSpans", |d, si| d.scope_spans(path, si, out))?,
                "schemaUrl" => resource.schema_url = self.owned("schemaUrl")?,
                _ => self.s.skip_value()?,
            }
        }
        let resource = Arc::new(resource);
        for span in out.iter_mut().skip(first_span) {
            span.resource = resource.clone();
        }
        Ok(())
    }

    fn resource(&mut self, resource: &mut Resource, path: &SpanPath) -> ScanResult<()> {
        let mut invalid = None;
        let mut object = self.s.object()?;
        while let Some(name) = self.s.next_field(&mut object)? {
            match &*name {
                "attributes" => {
                    resource.attributes = self.attributes("attributes", &mut invalid)?
                }
                "droppedAttributesCount" => {
                    resource.dropped_attributes_count = self.u32("droppedAttributesCount")?
                }
                _ => self.s.skip_value()?,
            }
        }
        check_valid(invalid, path)
    }

    fn scope_spans(&mut self, path: SpanPath, si: usize, out: &mut Vec<Span>) -> ScanResult<()> {
        let path = SpanPath {
            scope: Some(si),
            ..path
        };
        let first_span = out.len();
        let mut scope = Scope::default();
        let mut object = self.s.object()?;
        while let Some(name) = self.s.next_field(&mut object)? {
            match &*name {
                "scope" => self.scope(&mut scope, &path).field("scope")?,
                "spans" => self.each("spans", |d, pi| {
                    let path = SpanPath {
                        span: Some(pi),
                        ..path
                    };
                    d.span(&path, out)
                })?,
                "schemaUrl" => scope.schema_url = self.owned("schemaUrl")?,
                _ => self.s.skip_value()?,
            }
        }
        let scope = Arc::new(scope);
        for span in out.iter_mut().skip(first_span) {
            span.scope = scope.clone();
        }
        Ok(())
    }

    fn scope(&mut self, scope: &mut Scope, path: &SpanPath) -> ScanResult<()> {
        let mut invalid = None;
        let mut object = self.s.object()?;
        while let Some(name) = self.s.next_field(&mut object)? {
            match &*name {
                "name" => scope.name = self.owned("name")?,
                "version" => scope.version = self.owned("version")?,
                "attributes" => scope.attributes = self.attributes("attributes", &mut invalid)?,
                "droppedAttributesCount" => {
                    scope.dropped_attributes_count = self.u32("droppedAttributesCount")?
                }
                _ => self.s.skip_value()?,
            }
        }
        check_valid(invalid, path)
    }

    fn span(&mut self, path: &SpanPath, out: &mut Vec<Span>) -> ScanResult<()> {
        let mut raw = RawSpan::default();
        let mut object = self.s.object()?;
        while let Some(name) = self.s.next_field(&mut object)? {
            match &*name {
                "traceId" => raw.trace_id = self.string("traceId")?,
                "spanId" => raw.span_id = self.string("spanId")?,
                "parentSpanId" => raw.parent_span_id = self.string("parentSpanId")?,
                "traceState" => raw.trace_state = self.string("traceState")?,
                "flags" => raw.flags = self.u32("flags")?,
                "name" => raw.name = self.string("name")?,
                "kind" => {
                    raw.kind = self
                        .s
                        .enumeration(KIND_NAMES, "span kind", OUT_OF_RANGE)
                        .field("kind")?
                }
                "startTimeUnixNano" => raw.start_ns = self.u64("startTimeUnixNano")?,
                "endTimeUnixNano" => raw.end_ns = self.u64("endTimeUnixNano")?,
                "attributes" => {
                    raw.attributes = self.attributes("attributes", &mut raw.attributes_invalid)?
                }
                "droppedAttributesCount" => {
                    raw.dropped_attributes_count = self.u32("droppedAttributesCount")?
                }
                "events" => {
                    let (mut events, invalid) = (Vec::new(), &mut raw.events_invalid);
                    self.each("events", |d, _| {
                        events.push(d.event(invalid)?);
                        Ok(())
                    })?;
                    raw.events = events;
                }
                "droppedEventsCount" => {
                    raw.dropped_events_count = self.u32("droppedEventsCount")?
                }
                "links" => {
                    let mut links = Vec::new();
                    self.each("links", |d, _| {
                        links.push(d.link()?);
                        Ok(())
                    })?;
                    raw.links = links;
                }
                "droppedLinksCount" => raw.dropped_links_count = self.u32("droppedLinksCount")?,
                "status" => self.status(&mut raw).field("status")?,
                _ => self.s.skip_value()?,
            }
        }
        if let Some(span) = self.check_span(raw, path)? {
            out.push(span);
        }
        Ok(())
    }

    fn status(&mut self, raw: &mut RawSpan<'a>) -> ScanResult<()> {
        let mut object = self.s.object()?;
        while let Some(name) = self.s.next_field(&mut object)? {
            match &*name {
                "message" => raw.status_message = self.string("message")?,
                "code" => {
                    raw.status_code = self
                        .s
                        .enumeration(STATUS_NAMES, "status code", OUT_OF_RANGE)
                        .field("code")?
                }
                _ => self.s.skip_value()?,
            }
        }
        Ok(())
    }

    /// A span's fields checked, in the reference decoder's order: `None` when lenient
    /// decoding drops the span.
    fn check_span(&mut self, raw: RawSpan<'a>, path: &SpanPath) -> ScanResult<Option<Span>> {
        let lenient = self.lenience.is_lenient();
        let Some((trace_id, span_id)) = self
            .lenience
            .part(ids(&raw.trace_id, &raw.span_id, path, lenient), |d| {
                &mut d.spans_without_ids
            })
            .map_err(ScanError::Invalid)?
        else {
            return Ok(None);
        };
        let parent_span_id = if raw.parent_span_id.is_empty() {
            None
        } else {
            self.lenience
                .part(
                    self::span_id(&raw.parent_span_id, path, "parentSpanId"),
                    |d| &mut d.invalid_parent_ids,
                )
                .map_err(ScanError::Invalid)?
        };
        check_valid(raw.events_invalid, path)?;
        let mut links = Vec::with_capacity(raw.links.len());
        for (li, l) in raw.links.into_iter().enumerate() {
            let lpath = SpanPath {
                link: Some(li),
                ..*path
            };
            let Some((link_trace_id, link_span_id)) = self
                .lenience
                .part(ids(&l.trace_id, &l.span_id, &lpath, lenient), |d| {
                    &mut d.invalid_links
                })
                .map_err(ScanError::Invalid)?
            else {
                continue;
            };
            check_valid(l.invalid, &lpath)?;
            links.push(Link {
                trace_id: link_trace_id,
                span_id: link_span_id,
                ..l.link
            });
        }
        let kind = self
            .lenience
            .part(
                SpanKind::from_u8(raw.kind)
                    .ok_or_else(|| bad(&format_args!("{path}.kind"), "not a valid span kind")),
                |d| &mut d.out_of_range_enums,
            )
            .map_err(ScanError::Invalid)?
            .unwrap_or_default();
        let status_code = self
            .lenience
            .part(
                StatusCode::from_u8(raw.status_code).ok_or_else(|| {
                    bad(
                        &format_args!("{path}.status.code"),
                        "not a valid status code",
                    )
                }),
                |d| &mut d.out_of_range_enums,
            )
            .map_err(ScanError::Invalid)?
            .unwrap_or_default();
        check_valid(raw.attributes_invalid, path)?;
        Ok(Some(Span {
            trace_id,
            span_id,
            parent_span_id,
            trace_state: raw.trace_state.into_owned(),
            flags: raw.flags,
            name: raw.name.into_owned(),
            kind,
            start_ns: raw.start_ns,
            end_ns: raw.end_ns,
            status_code,
            status_message: raw.status_message.into_owned(),
            resource: self.no_resource.clone(),
            scope: self.no_scope.clone(),
            attributes: raw.attributes,
            dropped_attributes_count: raw.dropped_attributes_count,
            events: raw.events,
            dropped_events_count: raw.dropped_events_count,
            links,
            dropped_links_count: raw.dropped_links_count,
        }))
    }

    fn event(&mut self, invalid: &mut FirstInvalid) -> ScanResult<Event> {
        let mut event = Event::default();
        let mut object = self.s.object()?;
        while let Some(name) = self.s.next_field(&mut object)? {
            match &*name {
                "timeUnixNano" => event.time_ns = self.u64("timeUnixNano")?,
                "name" => event.name = self.owned("name")?,
                "attributes" => event.attributes = self.attributes("attributes", invalid)?,
                "droppedAttributesCount" => {
                    event.dropped_attributes_count = self.u32("droppedAttributesCount")?
                }
                _ => self.s.skip_value()?,
            }
        }
        Ok(event)
    }

    fn link(&mut self) -> ScanResult<RawLink<'a>> {
        let mut raw = RawLink {
            trace_id: Cow::Borrowed(""),
            span_id: Cow::Borrowed(""),
            link: Link::default(),
            invalid: None,
        };
        let mut object = self.s.object()?;
        while let Some(name) = self.s.next_field(&mut object)? {
            match &*name {
                "traceId" => raw.trace_id = self.string("traceId")?,
                "spanId" => raw.span_id = self.string("spanId")?,
                "traceState" => raw.link.trace_state = self.owned("traceState")?,
                "flags" => raw.link.flags = self.u32("flags")?,
                "attributes" => {
                    raw.link.attributes = self.attributes("attributes", &mut raw.invalid)?
                }
                "droppedAttributesCount" => {
                    raw.link.dropped_attributes_count = self.u32("droppedAttributesCount")?
                }
                _ => self.s.skip_value()?,
            }
        }
        Ok(raw)
    }

    /// A list of `{"key": ..., "value": AnyValue}` in field `name`.
    fn attributes(
        &mut self,
        name: &'static str,
        invalid: &mut FirstInvalid,
    ) -> ScanResult<Vec<KeyValue>> {
        let mut attributes = Vec::new();
        self.each(name, |d, _| {
            attributes.push(d.key_value(invalid)?);
            Ok(())
        })?;
        Ok(attributes)
    }

    fn key_value(&mut self, invalid: &mut FirstInvalid) -> ScanResult<KeyValue> {
        let mut key = None;
        let mut value = Value::Empty;
        let mut object = self.s.object()?;
        while let Some(name) = self.s.next_field(&mut object)? {
            match &*name {
                "key" => key = Some(self.owned("key")?),
                "value" => value = self.any_value(invalid).field("value")?,
                _ => self.s.skip_value()?,
            }
        }
        match key {
            Some(key) => Ok(KeyValue { key, value }),
            None => Err(self.s.error("missing field \"key\"")),
        }
    }

    /// An AnyValue. When it holds more than one kind of value, the first of string, int,
    /// bool, double, array, kvlist, bytes wins (as in the reference decoder); an invalid
    /// value only counts if it is the one kept.
    fn any_value(&mut self, invalid: &mut FirstInvalid) -> ScanResult<Value> {
        let mut kept = (u8::MAX, Value::Empty, None);
        let mut keep = |rank: u8, value: Value, value_invalid: FirstInvalid| {
            if rank < kept.0 {
                kept = (rank, value, value_invalid);
            }
        };
        let mut bytes = None;
        let mut object = self.s.object()?;
        while let Some(name) = self.s.next_field(&mut object)? {
            match &*name {
                "stringValue" => keep(0, Value::Str(self.owned("stringValue")?), None),
                "intValue" => keep(1, Value::Int(self.s.integer(I64).field("intValue")?), None),
                "boolValue" => keep(2, Value::Bool(self.s.boolean().field("boolValue")?), None),
                "doubleValue" => keep(
                    3,
                    Value::Double(self.s.double().field("doubleValue")?),
                    None,
                ),
                "arrayValue" => {
                    let mut inner = None;
                    let values = self.array_values(&mut inner).field("arrayValue")?;
                    keep(4, Value::Array(values), inner);
                }
                "kvlistValue" => {
                    let mut inner = None;
                    let values = self.kvlist_values(&mut inner).field("kvlistValue")?;
                    keep(5, Value::KvList(values), inner);
                }
                "bytesValue" => bytes = Some(self.string("bytesValue")?),
                _ => self.s.skip_value()?,
            }
        }
        let (rank, mut value, value_invalid) = kept;
        if let Some(e) = value_invalid {
            note_invalid(invalid, || e);
        }
        if let (u8::MAX, Some(text)) = (rank, bytes) {
            match base64::engine::general_purpose::STANDARD.decode(text.as_bytes()) {
                Ok(b) => value = Value::Bytes(b),
                Err(e) => note_invalid(invalid, || format!("bytesValue is not base64: {e}")),
            }
        }
        Ok(value)
    }

    fn array_values(&mut self, invalid: &mut FirstInvalid) -> ScanResult<Vec<Value>> {
        let mut values = Vec::new();
        let mut object = self.s.object()?;
        while let Some(name) = self.s.next_field(&mut object)? {
            match &*name {
                "values" => {
                    values.clear();
                    self.each("values", |d, _| {
                        values.push(d.any_value(invalid)?);
                        Ok(())
                    })?
                }
                _ => self.s.skip_value()?,
            }
        }
        Ok(values)
    }

    fn kvlist_values(&mut self, invalid: &mut FirstInvalid) -> ScanResult<Vec<KeyValue>> {
        let mut values = Vec::new();
        let mut object = self.s.object()?;
        while let Some(name) = self.s.next_field(&mut object)? {
            match &*name {
                "values" => values = self.attributes("values", invalid)?,
                _ => self.s.skip_value()?,
            }
        }
        Ok(values)
    }
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
