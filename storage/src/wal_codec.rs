//! Encoding of one log record (one `write` batch) in RocksDB's `wal` column family.
//! Faster than re-encoding OTLP protobuf: every string goes into a record-local dictionary
//! (keys and values repeat a lot within a batch), resources and scopes are written once per
//! record. Layout in docs/FORMAT.md ("Log records").

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use crate::codec::buf::{DecodeError, DecodeResult, Decoder, Encoder};
use crate::codec::value::{
    dict_str, for_each_string, for_each_value_string, get_attrs, get_value, put_attrs, put_value,
    StringPolicy,
};
use crate::model::{
    Event, Link, LogRecord, Resource, Scope, Span, SpanId, SpanKind, StatusCode, TraceId,
};

#[derive(Default)]
struct RecordStrings<'a> {
    ids: HashMap<&'a str, u32>,
    list: Vec<&'a str>,
    /// The ids of the spans' strings in the order they were met (see [`Replay`]).
    order: Vec<u32>,
}

impl<'a> RecordStrings<'a> {
    fn id(&mut self, s: &'a str) -> u32 {
        let next = self.list.len() as u32;
        *self.ids.entry(s).or_insert_with(|| {
            self.list.push(s);
            next
        })
    }
    fn id_in_order(&mut self, s: &'a str) {
        let id = self.id(s);
        self.order.push(id);
    }
}

/// `StringPolicy` needs owned lifetimes the borrow checker cannot tie to `'a` through a
/// trait object, so attribute lists are interned up front and then encoded by lookup.
struct Lookup<'r, 'a>(&'r RecordStrings<'a>);

impl StringPolicy for Lookup<'_, '_> {
    fn intern(&mut self, s: &str) -> u32 {
        self.0.ids.get(s).copied().unwrap_or(0)
    }
    fn value_ref(&mut self, _key: &str, s: &str) -> Option<u32> {
        self.0.ids.get(s).copied()
    }
}

/// The span strings' ids in the order the first pass met them, replayed by the second pass
/// (which meets them in the same order) instead of hashing each string again. Each replayed id
/// is checked against its string, and a mismatch falls back to the lookup: the ids written
/// are the lookup's whatever the order.
struct Replay<'r, 'a> {
    strings: &'r RecordStrings<'a>,
    order: &'r [u32],
    next: usize,
}

impl Replay<'_, '_> {
    fn find(&mut self, s: &str) -> Option<u32> {
        if let Some(&id) = self.order.get(self.next) {
            self.next += 1;
            if self.strings.list.get(id as usize) == Some(&s) {
                return Some(id);
            }
        }
        self.strings.ids.get(s).copied()
    }
    fn id(&mut self, s: &str) -> u64 {
        u64::from(self.find(s).unwrap_or(0))
    }
}

impl StringPolicy for Replay<'_, '_> {
    fn intern(&mut self, s: &str) -> u32 {
        self.find(s).unwrap_or(0)
    }
    fn value_ref(&mut self, _key: &str, s: &str) -> Option<u32> {
        self.find(s)
    }
}

/// Interns every string of `attrs` (keys and values, nested ones too).
fn intern_attrs<'a>(t: &mut RecordStrings<'a>, attrs: &'a [crate::model::KeyValue]) {
    for_each_string(attrs, &mut |s| {
        t.id(s);
    });
}

/// The record header shared by span and log records: the record-local dictionary, then the
/// resource and scope tables.
type Header = (Vec<String>, Vec<Arc<Resource>>, Vec<Arc<Scope>>);

