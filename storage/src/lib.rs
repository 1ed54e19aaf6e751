//! spandb-storage: the storage engine of spandb.
//!
//! Spans arrive through [`Db::write`], are logged in RocksDB and kept in an in-memory memtable
//! that readers already see, and are sealed into immutable column-oriented block files
//! (zstd-compressed, checksummed, mmapped) with roaring-bitmap indexes and rollups in their
//! footers. RocksDB holds the log of unsealed spans, the block catalog and the trace-id index.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

pub mod block;
pub mod codec;
pub mod edges;
mod error;
mod mmap;
pub mod model;
pub mod otlp;
pub mod rollup;

pub use error::{Error, Result};
pub use model::{
    severity_from_name, severity_name, Event, KeyValue, Link, LogRecord, Resource, Scope, Span,
    SpanId, SpanKind, StatusCode, TraceId, Value,
};
mod catalog;
mod db;
pub mod fsio;
mod memtable;
mod scan;
pub mod wal_codec;
pub use scan::ScanFilter;

pub use block::log::LogBlockReader;
pub use block::CacheStats;
pub use block::{BlockReader, SpanParts};
pub use catalog::{BlockEntry, CatalogMemory};
pub use db::{
    dir_size, CheckReport, CompactReport, Db, Durability, Options, Problem, QuarantinedBlock,
    RepairReport, RetainReport, ServiceSpans, Snapshot, Stats, DEFAULT_CACHE_BYTES,
};
