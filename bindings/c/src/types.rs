//! The plain C structs spans are written from and read back into. Strings are pointer +
//! length (UTF-8, not NUL-terminated), arrays are pointer + count, and typed values carry a
//! `kind` tag with one field per type (no unions: cgo cannot read them).

use std::ffi::c_char;
use std::ptr;

/// A UTF-8 string (or, for `SPANDB_VALUE_BYTES`, raw bytes): `len` bytes at `ptr`, not
/// NUL-terminated. `ptr` may be NULL when `len` is 0.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct spandb_str {
    pub ptr: *const c_char,
    pub len: usize,
}

impl spandb_str {
    pub const EMPTY: spandb_str = spandb_str {
        ptr: ptr::null(),
        len: 0,
    };
    /// Borrows `bytes` (the view must not outlive them).
    pub fn of(bytes: &[u8]) -> spandb_str {
        spandb_str {
            ptr: bytes.as_ptr().cast(),
            len: bytes.len(),
        }
    }
}

/// `spandb_value.kind`: no value (OTLP's empty `AnyValue`; a missing metrics label).
pub const SPANDB_VALUE_EMPTY: u32 = 0;
/// `spandb_value.kind`: `string_value` holds UTF-8 text.
pub const SPANDB_VALUE_STRING: u32 = 1;
/// `spandb_value.kind`: `int_value`.
pub const SPANDB_VALUE_INT: u32 = 2;
/// `spandb_value.kind`: `double_value`.
pub const SPANDB_VALUE_DOUBLE: u32 = 3;
/// `spandb_value.kind`: `bool_value` (0 false, anything else true).
pub const SPANDB_VALUE_BOOL: u32 = 4;
/// `spandb_value.kind`: `string_value` holds raw bytes (any content).
pub const SPANDB_VALUE_BYTES: u32 = 5;
/// `spandb_value.kind`: `array` / `array_len` hold the elements.
pub const SPANDB_VALUE_ARRAY: u32 = 6;
/// `spandb_value.kind`: `kvlist` / `kvlist_len` hold a nested key/value list.
pub const SPANDB_VALUE_KVLIST: u32 = 7;

/// Arrays and key/value lists nest at most this deep; deeper values are rejected.
pub const SPANDB_MAX_VALUE_DEPTH: u32 = 32;

/// A typed attribute value. Only the field(s) named by `kind` are read; set the others to 0.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct spandb_value {
    /// One of the `SPANDB_VALUE_*` constants.
    pub kind: u32,
    pub bool_value: u8,
    pub int_value: i64,
    pub double_value: f64,
    /// For `SPANDB_VALUE_STRING` (UTF-8) and `SPANDB_VALUE_BYTES` (any bytes).
    pub string_value: spandb_str,
    pub array: *const spandb_value,
    pub array_len: usize,
    pub kvlist: *const spandb_key_value,
    pub kvlist_len: usize,
}

impl spandb_value {
    pub const EMPTY: spandb_value = spandb_value {
        kind: SPANDB_VALUE_EMPTY,
        bool_value: 0,
        int_value: 0,
        double_value: 0.0,
        string_value: spandb_str::EMPTY,
        array: ptr::null(),
        array_len: 0,
        kvlist: ptr::null(),
        kvlist_len: 0,
    };
}

/// An attribute: a UTF-8 key and a typed value.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct spandb_key_value {
    pub key: spandb_str,
    pub value: spandb_value,
}

/// The process that produced spans. `service.name` among the attributes is the span's service.
/// Spans of one write that point to the same `spandb_resource` share one copy of it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct spandb_resource {
    pub attributes: *const spandb_key_value,
    pub attributes_len: usize,
    pub dropped_attributes_count: u32,
    pub schema_url: spandb_str,
}

/// The instrumentation scope (library) that recorded spans. Shared like `spandb_resource`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct spandb_scope {
    pub name: spandb_str,
    pub version: spandb_str,
    pub attributes: *const spandb_key_value,
    pub attributes_len: usize,
    pub dropped_attributes_count: u32,
    pub schema_url: spandb_str,
}

/// A timestamped event of a span (exceptions are events named `exception`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct spandb_event {
    /// Nanoseconds since the Unix epoch.
    pub time_ns: u64,
    pub name: spandb_str,
    pub attributes: *const spandb_key_value,
    pub attributes_len: usize,
    pub dropped_attributes_count: u32,
}

/// A link from a span to another span.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct spandb_link {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub trace_state: spandb_str,
    pub flags: u32,
    pub attributes: *const spandb_key_value,
    pub attributes_len: usize,
    pub dropped_attributes_count: u32,
}

/// One span, as OpenTelemetry defines it. Input of `spandb_write_spans` and the element of a
/// `spandb_trace` view.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct spandb_span {
    /// Must not be all zero.
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    /// All zero for a root span.
    pub parent_span_id: [u8; 8],
    pub trace_state: spandb_str,
    pub flags: u32,
    pub name: spandb_str,
    /// OTLP's `SpanKind`: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    pub kind: u32,
    /// Nanoseconds since the Unix epoch.
    pub start_ns: u64,
    pub end_ns: u64,
    /// OTLP's status code: 0 unset, 1 ok, 2 error.
    pub status_code: u32,
    pub status_message: spandb_str,
    /// NULL for an empty resource.
    pub resource: *const spandb_resource,
    /// NULL for an empty scope.
    pub scope: *const spandb_scope,
    pub attributes: *const spandb_key_value,
    pub attributes_len: usize,
    pub dropped_attributes_count: u32,
    pub events: *const spandb_event,
    pub events_len: usize,
    pub dropped_events_count: u32,
    pub links: *const spandb_link,
    pub links_len: usize,
    pub dropped_links_count: u32,
}

/// Figures `spandb_stats` reports.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct spandb_db_stats {
    pub spans: u64,
    pub traces: u64,
    pub blocks: u64,
    pub sealed_spans: u64,
    pub unsealed_spans: u64,
    /// Bytes of sealed block files.
    pub block_bytes: u64,
    /// Everything in the database directory, RocksDB's files included.
    pub bytes_on_disk: u64,
    /// Distinct services.
    pub services: u64,
    /// 1 when `min_start_ns` / `max_end_ns` are meaningful (the database holds spans).
    pub has_time_range: u8,
    pub min_start_ns: u64,
    pub max_end_ns: u64,
}

/// Bytes spandb allocated for the caller (an OTLP payload, a JSON document). Read `data[0..len)`;
/// free with `spandb_bytes_free`.
#[repr(C)]
#[derive(Debug)]
pub struct spandb_bytes {
    pub data: *const u8,
    pub len: usize,
}
