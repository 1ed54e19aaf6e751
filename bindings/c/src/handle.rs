//! Handle tables: what makes closed handles, stale handles and double frees an error code
//! instead of undefined behaviour.
//!
//! - Database and options handles are *ids*, not addresses: an opaque pointer value taken from
//!   a counter that never repeats, looked up in a table on every call. C never dereferences
//!   them and neither do we, so a freed, forged or twice-freed handle is always detected, and
//!   `spandb_db_free` racing with a call on another thread is safe (the call holds an `Arc`).
//! - Result views (`spandb_bytes`, `spandb_trace`, ...) must be real addresses, since C reads
//!   their fields. Every live view's address is recorded with its kind; a free function frees
//!   only an address recorded with its own kind. A double free is detected unless the
//!   allocator has handed the same address out again for a newer view of the same kind.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use crate::error::{CError, CResult, SPANDB_ERR_INVALID_HANDLE};

/// First id handed out. Ids look like aligned addresses well above the zero page (Go's runtime
/// rejects pointer values below 4096) and far below any heap, and step by 16.
const FIRST_ID: usize = 0x10_0000;
const ID_STEP: usize = 16;

/// One counter for every table, so a handle of one type is never a live handle of another.
static NEXT_ID: AtomicUsize = AtomicUsize::new(FIRST_ID);

/// Live handles of one type, keyed by id.
pub struct HandleTable<T> {
    name: &'static str,
    live: RwLock<Option<BTreeMap<usize, Arc<T>>>>,
}

impl<T> HandleTable<T> {
    pub const fn new(name: &'static str) -> Self {
        HandleTable {
            name,
            live: RwLock::new(None),
        }
    }

    /// Registers `value` and returns its id as an opaque pointer.
    pub fn insert<P>(&self, value: T) -> *mut P {
        let id = NEXT_ID.fetch_add(ID_STEP, Ordering::Relaxed);
        let mut live = self.live.write().unwrap_or_else(|p| p.into_inner());
        live.get_or_insert_with(BTreeMap::new)
            .insert(id, Arc::new(value));
        id as *mut P
    }

    /// The live value behind `handle`.
    pub fn get<P>(&self, handle: *const P) -> CResult<Arc<T>> {
        if handle.is_null() {
            return Err(CError::null(self.name));
        }
        let live = self.live.read().unwrap_or_else(|p| p.into_inner());
        live.as_ref()
            .and_then(|m| m.get(&(handle as usize)))
            .cloned()
            .ok_or_else(|| self.stale())
    }

    /// Unregisters `handle`; the value is dropped when the last in-flight call using it ends.
    pub fn remove<P>(&self, handle: *const P) -> CResult<Arc<T>> {
        if handle.is_null() {
            return Err(CError::null(self.name));
        }
        let mut live = self.live.write().unwrap_or_else(|p| p.into_inner());
        live.as_mut()
            .and_then(|m| m.remove(&(handle as usize)))
            .ok_or_else(|| self.stale())
    }

    fn stale(&self) -> CError {
        CError::new(
            SPANDB_ERR_INVALID_HANDLE,
            format!(
                "`{}` is not a live handle (already freed, or never returned by spandb)",
                self.name
            ),
        )
    }
}

/// The kinds of result views; a view is freed only by its own free function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewKind {
    Bytes,
    Trace,
    Search,
    Metrics,
}

static LIVE_VIEWS: Mutex<Option<BTreeMap<usize, ViewKind>>> = Mutex::new(None);

fn live_views() -> MutexGuard<'static, Option<BTreeMap<usize, ViewKind>>> {
    LIVE_VIEWS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Hands a view to C: leaks the box and records its address.
pub fn hand_out<T>(view: Box<T>, kind: ViewKind) -> *mut T {
    let ptr = Box::into_raw(view);
    live_views()
        .get_or_insert_with(BTreeMap::new)
        .insert(ptr as usize, kind);
    ptr
}

/// Takes a view back from C for freeing. Fails, touching nothing, when `ptr` is not a live
/// view of this kind.
///
/// # Safety
/// `T` must be the type `hand_out` was called with for `kind`.
pub unsafe fn take_back<T>(ptr: *mut T, kind: ViewKind, name: &str) -> CResult<Box<T>> {
    if ptr.is_null() {
        return Err(CError::null(name));
    }
    let mut views = live_views();
    let map = views.get_or_insert_with(BTreeMap::new);
    match map.get(&(ptr as usize)) {
        Some(k) if *k == kind => {
            map.remove(&(ptr as usize));
            // SAFETY: the address was recorded by `hand_out::<T>` for this kind (the caller
            // guarantees kind <-> T) and removed from the table just now under the lock, so it
            // is a live `Box<T>` allocation and no other free can take it again.
            Ok(unsafe { Box::from_raw(ptr) })
        }
        _ => Err(CError::new(
            SPANDB_ERR_INVALID_HANDLE,
            format!(
                "`{name}` is not a live {kind:?} view (already freed, or not one spandb returned)"
            ),
        )),
    }
}
