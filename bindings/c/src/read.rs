//! Reads: trace lookup as OTLP protobuf, OTLP JSON, or a walkable C view.

use std::collections::HashMap;

use spandb_api::{Span, TraceId};

use crate::args::{id, out_param, store};
use crate::db::{db, spandb_db};
use crate::error::{guard, spandb_status, CError, CResult, SPANDB_ERR_INTERNAL};
use crate::handle::{hand_out, take_back, ViewKind};
use crate::types::{spandb_bytes, spandb_span};
use crate::view::Arena;

/// `spandb_trace.parent_indices[i]` when span `i` is a root or its parent is not stored
/// (`SIZE_MAX`; the header defines it by hand since cbindgen cannot spell `usize::MAX`).
pub(crate) const SPANDB_NO_PARENT: usize = usize::MAX;

/// One trace as C structs, walkable without parsing. Spans are ordered by start time (then span
/// id); `parent_indices[i]` is the index of span `i`'s parent in `spans`, or `SPANDB_NO_PARENT`.
/// Every pointer inside (strings, attributes, resources, ...) stays valid until the view is
/// freed with `spandb_trace_free`. Strings are pointer + length and not NUL-terminated.
/// Read-only: do not modify anything it points to.
#[repr(C)]
pub struct spandb_trace {
    pub spans: *const spandb_span,
    pub span_count: usize,
    pub parent_indices: *const usize,
}

/// What a `spandb_trace*` really points to: the public struct first (so the addresses are
/// equal), then everything its pointers point into.
#[repr(C)]
struct TraceView {
    public: spandb_trace,
    spans: Vec<spandb_span>,
    parents: Vec<usize>,
    _arena: Arena,
    _rust: Vec<Span>,
}

#[repr(C)]
struct BytesView {
    public: spandb_bytes,
    _data: Vec<u8>,
}

/// Hands `data` to C as a `spandb_bytes`.
/// The one shape of every "run, encode, hand the bytes to C" entry point: checks `out`, runs
/// `produce` inside the panic guard, and stores the bytes only on success (so `*out` stays
/// untouched on failure).
///
/// # Safety
/// `out` must be NULL or valid for writing a pointer.
pub(crate) unsafe fn return_bytes(
    out: *mut *mut spandb_bytes,
    produce: impl FnOnce() -> CResult<Vec<u8>>,
) -> spandb_status {
    guard(|| {
        out_param(out, "out")?;
        let data = produce()?;
        // SAFETY: `out` checked non-NULL; valid for writes per this function's contract.
        unsafe { store(out, bytes_out(data)) };
        Ok(())
    })
}

/// A `Serialize` value as JSON bytes.
pub(crate) fn json_bytes(value: &impl serde::Serialize) -> CResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| CError::new(SPANDB_ERR_INTERNAL, e.to_string()))
}

fn bytes_out(data: Vec<u8>) -> *mut spandb_bytes {
    let view = Box::new(BytesView {
        public: spandb_bytes {
            data: data.as_ptr(),
            len: data.len(),
        },
        _data: data,
    });
    hand_out(view, ViewKind::Bytes).cast()
}

/// Releases bytes spandb returned. Freeing twice, or freeing something else, returns
/// `SPANDB_ERR_INVALID_HANDLE` (detected unless the address was reused for newer bytes).
/// Thread safety: any thread, but only once per value.
///
/// # Safety
/// `bytes` must be NULL or a pointer spandb returned (or one it will reject as not live).
#[no_mangle]
pub unsafe extern "C" fn spandb_bytes_free(bytes: *mut spandb_bytes) -> spandb_status {
    // SAFETY: `BytesView` is what `bytes_out` registers under `ViewKind::Bytes`.
    guard(|| unsafe { take_back(bytes.cast::<BytesView>(), ViewKind::Bytes, "bytes") }.map(drop))
}

/// # Safety
/// `trace_id` must be NULL or point to 16 readable bytes.
unsafe fn lookup(handle: *const spandb_db, trace_id: *const u8) -> CResult<Vec<Span>> {
    // SAFETY: this function's contract.
    let tid = unsafe { id::<16>(trace_id, "trace_id") }?;
    match db(handle)?.trace(&TraceId(tid)) {
        // The C contract: a trace that is not stored is an empty result, not an error.
        Err(spandb_api::Error::NotFound { .. }) => Ok(Vec::new()),
        other => Ok(other?),
    }
}

fn ordered(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by_key(|s| (s.start_ns, s.span_id));
    spans
}

