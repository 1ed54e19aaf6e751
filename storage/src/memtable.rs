//! The memtable: spans and log records written but not yet sealed into blocks, as an
//! append-only list of write batches plus trace-id maps. Snapshots copy the list of batch pointers, so they see a
//! stable prefix. A full memtable is *frozen* (it takes no more writes) and handed to the
//! sealer, which turns it into a *sealed* block.

use rustc_hash::FxHashMap as HashMap;
use std::sync::{Arc, RwLock};

use crate::model::{LogRecord, Span, TraceId};

/// The spans or log records of one acknowledged write.
#[derive(Debug, Default)]
pub struct Segment {
    pub spans: Vec<Span>,
    pub logs: Vec<LogRecord>,
}

impl Segment {
    pub fn spans(spans: Vec<Span>) -> Self {
        Segment {
            spans,
            logs: Vec::new(),
        }
    }
    pub fn logs(logs: Vec<LogRecord>) -> Self {
        Segment {
            spans: Vec::new(),
            logs,
        }
    }
}

/// The in-memory buffer of the next block.
#[derive(Debug, Default)]
pub struct Memtable {
    segments: RwLock<Vec<Arc<Segment>>>,
    /// trace id -> (segment index, span index)
    traces: RwLock<HashMap<TraceId, Vec<(u32, u32)>>>,
    /// trace id -> (segment index, log record index)
    log_traces: RwLock<HashMap<TraceId, Vec<(u32, u32)>>>,
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
        if !seg.logs.is_empty() {
            let mut traces = write(&self.log_traces);
            for (i, l) in seg.logs.iter().enumerate() {
                if let Some(t) = l.trace() {
                    traces.entry(t).or_default().push((si, i as u32));
                }
            }
        }
        self.spans.fetch_add(
            seg.spans.len() + seg.logs.len(),
            std::sync::atomic::Ordering::AcqRel,
        );
        segments.push(Arc::new(seg));
    }

    /// The segments written so far (a stable prefix for a snapshot).
    pub fn segments(&self) -> Vec<Arc<Segment>> {
        read(&self.segments).clone()
    }

    /// Spans plus log records: what the seal threshold counts.
    pub fn row_count(&self) -> usize {
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

    /// Log records of `trace` among the first `visible` segments.
    pub fn trace_logs(&self, trace: &TraceId, segments: &[Arc<Segment>]) -> Vec<LogRecord> {
        let traces = read(&self.log_traces);
        let Some(locs) = traces.get(trace) else {
            return Vec::new();
        };
        locs.iter()
            .filter_map(|(si, i)| segments.get(*si as usize)?.logs.get(*i as usize).cloned())
            .collect()
    }
}
