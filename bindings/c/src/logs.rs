//! Log records: writes of OTLP `ExportLogsServiceRequest`s (protobuf or JSON) and log queries
//! answered as one OTLP JSON `ExportLogsServiceRequest`.

use std::ffi::c_char;

use crate::args::{c_text, slice};
use crate::db::spandb_db;
use crate::error::{guard, spandb_status};
use crate::query::range;
use crate::read::{json_bytes, return_bytes};
use crate::types::spandb_bytes;

/// Writes the log records of one OTLP `ExportLogsServiceRequest` (protobuf bytes). When it
/// returns `SPANDB_OK` they are durable per the database's durability option and visible to
/// later reads. All or nothing: one invalid record (an id of the wrong length, a severity
/// number outside 0-24) gives `SPANDB_ERR_INVALID_INPUT` naming it, and nothing is written.
///
/// Ownership: `data` is borrowed for the call only.
/// Thread safety: any thread, concurrently with any call on the same `db`.
///
/// # Safety
/// `data` must point to `len` readable bytes (NULL allowed when `len` is 0).
#[no_mangle]
pub unsafe extern "C" fn spandb_write_logs_otlp_proto(
    db: *const spandb_db,
    data: *const u8,
    len: usize,
) -> spandb_status {
    guard(|| {
        let db = crate::db::db(db)?;
        // SAFETY: the caller's contract above.
        let data = unsafe { slice(data, len, "data") }?;
        let mut logs = Vec::new();
        spandb_api::otlp::proto::decode_proto_logs_request(data, &mut logs)?;
        Ok(db.write_logs(logs)?)
    })
}

/// Writes the log records of one OTLP JSON `ExportLogsServiceRequest` (one line of the
/// OpenTelemetry Collector's file exporter for logs). All or nothing, as
/// `spandb_write_logs_otlp_proto`; invalid UTF-8 is `SPANDB_ERR_INVALID_UTF8`.
///
/// Ownership: `data` is borrowed for the call only.
/// Thread safety: any thread, concurrently with any call on the same `db`.
///
/// # Safety
/// `data` must point to `len` readable bytes (NULL allowed when `len` is 0).
#[no_mangle]
pub unsafe extern "C" fn spandb_write_logs_otlp_json(
    db: *const spandb_db,
    data: *const u8,
    len: usize,
) -> spandb_status {
    guard(|| {
        let db = crate::db::db(db)?;
        // SAFETY: the caller's contract above.
        let data = unsafe { slice(data, len, "data") }?;
        crate::args::utf8(data, "data")?;
        let mut logs = Vec::new();
        spandb_api::otlp::json::decode_json_logs_request(data, &mut logs)?;
        Ok(db.write_logs(logs)?)
    })
}

/// The newest (at most `limit`) log records matching `query` (NUL-terminated UTF-8, the log
/// query of docs/QUERY.md, "Logs": `{ service = "api" && severity >= warn } |= "timeout"`;
/// empty matches every record) whose time is in `[start_ns, end_ns)` (`end_ns == 0`: no upper
/// bound), as one OTLP JSON `ExportLogsServiceRequest` (UTF-8, not NUL-terminated; records
/// grouped by resource and scope, newest first within a group). Syntax errors give
/// `SPANDB_ERR_QUERY_SYNTAX` with the line and column in the message.
///
/// On success `*out` receives bytes the caller owns: free them with `spandb_bytes_free`. On
/// failure `*out` is untouched.
/// Thread safety: any thread, concurrently with any call on the same `db`.
///
/// # Safety
/// `query` must be NULL or NUL-terminated; `out` NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn spandb_logs_json(
    db: *const spandb_db,
    query: *const c_char,
    start_ns: u64,
    end_ns: u64,
    limit: usize,
    out: *mut *mut spandb_bytes,
) -> spandb_status {
    // SAFETY: `out` is NULL or valid for a pointer, per the contract above.
    unsafe {
        return_bytes(out, || {
            // SAFETY: the contract above.
            let text = c_text(query, "query")?;
            let range = range(start_ns, end_ns)?;
            let logs = crate::db::db(db)?.logs(text, range, limit)?;
            json_bytes(&spandb_api::otlp::json::encode_json_logs_request(&logs))
        })
    }
}