fn intern_tables<'a>(
    strings: &mut RecordStrings<'a>,
    resources: &[&'a Arc<Resource>],
    scopes: &[&'a Arc<Scope>],
) {
    for r in resources {
        strings.id(&r.schema_url);
        intern_attrs(strings, &r.attributes);
    }
    for sc in scopes {
        for x in [&sc.name, &sc.version, &sc.schema_url] {
            strings.id(x);
        }
        intern_attrs(strings, &sc.attributes);
    }
}

fn put_strings(e: &mut Encoder, strings: &RecordStrings<'_>) {
    e.put_varint(strings.list.len() as u64);
    for s in &strings.list {
        e.put_str(s);
    }
}

fn put_tables(
    e: &mut Encoder,
    strings: &RecordStrings<'_>,
    resources: &[&Arc<Resource>],
    scopes: &[&Arc<Scope>],
) {
    let mut p = Lookup(strings);
    let id = |s: &str| u64::from(strings.ids.get(s).copied().unwrap_or(0));
    e.put_varint(resources.len() as u64);
    for r in resources {
        put_attrs(e, &r.attributes, &mut p);
        e.put_varint(u64::from(r.dropped_attributes_count));
        e.put_varint(id(&r.schema_url));
    }
    e.put_varint(scopes.len() as u64);
    for sc in scopes {
        e.put_varint(id(&sc.name));
        e.put_varint(id(&sc.version));
        put_attrs(e, &sc.attributes, &mut p);
        e.put_varint(u64::from(sc.dropped_attributes_count));
        e.put_varint(id(&sc.schema_url));
    }
}

fn get_header(d: &mut Decoder<'_>) -> DecodeResult<Header> {
    let n = d.get_count()?;
    let mut dict = Vec::with_capacity(n);
    for _ in 0..n {
        dict.push(d.get_str()?.to_owned());
    }
    let s = |d: &mut Decoder<'_>, dict: &[String]| -> DecodeResult<String> {
        Ok(dict_str(dict, d.get_varint()?)?.to_owned())
    };
    let mut resources = Vec::new();
    for _ in 0..d.get_count()? {
        resources.push(Arc::new(Resource {
            attributes: get_attrs(d, &dict)?,
            dropped_attributes_count: d.get_varint32()?,
            schema_url: s(d, &dict)?,
        }));
    }
    let mut scopes = Vec::new();
    for _ in 0..d.get_count()? {
        scopes.push(Arc::new(Scope {
            name: s(d, &dict)?,
            version: s(d, &dict)?,
            attributes: get_attrs(d, &dict)?,
            dropped_attributes_count: d.get_varint32()?,
            schema_url: s(d, &dict)?,
        }));
    }
    Ok((dict, resources, scopes))
}

/// Indexes of each item's resource and scope in the record's tables, filling the tables.
struct TableIds<'a> {
    resources: Vec<&'a Arc<Resource>>,
    scopes: Vec<&'a Arc<Scope>>,
    res_ids: HashMap<*const Resource, u32>,
    scope_ids: HashMap<*const Scope, u32>,
}

impl<'a> TableIds<'a> {
    fn new() -> Self {
        TableIds {
            resources: Vec::new(),
            scopes: Vec::new(),
            res_ids: HashMap::default(),
            scope_ids: HashMap::default(),
        }
    }
    fn add(&mut self, r: &'a Arc<Resource>, s: &'a Arc<Scope>) {
        let resources = &mut self.resources;
        self.res_ids.entry(Arc::as_ptr(r)).or_insert_with(|| {
            resources.push(r);
            resources.len() as u32 - 1
        });
        let scopes = &mut self.scopes;
        self.scope_ids.entry(Arc::as_ptr(s)).or_insert_with(|| {
            scopes.push(s);
            scopes.len() as u32 - 1
        });
    }
    fn ids(&self, r: &Arc<Resource>, s: &Arc<Scope>) -> (u64, u64) {
        (
            u64::from(self.res_ids.get(&Arc::as_ptr(r)).copied().unwrap_or(0)),
            u64::from(self.scope_ids.get(&Arc::as_ptr(s)).copied().unwrap_or(0)),
        )
    }
}

/// Encodes a batch of log records as one log-kind record body (docs/FORMAT.md, "Log record
/// body, logs"): the same header as span records, then the records.
pub fn encode_log_record(logs: &[LogRecord]) -> Vec<u8> {
    let mut strings = RecordStrings::default();
    strings.id("");
    let mut tables = TableIds::new();
    for l in logs {
        tables.add(&l.resource, &l.scope);
        for x in [&l.severity_text, &l.event_name] {
            strings.id(x);
        }
        intern_attrs(&mut strings, &l.attributes);
        for_each_value_string(&l.body, &mut |s| {
            strings.id(s);
        });
    }
    intern_tables(&mut strings, &tables.resources, &tables.scopes);
    let mut e = Encoder::new();
    e.buf.reserve(logs.len() * 120);
    put_strings(&mut e, &strings);
    put_tables(&mut e, &strings, &tables.resources, &tables.scopes);
    let mut p = Lookup(&strings);
    let id = |s: &str| u64::from(strings.ids.get(s).copied().unwrap_or(0));
    e.put_varint(logs.len() as u64);
    for l in logs {
        let (r, s) = tables.ids(&l.resource, &l.scope);
        e.put_varint(r);
        e.put_varint(s);
        e.put_u64(l.time_ns);
        e.put_u64(l.observed_time_ns);
        e.put_u8(l.severity_number);
        e.put_varint(id(&l.severity_text));
        put_value(&mut e, "", &l.body, &mut p);
        put_attrs(&mut e, &l.attributes, &mut p);
        e.put_varint(u64::from(l.dropped_attributes_count));
        e.put_varint(u64::from(l.flags));
        e.put_raw(&l.trace_id.0);
        e.put_raw(&l.span_id.0);
        e.put_varint(id(&l.event_name));
    }
    e.finish()
}

