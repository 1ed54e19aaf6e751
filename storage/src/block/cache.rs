//! A byte-budgeted, scan-resistant (segmented LRU) cache of decoded block footers, shared by
//! every reader of a database.
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
    /// In the protected segment (used again since it was loaded) or on probation.
    protected: bool,
}

/// The map and the two recency orders of a segmented LRU.
///
/// A plain LRU holds nothing useful when queries scan more footers than fit: every footer
/// is evicted just before the next scan asks for it again (measured at 10M spans, 76 blocks
/// of ~4 MB under a 256 MiB budget: every RED query decoded every footer). Here a loaded
/// footer starts on probation and moves to the protected segment (at most
/// [`PROTECTED_SHARE`] of the budget) when it is used again; eviction takes probation's
/// least recently used first. And a footer loaded while the cache is full (a scan larger
/// than the budget is running) goes to the *cold* end of probation, except one in
/// [`WARM_INSERT_EVERY`]: the footers already held stay, and serve as hits the next time
/// the scan comes by, instead of each being evicted just before it is needed. (Adaptive
/// insertion, as in "bimodal insertion" for CPU caches.)
struct State<V> {
    entries: HashMap<u64, Entry<V>>,
    /// Recency orders: tick of the last use -> key; the smallest tick goes first.
    probation: BTreeMap<u64, u64>,
    protected: BTreeMap<u64, u64>,
    /// Ticks of uses count up from `FIRST_TICK`; ticks of cold insertions count down
    /// from it, so they sort before every use.
    next_tick: u64,
    next_cold_tick: u64,
    inserts_under_pressure: u64,
    bytes: usize,
    protected_bytes: usize,
}

/// The share of the budget the protected segment may take (the rest is for probation).
const PROTECTED_SHARE: f64 = 0.8;
/// Of the footers loaded while the cache is full, this one in so many is inserted as
/// recently used (so a new working set still gets in), the others as least recently used.
const WARM_INSERT_EVERY: u64 = 16;
const FIRST_TICK: u64 = 1 << 62;

impl<V> State<V> {
    fn tick(&mut self) -> u64 {
        self.next_tick += 1;
        self.next_tick
    }

    fn cold_tick(&mut self) -> u64 {
        self.next_cold_tick -= 1;
        self.next_cold_tick
    }

    /// Takes `key` out of its recency order.
    fn unlink(&mut self, key: u64) {
        if let Some(e) = self.entries.get(&key) {
            if e.protected {
                self.protected.remove(&e.tick);
            } else {
                self.probation.remove(&e.tick);
            }
        }
    }

    /// Moves the protected segment's least recently used entries to probation until the
    /// segment fits its share.
    fn demote_over(&mut self, protected_budget: usize) {
        while self.protected_bytes > protected_budget {
            let Some((_, key)) = self.protected.pop_first() else {
                break;
            };
            let tick = self.tick();
            if let Some(e) = self.entries.get_mut(&key) {
                e.protected = false;
                e.tick = tick;
                self.protected_bytes -= e.bytes;
                self.probation.insert(tick, key);
            }
        }
    }

    /// Evicts (probation first) until `extra` more bytes fit in `budget`; returns how many.
    fn evict_over(&mut self, budget: usize, extra: usize) -> u64 {
        let mut evicted = 0;
        while self.bytes + extra > budget {
            let victim = match self.probation.pop_first() {
                Some((_, key)) => key,
                None => match self.protected.pop_first() {
                    Some((_, key)) => key,
                    None => break,
                },
            };
            if let Some(e) = self.entries.remove(&victim) {
                self.bytes -= e.bytes;
                if e.protected {
                    self.protected_bytes -= e.bytes;
                }
                evicted += 1;
            }
        }
        evicted
    }
}

