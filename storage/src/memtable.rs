//! The memtable: spans and log records written but not yet sealed into blocks, as an
//! append-only list of write batches plus trace-id maps. Snapshots copy the list of batch pointers, so they see a
//! stable prefix. A full memtable is *frozen* (it takes no more writes) and handed to the
//! sealer, which turns it into a *sealed* block.
//!
//! A batch is kept as its log record (the `wal_codec` encoding the write path builds anyway,
//! ~160 B per span of the macro data) rather than as owned `Span`s (~2.4 KB each): a memtable
//! of 131072 spans costs ~21 MB instead of ~300 MB. Readers and the sealer decode a batch when
//! they need it; the decoded rows are shared by whoever uses them at the same moment and freed
//! with the last of them (docs/ARCHITECTURE.md, "Memory").

use rustc_hash::FxHashMap as HashMap;
use std::sync::{Arc, Mutex, RwLock, Weak};

use crate::codec::buf::DecodeResult;
use crate::model::{LogRecord, Span, TraceId};
use crate::wal_codec::{decode_log_record, decode_record};

/// What a segment's record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentKind {
    Spans,
    Logs,
}

/// The spans or log records of one acknowledged write, as its log record.
#[derive(Debug)]
pub struct Segment {
    kind: SegmentKind,
    /// The body written by `wal_codec::encode_record` or `encode_log_record`.
    record: Vec<u8>,
    rows: usize,
    /// The decoded rows while some reader (or the sealer) holds them.
    spans: Mutex<Weak<Vec<Span>>>,
    logs: Mutex<Weak<Vec<LogRecord>>>,
}

/// Locks a cache slot; a panic elsewhere leaves nothing half-written in a `Weak`.
fn slot<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The decoded rows in `cache`, or `decode()` (then kept there while someone holds them).
fn shared<T>(
    cache: &Mutex<Weak<Vec<T>>>,
    decode: impl FnOnce() -> DecodeResult<Vec<T>>,
) -> DecodeResult<Arc<Vec<T>>> {
    // Held while decoding, so readers arriving meanwhile wait for this copy instead of
    // making their own.
    let mut cached = slot(cache);
    if let Some(rows) = cached.upgrade() {
        return Ok(rows);
    }
    let rows = Arc::new(decode()?);
    *cached = Arc::downgrade(&rows);
    Ok(rows)
}

impl Segment {
    /// A write of `rows` spans whose log record body is `record`.
    pub fn spans(record: Vec<u8>, rows: usize) -> Self {
        Self::new(SegmentKind::Spans, record, rows)
    }
    /// A write of `rows` log records whose log record body is `record`.
    pub fn logs(record: Vec<u8>, rows: usize) -> Self {
        Self::new(SegmentKind::Logs, record, rows)
    }
    fn new(kind: SegmentKind, record: Vec<u8>, rows: usize) -> Self {
        Segment {
            kind,
            record,
            rows,
            spans: Mutex::new(Weak::new()),
            logs: Mutex::new(Weak::new()),
        }
    }

    /// Spans in this segment (0 for log records).
    pub fn span_rows(&self) -> usize {
        if self.kind == SegmentKind::Spans {
            self.rows
        } else {
            0
        }
    }

    /// Log records in this segment (0 for spans).
    pub fn log_rows(&self) -> usize {
        if self.kind == SegmentKind::Logs {
            self.rows
        } else {
            0
        }
    }

    /// The log record body.
    pub fn record(&self) -> &[u8] {
        &self.record
    }

    /// The spans, decoded (empty for a segment of log records).
    pub fn decode_spans(&self) -> DecodeResult<Arc<Vec<Span>>> {
        if self.kind != SegmentKind::Spans {
            return Ok(Arc::default());
        }
        shared(&self.spans, || decode_record(&self.record))
    }

    /// The log records, decoded (empty for a segment of spans).
    pub fn decode_logs(&self) -> DecodeResult<Arc<Vec<LogRecord>>> {
        if self.kind != SegmentKind::Logs {
            return Ok(Arc::default());
        }
        shared(&self.logs, || decode_log_record(&self.record))
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
    /// Appends a segment; `trace_ids` are its rows' trace ids, in order (`None` for a log
    /// record without one).
    pub fn append(&self, seg: Segment, trace_ids: impl Iterator<Item = Option<TraceId>>) {
        let mut segments = write(&self.segments);
        let si = segments.len() as u32;
        {
            let mut traces = match seg.kind {
                SegmentKind::Spans => write(&self.traces),
                SegmentKind::Logs => write(&self.log_traces),
            };
            for (i, t) in trace_ids.enumerate() {
                if let Some(t) = t {
                    traces.entry(t).or_default().push((si, i as u32));
                }
            }
        }
        self.spans
            .fetch_add(seg.rows, std::sync::atomic::Ordering::AcqRel);
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

    /// Spans of `trace` among `segments` (a prefix of this memtable's).
    pub fn trace(&self, trace: &TraceId, segments: &[Arc<Segment>]) -> DecodeResult<Vec<Span>> {
        let locs = read(&self.traces).get(trace).cloned().unwrap_or_default();
        rows_at(&locs, segments, Segment::decode_spans)
    }

    /// Log records of `trace` among `segments` (a prefix of this memtable's).
    pub fn trace_logs(
        &self,
        trace: &TraceId,
        segments: &[Arc<Segment>],
    ) -> DecodeResult<Vec<LogRecord>> {
        let locs = read(&self.log_traces)
            .get(trace)
            .cloned()
            .unwrap_or_default();
        rows_at(&locs, segments, Segment::decode_logs)
    }
}

/// The rows at `locs` (segment, row; grouped by segment as appended), decoding each segment
/// once.
fn rows_at<T: Clone>(
    locs: &[(u32, u32)],
    segments: &[Arc<Segment>],
    decode: impl Fn(&Segment) -> DecodeResult<Arc<Vec<T>>>,
) -> DecodeResult<Vec<T>> {
    let mut out = Vec::with_capacity(locs.len());
    let mut decoded: Option<(u32, Arc<Vec<T>>)> = None;
    for &(si, i) in locs {
        let Some(seg) = segments.get(si as usize) else {
            continue; // written after the snapshot
        };
        let rows = match &decoded {
            Some((at, rows)) if *at == si => rows.clone(),
            _ => {
                let rows = decode(seg)?;
                decoded = Some((si, rows.clone()));
                rows
            }
        };
        out.extend(rows.get(i as usize).cloned());
    }
    Ok(out)
}
