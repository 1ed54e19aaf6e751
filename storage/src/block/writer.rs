//! Encodes a batch of spans into one immutable block file image.
//!
//! Rows are sorted by (trace id, start time, span id): a trace's spans are adjacent, so a trace
//! lookup touches one row group, the trace ids collapse into the footer's trace table, and parent ids become
//! small in-trace row references (see docs/ARCHITECTURE.md, "Row order", for the measurement).

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::sync::Arc;

use roaring::RoaringBitmap;

use super::footer::{
    AttrIndex, Column, Footer, IndexedValue, RowGroup, TraceEntry, BLOCK_FORMAT_VERSION,
    BLOCK_MAGIC, NUM_COLUMNS,
};
use crate::codec::attr_columns::AttrColumnsEncoder;
use crate::codec::buf::Encoder;
use crate::codec::chunk::{compress, ChunkRef};
use crate::codec::value::{for_each_string, put_attrs, StringPolicy};
use crate::edges::EdgeRollup;
use crate::error::{Error, Result};
use crate::model::{KeyValue, Resource, Scope, Span, TraceId, Value};
use crate::rollup::{Rollup, RollupKey, ROLLUP_BUCKET_NS};

/// A span attribute key with more distinct values than this in one block is "high
/// cardinality": not indexed, and its string values are stored inline instead of in the
/// block dictionary.
pub const INDEX_MAX_DISTINCT: usize = 1000;

/// Parent column codes (then the row offset inside the trace run, plus `PARENT_IN_RUN`).
/// The footer is compressed at least this hard. Level 12 (before) cost ~250 ms of sealing per
/// 131072-span block (`zstd -b` on a macro-suite footer, 2.2 MB raw, 8.8 MB/s on the shared
/// 2-core machine; 5.2% of all ingest CPU in `perf`), level 7 ~100 ms (21 MB/s) for 0.06 B/span
/// more (ARCHITECTURE.md, "Ingest throughput"); level 3 is 0.3 B/span more than 12.
pub const FOOTER_MIN_ZSTD_LEVEL: i32 = 7;

pub const PARENT_NONE: u64 = 0;
pub const PARENT_LITERAL: u64 = 1;
pub const PARENT_IN_RUN: u64 = 2;

/// How to lay out a block.
#[derive(Clone, Debug)]
pub struct BlockLayout {
    pub rows_per_group: u32,
    /// zstd level of every column chunk but the attributes'.
    pub zstd_level: i32,
    /// zstd level of the attributes column, the largest one: level 6 stores it in 0.8 B/span
    /// less than level 3 for ~0.2 µs/span more sealing (docs/ARCHITECTURE.md, "Where the
    /// bytes go"); the other columns gain little from a higher level.
    pub attributes_zstd_level: i32,
}

impl Default for BlockLayout {
    fn default() -> Self {
        BlockLayout {
            rows_per_group: 2048,
            zstd_level: 3,
            attributes_zstd_level: 6,
        }
    }
}

/// A block ready to be written: the file bytes and what the catalog needs to know.
pub struct EncodedBlock {
    pub bytes: Vec<u8>,
    pub footer: Footer,
    /// Distinct trace ids in the block, sorted.
    pub trace_ids: Vec<TraceId>,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum IndexKey<'a> {
    Str(&'a str),
    Int(i64),
    Bool(bool),
}

/// Distinct values per attribute key, until a key passes INDEX_MAX_DISTINCT.
#[derive(Default)]
pub(crate) struct Cardinality<'a> {
    per_key: HashMap<&'a str, Option<HashSet<IndexKey<'a>>>>,
    /// Keys that hold an array somewhere in the block.
    arrays: HashSet<&'a str>,
}

