//! The span model: OpenTelemetry's trace data model with full fidelity.
//!
//! Resources and scopes are shared between the spans that came in together (`Arc`), as in OTLP,
//! so a batch of spans from one process costs one copy of its resource attributes.

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};

/// A 16-byte trace id. Displayed and parsed as 32 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TraceId(pub [u8; 16]);

/// An 8-byte span id. Displayed and parsed as 16 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SpanId(pub [u8; 8]);

fn parse_hex<const N: usize>(text: &str, what: &str) -> Result<[u8; N]> {
    let bytes = text.as_bytes();
    if bytes.len() != N * 2 {
        return Err(Error::InvalidInput(format!(
            "{what} must be {} hex characters, got {} ({text:?})",
            N * 2,
            bytes.len()
        )));
    }
    let mut out = [0u8; N];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        match (
            pair.first().and_then(|c| hex_digit(*c)),
            pair.get(1).and_then(|c| hex_digit(*c)),
        ) {
            (Some(hi), Some(lo)) => *slot = hi << 4 | lo,
            _ => {
                return Err(Error::InvalidInput(format!(
                    "{what} is not hexadecimal: {text:?}"
                )))
            }
        }
    }
    Ok(out)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

impl TraceId {
    /// Parses 32 hex characters.
    pub fn from_hex(text: &str) -> Result<Self> {
        parse_hex::<16>(text, "trace id").map(TraceId)
    }
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl SpanId {
    /// Parses 16 hex characters.
    pub fn from_hex(text: &str) -> Result<Self> {
        parse_hex::<8>(text, "span id").map(SpanId)
    }
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 8]
    }
}

impl std::str::FromStr for TraceId {
    type Err = Error;
    /// 32 hex characters, either case.
    fn from_str(text: &str) -> Result<Self> {
        TraceId::from_hex(text)
    }
}
impl std::str::FromStr for SpanId {
    type Err = Error;
    /// 16 hex characters, either case.
    fn from_str(text: &str) -> Result<Self> {
        SpanId::from_hex(text)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}
impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}
impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}
impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

/// OpenTelemetry `SpanKind`, with OTLP's numeric values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
#[repr(u8)]
pub enum SpanKind {
    #[default]
    Unspecified = 0,
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

impl SpanKind {
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::Unspecified,
            1 => Self::Internal,
            2 => Self::Server,
            3 => Self::Client,
            4 => Self::Producer,
            5 => Self::Consumer,
            _ => return None,
        })
    }
    /// The lowercase name TraceQL uses (`server`, `client`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Internal => "internal",
            Self::Server => "server",
            Self::Client => "client",
            Self::Producer => "producer",
            Self::Consumer => "consumer",
        }
    }
}

/// OpenTelemetry status code, with OTLP's numeric values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
#[repr(u8)]
pub enum StatusCode {
    #[default]
    Unset = 0,
    Ok = 1,
    Error = 2,
}

impl StatusCode {
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::Unset,
            1 => Self::Ok,
            2 => Self::Error,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unset => "unset",
            Self::Ok => "ok",
            Self::Error => "error",
        }
    }
}

/// An attribute value (OTLP `AnyValue`).
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    #[default]
    Empty,
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    KvList(Vec<KeyValue>),
}

impl Value {
    /// The value as a string if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Empty => Ok(()),
            Value::Str(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::Double(d) => write!(f, "{d}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Bytes(b) => write!(f, "<{} bytes>", b.len()),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::KvList(kvs) => {
                f.write_str("{")?;
                for (i, kv) in kvs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}={}", kv.key, kv.value)?;
                }
                f.write_str("}")
            }
        }
    }
}

/// An attribute: key and typed value. Order is kept as the client sent it.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct KeyValue {
    pub key: String,
    pub value: Value,
}

impl KeyValue {
    pub fn new(key: impl Into<String>, value: Value) -> Self {
        KeyValue {
            key: key.into(),
            value,
        }
    }
}

