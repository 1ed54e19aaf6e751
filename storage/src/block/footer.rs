//! The block footer: column directory, stats, dictionary, resource/scope tables, bitmap indexes
//! and the rollup. Layout in docs/FORMAT.md ("Footer").

use std::sync::Arc;

use roaring::RoaringBitmap;

use super::row_labels;
use crate::codec::buf::{DecodeError, DecodeResult, Decoder, Encoder};
use crate::codec::chunk::ChunkRef;
use crate::codec::value::{dict_str, get_attrs, put_attrs, StringPolicy};
use crate::edges::EdgeRollup;
use crate::model::{Resource, Scope, TraceId};
use crate::rollup::Rollup;

/// Magic bytes at the start and end of every block file.
pub const BLOCK_MAGIC: [u8; 8] = *b"SPANBLK\0";
/// The block format version this build writes. Version 3 leaves every span attribute key
/// that holds an array on some span out of the value index (it is in `unindexed_keys`);
/// version 2 indexed such keys' scalar values only, so its value index cannot answer a
/// comparison exactly and is set aside when read (`Footer::decode`). Version 4 adds zone
/// maps: each row group's shortest and longest span duration, and each trace's longest span
/// duration in the trace table, so duration comparisons skip what cannot match. Version 5
/// stores the service, span-name and attribute-value bitmaps as row labels
/// (`block::row_labels`).
pub const BLOCK_FORMAT_VERSION: u32 = 5;
/// The oldest block format version this build reads (version 1 has no edge rollup).
pub const OLDEST_READABLE_BLOCK_FORMAT_VERSION: u32 = 1;
/// Header: magic (8) + version (4) + reserved (4).
pub const HEADER_LEN: usize = 16;
/// Trailer: footer offset (8) + stored len (4) + raw len (4) + crc32c (4) + version (4) + magic (8).
pub const TRAILER_LEN: usize = 32;

/// The columns of a row group, in directory order. Never renumber: part of the format.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    SpanId = 0,
    Parent = 1,
    Start = 2,
    Duration = 3,
    Name = 4,
    KindStatus = 5,
    StatusMessage = 6,
    Resource = 7,
    Scope = 8,
    Attributes = 9,
    Events = 10,
    Links = 11,
    Extra = 12,
}

pub const NUM_COLUMNS: usize = 13;

impl Column {
    pub const ALL: [Column; NUM_COLUMNS] = [
        Column::SpanId,
        Column::Parent,
        Column::Start,
        Column::Duration,
        Column::Name,
        Column::KindStatus,
        Column::StatusMessage,
        Column::Resource,
        Column::Scope,
        Column::Attributes,
        Column::Events,
        Column::Links,
        Column::Extra,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Column::SpanId => "span_id",
            Column::Parent => "parent",
            Column::Start => "start",
            Column::Duration => "duration",
            Column::Name => "name",
            Column::KindStatus => "kind_status",
            Column::StatusMessage => "status_message",
            Column::Resource => "resource",
            Column::Scope => "scope",
            Column::Attributes => "attributes",
            Column::Events => "events",
            Column::Links => "links",
            Column::Extra => "extra",
        }
    }
}

/// A run of rows (at most `rows_per_group`) with its own compressed column chunks.
#[derive(Clone, Debug, PartialEq)]
pub struct RowGroup {
    pub first_row: u32,
    pub rows: u32,
    pub min_start_ns: u64,
    pub max_end_ns: u64,
    /// Shortest and longest span duration in the group (format version 4 on; older blocks
    /// get the block's bounds, which are never narrower).
    pub min_duration_ns: u64,
    pub max_duration_ns: u64,
    pub columns: [ChunkRef; NUM_COLUMNS],
}

/// One trace's part of a block: its rows are the next `rows` rows after the previous trace's.
/// Lets search answer with trace summaries from bitmaps alone, without decoding columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEntry {
    pub trace_id: TraceId,
    pub rows: u32,
    /// Earliest span start of the trace in this block.
    pub start_ns: u64,
    /// Latest span end minus `start_ns` (0 when ends precede starts).
    pub duration_ns: u64,
    /// Longest duration of one span of the trace in this block (format version 4 on; older
    /// blocks get `duration_ns`, an upper bound: a span lies inside its trace).
    pub max_span_duration_ns: u64,
    /// Dictionary ids of the root span's service and name, when the root (a span without a
    /// parent) is in this block.
    pub root: Option<(u32, u32)>,
}

