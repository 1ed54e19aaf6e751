//! The C ABI of spandb (`libspandb.so` / `libspandb.a`, header `include/spandb.h`).
//!
//! Conventions, the same for every function:
//! - every fallible call returns a `spandb_status`; `SPANDB_OK` is 0, and on any other value
//!   `spandb_last_error_message()` says what went wrong, on the calling thread;
//! - results go through out-parameters that are left untouched on failure;
//! - every entry point runs inside `catch_unwind`: a panic becomes `SPANDB_ERR_PANIC`;
//! - NULL pointers, impossible lengths, invalid UTF-8, unknown enum values, closed and freed
//!   handles are reported as errors (see `handle.rs` for how handles are checked);
//! - each type handed out has exactly one free function;
//! - a `spandb_db*` may be used by any number of threads at once.
// The C ABI is FFI: `unsafe` is this crate's job (the workspace denies it elsewhere). Every
// block says why it holds in a `// SAFETY:` comment.
#![allow(unsafe_code)]
#![allow(non_camel_case_types)]

mod analysis;
mod args;
mod db;
mod error;
mod graph;
mod handle;
mod logs;
mod query;
mod read;
mod types;
mod view;
mod write;

pub use db::*;
pub use error::{spandb_last_error_message, spandb_status, spandb_status_name};
pub use graph::*;
pub use logs::*;
pub use query::*;
pub use read::*;
pub use types::*;
pub use write::*;

use std::ffi::c_char;

/// For the ABI overhead benchmark (`examples/abi_overhead.rs`): the Rust API this crate wraps
/// (the example cannot name it as `spandb`, the name of this crate's library) and the C-struct
/// converter. Not part of the C ABI.
#[doc(hidden)]
pub mod bench_support {
    pub use crate::error::CError;
    pub use crate::write::spans_from_c;
    pub use spandb_api::*;
}

/// Bumped whenever a struct layout or function signature changes incompatibly.
pub const SPANDB_ABI_VERSION: u32 = 1;

/// The library version (`"0.1.0"`), NUL-terminated.
/// Ownership: static storage; never free it. Thread safety: any thread.
#[no_mangle]
pub extern "C" fn spandb_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The ABI version the library was built with; compare with `SPANDB_ABI_VERSION` from the
/// header to detect a header/library mismatch. Thread safety: any thread.
#[no_mangle]
pub extern "C" fn spandb_abi_version() -> u32 {
    SPANDB_ABI_VERSION
}
