//! The service graph over the C ABI, as JSON (the shape `spandb graph --output json`
//! prints, documented in docs/ANALYSIS.md).

use std::ffi::c_char;

use crate::args::c_text;
use crate::db::{db, spandb_db};
use crate::error::spandb_status;
use crate::query::range;
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
