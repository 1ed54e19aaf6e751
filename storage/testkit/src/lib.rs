//! Test support shared by spandb-storage's integration tests and examples (the crash harness):
//! span and log batches of a known shape, so a reader can tell whole batches from torn ones, and
//! a small deterministic random number generator.
#![deny(unsafe_code)]

use std::sync::Arc;

use spandb_storage::{
    KeyValue, LogRecord, Resource, Scope, Span, SpanId, StatusCode, TraceId, Value,
};

/// Batch `i` of a known shape: `per` spans over 4 traces whose ids start with `i + 1`, span ids
/// `(i << 16) | (j + 1)`, an attribute `batch = i`, service `svc-{i % 3}`, names `op-{j % 5}`,
/// every 7th span an error, starting at `start_ns` one microsecond apart, each `duration_ns`
/// long.
pub fn numbered_batch(i: u64, per: u64, start_ns: u64, duration_ns: u64) -> Vec<Span> {
    let resource = Arc::new(Resource {
        attributes: vec![KeyValue::new(
            "service.name",
            Value::Str(format!("svc-{}", i % 3)),
        )],
        ..Resource::default()
    });
    let scope = Arc::new(Scope::default());
    (0..per)
        .map(|j| Span {
            trace_id: numbered_trace(i, j % 4),
            span_id: SpanId(((i << 16) | (j + 1)).to_be_bytes()),
            name: format!("op-{}", j % 5),
            start_ns: start_ns + j * 1_000,
            end_ns: start_ns + j * 1_000 + duration_ns,
            status_code: if j % 7 == 0 {
                StatusCode::Error
            } else {
                StatusCode::Unset
            },
            resource: resource.clone(),
            scope: scope.clone(),
            attributes: vec![KeyValue::new("batch", Value::Int(i as i64))],
            ..Span::default()
        })
        .collect()
}

/// The log records of [`numbered_batch`] `i`: `per` records, record `j` in trace `j % 4` and
/// span `(i << 16) | (j + 1)` (the ids of the batch's spans), an attribute `batch = i`, service
/// `svc-{i % 3}`, body `batch {i} record {j}`, severity 9 (info) or every 3rd 17 (error), at
/// `start_ns` plus `j` microseconds.
pub fn numbered_logs(i: u64, per: u64, start_ns: u64) -> Vec<LogRecord> {
    let resource = Arc::new(Resource {
        attributes: vec![KeyValue::new(
            "service.name",
            Value::Str(format!("svc-{}", i % 3)),
        )],
        ..Resource::default()
    });
    let scope = Arc::new(Scope::default());
    (0..per)
        .map(|j| LogRecord {
            time_ns: start_ns + j * 1_000,
            observed_time_ns: start_ns + j * 1_000 + 7,
            severity_number: if j % 3 == 0 { 17 } else { 9 },
            body: Value::Str(format!("batch {i} record {j}")),
            attributes: vec![KeyValue::new("batch", Value::Int(i as i64))],
            flags: 1,
            trace_id: numbered_trace(i, j % 4),
            span_id: SpanId(((i << 16) | (j + 1)).to_be_bytes()),
            resource: resource.clone(),
            scope: scope.clone(),
            ..LogRecord::default()
        })
        .collect()
}

/// The batch number a record of [`numbered_logs`] carries (`None` when it has none).
pub fn log_batch_of(l: &LogRecord) -> Option<u64> {
    match l.attr("batch") {
        Some(Value::Int(i)) => u64::try_from(*i).ok(),
        _ => None,
    }
}

/// Trace `t` (0..4) of [`numbered_batch`] `i`.
pub fn numbered_trace(i: u64, t: u64) -> TraceId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&(i + 1).to_be_bytes());
    id[8..].copy_from_slice(&t.to_be_bytes());
    TraceId(id)
}

/// A xorshift generator: deterministic for a seed, good enough to pick test moments.
pub struct Rng(pub u64);

impl Rng {
    /// A number in `0..below` (0 when `below` is 0).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below.max(1)
    }
}

/// Every span of an OTLP JSON lines file (the measurement examples' input). Blank lines are
/// skipped; a malformed line is an error naming its number.
pub fn load_json_lines(path: &std::path::Path) -> Result<Vec<Span>, Box<dyn std::error::Error>> {
    use std::io::BufRead;
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut spans = Vec::new();
    for (n, line) in file.lines().enumerate() {
        let line = line?;
        if !line.trim().is_empty() {
            spandb_storage::otlp::json::decode_json_request(line.as_bytes(), &mut spans)
                .map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?;
        }
    }
    Ok(spans)
}