/// A segmented-LRU cache of `Arc<V>` keyed by a cache-wide unique `u64`
/// ([`FooterCache::new_key`]), bounded by the sum of the values' [`HeapSize`].
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
                probation: BTreeMap::new(),
                protected: BTreeMap::new(),
                next_tick: FIRST_TICK,
                next_cold_tick: FIRST_TICK,
                inserts_under_pressure: 0,
                bytes: 0,
                protected_bytes: 0,
            }),
            next_key: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    fn protected_budget(&self) -> usize {
        (self.budget as f64 * PROTECTED_SHARE) as usize
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

    /// The value of `key` if held, marking it most recently used (and protected).
    pub fn get(&self, key: u64) -> Option<Arc<V>> {
        let mut st = self.lock();
        let st = &mut *st;
        let (value, was_protected, bytes) = {
            let e = st.entries.get(&key)?;
            (e.value.clone(), e.protected, e.bytes)
        };
        st.unlink(key);
        let tick = st.tick();
        if let Some(e) = st.entries.get_mut(&key) {
            e.tick = tick;
            e.protected = true;
        }
        st.protected.insert(tick, key);
        if !was_protected {
            st.protected_bytes += bytes;
            st.demote_over(self.protected_budget());
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(value)
    }

    /// Holds `value` under `key` (unless another thread did first: then that value is
    /// returned), on probation, and evicts over the budget. A value larger than the whole
    /// budget is returned without being held.
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
        let evicted = st.evict_over(self.budget, bytes);
        self.evictions.fetch_add(evicted, Ordering::Relaxed);
        let tick = if evicted > 0 {
            st.inserts_under_pressure += 1;
            if st.inserts_under_pressure % WARM_INSERT_EVERY == 0 {
                st.tick()
            } else {
                st.cold_tick()
            }
        } else {
            st.tick()
        };
        st.probation.insert(tick, key);
        st.bytes += bytes;
        st.entries.insert(
            key,
            Entry {
                value: value.clone(),
                bytes,
                tick,
                protected: false,
            },
        );
        value
    }

    /// Counts `bytes` more for `key` if it still holds `value` (a part of it was built after
    /// insertion), evicting over the budget. A value no longer held (evicted, or never held)
    /// is not counted: it lives only as long as its users.
    pub fn grow(&self, key: u64, value: &V, bytes: usize) {
        let mut st = self.lock();
        let st = &mut *st;
        let Some(e) = st.entries.get_mut(&key) else {
            return;
        };
        if !std::ptr::eq(Arc::as_ptr(&e.value), value) {
            return;
        }
        e.bytes += bytes;
        if e.protected {
            st.protected_bytes += bytes;
        }
        st.bytes += bytes;
        let evicted = st.evict_over(self.budget, 0);
        self.evictions.fetch_add(evicted, Ordering::Relaxed);
        st.demote_over(self.protected_budget());
    }

    /// Drops the value of `key` (its block was closed).
    pub fn remove(&self, key: u64) {
        let mut st = self.lock();
        st.unlink(key);
        if let Some(e) = st.entries.remove(&key) {
            st.bytes -= e.bytes;
            if e.protected {
                st.protected_bytes -= e.bytes;
            }
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
    fn repeated_scans_larger_than_the_budget_still_hit() {
        // 10 values of 10 bytes scanned in order, again and again, under a budget of 7: a
        // plain LRU evicts each value just before the scan comes back to it (no hits at all).
        let c = FooterCache::new(70);
        for _ in 0..5 {
            for key in 0..10 {
                c.get_or_load(key, || Ok(Blob(10))).unwrap();
            }
        }
        let s = c.stats();
        assert!(s.bytes <= 70);
        // The values held when the first scan filled the cache stay and hit on every later
        // scan (a plain LRU: no hits at all).
        assert!(s.hits >= 20, "{s:?}");
        assert_eq!(s.hits + s.misses, 50);
    }

    #[test]
    fn a_value_used_again_outlives_a_scan_of_new_ones() {
        let c = FooterCache::new(100);
        c.insert(1, Blob(20));
        assert!(c.get(1).is_some()); // protected now
        for key in 2..20 {
            c.insert(key, Blob(20));
        }
        assert!(c.get(1).is_some());
        assert!(c.stats().bytes <= 100);
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
