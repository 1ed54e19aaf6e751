//! Traces split across blocks: those whose spans live in more than one block, so that one
//! block's trace table does not describe them whole. Search answers whole traces from a trace
//! table and assembles split ones.
//!
//! Blocks are immutable, so the index is built once per set of blocks (a sort of every trace
//! id of every block) and kept in a small process-wide cache keyed by the blocks themselves
//! (weak references: the cache never keeps a block alive, and a dropped block invalidates it).

use std::sync::{Arc, Mutex, Weak};

use spandb_storage::BlockReader;

use crate::error::Result;

/// Per block (in the order given): the indexes into its trace table of the traces that also
/// have spans in another block, sorted.
pub(crate) struct SplitIndex {
    split: Vec<Vec<u32>>,
}

impl SplitIndex {
    fn build(blocks: &[Arc<BlockReader>]) -> Result<SplitIndex> {
        let mut all: Vec<([u8; 16], u32, u32)> = Vec::new();
        for (b, block) in blocks.iter().enumerate() {
            let f = block.footer()?;
            for (t, e) in f.traces.iter().enumerate() {
                all.push((e.trace_id.0, b as u32, t as u32));
            }
        }
        all.sort_unstable();
        let mut split: Vec<Vec<u32>> = vec![Vec::new(); blocks.len()];
        let mut i = 0;
        while i < all.len() {
            let mut j = i + 1;
            while all.get(j).is_some_and(|e| e.0 == all[i].0) {
                j += 1;
            }
            if j - i > 1 {
                for e in &all[i..j] {
                    if let Some(s) = split.get_mut(e.1 as usize) {
                        s.push(e.2);
                    }
                }
            }
            i = j;
        }
        for s in &mut split {
            s.sort_unstable();
            s.dedup();
        }
        Ok(SplitIndex { split })
    }

    /// Whether trace `t` of block `b` also has spans in another block.
    pub(crate) fn is_split(&self, b: usize, t: usize) -> bool {
        self.split
            .get(b)
            .is_some_and(|s| s.binary_search(&(t as u32)).is_ok())
    }

    /// The split traces of block `b`.
    pub(crate) fn of_block(&self, b: usize) -> &[u32] {
        self.split.get(b).map(Vec::as_slice).unwrap_or_default()
    }
}

type CacheEntry = (Vec<Weak<BlockReader>>, Arc<SplitIndex>);

static CACHE: Mutex<Vec<CacheEntry>> = Mutex::new(Vec::new());
const CACHE_ENTRIES: usize = 4;

/// The split index of `blocks`, from the cache when these exact blocks were seen before.
pub(crate) fn split_index(blocks: &[Arc<BlockReader>]) -> Result<Arc<SplitIndex>> {
    let same = |key: &[Weak<BlockReader>]| {
        key.len() == blocks.len()
            && key
                .iter()
                .zip(blocks)
                .all(|(w, b)| std::ptr::eq(w.as_ptr(), Arc::as_ptr(b)) && w.strong_count() > 0)
    };
    if let Ok(cache) = CACHE.lock() {
        if let Some((_, idx)) = cache.iter().find(|(k, _)| same(k)) {
            return Ok(idx.clone());
        }
    }
    let idx = Arc::new(SplitIndex::build(blocks)?);
    if let Ok(mut cache) = CACHE.lock() {
        cache.retain(|(k, _)| k.iter().all(|w| w.strong_count() > 0));
        if cache.len() >= CACHE_ENTRIES {
            cache.remove(0);
        }
        cache.push((blocks.iter().map(Arc::downgrade).collect(), idx.clone()));
    }
    Ok(idx)
}
