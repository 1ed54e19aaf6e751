//! What RocksDB holds: the log of unsealed spans, the block catalog, the trace-id index and
//! metadata, each in its own column family. Key and value layouts are in docs/FORMAT.md.

use std::path::Path;

use rocksdb::{
    ColumnFamilyDescriptor, DBCompressionType, Direction, IteratorMode, Options, WriteBatch,
    WriteOptions, DB,
};

use crate::codec::buf::{DecodeError, DecodeResult, Decoder, Encoder};
use crate::error::{Error, Result};
use crate::model::TraceId;

pub const CF_WAL: &str = "wal";
pub const CF_CATALOG: &str = "catalog";
pub const CF_TRACE_INDEX: &str = "trace_index";
pub const CF_META: &str = "meta";

/// Version of the RocksDB key/value layouts (meta key `format_version`).
pub const CATALOG_FORMAT_VERSION: u32 = 1;
/// First byte of every WAL value: what the record holds (and its encoding version).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// A batch of spans, log record version 1.
    Spans = 1,
    /// A batch of log records, log-kind record version 1.
    Logs = 2,
}

impl TryFrom<u8> for RecordKind {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        match v {
            1 => Ok(RecordKind::Spans),
            2 => Ok(RecordKind::Logs),
            _ => Err(format!("unknown log record kind/version {v}")),
        }
    }
}

/// First byte of every catalog value: its encoding version. Version 1 (spans only) is still
/// read; version 2 adds the block kind.
pub const CATALOG_VALUE_VERSION: u8 = 2;

/// What a sealed block holds. Part of catalog values: never renumber.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BlockKind {
    #[default]
    Spans = 0,
    Logs = 1,
}

impl TryFrom<u8> for BlockKind {
    type Error = DecodeError;
    fn try_from(v: u8) -> DecodeResult<Self> {
        match v {
            0 => Ok(BlockKind::Spans),
            1 => Ok(BlockKind::Logs),
            _ => Err(DecodeError::new(format!("unknown block kind {v}"))),
        }
    }
}

const META_FORMAT_VERSION: &[u8] = b"format_version";
const META_NEXT_BLOCK_ID: &[u8] = b"next_block_id";
/// `retired/<u64 BE block id>`: a block replaced by compaction or dropped by retention whose
/// trace-index entries and file are removed once no snapshot reads it any more.
const META_RETIRED: &[u8] = b"retired/";

/// `source/<name>`: how far an external source (a Kafka partition) has been consumed,
/// written in the same batch as the log record of the spans it covers.
const META_SOURCE: &[u8] = b"source/";
/// First byte of a `source/` value: its encoding version.
pub const SOURCE_VALUE_VERSION: u8 = 1;

fn source_key(name: &str) -> Vec<u8> {
    let mut k = META_SOURCE.to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

fn retired_key(id: u64) -> Vec<u8> {
    let mut k = META_RETIRED.to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// A sealed block as the catalog records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockEntry {
    pub id: u64,
    pub file_len: u64,
    /// crc32c of the whole file, checked by `check`.
    pub file_crc32c: u32,
    pub rows: u32,
    pub traces: u32,
    pub min_start_ns: u64,
    pub max_end_ns: u64,
    /// Spans or log records (for a log block, `rows` counts records and the time range is
    /// that of their timestamps).
    pub kind: BlockKind,
}

impl BlockEntry {
    pub fn file_name(id: u64) -> String {
        format!("{id:012}.blk")
    }

    fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.put_u8(CATALOG_VALUE_VERSION);
        e.put_u64(self.file_len);
        e.put_u32(self.file_crc32c);
        e.put_u32(self.rows);
        e.put_u32(self.traces);
        e.put_u64(self.min_start_ns);
        e.put_u64(self.max_end_ns);
        e.put_u8(self.kind as u8);
        e.finish()
    }

    fn decode(id: u64, bytes: &[u8]) -> DecodeResult<Self> {
        let mut d = Decoder::new(bytes);
        let v = d.get_u8()?;
        if !(1..=CATALOG_VALUE_VERSION).contains(&v) {
            return Err(DecodeError::new(format!(
                "catalog entry version {v}, expected 1 to {CATALOG_VALUE_VERSION}"
            )));
        }
        let mut entry = BlockEntry {
            id,
            file_len: d.get_u64()?,
            file_crc32c: d.get_u32()?,
            rows: d.get_u32()?,
            traces: d.get_u32()?,
            min_start_ns: d.get_u64()?,
            max_end_ns: d.get_u64()?,
            kind: BlockKind::Spans,
        };
        if v >= 2 {
            entry.kind = BlockKind::try_from(d.get_u8()?)?;
        }
        if !d.is_empty() {
            return Err(DecodeError::new("trailing bytes in catalog entry"));
        }
        Ok(entry)
    }
}