/// Decodes a body written by [`encode_log_record`].
pub fn decode_log_record(bytes: &[u8]) -> DecodeResult<Vec<LogRecord>> {
    let mut d = Decoder::new(bytes);
    let d = &mut d;
    let (dict, resources, scopes) = get_header(d)?;
    let s = |d: &mut Decoder<'_>, dict: &[String]| -> DecodeResult<String> {
        Ok(dict_str(dict, d.get_varint()?)?.to_owned())
    };
    let n = d.get_count()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (resource, scope) = get_resource_scope(d, &resources, &scopes)?;
        let time_ns = d.get_u64()?;
        let observed_time_ns = d.get_u64()?;
        let severity_number = d.get_u8()?;
        if severity_number > 24 {
            return Err(DecodeError::new(format!(
                "severity number {severity_number} out of range"
            )));
        }
        out.push(LogRecord {
            time_ns,
            observed_time_ns,
            severity_number,
            severity_text: s(d, &dict)?,
            body: get_value(d, &dict)?,
            attributes: get_attrs(d, &dict)?,
            dropped_attributes_count: d.get_varint32()?,
            flags: d.get_varint32()?,
            trace_id: TraceId(d.get_array()?),
            span_id: SpanId(d.get_array()?),
            event_name: s(d, &dict)?,
            resource,
            scope,
        });
    }
    if !d.is_empty() {
        return Err(DecodeError::new(format!(
            "{} trailing bytes in log record",
            d.remaining()
        )));
    }
    Ok(out)
}

/// Encodes a batch of spans as one log record body.
pub fn encode_record(spans: &[Span]) -> Vec<u8> {
    let mut strings = RecordStrings::default();
    strings.id("");
    let mut tables = TableIds::new();
    strings.order.reserve(spans.len() * 16);
    for s in spans {
        tables.add(&s.resource, &s.scope);
        for x in [&s.trace_state, &s.name, &s.status_message] {
            strings.id_in_order(x);
        }
        for_each_string(&s.attributes, &mut |x| strings.id_in_order(x));
        for e in &s.events {
            strings.id_in_order(&e.name);
            for_each_string(&e.attributes, &mut |x| strings.id_in_order(x));
        }
        for l in &s.links {
            strings.id_in_order(&l.trace_state);
            for_each_string(&l.attributes, &mut |x| strings.id_in_order(x));
        }
    }
    intern_tables(&mut strings, &tables.resources, &tables.scopes);
    let mut e = Encoder::new();
    e.buf.reserve(spans.len() * 160);
    put_strings(&mut e, &strings);
    put_tables(&mut e, &strings, &tables.resources, &tables.scopes);
    let mut p = Replay {
        strings: &strings,
        order: &strings.order,
        next: 0,
    };
    e.put_varint(spans.len() as u64);
    for s in spans {
        // Every span's resource and scope were entered in the first pass.
        let (resource, scope) = tables.ids(&s.resource, &s.scope);
        e.put_varint(resource);
        e.put_varint(scope);
        e.put_raw(&s.trace_id.0);
        e.put_raw(&s.span_id.0);
        match s.parent_span_id {
            Some(p) => {
                e.put_u8(1);
                e.put_raw(&p.0);
            }
            None => e.put_u8(0),
        }
        e.put_varint(p.id(&s.trace_state));
        e.put_varint(u64::from(s.flags));
        e.put_varint(p.id(&s.name));
        e.put_u8(s.kind as u8 | (s.status_code as u8) << 4);
        e.put_u64(s.start_ns);
        e.put_u64(s.end_ns);
        e.put_varint(p.id(&s.status_message));
        put_attrs(&mut e, &s.attributes, &mut p);
        e.put_varint(u64::from(s.dropped_attributes_count));
        e.put_varint(s.events.len() as u64);
        for ev in &s.events {
            e.put_u64(ev.time_ns);
            e.put_varint(p.id(&ev.name));
            put_attrs(&mut e, &ev.attributes, &mut p);
            e.put_varint(u64::from(ev.dropped_attributes_count));
        }
        e.put_varint(u64::from(s.dropped_events_count));
        e.put_varint(s.links.len() as u64);
        for l in &s.links {
            e.put_raw(&l.trace_id.0);
            e.put_raw(&l.span_id.0);
            e.put_varint(p.id(&l.trace_state));
            e.put_varint(u64::from(l.flags));
            put_attrs(&mut e, &l.attributes, &mut p);
            e.put_varint(u64::from(l.dropped_attributes_count));
        }
        e.put_varint(u64::from(s.dropped_links_count));
    }
    e.finish()
}

