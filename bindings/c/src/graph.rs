//! The service graph, anomalies and trace explanations over the C ABI, as JSON (the shapes
//! `spandb graph|anomalies|explain --output json` print, documented in docs/ANALYSIS.md).

use std::ffi::c_char;

use crate::args::{c_text, id};
use crate::db::{db, spandb_db};
use crate::error::spandb_status;
use crate::query::{optional_range, range};
use crate::read::{json_bytes, return_bytes};
use crate::types::spandb_bytes;

/// The service graph of the calls starting in `[start_ns, end_ns)` (`end_ns == 0`: no upper
/// bound; widened to whole minutes): services, databases, queues and peers, and per edge the
/// calls, errors, client- and server-side latency quantiles and a per-minute series.
/// `filter` is NULL (every trace counts) or a NUL-terminated TraceQL spanset such as
/// `{ status = error }` restricting the traces that count. On success `*out` receives UTF-8
/// JSON (not NUL-terminated) to release with `spandb_bytes_free`.
/// Thread safety: any thread, concurrently with any call on the same `db`.
///
/// # Safety
/// `filter` must be NULL or NUL-terminated; `out` NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn spandb_service_graph_json(
    db_handle: *const spandb_db,
    filter: *const c_char,
    start_ns: u64,
    end_ns: u64,
    out: *mut *mut spandb_bytes,
) -> spandb_status {
    // SAFETY: `out` is NULL or valid for a pointer, per the contract above.
    unsafe {
        return_bytes(out, || {
            let filter = if filter.is_null() {
                None
            } else {
                // SAFETY: non-NULL and NUL-terminated per the contract above.
                Some(c_text(filter, "filter")?)
            };
            let graph = db(db_handle)?.service_graph(range(start_ns, end_ns)?, filter)?;
            json_bytes(&graph)
        })
    }
}

/// Incidents among the spans starting in `[start_ns, end_ns)` (`end_ns == 0`: no upper bound;
/// widened to whole minutes): the rate, error ratio and latency of every service, operation
/// and edge held against the baseline `[baseline_start_ns, baseline_end_ns)` (both 0: the
/// window itself), merged into incidents, each with its origin, the attribute values that
/// set its spans apart and sample trace ids. On success `*out` receives UTF-8 JSON (the shape
/// of `spandb anomalies --output json`, docs/ANALYSIS.md) to release with `spandb_bytes_free`.
/// Thread safety: any thread, concurrently with any call on the same `db`.
///
/// # Safety
/// `out` must be NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn spandb_anomalies_json(
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
            json_bytes(&db(db_handle)?.anomalies(window, baseline)?)
        })
    }
}

/// A short, deterministic account of the trace `trace_id` (16 bytes): duration and rank,
/// critical path, failure origin and propagation, unusual spans, health, and `summary`
/// sentences. On success `*out` receives UTF-8 JSON (the shape of `spandb explain --output
/// json`) to release with `spandb_bytes_free`; a trace with no spans is
/// `SPANDB_ERR_INVALID_INPUT` ("trace … not found").
/// Thread safety: any thread, concurrently with any call on the same `db`.
///
/// # Safety
/// `trace_id` must be NULL or point to 16 readable bytes; `out` NULL or valid for writing a
/// pointer.
#[no_mangle]
pub unsafe extern "C" fn spandb_explain_json(
    db_handle: *const spandb_db,
    trace_id: *const u8,
    out: *mut *mut spandb_bytes,
) -> spandb_status {
    // SAFETY: `out` is NULL or valid for a pointer, per the contract above.
    unsafe {
        return_bytes(out, || {
            // SAFETY: NULL or 16 readable bytes, per the contract above.
            let tid = id::<16>(trace_id, "trace_id")?;
            json_bytes(&db(db_handle)?.explain(&spandb_api::TraceId(tid))?)
        })
    }
}