/// Bytes of the trace id kept in index keys. Eight bytes tell traces apart up to billions of
/// traces; a rare collision only makes a lookup open one extra block, which then finds no
/// spans of the wanted trace. Half the key size of the full id, measured 0.5 B/span less.
pub const TRACE_KEY_PREFIX: usize = 8;
const TRACE_KEY_LEN: usize = TRACE_KEY_PREFIX + 4;

/// The part of a trace id the index keys on.
pub type TracePrefix = [u8; TRACE_KEY_PREFIX];

pub fn trace_prefix(trace: &TraceId) -> TracePrefix {
    let mut p = [0u8; TRACE_KEY_PREFIX];
    p.copy_from_slice(&trace.0[..TRACE_KEY_PREFIX]);
    p
}

fn trace_key(trace: &TraceId, block: u32) -> [u8; TRACE_KEY_LEN] {
    let mut k = [0u8; TRACE_KEY_LEN];
    k[..TRACE_KEY_PREFIX].copy_from_slice(&trace.0[..TRACE_KEY_PREFIX]);
    k[TRACE_KEY_PREFIX..].copy_from_slice(&block.to_be_bytes());
    k
}

/// The trace prefix and block id of a trace-index key, or why it is malformed.
fn split_trace_key(k: &[u8]) -> Result<(TracePrefix, u64), String> {
    let (p, b) = (k.get(..TRACE_KEY_PREFIX), k.get(TRACE_KEY_PREFIX..));
    match (
        p.and_then(|p| <TracePrefix>::try_from(p).ok()),
        b.and_then(|b| <[u8; 4]>::try_from(b).ok()),
    ) {
        (Some(p), Some(b)) => Ok((p, u64::from(u32::from_be_bytes(b)))),
        _ => Err(format!(
            "key is {} bytes, expected {TRACE_KEY_LEN}",
            k.len()
        )),
    }
}

/// What RocksDB's C++ side holds in memory, from its properties, in bytes. The block cache
/// figures count a cache shared by column families once per family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CatalogMemory {
    /// Memtables of the log column family (active, immutable, and flushed ones kept).
    pub log_memtables: u64,
    /// Memtables of the catalog, trace-index and meta column families.
    pub other_memtables: u64,
    /// Index and filter blocks held by open SST table readers (outside the block cache).
    pub table_readers: u64,
    /// Block cache usage.
    pub block_cache: u64,
    /// Block cache entries pinned (in use, not evictable).
    pub pinned: u64,
}

/// The RocksDB instance and its column families.
pub struct Catalog {
    db: DB,
    /// True when this open found no format version: a new database, or a catalog RocksDB
    /// could not read and started over (e.g. a damaged MANIFEST).
    fresh: bool,
}

impl Catalog {
    /// `Error::Corruption` in the catalog directory, in column family or key space `what`.
    fn corrupt(&self, what: &str, e: impl std::fmt::Display) -> Error {
        Error::corruption(self.db.path(), format!("{what}: {e}"))
    }

    fn split_trace_key(&self, k: &[u8]) -> Result<(TracePrefix, u64)> {
        split_trace_key(k).map_err(|e| self.corrupt("trace index", e))
    }

