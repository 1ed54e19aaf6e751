//! Decompressed column chunks in buffers reused on each thread.
//!
//! A search that decodes the same columns of hundreds of row groups used to allocate a fresh
//! buffer per chunk; above a few pages, each allocation was new memory the kernel had to fault
//! in and clear (11% of an every-match search, docs/ARCHITECTURE.md). A chunk is now
//! decompressed into a buffer taken from a small per-thread pool and given back when dropped.

use std::cell::RefCell;
use std::ops::Deref;

/// Buffers kept per thread: a full row decode holds all 13 columns of a group at once.
const POOLED_BUFFERS: usize = 16;
/// Larger buffers (a row group with huge attribute values) are freed, not kept.
const MAX_POOLED_BYTES: usize = 1 << 20;

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A decompressed chunk; its buffer goes back to this thread's pool when dropped.
#[derive(Default)]
pub struct ColumnBuf {
    buf: Vec<u8>,
}

impl ColumnBuf {
    /// An empty buffer, from the pool when it has one.
    pub(super) fn take() -> ColumnBuf {
        let mut buf = POOL
            .try_with(|p| p.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_default();
        buf.clear();
        ColumnBuf { buf }
    }

    pub(super) fn vec_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
}

impl Deref for ColumnBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for ColumnBuf {
    fn drop(&mut self) {
        let cap = self.buf.capacity();
        if cap == 0 || cap > MAX_POOLED_BYTES {
            return;
        }
        let buf = std::mem::take(&mut self.buf);
        // At thread exit the pool may already be gone: the buffer is then simply freed.
        let _ = POOL.try_with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < POOLED_BUFFERS {
                p.push(buf);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_buffer_is_reused_by_the_next_take() {
        let mut a = ColumnBuf::take();
        a.vec_mut().extend_from_slice(&[1, 2, 3]);
        let ptr = a.buf.as_ptr();
        drop(a);
        let b = ColumnBuf::take();
        assert_eq!(b.buf.as_ptr(), ptr, "the pooled allocation comes back");
        assert!(b.is_empty(), "and empty");
    }

    #[test]
    fn oversized_buffers_are_not_kept() {
        let mut a = ColumnBuf::take();
        a.vec_mut().reserve(MAX_POOLED_BYTES + 1);
        drop(a);
        let b = ColumnBuf::take();
        assert!(b.buf.capacity() <= MAX_POOLED_BYTES);
    }
}