impl<'a> Cardinality<'a> {
    pub(crate) fn observe_attrs(&mut self, attrs: &'a [KeyValue]) {
        for kv in attrs {
            self.observe(&kv.key, &kv.value);
        }
    }
    fn observe(&mut self, key: &'a str, value: &'a Value) {
        let v = match value {
            Value::Str(s) => IndexKey::Str(s),
            Value::Int(i) => IndexKey::Int(*i),
            Value::Bool(b) => IndexKey::Bool(*b),
            Value::Array(items) => {
                self.arrays.insert(key);
                for item in items {
                    self.observe(key, item);
                }
                return;
            }
            _ => return,
        };
        let slot = self
            .per_key
            .entry(key)
            .or_insert_with(|| Some(HashSet::default()));
        if let Some(set) = slot {
            set.insert(v);
            if set.len() > INDEX_MAX_DISTINCT {
                *slot = None;
            }
        }
    }
    pub(crate) fn is_high(&self, key: &str) -> bool {
        matches!(self.per_key.get(key), Some(None))
    }
    /// Whether span attribute `key` gets a value index: not when it is high-cardinality, and
    /// not when it holds an array on some span, since an array matches a comparison when any
    /// element does (`!=` when every one does), which a bitmap per scalar value cannot
    /// answer (block format version 3). Such keys are decided from the attribute stream.
    pub(crate) fn is_indexed(&self, key: &str) -> bool {
        !self.is_high(key) && !self.arrays.contains(key)
    }
    /// The span attribute keys without a value index.
    pub(crate) fn unindexed_keys(&self) -> Vec<&'a str> {
        let mut keys = self.high_keys();
        keys.extend(self.arrays.iter().filter(|k| !self.is_high(k)));
        keys
    }
    /// The high-cardinality keys.
    pub(crate) fn high_keys(&self) -> Vec<&'a str> {
        self.per_key
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| *k)
            .collect()
    }
}

/// The block dictionary under construction.
pub(crate) struct Strings<'c, 'a> {
    ids: HashMap<String, u32>,
    pub(crate) list: Vec<String>,
    pub(crate) card: &'c Cardinality<'a>,
}

impl<'c, 'a> Strings<'c, 'a> {
    /// A dictionary whose id 0 is the empty string.
    pub(crate) fn new(card: &'c Cardinality<'a>) -> Self {
        let mut s = Strings {
            ids: HashMap::default(),
            list: Vec::new(),
            card,
        };
        s.intern("");
        s
    }
}

impl StringPolicy for Strings<'_, '_> {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(id) = self.ids.get(s) {
            return *id;
        }
        let id = self.list.len() as u32;
        self.list.push(s.to_owned());
        self.ids.insert(s.to_owned(), id);
        id
    }
    fn value_ref(&mut self, key: &str, s: &str) -> Option<u32> {
        (!self.card.is_high(key)).then(|| self.intern(s))
    }
}

/// Something a block stores once and rows refer to by index (resources, scopes).
pub(crate) trait Shared: PartialEq {
    fn fingerprint(&self) -> u64;
}
impl Shared for Resource {
    fn fingerprint(&self) -> u64 {
        Resource::fingerprint(self)
    }
}
impl Shared for Scope {
    fn fingerprint(&self) -> u64 {
        Scope::fingerprint(self)
    }
}

/// Deduplicates shared resources/scopes: by pointer first (spans decoded together share one
/// `Arc`), then by value through a fingerprint (comparing values pairwise was 11% of sealing).
pub(crate) struct Table<T: Shared> {
    by_ptr: HashMap<*const T, u32>,
    by_fingerprint: HashMap<u64, Vec<u32>>,
    pub(crate) items: Vec<Arc<T>>,
}

impl<T: Shared> Table<T> {
    pub(crate) fn new() -> Self {
        Table {
            by_ptr: HashMap::default(),
            by_fingerprint: HashMap::default(),
            items: Vec::new(),
        }
    }
    pub(crate) fn id(&mut self, item: &Arc<T>) -> u32 {
        if let Some(id) = self.by_ptr.get(&Arc::as_ptr(item)) {
            return *id;
        }
        let candidates = self.by_fingerprint.entry(item.fingerprint()).or_default();
        let found = candidates
            .iter()
            .copied()
            .find(|&i| self.items.get(i as usize).is_some_and(|x| **x == **item));
        let id = match found {
            Some(i) => i,
            None => {
                self.items.push(item.clone());
                let i = self.items.len() as u32 - 1;
                candidates.push(i);
                i
            }
        };
        self.by_ptr.insert(Arc::as_ptr(item), id);
        id
    }
}

/// Interns every string of `attrs` (keys and values, nested ones too).
pub(crate) fn intern_attrs(strings: &mut Strings<'_, '_>, attrs: &[KeyValue]) {
    for_each_string(attrs, &mut |s| {
        strings.intern(s);
    });
}

/// Per-group column encoders.
#[derive(Default)]
struct GroupColumns {
    cols: [Encoder; NUM_COLUMNS],
}

impl GroupColumns {
    fn col(&mut self, c: Column) -> &mut Encoder {
        // `Column` values are 0..NUM_COLUMNS by definition, the array's length.
        #[allow(clippy::indexing_slicing)]
        &mut self.cols[c as usize]
    }
}