/// An indexed attribute value (low-cardinality keys only).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IndexedValue {
    /// Dictionary id of the string.
    Str(u32),
    Int(i64),
    Bool(bool),
}

/// Rows whose span attribute `key` (dictionary id) has `value`.
#[derive(Clone, Debug, PartialEq)]
pub struct AttrIndex {
    pub key: u32,
    pub value: IndexedValue,
    pub rows: RoaringBitmap,
}

/// Everything a reader needs before touching a column chunk.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Footer {
    pub rows: u32,
    pub trace_count: u32,
    pub error_count: u32,
    pub min_start_ns: u64,
    pub max_start_ns: u64,
    pub max_end_ns: u64,
    pub min_duration_ns: u64,
    pub max_duration_ns: u64,
    /// Block string dictionary; id 0 is always "".
    pub dict: Vec<String>,
    pub resources: Vec<Arc<Resource>>,
    pub scopes: Vec<Arc<Scope>>,
    pub groups: Vec<RowGroup>,
    /// Traces in row order (= sorted by trace id).
    pub traces: Vec<TraceEntry>,
    /// First row of each trace (derived from `traces` when decoding; not stored).
    pub trace_first_row: Vec<u32>,
    /// (service dict id, rows), sorted by id.
    pub service_rows: Vec<(u32, RoaringBitmap)>,
    /// (span name dict id, rows), sorted by id.
    pub name_rows: Vec<(u32, RoaringBitmap)>,
    pub error_rows: RoaringBitmap,
    /// Span-attribute value indexes, sorted by (key, value).
    pub attr_rows: Vec<AttrIndex>,
    /// Span-attribute keys (dict ids) present in the block with too many distinct values to
    /// index; their string values are stored inline in the attribute column.
    pub unindexed_keys: Vec<u32>,
    pub rollup: Rollup,
    /// The service-graph edge rollup (format version 2 on); `None` in version 1 blocks,
    /// whose edges a reader computes from the spans.
    pub edges: Option<EdgeRollup>,
}

/// Interns every string (used for resource and scope tables, which are small).
pub(crate) struct DictOnly<'a>(
    pub(crate) &'a [String],
    pub(crate) &'a rustc_hash::FxHashMap<&'a str, u32>,
);

impl StringPolicy for DictOnly<'_> {
    fn intern(&mut self, s: &str) -> u32 {
        // The writer interned every footer string before encoding; 0 ("") is never wrong to
        // return, but the writer's own test asserts round trips, so this path is not taken.
        self.1.get(s).copied().unwrap_or(0)
    }
    fn value_ref(&mut self, _key: &str, s: &str) -> Option<u32> {
        let _ = self.0;
        self.1.get(s).copied()
    }
}

/// Bitmap encodings. Rows are sorted by trace, so a service's or attribute value's rows are
/// scattered: roaring's portable format spends 2 bytes per row in array containers, while the
/// gaps between rows mostly fit one varint byte (measured: 11.5 -> 6.4 raw B/span of footer
/// bitmaps at 1M spans). Dense bitmaps keep roaring's format, which is smaller for them.
const BITMAP_DELTAS: u8 = 0;
const BITMAP_ROARING: u8 = 1;

pub(crate) fn put_bitmap(enc: &mut Encoder, rows: &RoaringBitmap) {
    let mut deltas = Encoder::new();
    deltas.put_varint(rows.len());
    let mut prev = 0u32;
    for (i, r) in rows.iter().enumerate() {
        deltas.put_varint(u64::from(if i == 0 { r } else { r - prev - 1 }));
        prev = r;
    }
    if deltas.len() <= rows.serialized_size() {
        enc.put_u8(BITMAP_DELTAS);
        enc.put_bytes(&deltas.buf);
    } else {
        let mut bytes = Vec::with_capacity(rows.serialized_size());
        // Writing into a Vec cannot fail.
        let _ = rows.serialize_into(&mut bytes);
        enc.put_u8(BITMAP_ROARING);
        enc.put_bytes(&bytes);
    }
}

