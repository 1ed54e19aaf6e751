//! The log block footer. Layout in docs/FORMAT.md ("Log block").

use std::sync::Arc;

use roaring::RoaringBitmap;

use super::ngram::NgramBloom;
use crate::block::footer::{
    get_attr_index, get_bitmap, get_chunk_refs, get_dict, get_group_rows, get_id_bitmaps,
    get_tables, put_attr_index, put_bitmap, put_chunk_refs, put_dict, put_group_rows,
    put_id_bitmaps, put_tables, AttrIndex,
};
use crate::codec::buf::{DecodeError, DecodeResult, Decoder, Encoder};
use crate::codec::chunk::ChunkRef;
use crate::model::{Resource, Scope, TraceId};

/// Magic bytes at the start and end of every log block file.
pub const LOG_BLOCK_MAGIC: [u8; 8] = *b"SPANLOG\0";
/// The log block format version this build writes (and the oldest it reads).
pub const LOG_BLOCK_FORMAT_VERSION: u32 = 1;

/// The columns of a log row group, in directory order. Never renumber: part of the format.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogColumn {
    Time = 0,
    ObservedTime = 1,
    Severity = 2,
    SeverityText = 3,
    Body = 4,
    Attributes = 5,
    Resource = 6,
    Scope = 7,
    Trace = 8,
    SpanId = 9,
    Extra = 10,
}

pub const NUM_LOG_COLUMNS: usize = 11;

impl LogColumn {
    pub fn name(self) -> &'static str {
        match self {
            LogColumn::Time => "time",
            LogColumn::ObservedTime => "observed_time",
            LogColumn::Severity => "severity",
            LogColumn::SeverityText => "severity_text",
            LogColumn::Body => "body",
            LogColumn::Attributes => "attributes",
            LogColumn::Resource => "resource",
            LogColumn::Scope => "scope",
            LogColumn::Trace => "trace",
            LogColumn::SpanId => "span_id",
            LogColumn::Extra => "extra",
        }
    }
}

/// A run of rows with its own column chunks and body bloom.
#[derive(Clone, Debug, PartialEq)]
pub struct LogRowGroup {
    pub first_row: u32,
    pub rows: u32,
    pub min_time_ns: u64,
    pub max_time_ns: u64,
    pub columns: [ChunkRef; NUM_LOG_COLUMNS],
    pub bloom: NgramBloom,
}

/// Everything a reader needs before touching a column chunk.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogFooter {
    pub rows: u32,
    /// Least and greatest record timestamp (`LogRecord::timestamp_ns`).
    pub min_time_ns: u64,
    pub max_time_ns: u64,
    pub dict: Vec<String>,
    pub resources: Vec<Arc<Resource>>,
    pub scopes: Vec<Arc<Scope>>,
    pub groups: Vec<LogRowGroup>,
    /// Distinct trace ids of the records, sorted, each with its rows. The trace column refers
    /// to entries by index.
    pub traces: Vec<(TraceId, RoaringBitmap)>,
    /// (service dict id, rows), sorted by id.
    pub service_rows: Vec<(u32, RoaringBitmap)>,
    /// (severity number, rows), sorted by number.
    pub severity_rows: Vec<(u32, RoaringBitmap)>,
    /// Log-attribute value indexes, sorted by (key, value).
    pub attr_rows: Vec<AttrIndex>,
    pub unindexed_keys: Vec<u32>,
}

impl LogFooter {
    pub fn encode(&self, enc: &mut Encoder, dict_ids: &rustc_hash::FxHashMap<&str, u32>) {
        enc.put_varint(u64::from(self.rows));
        enc.put_u64(self.min_time_ns);
        enc.put_u64(self.max_time_ns);
        put_dict(enc, &self.dict);
        put_tables(enc, &self.dict, dict_ids, &self.resources, &self.scopes);
        enc.put_varint(self.groups.len() as u64);
        for g in &self.groups {
            put_group_rows(enc, g.first_row, g.rows);
            enc.put_u64(g.min_time_ns);
            enc.put_u64(g.max_time_ns);
            put_chunk_refs(enc, &g.columns);
            g.bloom.encode(enc);
        }
        enc.put_varint(self.traces.len() as u64);
        for (t, rows) in &self.traces {
            enc.put_raw(&t.0);
            put_bitmap(enc, rows);
        }
        put_id_bitmaps(enc, &self.service_rows);
        put_id_bitmaps(enc, &self.severity_rows);
        put_attr_index(enc, &self.attr_rows, &self.unindexed_keys);
    }

    pub fn decode(bytes: &[u8]) -> DecodeResult<Self> {
        let mut dec = Decoder::new(bytes);
        let d = &mut dec;
        let mut f = LogFooter {
            rows: d.get_varint32()?,
            min_time_ns: d.get_u64()?,
            max_time_ns: d.get_u64()?,
            ..LogFooter::default()
        };
        f.dict = get_dict(d)?;
        (f.resources, f.scopes) = get_tables(d, &f.dict)?;
        let mut next_row = 0u32;
        for _ in 0..d.get_count()? {
            let (first_row, rows) = get_group_rows(d, &mut next_row)?;
            let min_time_ns = d.get_u64()?;
            let max_time_ns = d.get_u64()?;
            let columns = get_chunk_refs::<NUM_LOG_COLUMNS>(d)?;
            f.groups.push(LogRowGroup {
                first_row,
                rows,
                min_time_ns,
                max_time_ns,
                columns,
                bloom: NgramBloom::decode(d)?,
            });
        }
        if next_row != f.rows {
            return Err(DecodeError::new(format!(
                "row groups cover {next_row} rows, footer says {}",
                f.rows
            )));
        }
        let mut prev: Option<TraceId> = None;
        for _ in 0..d.get_count()? {
            let t = TraceId(d.get_array()?);
            if prev.is_some_and(|p| p >= t) {
                return Err(DecodeError::new("trace table is not sorted by trace id"));
            }
            prev = Some(t);
            f.traces.push((t, get_bitmap(d)?));
        }
        f.service_rows = get_id_bitmaps(d)?;
        f.severity_rows = get_id_bitmaps(d)?;
        (f.attr_rows, f.unindexed_keys) = get_attr_index(d)?;
        if !d.is_empty() {
            return Err(DecodeError::new(format!(
                "{} trailing bytes after the footer",
                d.remaining()
            )));
        }
        let dict_len = f.dict.len() as u64;
        let bad_id = f
            .service_rows
            .iter()
            .map(|(id, _)| u64::from(*id))
            .chain(f.attr_rows.iter().map(|a| u64::from(a.key)))
            .any(|id| id >= dict_len);
        if bad_id {
            return Err(DecodeError::new(
                "index refers to a string outside the dictionary",
            ));
        }
        let past_end = f
            .traces
            .iter()
            .map(|(_, r)| r)
            .chain(f.service_rows.iter().map(|(_, r)| r))
            .chain(f.severity_rows.iter().map(|(_, r)| r))
            .chain(f.attr_rows.iter().map(|a| &a.rows))
            .any(|r| r.max().is_some_and(|m| m >= f.rows));
        if past_end {
            return Err(DecodeError::new(
                "an index names a row past the block's end",
            ));
        }
        Ok(f)
    }
}
