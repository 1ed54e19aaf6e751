//! A byte-budgeted LRU cache of decoded block footers, shared by every reader of a database.
//!
//! A block keeps only its small, always-needed metadata resident ([`super::reader::BlockMeta`]);
//! its footer (dictionary, bitmaps, rollup, trace table) is decoded from the mapped file when a
//! query needs it and kept here until the budget pushes it out. Values are `Arc`s: an evicted
//! footer stays alive for the queries still holding it, so eviction never blocks a reader.
//!
//! One mutex guards the map and the recency order; it is held for a lookup or an insertion,
//! never while decoding (two readers missing the same footer at once both decode it, and the
//! second insertion keeps the first value).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::Result;

/// What the cache did so far; see [`FooterCache::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// The byte budget.
    pub budget_bytes: u64,
    /// Heap bytes of the values held now.
    pub bytes: u64,
    /// Values held now.
    pub entries: u64,
    pub hits: u64,
    /// Lookups that had to decode.
    pub misses: u64,
    /// Values pushed out by the budget (not counting those removed with their block).
    pub evictions: u64,
}

/// A value the cache can hold: it knows how many heap bytes it takes.
pub trait HeapSize {
    /// Bytes this value holds on the heap, including its own allocation in the cache's `Arc`.
    fn heap_bytes(&self) -> usize;
}

struct Entry<V> {
    value: Arc<V>,
    bytes: usize,
    tick: u64,
}

struct State<V> {
    entries: HashMap<u64, Entry<V>>,
    /// Recency order: tick of the last use -> key. The smallest tick is evicted first.
    order: BTreeMap<u64, u64>,
    next_tick: u64,
    bytes: usize,
}

/// An LRU cache of `Arc<V>` keyed by a cache-wide unique `u64` ([`FooterCache::new_key`]),
/// bounded by the sum of the values' [`HeapSize`].
pub struct FooterCache<V> {
    budget: usize,
    state: Mutex<State<V>>,
    next_key: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

impl<V: HeapSize> std::fmt::Debug for FooterCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FooterCache({:?})", self.stats())
    }
}

