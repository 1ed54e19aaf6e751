//! Writes: spans from C structs (no serialization), OTLP protobuf and OTLP JSON requests.

use std::collections::HashMap;
use std::sync::Arc;

use spandb_api::{
    Event, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind, StatusCode, TraceId, Value,
};

use crate::args::{bytes, slice, text};
use crate::db::spandb_db;
use crate::error::{guard, spandb_status, CError, CResult};
use crate::types::*;

/// Converts C spans into the Rust model, checking every pointer, length and string.
#[derive(Default)]
struct Converter {
    resources: HashMap<usize, Arc<Resource>>,
    scopes: HashMap<usize, Arc<Scope>>,
    empty_resource: Arc<Resource>,
    empty_scope: Arc<Scope>,
}

impl CError {
    /// Prefixes the message with where in the input the problem is.
    fn at(mut self, place: impl std::fmt::Display) -> Self {
        self.message = format!("{place}: {}", self.message);
        self
    }
}

fn span_id(bytes: [u8; 8]) -> Option<SpanId> {
    (bytes != [0; 8]).then_some(SpanId(bytes))
}

impl Converter {
    /// # Safety
    /// Every pointer reachable from `s` must be valid as `spandb_write_spans` documents.
    unsafe fn span(&mut self, s: &spandb_span) -> CResult<Span> {
        let kind = u8::try_from(s.kind)
            .ok()
            .and_then(SpanKind::from_u8)
            .ok_or_else(|| {
                CError::invalid(format!(
                    "`kind` {} is not an OTLP span kind (0..=5)",
                    s.kind
                ))
            })?;
        let status_code = u8::try_from(s.status_code)
            .ok()
            .and_then(StatusCode::from_u8)
            .ok_or_else(|| {
                CError::invalid(format!(
                    "`status_code` {} is not an OTLP status code (0..=2)",
                    s.status_code
                ))
            })?;
        // SAFETY (whole block): the pointers come from `s`, valid per this function's contract.
        unsafe {
            Ok(Span {
                trace_id: TraceId(s.trace_id),
                span_id: SpanId(s.span_id),
                parent_span_id: span_id(s.parent_span_id),
                trace_state: text(&s.trace_state, "trace_state")?.to_owned(),
                flags: s.flags,
                name: text(&s.name, "name")?.to_owned(),
                kind,
                start_ns: s.start_ns,
                end_ns: s.end_ns,
                status_code,
                status_message: text(&s.status_message, "status_message")?.to_owned(),
                resource: self.resource(s.resource)?,
                scope: self.scope(s.scope)?,
                attributes: attrs(s.attributes, s.attributes_len, "attributes", 0)?,
                dropped_attributes_count: s.dropped_attributes_count,
                events: events(s.events, s.events_len)?,
                dropped_events_count: s.dropped_events_count,
                links: links(s.links, s.links_len)?,
                dropped_links_count: s.dropped_links_count,
            })
        }
    }

    /// One `Arc` per distinct resource pointer in the batch.
    unsafe fn resource(&mut self, ptr: *const spandb_resource) -> CResult<Arc<Resource>> {
        // SAFETY: the caller guarantees `ptr` is NULL or points to a valid `spandb_resource`,
        // and so are the pointers inside it.
        unsafe {
            interned(
                &mut self.resources,
                &self.empty_resource,
                ptr,
                "resource",
                |r| {
                    Ok(Resource {
                        attributes: attrs(r.attributes, r.attributes_len, "attributes", 0)
                            .map_err(|e| e.at("resource"))?,
                        dropped_attributes_count: r.dropped_attributes_count,
                        schema_url: text(&r.schema_url, "resource.schema_url")?.to_owned(),
                    })
                },
            )
        }
    }

    /// One `Arc` per distinct scope pointer in the batch.
    unsafe fn scope(&mut self, ptr: *const spandb_scope) -> CResult<Arc<Scope>> {
        // SAFETY: the caller guarantees `ptr` is NULL or points to a valid `spandb_scope`,
        // and so are the pointers inside it.
        unsafe {
            interned(&mut self.scopes, &self.empty_scope, ptr, "scope", |s| {
                Ok(Scope {
                    name: text(&s.name, "scope.name")?.to_owned(),
                    version: text(&s.version, "scope.version")?.to_owned(),
                    attributes: attrs(s.attributes, s.attributes_len, "attributes", 0)
                        .map_err(|e| e.at("scope"))?,
                    dropped_attributes_count: s.dropped_attributes_count,
                    schema_url: text(&s.schema_url, "scope.schema_url")?.to_owned(),
                })
            })
        }
    }
}