/// Sorts `spans` into block row order and encodes them. `spans` must not be empty.
pub fn encode_block(mut spans: Vec<&Span>, layout: &BlockLayout) -> Result<EncodedBlock> {
    if spans.is_empty() {
        return Err(Error::InvalidInput("cannot encode an empty block".into()));
    }
    sort_rows(&mut spans);
    let spans = &spans[..];
    let card = Cardinality::of_spans(spans);
    let mut block = BlockBuilder::new(spans, &card)?;
    let mut out = Vec::with_capacity(spans.len() * 24);
    write_header(&mut out);
    let rows_per_group = layout.rows_per_group.max(1) as usize;
    for (g, group) in spans.chunks(rows_per_group).enumerate() {
        let first_row = (g * rows_per_group) as u32;
        let row_group = block.encode_group(first_row, group, layout, &mut out)?;
        block.footer.groups.push(row_group);
    }
    let (mut footer, trace_ids) = block.finish();
    footer.edges = Some(EdgeRollup::of_spans(spans));
    write_footer(&mut out, &footer, layout.zstd_level)?;
    Ok(EncodedBlock {
        bytes: out,
        footer,
        trace_ids,
    })
}

/// Phase 1: block row order, (trace id, start, span id).
fn sort_rows(spans: &mut [&Span]) {
    // Integer keys: comparing [u8; 16] goes through memcmp, which dominated the sort.
    spans.sort_unstable_by_key(|s| {
        (
            u128::from_be_bytes(s.trace_id.0),
            s.start_ns,
            u64::from_be_bytes(s.span_id.0),
        )
    });
}

impl<'a> Cardinality<'a> {
    /// Phase 2: which attribute keys are high-cardinality in this block (their string values
    /// stay out of the dictionary and the index).
    fn of_spans(spans: &[&'a Span]) -> Self {
        let mut card = Cardinality::default();
        for s in spans {
            card.observe_attrs(&s.attributes);
            for e in &s.events {
                card.observe_attrs(&e.attributes);
            }
            for l in &s.links {
                card.observe_attrs(&l.attributes);
            }
        }
        card
    }
}

/// The trace run (consecutive rows of one trace) being encoded in a row group.
#[derive(Default)]
struct TraceRun {
    trace_id: Option<TraceId>,
    /// In-group row of the run's first span.
    start: usize,
    /// Span id -> offset in the run, for parent references.
    span_offsets: HashMap<[u8; 8], usize>,
}

/// Block-wide state while the row groups are encoded: the dictionary, the resource and scope
/// tables, the footer (trace table, indexes, rollup) under construction.
struct BlockBuilder<'c, 'a> {
    strings: Strings<'c, 'a>,
    resources: Table<Resource>,
    scopes: Table<Scope>,
    footer: Footer,
    service_rows: HashMap<u32, RoaringBitmap>,
    name_rows: HashMap<u32, RoaringBitmap>,
    attr_rows: HashMap<(u32, IndexedValue), RoaringBitmap>,
    rollup: Rollup,
    trace_ids: Vec<TraceId>,
    traces: Vec<TraceEntry>,
    /// Latest end of the current trace's spans so far.
    trace_end: u64,
}

impl<'c, 'a> BlockBuilder<'c, 'a> {
    /// Starts the dictionary (id 0 is the empty string) and the footer's time bounds.
    fn new(spans: &[&Span], card: &'c Cardinality<'a>) -> Result<Self> {
        let strings = Strings::new(card);
        let mut footer = Footer {
            rows: u32::try_from(spans.len())
                .map_err(|_| Error::InvalidInput("too many spans for one block".into()))?,
            min_start_ns: u64::MAX,
            min_duration_ns: u64::MAX,
            ..Footer::default()
        };
        for s in spans {
            footer.min_start_ns = footer.min_start_ns.min(s.start_ns);
            footer.max_start_ns = footer.max_start_ns.max(s.start_ns);
            footer.max_end_ns = footer.max_end_ns.max(s.end_ns);
            footer.min_duration_ns = footer.min_duration_ns.min(s.duration_ns());
            footer.max_duration_ns = footer.max_duration_ns.max(s.duration_ns());
        }
        Ok(BlockBuilder {
            strings,
            resources: Table::new(),
            scopes: Table::new(),
            footer,
            service_rows: HashMap::default(),
            name_rows: HashMap::default(),
            attr_rows: HashMap::default(),
            rollup: Rollup::default(),
            trace_ids: Vec::new(),
            traces: Vec::new(),
            trace_end: 0,
        })
    }

