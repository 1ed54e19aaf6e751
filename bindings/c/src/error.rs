//! Status codes, the per-thread last error message, and the `catch_unwind` wrapper every entry
//! point runs in.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What a call returns. `SPANDB_OK` (0) is success; everything else is an error whose message
/// `spandb_last_error_message` returns on the same thread.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum spandb_status {
    /// Success.
    SPANDB_OK = 0,
    /// A required pointer argument was NULL.
    SPANDB_ERR_NULL_POINTER = 1,
    /// An argument is out of range: a length too large to be a real buffer, an unknown enum
    /// value, a value nested too deeply.
    SPANDB_ERR_INVALID_ARGUMENT = 2,
    /// A string argument is not valid UTF-8.
    SPANDB_ERR_INVALID_UTF8 = 3,
    /// The handle is not one this library handed out, or it was already freed.
    SPANDB_ERR_INVALID_HANDLE = 4,
    /// The database handle was closed with `spandb_close`.
    SPANDB_ERR_CLOSED = 5,
    /// The data was rejected: malformed OTLP, an all-zero trace id, a query that cannot run.
    SPANDB_ERR_INVALID_INPUT = 6,
    /// The TraceQL text does not parse (the message says where).
    SPANDB_ERR_QUERY_SYNTAX = 7,
    /// An operating-system I/O error.
    SPANDB_ERR_IO = 8,
    /// Stored bytes failed validation (checksum, truncation, unknown format version).
    SPANDB_ERR_CORRUPTION = 9,
    /// An earlier fsync failed; the database refuses writes until it is reopened.
    SPANDB_ERR_POISONED = 10,
    /// A bug inside spandb (a Rust panic), caught at the boundary. The handle stays usable.
    SPANDB_ERR_PANIC = 11,
    /// Any other error (RocksDB, ...).
    SPANDB_ERR_INTERNAL = 12,
}

pub use spandb_status::*;

/// An error on its way to C: a status code and a message for a person.
#[derive(Debug)]
pub struct CError {
    pub status: spandb_status,
    pub message: String,
}

pub type CResult<T = ()> = Result<T, CError>;

impl CError {
    pub fn new(status: spandb_status, message: impl Into<String>) -> Self {
        CError {
            status,
            message: message.into(),
        }
    }
    pub fn null(arg: &str) -> Self {
        CError::new(SPANDB_ERR_NULL_POINTER, format!("`{arg}` is NULL"))
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        CError::new(SPANDB_ERR_INVALID_ARGUMENT, message)
    }
}

impl From<spandb_api::Error> for CError {
    fn from(e: spandb_api::Error) -> Self {
        use spandb_api::Error as E;
        let status = match &e {
            E::Io { .. } => SPANDB_ERR_IO,
            E::Corruption { .. } | E::UnsupportedVersion { .. } => SPANDB_ERR_CORRUPTION,
            E::InvalidInput { .. } | E::NotFound { .. } => SPANDB_ERR_INVALID_INPUT,
            E::Query { .. } => SPANDB_ERR_QUERY_SYNTAX,
            E::Poisoned(_) => SPANDB_ERR_POISONED,
            E::Closed => SPANDB_ERR_CLOSED,
            _ => SPANDB_ERR_INTERNAL,
        };
        CError::new(status, e.to_string())
    }
}

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

fn set_last_error(message: &str) {
    // Interior NULs would truncate the message in C; show them instead.
    let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|slot| *slot.borrow_mut() = Some(text));
}

/// Runs an entry point: converts its error into a status code plus the thread's last error
/// message, and a panic into `SPANDB_ERR_PANIC` (a panic never unwinds into C).
pub fn guard(f: impl FnOnce() -> CResult) -> spandb_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => SPANDB_OK,
        Ok(Err(e)) => {
            set_last_error(&e.message);
            e.status
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            set_last_error(&format!("internal error (panic): {what}"));
            SPANDB_ERR_PANIC
        }
    }
}

/// The message of the most recent failed call on the calling thread, as a NUL-terminated UTF-8
/// string; an empty string when no call on this thread has failed yet.
///
/// Ownership: the string belongs to spandb; it stays valid until the next failing spandb call
/// on the same thread. Copy it if you need it longer. Never free it.
/// Thread safety: per thread; every thread sees its own last error.
#[no_mangle]
pub extern "C" fn spandb_last_error_message() -> *const c_char {
    static EMPTY: &[u8] = b"\0";
    LAST_ERROR
        .try_with(|slot| match &*slot.borrow() {
            Some(s) => s.as_ptr(),
            None => EMPTY.as_ptr().cast(),
        })
        .unwrap_or(EMPTY.as_ptr().cast())
}

/// A constant, NUL-terminated name for a status code (`"SPANDB_ERR_CLOSED"`); `"unknown"` for a
/// value that is not a status code.
///
/// Ownership: static storage; never free it. Thread safety: any thread.
#[no_mangle]
pub extern "C" fn spandb_status_name(status: i32) -> *const c_char {
    let name: &'static [u8] = match status {
        0 => b"SPANDB_OK\0",
        1 => b"SPANDB_ERR_NULL_POINTER\0",
        2 => b"SPANDB_ERR_INVALID_ARGUMENT\0",
        3 => b"SPANDB_ERR_INVALID_UTF8\0",
        4 => b"SPANDB_ERR_INVALID_HANDLE\0",
        5 => b"SPANDB_ERR_CLOSED\0",
        6 => b"SPANDB_ERR_INVALID_INPUT\0",
        7 => b"SPANDB_ERR_QUERY_SYNTAX\0",
        8 => b"SPANDB_ERR_IO\0",
        9 => b"SPANDB_ERR_CORRUPTION\0",
        10 => b"SPANDB_ERR_POISONED\0",
        11 => b"SPANDB_ERR_PANIC\0",
        12 => b"SPANDB_ERR_INTERNAL\0",
        _ => b"unknown\0",
    };
    name.as_ptr().cast()
}