/// Looks up every span of the trace whose 16-byte id is at `trace_id`, as a C view. A trace
/// that is not stored gives `SPANDB_OK` and a view with `span_count == 0`.
///
/// On success `*out` receives a view the caller owns: release it with `spandb_trace_free`.
/// The view does not depend on `db` (it may outlive it). On failure `*out` is untouched.
/// Thread safety: any thread, concurrently with any call on the same `db`. A view may be read
/// from several threads.
///
/// # Safety
/// `trace_id` must be NULL or point to 16 readable bytes; `out` NULL or valid for a pointer.
#[no_mangle]
pub unsafe extern "C" fn spandb_trace_get(
    db: *const spandb_db,
    trace_id: *const u8,
    out: *mut *mut spandb_trace,
) -> spandb_status {
    guard(|| {
        out_param(out, "out")?;
        // SAFETY: `trace_id` is NULL or 16 readable bytes per the contract above.
        let spans = ordered(unsafe { lookup(db, trace_id) }?);
        let index: HashMap<_, _> = spans
            .iter()
            .enumerate()
            .map(|(i, s)| (s.span_id, i))
            .collect();
        let parents: Vec<usize> = spans
            .iter()
            .map(|s| {
                s.parent_span_id
                    .and_then(|p| index.get(&p).copied())
                    .unwrap_or(SPANDB_NO_PARENT)
            })
            .collect();
        let mut arena = Arena::default();
        let c_spans = arena.spans(&spans);
        let public = spandb_trace {
            spans: if c_spans.is_empty() {
                std::ptr::null()
            } else {
                c_spans.as_ptr()
            },
            span_count: c_spans.len(),
            parent_indices: if parents.is_empty() {
                std::ptr::null()
            } else {
                parents.as_ptr()
            },
        };
        let view = Box::new(TraceView {
            public,
            spans: c_spans,
            parents,
            _arena: arena,
            _rust: spans,
        });
        // SAFETY: `out` checked non-NULL; valid for writes per the contract.
        unsafe { store(out, hand_out(view, ViewKind::Trace).cast()) };
        Ok(())
    })
}

/// Releases a trace view. Freeing twice, or freeing something else, returns
/// `SPANDB_ERR_INVALID_HANDLE` (detected unless the address was reused for a newer view).
/// Thread safety: any thread, once no thread reads the view any more.
///
/// # Safety
/// `trace` must be NULL or a pointer spandb returned (or one it will reject as not live).
#[no_mangle]
pub unsafe extern "C" fn spandb_trace_free(trace: *mut spandb_trace) -> spandb_status {
    // SAFETY: `TraceView` is what `spandb_trace_get` registers under `ViewKind::Trace`.
    guard(|| unsafe { take_back(trace.cast::<TraceView>(), ViewKind::Trace, "trace") }.map(drop))
}

/// Looks up a trace and encodes it as an OTLP `ExportTraceServiceRequest` in protobuf (empty
/// `resource_spans` when the trace is not stored).
///
/// On success `*out` receives bytes the caller owns: release them with `spandb_bytes_free`.
/// On failure `*out` is untouched.
/// Thread safety: any thread, concurrently with any call on the same `db`.
///
/// # Safety
/// `trace_id` must be NULL or point to 16 readable bytes; `out` NULL or valid for a pointer.
#[no_mangle]
pub unsafe extern "C" fn spandb_trace_otlp_proto(
    db: *const spandb_db,
    trace_id: *const u8,
    out: *mut *mut spandb_bytes,
) -> spandb_status {
    // SAFETY: the contract above is `trace_bytes`'s.
    unsafe {
        trace_bytes(db, trace_id, out, |spans| {
            Ok(spandb_api::otlp::proto::encode_proto_request(spans))
        })
    }
}

/// Looks up a trace and encodes it as an OTLP JSON `ExportTraceServiceRequest` (UTF-8, not
/// NUL-terminated; `{"resourceSpans":[]}` when the trace is not stored).
///
/// On success `*out` receives bytes the caller owns: release them with `spandb_bytes_free`.
/// On failure `*out` is untouched.
/// Thread safety: any thread, concurrently with any call on the same `db`.
///
/// # Safety
/// `trace_id` must be NULL or point to 16 readable bytes; `out` NULL or valid for a pointer.
#[no_mangle]
pub unsafe extern "C" fn spandb_trace_otlp_json(
    db: *const spandb_db,
    trace_id: *const u8,
    out: *mut *mut spandb_bytes,
) -> spandb_status {
    // SAFETY: the contract above is `trace_bytes`'s.
    unsafe {
        trace_bytes(db, trace_id, out, |spans| {
            json_bytes(&spandb_api::otlp::json::encode_json_request(spans))
        })
    }
}

/// A trace's spans, by start, encoded by `encode` into bytes handed to C.
///
/// # Safety
/// `trace_id` must be NULL or point to 16 readable bytes; `out` NULL or valid for a pointer.
unsafe fn trace_bytes(
    db: *const spandb_db,
    trace_id: *const u8,
    out: *mut *mut spandb_bytes,
    encode: impl FnOnce(&[Span]) -> CResult<Vec<u8>>,
) -> spandb_status {
    // SAFETY: `out` is NULL or valid for a pointer, per this function's contract.
    unsafe {
        return_bytes(out, || {
            // SAFETY: `trace_id` is NULL or 16 readable bytes per this function's contract.
            let spans = ordered(lookup(db, trace_id)?);
            encode(&spans)
        })
    }
}

/// Parses 32 hex characters (NUL-terminated) into the 16 bytes at `out`. On failure `out` is
/// untouched. Thread safety: any thread.
///
/// # Safety
/// `hex` must be NULL or NUL-terminated; `out` NULL or valid for writing 16 bytes.
#[no_mangle]
pub unsafe extern "C" fn spandb_trace_id_from_hex(
    hex: *const std::ffi::c_char,
    out: *mut u8,
) -> spandb_status {
    guard(|| {
        // SAFETY: the caller's contract above.
        let text = unsafe { crate::args::c_text(hex, "hex") }?;
        out_param(out, "out")?;
        let tid = TraceId::from_hex(text).map_err(spandb_api::Error::from)?;
        // SAFETY: `out` is non-NULL and valid for 16 bytes per the contract; `tid.0` is a
        // distinct local array.
        unsafe { std::ptr::copy_nonoverlapping(tid.0.as_ptr(), out, 16) };
        Ok(())
    })
}