    /// Phase 3: encodes one row group (block rows from `first_row`), appends its compressed
    /// column chunks to `out` and describes it for the footer.
    fn encode_group(
        &mut self,
        first_row: u32,
        group: &[&Span],
        layout: &BlockLayout,
        out: &mut Vec<u8>,
    ) -> Result<RowGroup> {
        let mut cols = GroupColumns::default();
        let mut attr_cols = AttrColumnsEncoder::default();
        let mut run = TraceRun::default();
        let mut prev_start = self.footer.min_start_ns;
        let mut min_start = u64::MAX;
        let mut max_end = 0u64;
        let (mut min_duration, mut max_duration) = (u64::MAX, 0u64);
        for (i, s) in group.iter().enumerate() {
            min_start = min_start.min(s.start_ns);
            max_end = max_end.max(s.end_ns);
            min_duration = min_duration.min(s.duration_ns());
            max_duration = max_duration.max(s.duration_ns());
            self.add_to_trace_table(&mut run, i, s);
            let name_id = self.encode_row(&mut cols, &mut attr_cols, &mut run, i, s, prev_start);
            prev_start = s.start_ns;
            self.index_row(first_row + i as u32, s, name_id);
        }
        *cols.col(Column::Attributes) = Encoder {
            buf: attr_cols.finish(),
        };
        Ok(RowGroup {
            first_row,
            rows: group.len() as u32,
            min_start_ns: min_start,
            max_end_ns: max_end,
            min_duration_ns: min_duration,
            max_duration_ns: max_duration,
            columns: write_chunks(&cols, layout, out)?,
        })
    }

    /// Follows trace runs: a new trace opens a trace-table entry; each span extends it.
    fn add_to_trace_table(&mut self, run: &mut TraceRun, i: usize, s: &Span) {
        if run.trace_id != Some(s.trace_id) {
            run.trace_id = Some(s.trace_id);
            run.start = i;
            run.span_offsets.clear();
            if self.trace_ids.last() != Some(&s.trace_id) {
                self.trace_ids.push(s.trace_id);
                self.traces.push(TraceEntry {
                    trace_id: s.trace_id,
                    rows: 0,
                    start_ns: s.start_ns,
                    duration_ns: 0,
                    max_span_duration_ns: 0,
                    root: None,
                });
                self.trace_end = 0;
            }
        }
        if let Some(t) = self.traces.last_mut() {
            // Rows are sorted by start within a trace, so the first start is the minimum.
            t.rows += 1;
            self.trace_end = self.trace_end.max(s.end_ns);
            t.duration_ns = self.trace_end.saturating_sub(t.start_ns);
            t.max_span_duration_ns = t.max_span_duration_ns.max(s.duration_ns());
            if t.root.is_none() && s.parent_span_id.is_none() {
                t.root = Some((
                    self.strings.intern(s.service()),
                    self.strings.intern(&s.name),
                ));
            }
        }
    }