pub(crate) fn get_bitmap(dec: &mut Decoder<'_>) -> DecodeResult<RoaringBitmap> {
    match get_bitmap_as(dec)? {
        StoredBitmap::Rows(rows) => bitmap_from_ascending(&rows),
        StoredBitmap::Roaring(b) => Ok(b),
    }
}

/// Roaring's array/bitmap threshold: a container of more values is a bitmap.
const ARRAY_CONTAINER_MAX: usize = 4096;
/// Roaring's portable format without run containers.
const PORTABLE_COOKIE_NO_RUNS: u32 = 12346;

/// A bitmap of strictly ascending `rows` whose containers are allocated at their exact size.
///
/// `RoaringBitmap::from_sorted_iter` grows each array container by doubling, so a decoded
/// footer's bitmaps held up to twice their values' bytes (the bulk of the footer cache: at
/// 10M spans ~40 MiB of it was unused capacity, docs/ARCHITECTURE.md "Memory"). Roaring's
/// reader of its portable format allocates every container at its final size, so the rows
/// are written in that format (into a per-thread buffer) and read back.
pub(crate) fn bitmap_from_ascending(rows: &[u32]) -> DecodeResult<RoaringBitmap> {
    if rows.is_empty() {
        return Ok(RoaringBitmap::new());
    }
    if rows.windows(2).any(|w| matches!(w, [a, b] if a >= b)) {
        return Err(DecodeError::new("bitmap rows are not strictly ascending"));
    }
    thread_local! {
        static PORTABLE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    // Containers: runs of rows sharing their high 16 bits.
    let containers: Vec<&[u32]> = rows.chunk_by(|a, b| a >> 16 == b >> 16).collect();
    PORTABLE.with(|buf| {
        let mut buf = buf.borrow_mut();
        buf.clear();
        buf.extend_from_slice(&PORTABLE_COOKIE_NO_RUNS.to_le_bytes());
        buf.extend_from_slice(&(containers.len() as u32).to_le_bytes());
        for c in &containers {
            let key = c.first().map_or(0, |r| (r >> 16) as u16);
            buf.extend_from_slice(&key.to_le_bytes());
            buf.extend_from_slice(&((c.len() - 1) as u16).to_le_bytes());
        }
        // Offsets (the reader skips them, but the format has them).
        let mut offset = 8 + 8 * containers.len();
        for c in &containers {
            buf.extend_from_slice(&(offset as u32).to_le_bytes());
            offset += if c.len() > ARRAY_CONTAINER_MAX {
                8192
            } else {
                2 * c.len()
            };
        }
        for c in &containers {
            if c.len() > ARRAY_CONTAINER_MAX {
                let mut words = [0u64; 1024];
                for &r in *c {
                    let low = (r & 0xffff) as usize;
                    if let Some(w) = words.get_mut(low / 64) {
                        *w |= 1 << (low % 64);
                    }
                }
                for w in words {
                    buf.extend_from_slice(&w.to_le_bytes());
                }
            } else {
                for &r in *c {
                    buf.extend_from_slice(&((r & 0xffff) as u16).to_le_bytes());
                }
            }
        }
        RoaringBitmap::deserialize_unchecked_from(&buf[..])
            .map_err(|e| DecodeError::new(format!("bad bitmap: {e}")))
    })
}

/// A bitmap as stored: delta-coded rows (strictly ascending by construction) or roaring's
/// own format. Callers that only walk the rows once (row labels) need no bitmap of the first.
pub(crate) enum StoredBitmap {
    Rows(Vec<u32>),
    Roaring(RoaringBitmap),
}

/// Reads what [`put_bitmap`] wrote, as stored.
pub(crate) fn get_bitmap_as(dec: &mut Decoder<'_>) -> DecodeResult<StoredBitmap> {
    let tag = dec.get_u8()?;
    let bytes = dec.get_bytes()?;
    match tag {
        BITMAP_DELTAS => {
            let mut d = Decoder::new(bytes);
            let n = d.get_count()?;
            let mut rows = Vec::with_capacity(n);
            let mut next = 0u64;
            for i in 0..n {
                let gap = d.get_varint()?;
                let row = if i == 0 {
                    gap
                } else {
                    next.saturating_add(gap)
                };
                let row = u32::try_from(row)
                    .map_err(|_| DecodeError::new(format!("bitmap row {row} out of range")))?;
                rows.push(row);
                next = u64::from(row) + 1;
            }
            if !d.is_empty() {
                return Err(DecodeError::new("trailing bytes in a bitmap"));
            }
            Ok(StoredBitmap::Rows(rows))
        }
        // Only the format without run containers, the one `serialize_into` writes: a run
        // container of a few bytes expands to up to 8 KiB in memory, so a corrupt or
        // hostile footer could ask for gigabytes; without runs every container's values
        // are in the input.
        BITMAP_ROARING if bytes.get(..4) != Some(&PORTABLE_COOKIE_NO_RUNS.to_le_bytes()[..]) => {
            Err(DecodeError::new(
                "bitmap in roaring's format with run containers",
            ))
        }
        BITMAP_ROARING => RoaringBitmap::deserialize_from(bytes)
            .map(StoredBitmap::Roaring)
            .map_err(|e| DecodeError::new(format!("bad bitmap: {e}"))),
        t => Err(DecodeError::new(format!("unknown bitmap encoding {t}"))),
    }
}

pub(crate) fn put_id_bitmaps(enc: &mut Encoder, list: &[(u32, RoaringBitmap)]) {
    enc.put_varint(list.len() as u64);
    for (id, rows) in list {
        enc.put_varint(u64::from(*id));
        put_bitmap(enc, rows);
    }
}

pub(crate) fn get_id_bitmaps(dec: &mut Decoder<'_>) -> DecodeResult<Vec<(u32, RoaringBitmap)>> {
    let n = dec.get_count()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push((dec.get_varint32()?, get_bitmap(dec)?));
    }
    Ok(out)
}

