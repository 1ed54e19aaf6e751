//! Options, open / close / free, flush, stats.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use spandb_api::{Db, Durability, Options};

use crate::args::{c_text, out_param, store};
use crate::error::{guard, spandb_status, CError, CResult};
use crate::handle::HandleTable;
use crate::types::spandb_db_stats;

/// An open database. Opaque: never dereference it. Created by `spandb_open`, released by
/// `spandb_db_free`. One handle may be shared by any number of threads.
pub struct spandb_db {
    _private: [u8; 0],
}

/// Options for `spandb_open`. Opaque. Created by `spandb_options_new`, released by
/// `spandb_options_free`.
pub struct spandb_options {
    _private: [u8; 0],
}

/// `spandb_options_set_durability`: a write returns after its log record is fsynced
/// (acknowledged spans survive power loss).
pub const SPANDB_DURABILITY_SYNC: u32 = 0;
/// `spandb_options_set_durability`: a write returns once its log record is in the OS (survives
/// a crash of the process); the log is fsynced every `interval_ms`. The default, with 50 ms.
pub const SPANDB_DURABILITY_GROUP_COMMIT: u32 = 1;

static DBS: HandleTable<Db> = HandleTable::new("db");
static OPTIONS: HandleTable<Mutex<Options>> = HandleTable::new("options");

/// The database behind a handle (an error for NULL, freed or forged handles).
pub(crate) fn db(handle: *const spandb_db) -> CResult<Arc<Db>> {
    DBS.get(handle)
}

fn with_options(opts: *mut spandb_options, f: impl FnOnce(Options) -> Options) -> CResult {
    let cell = OPTIONS.get(opts)?;
    let mut o = cell.lock().unwrap_or_else(|p| p.into_inner());
    *o = f(o.clone());
    Ok(())
}

/// Creates options holding the defaults (group commit every 50 ms, 131072 spans per block).
///
/// On success `*out` receives a handle the caller owns: release it with `spandb_options_free`
/// (it may be freed right after `spandb_open`). On failure `*out` is untouched.
/// Thread safety: any thread; an options handle may be used from several threads.
///
/// # Safety
/// `out` must be NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn spandb_options_new(out: *mut *mut spandb_options) -> spandb_status {
    guard(|| {
        out_param(out, "out")?;
        let handle = OPTIONS.insert(Mutex::new(Options::new()));
        // SAFETY: `out` checked non-NULL; valid for writes per the contract.
        unsafe { store(out, handle) };
        Ok(())
    })
}

/// Sets when writes are durable: `SPANDB_DURABILITY_SYNC`, or `SPANDB_DURABILITY_GROUP_COMMIT`
/// with an fsync every `interval_ms` (ignored for sync; must be at least 1 for group commit).
/// Defaults to group commit every 50 ms.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn spandb_options_set_durability(
    opts: *mut spandb_options,
    mode: u32,
    interval_ms: u64,
) -> spandb_status {
    guard(|| {
        let durability = match mode {
            SPANDB_DURABILITY_SYNC => Durability::Sync,
            SPANDB_DURABILITY_GROUP_COMMIT if interval_ms > 0 => Durability::GroupCommit {
                interval: Duration::from_millis(interval_ms),
            },
            SPANDB_DURABILITY_GROUP_COMMIT => {
                return Err(CError::invalid("group commit needs `interval_ms` >= 1"))
            }
            other => {
                return Err(CError::invalid(format!(
                    "`mode` {other} is not a SPANDB_DURABILITY_* constant"
                )))
            }
        };
        with_options(opts, |o| o.durability(durability))
    })
}

/// Sets how many spans the in-memory builder holds before it is sealed into a block file.
/// Defaults to 131072; must be at least 1.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn spandb_options_set_block_max_spans(
    opts: *mut spandb_options,
    spans: usize,
) -> spandb_status {
    guard(|| {
        if spans == 0 {
            return Err(CError::invalid("`spans` must be at least 1"));
        }
        with_options(opts, |o| o.block_max_spans(spans))
    })
}

/// Sets the rows per row group (the unit of decompression) of block files. Defaults to 4096;
/// must be at least 1.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn spandb_options_set_rows_per_group(
    opts: *mut spandb_options,
    rows: u32,
) -> spandb_status {
    guard(|| {
        if rows == 0 {
            return Err(CError::invalid("`rows` must be at least 1"));
        }
        with_options(opts, |o| o.rows_per_group(rows))
    })
}

/// Sets the zstd level of column chunks other than the attributes (1..=22). Defaults to 3.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn spandb_options_set_zstd_level(
    opts: *mut spandb_options,
    level: i32,
) -> spandb_status {
    guard(|| {
        check_zstd_level(level)?;
        with_options(opts, |o| o.zstd_level(level))
    })
}

