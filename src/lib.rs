//! spandb: an embedded, column-oriented database for distributed-tracing spans.
//!
//! ```no_run
//! use spandb::{Db, Options, Durability};
//! let db = Options::new().durability(Durability::Sync).open("./spandb-data")?;
//! let mut spans = Vec::new();
//! spandb::otlp::json::decode_json_request(br#"{"resourceSpans":[]}"#, &mut spans)?;
//! db.write(spans)?;
//! db.flush()?;
//! # Ok::<(), spandb::Error>(())
//! ```
#![deny(unsafe_code)]

pub use spandb_query as query;
pub use spandb_storage::{
    block, model, otlp, rollup, BlockReader, CheckReport, CompactReport, Db, Durability, Error,
    Event, KeyValue, Link, Options, Resource, Result, RetainReport, ScanFilter, Scope, Snapshot,
    Span, SpanId, SpanKind, Stats, StatusCode, TraceId, Value,
};