/// The resource and scope tables (shared by every block kind). Every string must be in
/// `dict_ids`.
pub(crate) fn put_tables(
    enc: &mut Encoder,
    dict: &[String],
    dict_ids: &rustc_hash::FxHashMap<&str, u32>,
    resources: &[Arc<Resource>],
    scopes: &[Arc<Scope>],
) {
    let mut policy = DictOnly(dict, dict_ids);
    enc.put_varint(resources.len() as u64);
    for r in resources {
        put_attrs(enc, &r.attributes, &mut policy);
        enc.put_varint(u64::from(r.dropped_attributes_count));
        enc.put_varint(u64::from(policy.intern(&r.schema_url)));
    }
    enc.put_varint(scopes.len() as u64);
    for s in scopes {
        enc.put_varint(u64::from(policy.intern(&s.name)));
        enc.put_varint(u64::from(policy.intern(&s.version)));
        put_attrs(enc, &s.attributes, &mut policy);
        enc.put_varint(u64::from(s.dropped_attributes_count));
        enc.put_varint(u64::from(policy.intern(&s.schema_url)));
    }
}

/// Reads what [`put_tables`] wrote.
pub(crate) type Tables = (Vec<Arc<Resource>>, Vec<Arc<Scope>>);
pub(crate) fn get_tables(d: &mut Decoder<'_>, dict: &[String]) -> DecodeResult<Tables> {
    let mut resources = Vec::new();
    for _ in 0..d.get_count()? {
        resources.push(Arc::new(Resource {
            attributes: get_attrs(d, dict)?,
            dropped_attributes_count: d.get_varint32()?,
            schema_url: dict_str(dict, d.get_varint()?)?.to_owned(),
        }));
    }
    let mut scopes = Vec::new();
    for _ in 0..d.get_count()? {
        scopes.push(Arc::new(Scope {
            name: dict_str(dict, d.get_varint()?)?.to_owned(),
            version: dict_str(dict, d.get_varint()?)?.to_owned(),
            attributes: get_attrs(d, dict)?,
            dropped_attributes_count: d.get_varint32()?,
            schema_url: dict_str(dict, d.get_varint()?)?.to_owned(),
        }));
    }
    Ok((resources, scopes))
}

/// The attribute value index and the unindexed keys (shared by every block kind).
pub(crate) fn put_attr_index(enc: &mut Encoder, attr_rows: &[AttrIndex], unindexed: &[u32]) {
    enc.put_varint(attr_rows.len() as u64);
    for a in attr_rows {
        enc.put_varint(u64::from(a.key));
        put_indexed_value(enc, &a.value);
        put_bitmap(enc, &a.rows);
    }
    enc.put_varint(unindexed.len() as u64);
    for k in unindexed {
        enc.put_varint(u64::from(*k));
    }
}