/// Sets the zstd level of the attributes column chunks (1..=22). Defaults to 6.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn spandb_options_set_attributes_zstd_level(
    opts: *mut spandb_options,
    level: i32,
) -> spandb_status {
    guard(|| {
        check_zstd_level(level)?;
        with_options(opts, |o| o.attributes_zstd_level(level))
    })
}

fn check_zstd_level(level: i32) -> CResult {
    if (1..=22).contains(&level) {
        Ok(())
    } else {
        Err(CError::invalid(format!(
            "zstd level {level} is not in 1..=22"
        )))
    }
}

/// Releases an options handle. Freeing it twice, or freeing something else, returns
/// `SPANDB_ERR_INVALID_HANDLE`.
/// Thread safety: any thread, but not concurrently with other uses of the same handle that
/// you expect to succeed.
#[no_mangle]
pub extern "C" fn spandb_options_free(opts: *mut spandb_options) -> spandb_status {
    guard(|| OPTIONS.remove(opts).map(drop))
}

/// Opens (creating if needed) the database in directory `path` (NUL-terminated UTF-8) and
/// recovers it after a crash. `opts` may be NULL for the defaults; it is copied, not retained.
///
/// On success `*out` receives a handle the caller owns: close it with `spandb_close` to learn
/// whether the final sync succeeded, then release it with `spandb_db_free` (which also closes
/// an open database). On failure `*out` is untouched.
/// Thread safety: any thread. Do not open one directory twice at the same time (RocksDB's lock
/// makes the second open fail with `SPANDB_ERR_INTERNAL`).
///
/// # Safety
/// `path` must be NULL or NUL-terminated; `out` NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn spandb_open(
    path: *const std::ffi::c_char,
    opts: *const spandb_options,
    out: *mut *mut spandb_db,
) -> spandb_status {
    guard(|| {
        // SAFETY: the caller's contract above.
        let path = unsafe { c_text(path, "path") }?;
        out_param(out, "out")?;
        let options = if opts.is_null() {
            Options::new()
        } else {
            OPTIONS
                .get(opts)?
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        };
        let db = options.open(path)?;
        let handle = DBS.insert(db);
        // SAFETY: `out` checked non-NULL; valid for writes per the contract.
        unsafe { store(out, handle) };
        Ok(())
    })
}

/// Closes the database: stops background work and makes every acknowledged write durable.
/// Unsealed spans stay in the log and come back on the next open. Afterwards every call on
/// the handle except `spandb_close` (a no-op) and `spandb_db_free` returns `SPANDB_ERR_CLOSED`.
/// Thread safety: any thread; calls racing with it on other threads either complete or return
/// `SPANDB_ERR_CLOSED`.
#[no_mangle]
pub extern "C" fn spandb_close(db: *const spandb_db) -> spandb_status {
    guard(|| Ok(crate::db::db(db)?.close()?))
}

/// Releases a database handle, closing the database first if it is still open (an error from
/// that close is returned, and the handle is released anyway). Freeing it twice, or freeing
/// something else, returns `SPANDB_ERR_INVALID_HANDLE`. Calls already running on other threads
/// finish safely; later calls with the handle return `SPANDB_ERR_INVALID_HANDLE`.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn spandb_db_free(db: *mut spandb_db) -> spandb_status {
    guard(|| Ok(DBS.remove(db)?.close()?))
}

/// Seals buffered spans into a block file and flushes RocksDB, so everything written so far is
/// in its final on-disk form. Not needed for durability (writes are durable per the option).
/// Thread safety: any thread, concurrently with any call on the same `db`.
#[no_mangle]
pub extern "C" fn spandb_flush(db: *const spandb_db) -> spandb_status {
    guard(|| Ok(crate::db::db(db)?.flush()?))
}

/// Fills `*out` with counts and sizes. On failure `*out` is untouched.
/// Ownership: `out` is the caller's; nothing is allocated.
/// Thread safety: any thread, concurrently with any call on the same `db`.
///
/// # Safety
/// `out` must be NULL or valid for writing a `spandb_db_stats`.
#[no_mangle]
pub unsafe extern "C" fn spandb_stats(
    db: *const spandb_db,
    out: *mut spandb_db_stats,
) -> spandb_status {
    guard(|| {
        out_param(out, "out")?;
        let s = crate::db::db(db)?.stats()?;
        let stats = spandb_db_stats {
            spans: s.spans,
            traces: s.traces,
            blocks: s.blocks,
            sealed_spans: s.sealed_spans,
            unsealed_spans: s.unsealed_spans,
            block_bytes: s.block_bytes,
            bytes_on_disk: s.bytes_on_disk,
            services: s.services.len() as u64,
            has_time_range: u8::from(s.min_start_ns.is_some()),
            min_start_ns: s.min_start_ns.unwrap_or(0),
            max_end_ns: s.max_end_ns.unwrap_or(0),
        };
        // SAFETY: `out` checked non-NULL; valid for writes per the contract.
        unsafe { store(out, stats) };
        Ok(())
    })
}