    /// Appends span `s` (in-group row `i`) to the group's columns; returns its name's id.
    fn encode_row(
        &mut self,
        cols: &mut GroupColumns,
        attr_cols: &mut AttrColumnsEncoder,
        run: &mut TraceRun,
        i: usize,
        s: &Span,
        prev_start: u64,
    ) -> u32 {
        let strings = &mut self.strings;
        cols.col(Column::SpanId).put_raw(&s.span_id.0);
        // First span id wins if a client sent duplicates: the reference stays valid.
        run.span_offsets.entry(s.span_id.0).or_insert(i - run.start);
        let parent = cols.col(Column::Parent);
        match s.parent_span_id {
            None => parent.put_varint(PARENT_NONE),
            Some(p) => match run.span_offsets.get(&p.0) {
                Some(off) => parent.put_varint(PARENT_IN_RUN + *off as u64),
                None => {
                    parent.put_varint(PARENT_LITERAL);
                    parent.put_raw(&p.0);
                }
            },
        }
        let start = cols.col(Column::Start);
        if i == 0 {
            start.put_varint(s.start_ns - self.footer.min_start_ns);
        } else {
            start.put_zigzag(s.start_ns.wrapping_sub(prev_start) as i64);
        }
        cols.col(Column::Duration)
            .put_zigzag(s.end_ns.wrapping_sub(s.start_ns) as i64);
        let name_id = strings.intern(&s.name);
        cols.col(Column::Name).put_varint(u64::from(name_id));
        cols.col(Column::KindStatus)
            .put_u8(s.kind as u8 | (s.status_code as u8) << 4);
        let msg_id = strings.intern(&s.status_message);
        cols.col(Column::StatusMessage)
            .put_varint(u64::from(msg_id));
        let resource_id = self.resources.id(&s.resource);
        cols.col(Column::Resource)
            .put_varint(u64::from(resource_id));
        let scope_id = self.scopes.id(&s.scope);
        cols.col(Column::Scope).put_varint(u64::from(scope_id));
        attr_cols.put_row(&s.attributes, strings);
        let ev = cols.col(Column::Events);
        ev.put_varint(s.events.len() as u64);
        for e in &s.events {
            ev.put_zigzag(e.time_ns.wrapping_sub(s.start_ns) as i64);
            ev.put_varint(u64::from(strings.intern(&e.name)));
            put_attrs(ev, &e.attributes, strings);
            ev.put_varint(u64::from(e.dropped_attributes_count));
        }
        let lk = cols.col(Column::Links);
        lk.put_varint(s.links.len() as u64);
        for l in &s.links {
            lk.put_raw(&l.trace_id.0);
            lk.put_raw(&l.span_id.0);
            lk.put_varint(u64::from(strings.intern(&l.trace_state)));
            lk.put_varint(u64::from(l.flags));
            put_attrs(lk, &l.attributes, strings);
            lk.put_varint(u64::from(l.dropped_attributes_count));
        }
        let ts = strings.intern(&s.trace_state);
        let extra = cols.col(Column::Extra);
        extra.put_varint(u64::from(ts));
        extra.put_varint(u64::from(s.flags));
        extra.put_varint(u64::from(s.dropped_attributes_count));
        extra.put_varint(u64::from(s.dropped_events_count));
        extra.put_varint(u64::from(s.dropped_links_count));
        name_id
    }

    /// Adds block row `row` to the footer's bitmaps (service, name, error, low-cardinality
    /// attribute values) and to the rollup. Rows come in increasing order, so each bitmap
    /// appends (`push`: no search for the row's place, which `insert` did for every row; a
    /// row already there, a repeated attribute, is not added twice either way).
    fn index_row(&mut self, row: u32, s: &Span, name_id: u32) {
        let strings = &mut self.strings;
        let service_id = strings.intern(s.service());
        self.service_rows.entry(service_id).or_default().push(row);
        self.name_rows.entry(name_id).or_default().push(row);
        if s.is_error() {
            self.footer.error_rows.push(row);
        }
        for kv in &s.attributes {
            if !strings.card.is_indexed(&kv.key) {
                continue;
            }
            let key = strings.intern(&kv.key);
            let value = match &kv.value {
                Value::Str(v) => IndexedValue::Str(strings.intern(v)),
                Value::Int(i) => IndexedValue::Int(*i),
                Value::Bool(b) => IndexedValue::Bool(*b),
                _ => continue,
            };
            self.attr_rows.entry((key, value)).or_default().push(row);
        }
        self.rollup.add(
            RollupKey {
                service: service_id,
                name: name_id,
                minute: s.start_ns / ROLLUP_BUCKET_NS,
            },
            s.duration_ns(),
            s.is_error(),
        );
    }

