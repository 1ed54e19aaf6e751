//! The memtable: spans written but not yet sealed into a block, as an append-only list of
//! write batches plus a trace-id map. Snapshots copy the list of batch pointers, so they see a
//! stable prefix. A full memtable is *frozen* (it takes no more writes) and handed to the
//! sealer, which turns it into a *sealed* block.

use rustc_hash::FxHashMap as HashMap;
use std::sync::{Arc, RwLock};

use crate::model::{Span, TraceId};

/// The spans of one acknowledged write.
#[derive(Debug)]
pub struct Segment {
    pub spans: Vec<Span>,
}

/// The in-memory buffer of the next block.
#[derive(Debug, Default)]
pub struct Memtable {
    segments: RwLock<Vec<Arc<Segment>>>,
    /// trace id -> (segment index, span index)
    traces: RwLock<HashMap<TraceId, Vec<(u32, u32)>>>,
    /// Spans in all segments: kept so that each write checks the seal threshold in O(1)
    /// (summing segments made many small writes quadratic).
    spans: std::sync::atomic::AtomicUsize,
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}
fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

impl Memtable {
    pub fn append(&self, seg: Segment) {
        let mut segments = write(&self.segments);
        let si = segments.len() as u32;
        {
            let mut traces = write(&self.traces);
            for (i, s) in seg.spans.iter().enumerate() {
                traces.entry(s.trace_id).or_default().push((si, i as u32));
            }
        }
        self.spans
            .fetch_add(seg.spans.len(), std::sync::atomic::Ordering::AcqRel);
        segments.push(Arc::new(seg));
    }

    /// The segments written so far (a stable prefix for a snapshot).
    pub fn segments(&self) -> Vec<Arc<Segment>> {
        read(&self.segments).clone()
    }

    pub fn span_count(&self) -> usize {
        self.spans.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Spans of `trace` among the first `visible` segments.
    pub fn trace(&self, trace: &TraceId, segments: &[Arc<Segment>]) -> Vec<Span> {
        let traces = read(&self.traces);
        let Some(locs) = traces.get(trace) else {
            return Vec::new();
        };
        locs.iter()
            .filter_map(|(si, i)| segments.get(*si as usize)?.spans.get(*i as usize).cloned())
            .collect()
    }
}