    pub fn open(path: &Path) -> Result<Self> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        // Keep RocksDB's own info logs small: they count as bytes on disk.
        opts.set_keep_log_file_num(1);
        opts.set_log_level(rocksdb::LogLevel::Warn);
        opts.set_max_log_file_size(1 << 20);
        opts.set_recycle_log_file_num(0);
        let mut wal = Options::default();
        // 64 MiB holds several builders' worth of log records (~16 MiB per 131072 spans), so
        // sealed spans are usually range-deleted before their memtable flushes to an SST file;
        // 256 MiB saved little and cost 65 MB of peak RSS on a 1M-span import.
        wal.set_write_buffer_size(64 << 20);
        wal.set_compression_type(DBCompressionType::Lz4);
        let mut index = Options::default();
        // Keys arrive in no order (one per trace per block), so the memtable grows with the
        // data until it flushes: at RocksDB's 64 MiB default it held 22 MiB after 10M spans
        // (2 MiB after 1M), most of the difference in ingest RssAnon between the two. 8 MiB
        // bounds it; each flush is a small zstd SST file that compaction merges.
        index.set_write_buffer_size(8 << 20);
        index.set_compression_type(DBCompressionType::Zstd);
        index.set_bottommost_compression_type(DBCompressionType::Zstd);
        let cfs = vec![
            ColumnFamilyDescriptor::new(CF_WAL, wal),
            ColumnFamilyDescriptor::new(CF_CATALOG, Options::default()),
            ColumnFamilyDescriptor::new(CF_TRACE_INDEX, index),
            ColumnFamilyDescriptor::new(CF_META, Options::default()),
        ];
        let db = DB::open_cf_descriptors(&opts, path, cfs)?;
        let mut catalog = Catalog { db, fresh: false };
        catalog.fresh = catalog.check_format_version()?;
        Ok(catalog)
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| Error::RocksDb(format!("column family {name} is missing")))
    }

    /// True when the catalog was empty (see `fresh`).
    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// Checks (or, on a new catalog, writes) the format version; true when it was new.
    fn check_format_version(&self) -> Result<bool> {
        let meta = self.cf(CF_META)?;
        match self.db.get_cf(meta, META_FORMAT_VERSION)? {
            None => {
                let mut wo = WriteOptions::default();
                wo.set_sync(true);
                self.db.put_cf_opt(
                    meta,
                    META_FORMAT_VERSION,
                    CATALOG_FORMAT_VERSION.to_le_bytes(),
                    &wo,
                )?;
                Ok(true)
            }
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_slice())
                    .map(u32::from_le_bytes)
                    .map_err(|_| self.corrupt("meta", "format_version is not 4 bytes"))?;
                if found != CATALOG_FORMAT_VERSION {
                    return Err(Error::UnsupportedVersion {
                        file: "catalog (RocksDB)".into(),
                        found,
                        supported: CATALOG_FORMAT_VERSION,
                    });
                }
                Ok(false)
            }
        }
    }

    pub fn next_block_id(&self) -> Result<u64> {
        let v = self.db.get_cf(self.cf(CF_META)?, META_NEXT_BLOCK_ID)?;
        match v {
            None => Ok(1),
            Some(v) => <[u8; 8]>::try_from(v.as_slice())
                .map(u64::from_le_bytes)
                .map_err(|_| self.corrupt("meta", "next_block_id is not 8 bytes")),
        }
    }

    /// Appends one log record of unsealed spans or log records (already encoded).
    pub fn append_wal(&self, seq: u64, kind: RecordKind, payload: &[u8], sync: bool) -> Result<()> {
        let mut value = Vec::with_capacity(payload.len() + 1);
        value.push(kind as u8);
        value.extend_from_slice(payload);
        let mut wo = WriteOptions::default();
        wo.set_sync(sync);
        self.db
            .put_cf_opt(self.cf(CF_WAL)?, seq.to_be_bytes(), value, &wo)?;
        Ok(())
    }

    /// Appends one log record (when `record` is given: its sequence number and encoded
    /// payload) and sets the `source/` positions, all in one `WriteBatch`: after a crash
    /// either the spans and their positions are there, or neither is.
    pub fn append_wal_with_sources(
        &self,
        record: Option<(u64, RecordKind, &[u8])>,
        sources: &[(String, u64)],
        sync: bool,
    ) -> Result<()> {
        let mut batch = WriteBatch::default();
        if let Some((seq, kind, payload)) = record {
            let mut value = Vec::with_capacity(payload.len() + 1);
            value.push(kind as u8);
            value.extend_from_slice(payload);
            batch.put_cf(self.cf(CF_WAL)?, seq.to_be_bytes(), value);
        }
        let meta = self.cf(CF_META)?;
        for (name, position) in sources {
            let mut value = Vec::with_capacity(9);
            value.push(SOURCE_VALUE_VERSION);
            value.extend_from_slice(&position.to_le_bytes());
            batch.put_cf(meta, source_key(name), value);
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(sync);
        self.db.write_opt(batch, &wo)?;
        Ok(())
    }

    /// Every stored source position whose name starts with `prefix`: (name, position).
    pub fn source_positions(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        let start = source_key(prefix);
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(CF_META)?,
            IteratorMode::From(&start, Direction::Forward),
        );
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(&start) {
                break;
            }
            let name = k
                .get(META_SOURCE.len()..)
                .and_then(|n| std::str::from_utf8(n).ok())
                .ok_or_else(|| self.corrupt("meta", "a source key is not UTF-8"))?;
            let position = match v.split_first() {
                Some((&SOURCE_VALUE_VERSION, rest)) => <[u8; 8]>::try_from(rest)
                    .map(u64::from_le_bytes)
                    .map_err(|_| {
                        self.corrupt("meta", format!("source {name}: value is not 8 bytes"))
                    })?,
                Some((v, _)) => {
                    return Err(self.corrupt("meta", format!("source {name} has version {v}")))
                }
                None => return Err(self.corrupt("meta", format!("source {name} is empty"))),
            };
            out.push((name.to_owned(), position));
        }
        Ok(out)
    }

    /// Every log record, in sequence order: (seq, kind, payload).
    pub fn wal_records(&self) -> Result<Vec<(u64, RecordKind, Vec<u8>)>> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_WAL)?, IteratorMode::Start) {
            let (k, v) = item?;
            let seq = <[u8; 8]>::try_from(&k[..])
                .map(u64::from_be_bytes)
                .map_err(|_| self.corrupt("wal", "key is not 8 bytes"))?;
            match v.split_first() {
                Some((k, payload)) => {
                    let kind = RecordKind::try_from(*k)
                        .map_err(|e| self.corrupt("wal", format!("record {seq}: {e}")))?;
                    out.push((seq, kind, payload.to_vec()))
                }
                None => return Err(self.corrupt("wal", format!("record {seq} is empty"))),
            }
        }
        Ok(out)
    }

    /// Adds to `batch` the catalog entry of a new block and its trace-index entries.
    fn add_block(
        &self,
        batch: &mut WriteBatch,
        entry: &BlockEntry,
        traces: &[TraceId],
    ) -> Result<()> {
        batch.put_cf(self.cf(CF_CATALOG)?, entry.id.to_be_bytes(), entry.encode());
        let index = self.cf(CF_TRACE_INDEX)?;
        let block = u32::try_from(entry.id).map_err(|_| {
            Error::InvalidInput(format!("block id {} exceeds the index's 32 bits", entry.id))
        })?;
        for t in traces {
            batch.put_cf(index, trace_key(t, block), []);
        }
        Ok(())
    }

    /// Records the blocks sealed from one frozen memtable (a span block, a log block, or
    /// both) atomically: catalog entries, trace index entries, removal of the log records
    /// `[wal_from, wal_to)` they replace, and the next block id.
    pub fn commit_blocks(
        &self,
        blocks: &[(&BlockEntry, &[TraceId])],
        wal_from: u64,
        wal_to: u64,
        next_block_id: u64,
    ) -> Result<()> {
        let mut batch = WriteBatch::default();
        for (entry, traces) in blocks {
            self.add_block(&mut batch, entry, traces)?;
        }
        if wal_to > wal_from {
            batch.delete_range_cf(
                self.cf(CF_WAL)?,
                wal_from.to_be_bytes(),
                wal_to.to_be_bytes(),
            );
        }
        batch.put_cf(
            self.cf(CF_META)?,
            META_NEXT_BLOCK_ID,
            next_block_id.to_le_bytes(),
        );
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo)?;
        Ok(())
    }

    /// Swaps blocks atomically: adds `added` (catalog entry and trace index), removes the
    /// catalog entries of `removed` and marks them retired. Their index entries stay until
    /// [`Catalog::forget_block`], so snapshots that still read them keep finding their traces.
    pub fn replace_blocks(
        &self,
        added: Option<(&BlockEntry, &[TraceId])>,
        removed: &[u64],
        next_block_id: u64,
    ) -> Result<()> {
        let mut batch = WriteBatch::default();
        if let Some((entry, traces)) = added {
            self.add_block(&mut batch, entry, traces)?;
        }
        let meta = self.cf(CF_META)?;
        for id in removed {
            batch.delete_cf(self.cf(CF_CATALOG)?, id.to_be_bytes());
            batch.put_cf(meta, retired_key(*id), []);
        }
        batch.put_cf(meta, META_NEXT_BLOCK_ID, next_block_id.to_le_bytes());
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo)?;
        Ok(())
    }

    /// Removes a retired block's trace-index entries and its retired mark. With `traces` None
    /// (its file is gone or unreadable) the whole index is scanned for the block's entries.
    pub fn forget_block(&self, id: u64, traces: Option<&[TraceId]>) -> Result<()> {
        let mut batch = WriteBatch::default();
        let index = self.cf(CF_TRACE_INDEX)?;
        let block = u32::try_from(id).unwrap_or(u32::MAX);
        match traces {
            Some(traces) => {
                for t in traces {
                    batch.delete_cf(index, trace_key(t, block));
                }
            }
            None => {
                for item in self.db.iterator_cf(index, IteratorMode::Start) {
                    let (k, _) = item?;
                    if self.split_trace_key(&k)?.1 == id {
                        batch.delete_cf(index, k);
                    }
                }
            }
        }
        batch.delete_cf(self.cf(CF_META)?, retired_key(id));
        self.db.write(batch)?;
        Ok(())
    }

    /// Blocks retired but not yet forgotten.
    pub fn retired(&self) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(CF_META)?,
            IteratorMode::From(META_RETIRED, Direction::Forward),
        );
        for item in iter {
            let (k, _) = item?;
            let Some(id) = k.strip_prefix(META_RETIRED) else {
                break;
            };
            let id = <[u8; 8]>::try_from(id)
                .map_err(|_| self.corrupt("meta", "retired key is not 8 bytes"))?;
            out.push(u64::from_be_bytes(id));
        }
        Ok(out)
    }

    pub fn blocks(&self) -> Result<Vec<BlockEntry>> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_CATALOG)?, IteratorMode::Start)
        {
            let (k, v) = item?;
            let id = <[u8; 8]>::try_from(&k[..])
                .map(u64::from_be_bytes)
                .map_err(|_| self.corrupt("blocks", "key is not 8 bytes"))?;
            out.push(BlockEntry::decode(id, &v).map_err(|e| self.corrupt("blocks", e))?);
        }
        Ok(out)
    }

    /// Ids of the blocks that may hold spans of `trace` (exact up to 8-byte prefix collisions).
    pub fn blocks_of_trace(&self, trace: &TraceId) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        let prefix = trace_prefix(trace);
        let iter = self.db.iterator_cf(
            self.cf(CF_TRACE_INDEX)?,
            IteratorMode::From(&trace_key(trace, 0), Direction::Forward),
        );
        for item in iter {
            let (k, _) = item?;
            let (p, block) = self.split_trace_key(&k)?;
            if p != prefix {
                break;
            }
            out.push(block);
        }
        Ok(out)
    }

    /// Every (trace prefix, block) pair of the index, in key order.
    pub fn trace_index(&self) -> Result<Vec<(TracePrefix, u64)>> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_TRACE_INDEX)?, IteratorMode::Start)
        {
            let (k, _) = item?;
            out.push(self.split_trace_key(&k)?);
        }
        Ok(out)
    }

    /// RocksDB's own memory, summed over the column families (see [`CatalogMemory`]).
    pub fn memory(&self) -> Result<CatalogMemory> {
        let mut m = CatalogMemory::default();
        for name in [CF_WAL, CF_CATALOG, CF_TRACE_INDEX, CF_META] {
            let cf = self.cf(name)?;
            let prop =
                |p: &str| -> Result<u64> { Ok(self.db.property_int_value_cf(cf, p)?.unwrap_or(0)) };
            let memtables = prop("rocksdb.cur-size-all-mem-tables")?;
            if name == CF_WAL {
                m.log_memtables += memtables;
            } else {
                m.other_memtables += memtables;
            }
            m.table_readers += prop("rocksdb.estimate-table-readers-mem")?;
            m.block_cache += prop("rocksdb.block-cache-usage")?;
            m.pinned += prop("rocksdb.block-cache-pinned-usage")?;
        }
        Ok(m)
    }

    /// Makes buffered log writes durable (group commit).
    pub fn sync_wal(&self) -> Result<()> {
        self.db.flush_wal(true)?;
        Ok(())
    }

    /// Flushes memtables to SST files and drops range-deleted log records from disk.
    pub fn flush(&self) -> Result<()> {
        for name in [CF_WAL, CF_CATALOG, CF_TRACE_INDEX, CF_META] {
            self.db.flush_cf(self.cf(name)?)?;
        }
        self.db
            .compact_range_cf(self.cf(CF_WAL)?, None::<&[u8]>, None::<&[u8]>);
        Ok(())
    }
}