/// An indexed attribute value: a tag (0 string id, 1 integer, 2/3 false/true), then the
/// string id as a varint or the integer zigzagged.
pub(crate) fn put_indexed_value(enc: &mut Encoder, value: &IndexedValue) {
    match value {
        IndexedValue::Str(id) => {
            enc.put_u8(0);
            enc.put_varint(u64::from(*id));
        }
        IndexedValue::Int(i) => {
            enc.put_u8(1);
            enc.put_zigzag(*i);
        }
        IndexedValue::Bool(b) => enc.put_u8(2 + u8::from(*b)),
    }
}

/// Reads what [`put_indexed_value`] wrote.
pub(crate) fn get_indexed_value(d: &mut Decoder<'_>) -> DecodeResult<IndexedValue> {
    Ok(match d.get_u8()? {
        0 => IndexedValue::Str(d.get_varint32()?),
        1 => IndexedValue::Int(d.get_zigzag()?),
        2 => IndexedValue::Bool(false),
        3 => IndexedValue::Bool(true),
        t => return Err(DecodeError::new(format!("unknown index value tag {t}"))),
    })
}

/// Reads what [`put_attr_index`] wrote.
pub(crate) fn get_attr_index(d: &mut Decoder<'_>) -> DecodeResult<(Vec<AttrIndex>, Vec<u32>)> {
    let mut attr_rows = Vec::new();
    for _ in 0..d.get_count()? {
        let key = d.get_varint32()?;
        let value = get_indexed_value(d)?;
        attr_rows.push(AttrIndex {
            key,
            value,
            rows: get_bitmap(d)?,
        });
    }
    let mut unindexed = Vec::new();
    for _ in 0..d.get_count()? {
        unindexed.push(d.get_varint32()?);
    }
    Ok((attr_rows, unindexed))
}

/// The string dictionary: a count, then the strings; entry 0 is always `""`.
pub(crate) fn put_dict(enc: &mut Encoder, dict: &[String]) {
    enc.put_varint(dict.len() as u64);
    for s in dict {
        enc.put_str(s);
    }
}

pub(crate) fn get_dict(d: &mut Decoder<'_>) -> DecodeResult<Vec<String>> {
    let n = d.get_count()?;
    let mut dict = Vec::with_capacity(n);
    for _ in 0..n {
        dict.push(d.get_str()?.to_owned());
    }
    if dict.first().map(String::as_str) != Some("") {
        return Err(DecodeError::new(
            "dictionary entry 0 must be the empty string",
        ));
    }
    Ok(dict)
}

/// A row group's first row and row count (its time bounds, which differ by block kind, and
/// then its [`put_chunk_refs`] follow).
pub(crate) fn put_group_rows(enc: &mut Encoder, first_row: u32, rows: u32) {
    enc.put_varint(u64::from(first_row));
    enc.put_varint(u64::from(rows));
}

/// Reads a row group's first row and row count, which must continue the previous group
/// (`next_row`, advanced past this one) and be non-empty.
pub(crate) fn get_group_rows(d: &mut Decoder<'_>, next_row: &mut u32) -> DecodeResult<(u32, u32)> {
    let first_row = d.get_varint32()?;
    let rows = d.get_varint32()?;
    if first_row != *next_row || rows == 0 {
        return Err(DecodeError::new(format!(
            "row group starts at row {first_row} with {rows} rows, expected start {next_row}"
        )));
    }
    *next_row = first_row.saturating_add(rows);
    Ok((first_row, rows))
}

pub(crate) fn put_chunk_refs(enc: &mut Encoder, columns: &[ChunkRef]) {
    for c in columns {
        enc.put_u64(c.offset);
        enc.put_u32(c.stored_len);
        enc.put_u32(c.raw_len);
        enc.put_u32(c.crc32c);
    }
}

pub(crate) fn get_chunk_refs<const N: usize>(d: &mut Decoder<'_>) -> DecodeResult<[ChunkRef; N]> {
    let mut columns = [ChunkRef::default(); N];
    for c in columns.iter_mut() {
        *c = ChunkRef {
            offset: d.get_u64()?,
            stored_len: d.get_u32()?,
            raw_len: d.get_u32()?,
            crc32c: d.get_u32()?,
        };
    }
    Ok(columns)
}