    /// Phase 4: completes the footer (the strings of resources and scopes, the trace table,
    /// sorted indexes, the rollup, the dictionary); returns it with the block's trace ids.
    fn finish(mut self) -> (Footer, Vec<TraceId>) {
        let strings = &mut self.strings;
        for r in &self.resources.items {
            intern_attrs(strings, &r.attributes);
            strings.intern(&r.schema_url);
        }
        for s in &self.scopes.items {
            strings.intern(&s.name);
            strings.intern(&s.version);
            strings.intern(&s.schema_url);
            intern_attrs(strings, &s.attributes);
        }
        let mut footer = self.footer;
        footer.trace_count = self.trace_ids.len() as u32;
        footer.traces = self.traces;
        footer.error_count = footer.error_rows.len() as u32;
        footer.resources = self.resources.items;
        footer.scopes = self.scopes.items;
        footer.service_rows = sorted(self.service_rows);
        footer.name_rows = sorted(self.name_rows);
        let mut attrs: Vec<AttrIndex> = self
            .attr_rows
            .into_iter()
            .map(|((key, value), rows)| AttrIndex { key, value, rows })
            .collect();
        attrs.sort_by(|a, b| (a.key, &a.value).cmp(&(b.key, &b.value)));
        footer.attr_rows = attrs;
        let mut unindexed: Vec<u32> = strings
            .card
            .unindexed_keys()
            .into_iter()
            .map(|k| strings.intern(k))
            .collect();
        unindexed.sort_unstable();
        footer.unindexed_keys = unindexed;
        footer.rollup = self.rollup;
        footer.dict = std::mem::take(&mut strings.list);
        (footer, self.trace_ids)
    }
}

/// The file header: magic, format version, a reserved word.
fn write_header(out: &mut Vec<u8>) {
    write_frame_header(out, BLOCK_MAGIC, BLOCK_FORMAT_VERSION);
}

/// The header every block kind shares: `magic`, format `version`, a reserved word.
pub(crate) fn write_frame_header(out: &mut Vec<u8>, magic: [u8; 8], version: u32) {
    out.extend_from_slice(&magic);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
}

/// Compresses and checksums a group's column chunks, appends them to `out` and returns where
/// they went.
fn write_chunks(
    cols: &GroupColumns,
    layout: &BlockLayout,
    out: &mut Vec<u8>,
) -> Result<[ChunkRef; NUM_COLUMNS]> {
    let mut levels = [layout.zstd_level; NUM_COLUMNS];
    if let Some(level) = levels.get_mut(Column::Attributes as usize) {
        *level = layout.attributes_zstd_level;
    }
    write_column_chunks(&cols.cols, levels, out)
}

/// Compresses and checksums `N` column chunks (any block kind), appends them to `out` and
/// returns where they went.
pub(crate) fn write_column_chunks<const N: usize>(
    cols: &[Encoder; N],
    levels: [i32; N],
    out: &mut Vec<u8>,
) -> Result<[ChunkRef; N]> {
    let mut refs = [ChunkRef::default(); N];
    for ((slot, enc), level) in refs.iter_mut().zip(cols).zip(levels) {
        let stored = compress(&enc.buf, level)?;
        *slot = ChunkRef {
            offset: out.len() as u64,
            stored_len: stored.len() as u32,
            raw_len: u32::try_from(enc.buf.len())
                .map_err(|_| Error::InvalidInput("column chunk over 4 GiB".into()))?,
            crc32c: crc32c::crc32c(&stored),
        };
        out.extend_from_slice(&stored);
    }
    Ok(refs)
}

/// Phase 5: appends the compressed footer and the trailer (footer offset, lengths, checksum,
/// version, magic).
fn write_footer(out: &mut Vec<u8>, footer: &Footer, zstd_level: i32) -> Result<()> {
    let ids: HashMap<&str, u32> = footer
        .dict
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i as u32))
        .collect();
    let mut enc = Encoder::new();
    footer.encode(&mut enc, &ids);
    write_frame_footer(out, &enc.buf, zstd_level, BLOCK_MAGIC, BLOCK_FORMAT_VERSION)
}

/// Appends an encoded footer, compressed, and the trailer every block kind shares (footer
/// offset, lengths, checksum, `version`, `magic`).
pub(crate) fn write_frame_footer(
    out: &mut Vec<u8>,
    raw: &[u8],
    zstd_level: i32,
    magic: [u8; 8],
    version: u32,
) -> Result<()> {
    let raw_len = raw.len();
    // The footer is written once per block and read rarely: a higher level than the columns'
    // pays, up to a point (FOOTER_MIN_ZSTD_LEVEL).
    let stored = compress(raw, zstd_level.max(FOOTER_MIN_ZSTD_LEVEL))?;
    let footer_offset = out.len() as u64;
    out.extend_from_slice(&stored);
    out.extend_from_slice(&footer_offset.to_le_bytes());
    out.extend_from_slice(&(stored.len() as u32).to_le_bytes());
    out.extend_from_slice(
        &u32::try_from(raw_len)
            .map_err(|_| Error::InvalidInput("block footer over 4 GiB".into()))?
            .to_le_bytes(),
    );
    out.extend_from_slice(&crc32c::crc32c(&stored).to_le_bytes());
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&magic);
    Ok(())
}

pub(crate) fn sorted(map: HashMap<u32, RoaringBitmap>) -> Vec<(u32, RoaringBitmap)> {
    let mut v: Vec<_> = map.into_iter().collect();
    v.sort_by_key(|(id, _)| *id);
    v
}