/// A record's resource and scope: indexes into the header's tables.
fn get_resource_scope(
    d: &mut Decoder<'_>,
    resources: &[Arc<Resource>],
    scopes: &[Arc<Scope>],
) -> DecodeResult<(Arc<Resource>, Arc<Scope>)> {
    let r = d.get_varint()? as usize;
    let sc = d.get_varint()? as usize;
    let resource = resources
        .get(r)
        .cloned()
        .ok_or_else(|| DecodeError::new(format!("resource {r} out of range")))?;
    let scope = scopes
        .get(sc)
        .cloned()
        .ok_or_else(|| DecodeError::new(format!("scope {sc} out of range")))?;
    Ok((resource, scope))
}

/// Decodes a log record body written by [`encode_record`].
pub fn decode_record(bytes: &[u8]) -> DecodeResult<Vec<Span>> {
    let mut d = Decoder::new(bytes);
    let d = &mut d;
    let (dict, resources, scopes) = get_header(d)?;
    let s = |d: &mut Decoder<'_>, dict: &[String]| -> DecodeResult<String> {
        Ok(dict_str(dict, d.get_varint()?)?.to_owned())
    };
    let n = d.get_count()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (resource, scope) = get_resource_scope(d, &resources, &scopes)?;
        let trace_id = TraceId(d.get_array()?);
        let span_id = SpanId(d.get_array()?);
        let parent_span_id = match d.get_u8()? {
            0 => None,
            1 => Some(SpanId(d.get_array()?)),
            t => return Err(DecodeError::new(format!("bad parent tag {t}"))),
        };
        let trace_state = s(d, &dict)?;
        let flags = d.get_varint32()?;
        let name = s(d, &dict)?;
        let ks = d.get_u8()?;
        let kind = SpanKind::from_u8(ks & 0x0f).ok_or_else(|| DecodeError::new("bad span kind"))?;
        let status_code =
            StatusCode::from_u8(ks >> 4).ok_or_else(|| DecodeError::new("bad status code"))?;
        let start_ns = d.get_u64()?;
        let end_ns = d.get_u64()?;
        let status_message = s(d, &dict)?;
        let attributes = get_attrs(d, &dict)?;
        let dropped_attributes_count = d.get_varint32()?;
        let mut events = Vec::new();
        for _ in 0..d.get_count()? {
            events.push(Event {
                time_ns: d.get_u64()?,
                name: s(d, &dict)?,
                attributes: get_attrs(d, &dict)?,
                dropped_attributes_count: d.get_varint32()?,
            });
        }
        let dropped_events_count = d.get_varint32()?;
        let mut links = Vec::new();
        for _ in 0..d.get_count()? {
            links.push(Link {
                trace_id: TraceId(d.get_array()?),
                span_id: SpanId(d.get_array()?),
                trace_state: s(d, &dict)?,
                flags: d.get_varint32()?,
                attributes: get_attrs(d, &dict)?,
                dropped_attributes_count: d.get_varint32()?,
            });
        }
        let dropped_links_count = d.get_varint32()?;
        out.push(Span {
            trace_id,
            span_id,
            parent_span_id,
            trace_state,
            flags,
            name,
            kind,
            start_ns,
            end_ns,
            status_code,
            status_message,
            resource,
            scope,
            attributes,
            dropped_attributes_count,
            events,
            dropped_events_count,
            links,
            dropped_links_count,
        });
    }
    if !d.is_empty() {
        return Err(DecodeError::new(format!(
            "{} trailing bytes in log record",
            d.remaining()
        )));
    }
    Ok(out)
}