impl Footer {
    /// Encodes the footer. Every string in resources and scopes must already be in `dict`.
    pub fn encode(&self, enc: &mut Encoder, dict_ids: &rustc_hash::FxHashMap<&str, u32>) {
        enc.put_varint(u64::from(self.rows));
        enc.put_varint(u64::from(self.trace_count));
        enc.put_varint(u64::from(self.error_count));
        enc.put_u64(self.min_start_ns);
        enc.put_u64(self.max_start_ns);
        enc.put_u64(self.max_end_ns);
        enc.put_u64(self.min_duration_ns);
        enc.put_u64(self.max_duration_ns);
        put_dict(enc, &self.dict);
        put_tables(enc, &self.dict, dict_ids, &self.resources, &self.scopes);
        enc.put_varint(self.groups.len() as u64);
        for g in &self.groups {
            put_group_rows(enc, g.first_row, g.rows);
            enc.put_u64(g.min_start_ns);
            enc.put_u64(g.max_end_ns);
            enc.put_varint(g.min_duration_ns);
            enc.put_varint(g.max_duration_ns.saturating_sub(g.min_duration_ns));
            put_chunk_refs(enc, &g.columns);
        }
        enc.put_varint(self.traces.len() as u64);
        for t in &self.traces {
            enc.put_raw(&t.trace_id.0);
            enc.put_varint(u64::from(t.rows));
            enc.put_varint(t.start_ns - self.min_start_ns);
            enc.put_varint(t.duration_ns);
            enc.put_varint(t.max_span_duration_ns);
            match t.root {
                Some((service, name)) => {
                    enc.put_varint(u64::from(service) + 1);
                    enc.put_varint(u64::from(name));
                }
                None => enc.put_varint(0),
            }
        }
        row_labels::put_id_bitmaps(enc, &self.service_rows);
        row_labels::put_id_bitmaps(enc, &self.name_rows);
        put_bitmap(enc, &self.error_rows);
        row_labels::put_attr_index(enc, &self.attr_rows, &self.unindexed_keys);
        self.rollup.encode(enc);
        if let Some(edges) = &self.edges {
            edges.encode(enc);
        }
    }

    /// Decodes the footer of a block of format `version`.
    pub fn decode(bytes: &[u8], version: u32) -> DecodeResult<Self> {
        Self::decode_with(bytes, version, false).map(|(f, _)| f)
    }

    /// [`Footer::decode`] with the per-operation rollup checked but left encoded: the footer's
    /// `rollup` is empty and its bytes, as stored, come second (what a loaded footer keeps).
    pub fn decode_rollup_encoded(bytes: &[u8], version: u32) -> DecodeResult<(Self, Vec<u8>)> {
        Self::decode_with(bytes, version, true)
    }