/// # Safety
/// `ptr`/`len` and everything reachable from the elements must be valid (see `slice`).
unsafe fn attrs(
    ptr: *const spandb_key_value,
    len: usize,
    what: &str,
    depth: u32,
) -> CResult<Vec<KeyValue>> {
    // SAFETY: caller's contract.
    let kvs = unsafe { slice(ptr, len, what) }?;
    let mut out = Vec::with_capacity(kvs.len());
    for (i, kv) in kvs.iter().enumerate() {
        // SAFETY: `kv` is a valid element, so its pointers are valid by the caller's contract.
        let converted =
            unsafe { text(&kv.key, "key").and_then(|k| Ok((k, value(&kv.value, depth)?))) };
        let (key, value) = converted.map_err(|e| e.at(format_args!("{what}[{i}]")))?;
        out.push(KeyValue {
            key: key.to_owned(),
            value,
        });
    }
    Ok(out)
}

/// # Safety
/// The pointers of `v` (for its kind) must be valid.
unsafe fn value(v: &spandb_value, depth: u32) -> CResult<Value> {
    if depth >= SPANDB_MAX_VALUE_DEPTH {
        return Err(CError::invalid(format!(
            "values nest deeper than {SPANDB_MAX_VALUE_DEPTH} levels"
        )));
    }
    // SAFETY (whole block): only the pointers the kind names are read; valid per the contract.
    unsafe {
        Ok(match v.kind {
            SPANDB_VALUE_EMPTY => Value::Empty,
            SPANDB_VALUE_STRING => Value::Str(text(&v.string_value, "string_value")?.to_owned()),
            SPANDB_VALUE_INT => Value::Int(v.int_value),
            SPANDB_VALUE_DOUBLE => Value::Double(v.double_value),
            SPANDB_VALUE_BOOL => Value::Bool(v.bool_value != 0),
            SPANDB_VALUE_BYTES => Value::Bytes(bytes(&v.string_value, "string_value")?.to_vec()),
            SPANDB_VALUE_ARRAY => {
                let items = slice(v.array, v.array_len, "array")?;
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(value(item, depth + 1).map_err(|e| e.at(format_args!("array[{i}]")))?);
                }
                Value::Array(out)
            }
            SPANDB_VALUE_KVLIST => {
                Value::KvList(attrs(v.kvlist, v.kvlist_len, "kvlist", depth + 1)?)
            }
            other => {
                return Err(CError::invalid(format!(
                    "`kind` {other} is not a SPANDB_VALUE_* constant"
                )))
            }
        })
    }
}

unsafe fn events(ptr: *const spandb_event, len: usize) -> CResult<Vec<Event>> {
    // SAFETY: caller's contract.
    let events = unsafe { slice(ptr, len, "events") }?;
    let mut out = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        // SAFETY: pointers inside a valid element, per the caller's contract.
        let event = unsafe {
            (|| {
                Ok(Event {
                    time_ns: e.time_ns,
                    name: text(&e.name, "name")?.to_owned(),
                    attributes: attrs(e.attributes, e.attributes_len, "attributes", 0)?,
                    dropped_attributes_count: e.dropped_attributes_count,
                })
            })()
        };
        out.push(event.map_err(|e: CError| e.at(format_args!("events[{i}]")))?);
    }
    Ok(out)
}

unsafe fn links(ptr: *const spandb_link, len: usize) -> CResult<Vec<Link>> {
    // SAFETY: caller's contract.
    let links = unsafe { slice(ptr, len, "links") }?;
    let mut out = Vec::with_capacity(links.len());
    for (i, l) in links.iter().enumerate() {
        // SAFETY: pointers inside a valid element, per the caller's contract.
        let link = unsafe {
            (|| {
                Ok(Link {
                    trace_id: TraceId(l.trace_id),
                    span_id: SpanId(l.span_id),
                    trace_state: text(&l.trace_state, "trace_state")?.to_owned(),
                    flags: l.flags,
                    attributes: attrs(l.attributes, l.attributes_len, "attributes", 0)?,
                    dropped_attributes_count: l.dropped_attributes_count,
                })
            })()
        };
        out.push(link.map_err(|e: CError| e.at(format_args!("links[{i}]")))?);
    }
    Ok(out)
}