/// A hash of attribute lists (keys and values, in order), for deduplicating resources and
/// scopes by value without comparing every pair.
pub fn fingerprint(attrs: &[KeyValue], h: &mut impl std::hash::Hasher) {
    fn value(v: &Value, h: &mut impl std::hash::Hasher) {
        match v {
            Value::Empty => h.write_u8(0),
            Value::Str(s) => {
                h.write_u8(1);
                h.write(s.as_bytes());
                h.write_u8(0xff);
            }
            Value::Int(i) => {
                h.write_u8(2);
                h.write_i64(*i);
            }
            Value::Double(d) => {
                h.write_u8(3);
                h.write_u64(d.to_bits());
            }
            Value::Bool(b) => h.write_u8(4 + u8::from(*b)),
            Value::Bytes(b) => {
                h.write_u8(6);
                h.write(b);
                h.write_u8(0xff);
            }
            Value::Array(items) => {
                h.write_u8(7);
                h.write_usize(items.len());
                items.iter().for_each(|i| value(i, h));
            }
            Value::KvList(kvs) => {
                h.write_u8(8);
                fingerprint(kvs, h);
            }
        }
    }
    h.write_usize(attrs.len());
    for kv in attrs {
        h.write(kv.key.as_bytes());
        h.write_u8(0xff);
        value(&kv.value, h);
    }
}

/// Finds an attribute by key.
pub fn find_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs.iter().find(|kv| kv.key == key).map(|kv| &kv.value)
}

/// The entity that produced the spans (a process): `service.name` and friends.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Resource {
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    pub schema_url: String,
}

impl Resource {
    /// A hash of the whole resource (see [`fingerprint`]).
    pub fn fingerprint(&self) -> u64 {
        let mut h = rustc_hash::FxHasher::default();
        fingerprint(&self.attributes, &mut h);
        std::hash::Hasher::write_u32(&mut h, self.dropped_attributes_count);
        std::hash::Hasher::write(&mut h, self.schema_url.as_bytes());
        std::hash::Hasher::finish(&h)
    }

    /// `service.name`, or `""` when the resource has none.
    pub fn service_name(&self) -> &str {
        find_attr(&self.attributes, "service.name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// The instrumentation scope (library) that recorded the spans.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Scope {
    pub name: String,
    pub version: String,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    pub schema_url: String,
}

impl Scope {
    /// A hash of the whole scope (see [`fingerprint`]).
    pub fn fingerprint(&self) -> u64 {
        use std::hash::Hasher;
        let mut h = rustc_hash::FxHasher::default();
        h.write(self.name.as_bytes());
        h.write_u8(0xff);
        h.write(self.version.as_bytes());
        h.write_u8(0xff);
        fingerprint(&self.attributes, &mut h);
        h.write_u32(self.dropped_attributes_count);
        h.write(self.schema_url.as_bytes());
        h.finish()
    }
}

/// A timestamped event within a span (exceptions are events named `exception`).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Event {
    pub time_ns: u64,
    pub name: String,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
}

/// A link to a span of another (or the same) trace.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Link {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub trace_state: String,
    pub flags: u32,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
}

/// One span, as OpenTelemetry defines it.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Span {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    pub trace_state: String,
    pub flags: u32,
    pub name: String,
    pub kind: SpanKind,
    pub start_ns: u64,
    pub end_ns: u64,
    pub status_code: StatusCode,
    pub status_message: String,
    pub resource: Arc<Resource>,
    pub scope: Arc<Scope>,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    pub events: Vec<Event>,
    pub dropped_events_count: u32,
    pub links: Vec<Link>,
    pub dropped_links_count: u32,
}

impl Span {
    /// The resource's `service.name`.
    pub fn service(&self) -> &str {
        self.resource.service_name()
    }
    /// `end - start`, 0 when the end is before the start.
    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }
    pub fn is_error(&self) -> bool {
        self.status_code == StatusCode::Error
    }
    /// A span attribute by key.
    pub fn attr(&self, key: &str) -> Option<&Value> {
        find_attr(&self.attributes, key)
    }
}