impl<V: HeapSize> FooterCache<V> {
    /// A cache holding at most `budget_bytes` of values.
    pub fn new(budget_bytes: usize) -> Self {
        FooterCache {
            budget: budget_bytes,
            state: Mutex::new(State {
                entries: HashMap::new(),
                order: BTreeMap::new(),
                next_tick: 0,
                bytes: 0,
            }),
            next_key: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// A key no other user of this cache has.
    pub fn new_key(&self) -> u64 {
        self.next_key.fetch_add(1, Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, State<V>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value of `key`, decoded with `load` (outside the lock) when it is not held.
    pub fn get_or_load(&self, key: u64, load: impl FnOnce() -> Result<V>) -> Result<Arc<V>> {
        if let Some(v) = self.get(key) {
            return Ok(v);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        Ok(self.insert(key, load()?))
    }

    /// The value of `key` if held, marking it most recently used.
    pub fn get(&self, key: u64) -> Option<Arc<V>> {
        let mut st = self.lock();
        let st = &mut *st;
        let e = st.entries.get_mut(&key)?;
        st.order.remove(&e.tick);
        e.tick = st.next_tick;
        st.next_tick += 1;
        st.order.insert(e.tick, key);
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(e.value.clone())
    }

    /// Holds `value` under `key` (unless another thread did first: then that value is
    /// returned) and evicts the least recently used values over the budget. A value larger
    /// than the whole budget is returned without being held.
    pub fn insert(&self, key: u64, value: V) -> Arc<V> {
        let bytes = value.heap_bytes();
        let value = Arc::new(value);
        if bytes > self.budget {
            return value;
        }
        let mut st = self.lock();
        if let Some(e) = st.entries.get(&key) {
            return e.value.clone();
        }
        while st.bytes + bytes > self.budget {
            let Some((_, victim)) = st.order.pop_first() else {
                break;
            };
            if let Some(e) = st.entries.remove(&victim) {
                st.bytes -= e.bytes;
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
        let tick = st.next_tick;
        st.next_tick += 1;
        st.order.insert(tick, key);
        st.bytes += bytes;
        st.entries.insert(
            key,
            Entry {
                value: value.clone(),
                bytes,
                tick,
            },
        );
        value
    }

    /// Counts `bytes` more for `key` if it still holds `value` (a part of it was built after
    /// insertion), evicting the least recently used values over the budget. A value no
    /// longer held (evicted, or never held) is not counted: it lives only as long as its users.
    pub fn grow(&self, key: u64, value: &V, bytes: usize) {
        let mut st = self.lock();
        let Some(e) = st.entries.get_mut(&key) else {
            return;
        };
        if !std::ptr::eq(Arc::as_ptr(&e.value), value) {
            return;
        }
        e.bytes += bytes;
        st.bytes += bytes;
        while st.bytes > self.budget {
            let Some((_, victim)) = st.order.pop_first() else {
                break;
            };
            if let Some(e) = st.entries.remove(&victim) {
                st.bytes -= e.bytes;
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Drops the value of `key` (its block was closed).
    pub fn remove(&self, key: u64) {
        let mut st = self.lock();
        if let Some(e) = st.entries.remove(&key) {
            st.order.remove(&e.tick);
            st.bytes -= e.bytes;
        }
    }

    pub fn stats(&self) -> CacheStats {
        let (bytes, entries) = {
            let st = self.lock();
            (st.bytes, st.entries.len())
        };
        CacheStats {
            budget_bytes: self.budget as u64,
            bytes: bytes as u64,
            entries: entries as u64,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Blob(usize);
    impl HeapSize for Blob {
        fn heap_bytes(&self) -> usize {
            self.0
        }
    }

    #[test]
    fn evicts_least_recently_used_within_the_budget() {
        let c = FooterCache::new(100);
        c.insert(1, Blob(40));
        c.insert(2, Blob(40));
        assert!(c.get(1).is_some()); // 2 is now the least recently used
        c.insert(3, Blob(40));
        assert!(c.get(2).is_none());
        assert!(c.get(1).is_some() && c.get(3).is_some());
        let s = c.stats();
        assert_eq!((s.bytes, s.entries, s.evictions), (80, 2, 1));
        // Too big to hold at all: returned, not kept, nothing evicted for it.
        assert_eq!(c.insert(4, Blob(101)).0, 101);
        assert_eq!(c.stats().entries, 2);
        c.remove(1);
        assert_eq!(c.stats().bytes, 40);
    }

    #[test]
    fn growth_counts_only_for_the_value_held_and_evicts_over_the_budget() {
        let c = FooterCache::new(100);
        let one = c.insert(1, Blob(30));
        let two = c.insert(2, Blob(30));
        c.grow(2, &two, 20);
        assert_eq!(c.stats().bytes, 80);
        // Another value under the same key (a stale copy) is not counted.
        c.grow(1, &Blob(0), 50);
        assert_eq!(c.stats().bytes, 80);
        // Over the budget: the least recently used (1) goes.
        c.grow(2, &two, 40);
        let s = c.stats();
        assert_eq!((s.bytes, s.entries, s.evictions), (90, 1, 1));
        // Evicted: growing it again counts nothing.
        c.grow(1, &one, 10);
        assert_eq!(c.stats().bytes, 90);
    }

    #[test]
    fn loads_once_then_hits() {
        let c = FooterCache::new(100);
        let mut loads = 0;
        for _ in 0..3 {
            c.get_or_load(7, || {
                loads += 1;
                Ok(Blob(10))
            })
            .unwrap();
        }
        assert_eq!(loads, 1);
        let s = c.stats();
        assert_eq!((s.hits, s.misses), (2, 1));
    }
}