/// Converts `count` C spans (exposed for the benchmark).
///
/// # Safety
/// As `spandb_write_spans` documents for `spans` / `count`.
pub unsafe fn spans_from_c(spans: *const spandb_span, count: usize) -> CResult<Vec<Span>> {
    // SAFETY: caller's contract.
    let input = unsafe { slice(spans, count, "spans") }?;
    let mut conv = Converter::default();
    let mut out = Vec::with_capacity(input.len());
    for (i, s) in input.iter().enumerate() {
        // SAFETY: a valid element, per the caller's contract.
        out.push(unsafe { conv.span(s) }.map_err(|e| e.at(format_args!("spans[{i}]")))?);
    }
    Ok(out)
}

/// The `Arc` for the C struct at `ptr`: `empty` for NULL, the cached one for a pointer seen
/// before in the batch, else `build` from the struct (and cached).
///
/// # Safety
/// `ptr` must be NULL or point to a valid `C` whose own pointers are valid for `build`.
unsafe fn interned<C, T>(
    cache: &mut HashMap<usize, Arc<T>>,
    empty: &Arc<T>,
    ptr: *const C,
    what: &str,
    build: impl FnOnce(&C) -> CResult<T>,
) -> CResult<Arc<T>> {
    if ptr.is_null() {
        return Ok(empty.clone());
    }
    if let Some(v) = cache.get(&(ptr as usize)) {
        return Ok(v.clone());
    }
    // SAFETY: non-NULL; valid for one `C` per this function's contract.
    let c = unsafe { slice(ptr, 1, what) }?;
    let value = Arc::new(build(c.first().ok_or_else(|| CError::null(what))?)?);
    cache.insert(ptr as usize, value.clone());
    Ok(value)
}

/// Writes `count` spans given as C structs, copying them (no serialization); the caller's
/// memory is not referenced after the call returns. When it returns `SPANDB_OK` the spans are
/// durable per the database's durability option and visible to later reads. The batch is
/// all-or-nothing: if any span is invalid (bad pointer/length, invalid UTF-8, unknown kind or
/// status, all-zero trace id) nothing is written.
///
/// Ownership: `spans` and everything it points to is borrowed for the call only.
/// Thread safety: may be called from any thread, concurrently with any call on the same `db`.
///
/// # Safety
/// `spans` must point to `count` valid `spandb_span`s (NULL allowed when `count` is 0), and each
/// pointer/length pair inside must describe readable memory.
#[no_mangle]
pub unsafe extern "C" fn spandb_write_spans(
    db: *const spandb_db,
    spans: *const spandb_span,
    count: usize,
) -> spandb_status {
    guard(|| {
        let db = crate::db::db(db)?;
        // SAFETY: the caller's contract above.
        let spans = unsafe { spans_from_c(spans, count) }?;
        Ok(db.write(spans)?)
    })
}

/// Writes the spans of one OTLP `ExportTraceServiceRequest` (protobuf bytes). All or nothing.
///
/// Ownership: `data` is borrowed for the call only.
/// Thread safety: any thread, concurrently with any call on the same `db`.
///
/// # Safety
/// `data` must point to `len` readable bytes (NULL allowed when `len` is 0).
#[no_mangle]
pub unsafe extern "C" fn spandb_write_otlp_proto(
    db: *const spandb_db,
    data: *const u8,
    len: usize,
) -> spandb_status {
    guard(|| {
        let db = crate::db::db(db)?;
        // SAFETY: the caller's contract above.
        let data = unsafe { slice(data, len, "data") }?;
        let mut spans = Vec::new();
        spandb_api::otlp::proto::decode_proto_request(data, &mut spans)?;
        Ok(db.write(spans)?)
    })
}

/// Writes the spans of one OTLP JSON `ExportTraceServiceRequest` (one line of the OpenTelemetry
/// Collector's file exporter). All or nothing.
///
/// Ownership: `data` is borrowed for the call only.
/// Thread safety: any thread, concurrently with any call on the same `db`.
///
/// # Safety
/// `data` must point to `len` readable bytes (NULL allowed when `len` is 0).
#[no_mangle]
pub unsafe extern "C" fn spandb_write_otlp_json(
    db: *const spandb_db,
    data: *const u8,
    len: usize,
) -> spandb_status {
    guard(|| {
        let db = crate::db::db(db)?;
        // SAFETY: the caller's contract above.
        let data = unsafe { slice(data, len, "data") }?;
        crate::args::utf8(data, "data")?;
        let mut spans = Vec::new();
        spandb_api::otlp::json::decode_json_request(data, &mut spans)?;
        Ok(db.write(spans)?)
    })
}