/// OpenTelemetry severity numbers 1-24 fall in six ranges of four; 0 is unspecified.
pub const SEVERITY_NAMES: [&str; 7] = [
    "unspecified",
    "trace",
    "debug",
    "info",
    "warn",
    "error",
    "fatal",
];

/// The range name (`trace` ... `fatal`, or `unspecified`) of an OTLP severity number.
pub fn severity_name(number: u8) -> &'static str {
    let i = if number == 0 || number > 24 {
        0
    } else {
        (usize::from(number) - 1) / 4 + 1
    };
    SEVERITY_NAMES.get(i).copied().unwrap_or("unspecified")
}

/// The lowest severity number of a range name (`warn` -> 13), case-insensitive; `warning`
/// and `err` are accepted too.
pub fn severity_from_name(name: &str) -> Option<u8> {
    let n = name.to_ascii_lowercase();
    let n = match n.as_str() {
        "warning" => "warn",
        "err" => "error",
        "critical" | "crit" => "fatal",
        other => other,
    };
    let i = SEVERITY_NAMES.iter().position(|x| *x == n)?;
    Some(if i == 0 { 0 } else { (i as u8 - 1) * 4 + 1 })
}

/// One OpenTelemetry log record, with full fidelity. A record without trace context has an
/// all-zero `trace_id` (and `span_id`), as in OTLP.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct LogRecord {
    /// When the event happened (Unix ns); 0 when the source did not say.
    pub time_ns: u64,
    /// When the collector saw it (Unix ns).
    pub observed_time_ns: u64,
    /// OTLP severity number, 0 (unspecified) to 24.
    pub severity_number: u8,
    pub severity_text: String,
    /// Any value; usually a string.
    pub body: Value,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    pub flags: u32,
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub event_name: String,
    pub resource: Arc<Resource>,
    pub scope: Arc<Scope>,
}

impl LogRecord {
    /// The time the record sorts and filters by: `time_ns`, or the observed time when the
    /// source gave none (as the OpenTelemetry data model recommends).
    pub fn timestamp_ns(&self) -> u64 {
        if self.time_ns != 0 {
            self.time_ns
        } else {
            self.observed_time_ns
        }
    }
    /// The resource's `service.name`.
    pub fn service(&self) -> &str {
        self.resource.service_name()
    }
    /// The trace id, when the record carries trace context.
    pub fn trace(&self) -> Option<TraceId> {
        (!self.trace_id.is_zero()).then_some(self.trace_id)
    }
    /// The span id, when the record carries one.
    pub fn span(&self) -> Option<SpanId> {
        (!self.span_id.is_zero()).then_some(self.span_id)
    }
    /// The body as text: the string itself, or the value's display form.
    pub fn body_text(&self) -> std::borrow::Cow<'_, str> {
        match &self.body {
            Value::Str(s) => std::borrow::Cow::Borrowed(s),
            other => std::borrow::Cow::Owned(other.to_string()),
        }
    }
    /// A log attribute by key.
    pub fn attr(&self, key: &str) -> Option<&Value> {
        find_attr(&self.attributes, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_hex() {
        let t = TraceId::from_hex("0102030405060708090a0b0c0d0e0fFF").unwrap();
        assert_eq!(t.to_string(), "0102030405060708090a0b0c0d0e0fff");
        let s = SpanId::from_hex("00000000000000aa").unwrap();
        assert_eq!(s.0[7], 0xaa);
    }

    #[test]
    fn bad_hex_is_an_error_naming_the_field() {
        let err = TraceId::from_hex("xyz").unwrap_err().to_string();
        assert!(err.contains("trace id"), "{err}");
        let err = SpanId::from_hex("zz00000000000000")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not hexadecimal"), "{err}");
    }
}
