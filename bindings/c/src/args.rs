//! Checking what C hands us: NULL pointers, lengths that cannot be real buffers, misaligned
//! arrays, invalid UTF-8.

use std::ffi::{c_char, CStr};
use std::mem::{align_of, size_of};

use crate::error::{CError, CResult, SPANDB_ERR_INVALID_UTF8};
use crate::types::spandb_str;

/// Borrows `len` elements at `ptr`. NULL is accepted only with `len == 0`.
///
/// # Safety
/// When the checks pass, `ptr` must point to `len` initialised `T`s that stay valid and
/// unmodified for `'a` (the duration of the call). The checks catch NULL, misalignment and
/// lengths that overflow the address space, not every wrong length.
pub unsafe fn slice<'a, T>(ptr: *const T, len: usize, what: &str) -> CResult<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(CError::null(what));
    }
    if ptr as usize % align_of::<T>() != 0 {
        return Err(CError::invalid(format!("`{what}` is not aligned")));
    }
    let size = size_of::<T>().max(1);
    let fits = len
        .checked_mul(size)
        .filter(|bytes| *bytes <= isize::MAX as usize)
        .and_then(|bytes| (ptr as usize).checked_add(bytes))
        .is_some();
    if !fits {
        return Err(CError::invalid(format!(
            "`{what}` length {len} is larger than any buffer can be"
        )));
    }
    // SAFETY: non-NULL, aligned, the byte range fits the address space and `isize::MAX`; the
    // caller guarantees it points to `len` valid elements for `'a`.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// The bytes of a `spandb_str`.
///
/// # Safety
/// As for [`slice`].
pub unsafe fn bytes<'a>(s: &spandb_str, what: &str) -> CResult<&'a [u8]> {
    // SAFETY: forwarded to the caller's contract.
    unsafe { slice(s.ptr.cast::<u8>(), s.len, what) }
}

/// The UTF-8 text of a `spandb_str`.
///
/// # Safety
/// As for [`slice`].
pub unsafe fn text<'a>(s: &spandb_str, what: &str) -> CResult<&'a str> {
    // SAFETY: forwarded to the caller's contract.
    let b = unsafe { bytes(s, what) }?;
    utf8(b, what)
}

pub fn utf8<'a>(b: &'a [u8], what: &str) -> CResult<&'a str> {
    std::str::from_utf8(b).map_err(|e| {
        CError::new(
            SPANDB_ERR_INVALID_UTF8,
            format!("`{what}` is not valid UTF-8 ({e})"),
        )
    })
}

/// A NUL-terminated UTF-8 string argument.
///
/// # Safety
/// A non-NULL `ptr` must point to a NUL-terminated string valid for `'a`.
pub unsafe fn c_text<'a>(ptr: *const c_char, what: &str) -> CResult<&'a str> {
    if ptr.is_null() {
        return Err(CError::null(what));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let c = unsafe { CStr::from_ptr(ptr) };
    utf8(c.to_bytes(), what)
}

/// A fixed-size id argument (`uint8_t[N]`).
///
/// # Safety
/// A non-NULL `ptr` must point to `N` readable bytes.
pub unsafe fn id<const N: usize>(ptr: *const u8, what: &str) -> CResult<[u8; N]> {
    if ptr.is_null() {
        return Err(CError::null(what));
    }
    let mut out = [0u8; N];
    // SAFETY: `ptr` is non-NULL and points to `N` bytes (caller's contract); `out` is a
    // distinct local array of `N` bytes; u8 has no alignment requirement.
    unsafe { std::ptr::copy_nonoverlapping(ptr, out.as_mut_ptr(), N) };
    Ok(out)
}

/// Checks an out-parameter before any work is done, so a NULL one fails early.
pub fn out_param<T>(ptr: *mut T, what: &str) -> CResult<()> {
    if ptr.is_null() {
        Err(CError::null(what))
    } else {
        Ok(())
    }
}

/// Stores `value` through a checked out-parameter (only ever called on success).
///
/// # Safety
/// `ptr` must be non-NULL (checked by [`out_param`]) and valid for a write of `T`.
pub unsafe fn store<T>(ptr: *mut T, value: T) {
    // SAFETY: caller's contract; `write` does not drop the old (possibly uninitialised) value.
    unsafe { ptr.write(value) }
}