    fn decode_with(
        bytes: &[u8],
        version: u32,
        rollup_encoded: bool,
    ) -> DecodeResult<(Self, Vec<u8>)> {
        let mut dec = Decoder::new(bytes);
        let d = &mut dec;
        let mut f = Footer {
            rows: d.get_varint32()?,
            trace_count: d.get_varint32()?,
            error_count: d.get_varint32()?,
            min_start_ns: d.get_u64()?,
            max_start_ns: d.get_u64()?,
            max_end_ns: d.get_u64()?,
            min_duration_ns: d.get_u64()?,
            max_duration_ns: d.get_u64()?,
            ..Footer::default()
        };
        f.dict = get_dict(d)?;
        (f.resources, f.scopes) = get_tables(d, &f.dict)?;
        let mut next_row = 0u32;
        let groups = d.get_count()?;
        f.groups.reserve_exact(groups);
        for _ in 0..groups {
            let (first_row, rows) = get_group_rows(d, &mut next_row)?;
            let min_start_ns = d.get_u64()?;
            let max_end_ns = d.get_u64()?;
            let (min_duration_ns, max_duration_ns) = if version >= 4 {
                let lo = d.get_varint()?;
                let hi = lo
                    .checked_add(d.get_varint()?)
                    .ok_or_else(|| DecodeError::new("row group duration bound overflows"))?;
                (lo, hi)
            } else {
                (f.min_duration_ns, f.max_duration_ns)
            };
            let columns = get_chunk_refs::<NUM_COLUMNS>(d)?;
            f.groups.push(RowGroup {
                first_row,
                rows,
                min_start_ns,
                max_end_ns,
                min_duration_ns,
                max_duration_ns,
                columns,
            });
        }
        if next_row != f.rows {
            return Err(DecodeError::new(format!(
                "row groups cover {next_row} rows, footer says {}",
                f.rows
            )));
        }
        let n = d.get_count()?;
        // Exact capacities: the footer cache holds these vectors for as long as the block
        // is read (pushing into empty ones left up to half of them unused).
        f.traces.reserve_exact(n);
        f.trace_first_row.reserve_exact(n);
        let dict_len = f.dict.len() as u64;
        let mut first_row = 0u32;
        let mut prev: Option<TraceId> = None;
        for _ in 0..n {
            let trace_id = TraceId(d.get_array()?);
            if prev.is_some_and(|p| p >= trace_id) {
                return Err(DecodeError::new("trace table is not sorted by trace id"));
            }
            prev = Some(trace_id);
            let rows = d.get_varint32()?;
            let start_ns = f.min_start_ns.saturating_add(d.get_varint()?);
            let duration_ns = d.get_varint()?;
            let max_span_duration_ns = if version >= 4 {
                d.get_varint()?
            } else {
                duration_ns.min(f.max_duration_ns)
            };
            let root = match d.get_varint()? {
                0 => None,
                s1 => {
                    let name = d.get_varint()?;
                    if s1 > dict_len || name >= dict_len {
                        return Err(DecodeError::new("trace root refers outside the dictionary"));
                    }
                    Some(((s1 - 1) as u32, name as u32))
                }
            };
            if rows == 0 {
                return Err(DecodeError::new("a trace with no rows"));
            }
            f.trace_first_row.push(first_row);
            first_row = first_row
                .checked_add(rows)
                .ok_or_else(|| DecodeError::new("trace rows overflow"))?;
            f.traces.push(TraceEntry {
                trace_id,
                rows,
                start_ns,
                duration_ns,
                max_span_duration_ns,
                root,
            });
        }
        if first_row != f.rows {
            return Err(DecodeError::new(format!(
                "traces cover {first_row} rows, footer says {}",
                f.rows
            )));
        }
        if f.traces.len() != f.trace_count as usize {
            return Err(DecodeError::new(
                "trace table length differs from the trace count",
            ));
        }
        if version >= 5 {
            f.service_rows = row_labels::get_id_bitmaps(d)?;
            f.name_rows = row_labels::get_id_bitmaps(d)?;
            f.error_rows = get_bitmap(d)?;
            (f.attr_rows, f.unindexed_keys) = row_labels::get_attr_index(d)?;
        } else {
            f.service_rows = get_id_bitmaps(d)?;
            f.name_rows = get_id_bitmaps(d)?;
            f.error_rows = get_bitmap(d)?;
            (f.attr_rows, f.unindexed_keys) = get_attr_index(d)?;
        }
        if version < 3 {
            // Before version 3 a key's index left out the spans where it held an array:
            // such a block answers comparisons from the attribute stream instead.
            f.unindexed_keys
                .extend(f.attr_rows.drain(..).map(|a| a.key));
            f.unindexed_keys.sort_unstable();
            f.unindexed_keys.dedup();
        }
        let mut rollup_bytes = Vec::new();
        if rollup_encoded {
            let start = d.position();
            Rollup::skip(d)?;
            rollup_bytes = bytes.get(start..d.position()).unwrap_or_default().to_vec();
        } else {
            f.rollup = Rollup::decode(d)?;
        }
        if version >= 2 {
            f.edges = Some(EdgeRollup::decode(d)?);
        }
        if !d.is_empty() {
            return Err(DecodeError::new(format!(
                "{} trailing bytes after the footer",
                d.remaining()
            )));
        }
        let max_id = f.dict.len() as u64;
        let bad_id = f
            .service_rows
            .iter()
            .chain(&f.name_rows)
            .map(|(id, _)| u64::from(*id))
            .chain(f.attr_rows.iter().map(|a| u64::from(a.key)))
            .any(|id| id >= max_id);
        if bad_id {
            return Err(DecodeError::new(
                "index refers to a string outside the dictionary",
            ));
        }
        Ok((f, rollup_bytes))
    }
}
