//! Per-trace analyses (critical path, health) and aggregate ones (time breakdown, exception
//! groups) over the C ABI, as JSON: the shapes `spandb critical-path|health|breakdown|errors
//! --output json` print, documented in docs/ANALYSIS.md.

use std::ffi::c_char;

use crate::args::{c_text, id};
use crate::db::{db, spandb_db};
use crate::error::spandb_status;
use crate::query::{optional_range, range};
use crate::read::{json_bytes, return_bytes};
use crate::types::spandb_bytes;

/// Traces a breakdown looks at when `limit` is 0.
const DEFAULT_BREAKDOWN_TRACES: u32 = spandb_api::DEFAULT_BREAKDOWN_TRACES as u32;

/// The critical path of the trace `trace_id` (16 bytes), Jaeger UI's algorithm: the sections
/// in order (span id, start and end in unix ns) and each span's time on the path. On success
/// `*out` receives UTF-8 JSON to release with `spandb_bytes_free`; a trace with no spans is
/// `SPANDB_ERR_INVALID_INPUT` ("trace … not found").
/// Thread safety: any thread, concurrently with any call on the same `db`.
///
/// # Safety
/// `trace_id` must be NULL or point to 16 readable bytes; `out` NULL or valid for writing a
/// pointer.
#[no_mangle]
pub unsafe extern "C" fn spandb_critical_path_json(
    db_handle: *const spandb_db,
    trace_id: *const u8,
    out: *mut *mut spandb_bytes,
) -> spandb_status {
    // SAFETY: `out` is NULL or valid for a pointer, per the contract above.
    unsafe {
        return_bytes(out, || {
            // SAFETY: NULL or 16 readable bytes, per the contract above.
            let tid = id::<16>(trace_id, "trace_id")?;
            json_bytes(&db(db_handle)?.critical_path(&spandb_api::TraceId(tid))?)
        })
    }
}

/// The health of the trace `trace_id` (16 bytes): orphans, a missing root, duplicate span
/// ids, clock skew per service pair, links to other traces, and whether spans are still
/// arriving. On success `*out` receives UTF-8 JSON to release with `spandb_bytes_free`; a
/// trace with no spans is `SPANDB_ERR_INVALID_INPUT`.
/// Thread safety: any thread, concurrently with any call on the same `db`.
///
/// # Safety
/// `trace_id` must be NULL or point to 16 readable bytes; `out` NULL or valid for writing a
/// pointer.
#[no_mangle]
pub unsafe extern "C" fn spandb_trace_health_json(
    db_handle: *const spandb_db,
    trace_id: *const u8,
    out: *mut *mut spandb_bytes,
) -> spandb_status {
    // SAFETY: `out` is NULL or valid for a pointer, per the contract above.
    unsafe {
        return_bytes(out, || {
            // SAFETY: NULL or 16 readable bytes, per the contract above.
            let tid = id::<16>(trace_id, "trace_id")?;
            json_bytes(&db(db_handle)?.trace_health(&spandb_api::TraceId(tid))?)
        })
    }
}

/// Where the time goes: critical-path time and self time per (service, operation), with
/// shares and percentiles, over the newest `limit` traces (0: 1000) matching `query` (NULL:
/// every trace; otherwise a NUL-terminated TraceQL spanset) in `[start_ns, end_ns)`
/// (`end_ns == 0`: no upper bound). On success `*out` receives UTF-8 JSON to release with
/// `spandb_bytes_free`.
/// Thread safety: any thread, concurrently with any call on the same `db`.
///
/// # Safety
/// `query` must be NULL or NUL-terminated; `out` NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn spandb_time_breakdown_json(
    db_handle: *const spandb_db,
    query: *const c_char,
    start_ns: u64,
    end_ns: u64,
    limit: u32,
    out: *mut *mut spandb_bytes,
) -> spandb_status {
    // SAFETY: `out` is NULL or valid for a pointer, per the contract above.
    unsafe {
        return_bytes(out, || {
            let query = if query.is_null() {
                "{ }"
            } else {
                // SAFETY: non-NULL and NUL-terminated per the contract above.
                c_text(query, "query")?
            };
            let limit = if limit == 0 {
                DEFAULT_BREAKDOWN_TRACES
            } else {
                limit
            };
            let range = range(start_ns, end_ns)?;
            json_bytes(&db(db_handle)?.time_breakdown(query, range, limit as usize)?)
        })
    }
}

/// Exception groups among the error spans starting in `[start_ns, end_ns)` (`end_ns == 0`: no
/// upper bound): grouped by service, exception type and message template, each with counts,
/// traces, first/last seen, a per-minute series, operations, stack fingerprints and its
/// origin; groups absent from `[baseline_start_ns, baseline_end_ns)` (both 0: no baseline)
/// are flagged new. On success `*out` receives UTF-8 JSON to release with `spandb_bytes_free`.
/// Thread safety: any thread, concurrently with any call on the same `db`.
///
/// # Safety
/// `out` must be NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn spandb_error_groups_json(
    db_handle: *const spandb_db,
    start_ns: u64,
    end_ns: u64,
    baseline_start_ns: u64,
    baseline_end_ns: u64,
    out: *mut *mut spandb_bytes,
) -> spandb_status {
    // SAFETY: `out` is NULL or valid for a pointer, per the contract above.
    unsafe {
        return_bytes(out, || {
            let window = range(start_ns, end_ns)?;
            let baseline = optional_range(baseline_start_ns, baseline_end_ns)?;
            json_bytes(&db(db_handle)?.error_groups(window, baseline)?)
        })
    }
}
