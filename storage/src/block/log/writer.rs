//! Encodes a batch of log records into one immutable log block image.
//!
//! Rows are sorted by (timestamp, trace id): log queries are time ranges read newest first,
//! and a trace's records are found through the footer's trace table, not by adjacency.

use rustc_hash::FxHashMap as HashMap;

use roaring::RoaringBitmap;

use super::footer::{LogColumn, LogFooter, LogRowGroup, LOG_BLOCK_FORMAT_VERSION, LOG_BLOCK_MAGIC};
use super::ngram::{trigram_hashes, NgramBloom};
use crate::block::footer::{AttrIndex, IndexedValue};
use crate::block::writer::{
    intern_attrs, sorted, write_column_chunks, write_frame_footer, write_frame_header, BlockLayout,
    Cardinality, Strings, Table,
};
use crate::codec::attr_columns::AttrColumnsEncoder;
use crate::codec::buf::Encoder;
use crate::codec::value::{for_each_value_string, put_value, StringPolicy};
use crate::error::{Error, Result};
use crate::model::{LogRecord, Resource, Scope, TraceId, Value};

use super::footer::NUM_LOG_COLUMNS;

/// A log block ready to be written.
pub struct EncodedLogBlock {
    pub bytes: Vec<u8>,
    pub footer: LogFooter,
    /// Distinct trace ids of the records, sorted (for the trace index).
    pub trace_ids: Vec<TraceId>,
}

/// Stores every string value inline (bodies: nearly every one is distinct), keys in the
/// dictionary.
struct Inline<'s, 'c, 'a>(&'s mut Strings<'c, 'a>);

impl StringPolicy for Inline<'_, '_, '_> {
    fn intern(&mut self, s: &str) -> u32 {
        self.0.intern(s)
    }
    fn value_ref(&mut self, _key: &str, _s: &str) -> Option<u32> {
        None
    }
}

fn col(cols: &mut [Encoder; NUM_LOG_COLUMNS], c: LogColumn) -> &mut Encoder {
    // `LogColumn` values are 0..NUM_LOG_COLUMNS by definition, the array's length.
    #[allow(clippy::indexing_slicing)]
    &mut cols[c as usize]
}

/// Sorts `logs` into block row order and encodes them. `logs` must not be empty.
pub fn encode_log_block(
    mut logs: Vec<&LogRecord>,
    layout: &BlockLayout,
) -> Result<EncodedLogBlock> {
    if logs.is_empty() {
        return Err(Error::InvalidInput(
            "cannot encode an empty log block".into(),
        ));
    }
    logs.sort_by_key(|l| (l.timestamp_ns(), u128::from_be_bytes(l.trace_id.0)));
    let rows = u32::try_from(logs.len())
        .map_err(|_| Error::InvalidInput("too many log records for one block".into()))?;
    let mut card = Cardinality::default();
    for l in &logs {
        card.observe_attrs(&l.attributes);
    }
    let mut strings = Strings::new(&card);
    let mut resources: Table<Resource> = Table::new();
    let mut scopes: Table<Scope> = Table::new();
    let mut trace_ids: Vec<TraceId> = logs.iter().filter_map(|l| l.trace()).collect();
    trace_ids.sort_unstable();
    trace_ids.dedup();
    let trace_index: HashMap<TraceId, u32> = trace_ids
        .iter()
        .enumerate()
        .map(|(i, t)| (*t, i as u32))
        .collect();
    let mut trace_rows = vec![RoaringBitmap::new(); trace_ids.len()];
    let mut service_rows: HashMap<u32, RoaringBitmap> = HashMap::default();
    let mut severity_rows: HashMap<u32, RoaringBitmap> = HashMap::default();
    let mut attr_rows: HashMap<(u32, IndexedValue), RoaringBitmap> = HashMap::default();
    let mut footer = LogFooter {
        rows,
        min_time_ns: logs.first().map_or(0, |l| l.timestamp_ns()),
        max_time_ns: logs.last().map_or(0, |l| l.timestamp_ns()),
        ..LogFooter::default()
    };
    let mut out = Vec::with_capacity(logs.len() * 40);
    write_frame_header(&mut out, LOG_BLOCK_MAGIC, LOG_BLOCK_FORMAT_VERSION);
    let per_group = layout.rows_per_group.max(1) as usize;
    for (g, group) in logs.chunks(per_group).enumerate() {
        let first_row = (g * per_group) as u32;
        let mut cols: [Encoder; NUM_LOG_COLUMNS] = Default::default();
        let mut attr_cols = AttrColumnsEncoder::default();
        let mut prev = footer.min_time_ns;
        let mut texts: Vec<&str> = Vec::new();
        for (i, l) in group.iter().enumerate() {
            let row = first_row + i as u32;
            let t = l.timestamp_ns();
            if i == 0 {
                col(&mut cols, LogColumn::Time).put_varint(t - footer.min_time_ns);
            } else {
                col(&mut cols, LogColumn::Time).put_varint(t - prev);
            }
            prev = t;
            // The stored time is the record's own: 0 stays 0 (the row order uses the
            // observed time then), so keep a flag in the observed column's low bit.
            let observed = col(&mut cols, LogColumn::ObservedTime);
            observed.put_u8(u8::from(l.time_ns == 0));
            observed.put_zigzag(l.observed_time_ns.wrapping_sub(t) as i64);
            col(&mut cols, LogColumn::Severity).put_u8(l.severity_number);
            let st = strings.intern(&l.severity_text);
            col(&mut cols, LogColumn::SeverityText).put_varint(u64::from(st));
            put_value(
                col(&mut cols, LogColumn::Body),
                "",
                &l.body,
                &mut Inline(&mut strings),
            );
            for_each_value_string(&l.body, &mut |s| texts.push(s));
            attr_cols.put_row(&l.attributes, &mut strings);
            let r = resources.id(&l.resource);
            col(&mut cols, LogColumn::Resource).put_varint(u64::from(r));
            let s = scopes.id(&l.scope);
            col(&mut cols, LogColumn::Scope).put_varint(u64::from(s));
            let tcol = col(&mut cols, LogColumn::Trace);
            match l.trace().and_then(|t| trace_index.get(&t)) {
                Some(ti) => {
                    tcol.put_varint(u64::from(*ti) + 1);
                    if let Some(rows) = trace_rows.get_mut(*ti as usize) {
                        rows.insert(row);
                    }
                }
                None => tcol.put_varint(0),
            }
            let sid = col(&mut cols, LogColumn::SpanId);
            match l.span() {
                Some(s) => {
                    sid.put_u8(1);
                    sid.put_raw(&s.0);
                }
                None => sid.put_u8(0),
            }
            let ev = strings.intern(&l.event_name);
            let extra = col(&mut cols, LogColumn::Extra);
            extra.put_varint(u64::from(l.flags));
            extra.put_varint(u64::from(l.dropped_attributes_count));
            extra.put_varint(u64::from(ev));
            // Indexes.
            let service = strings.intern(l.service());
            service_rows.entry(service).or_default().insert(row);
            severity_rows
                .entry(u32::from(l.severity_number))
                .or_default()
                .insert(row);
            for kv in &l.attributes {
                if strings.card.is_high(&kv.key) {
                    continue;
                }
                let key = strings.intern(&kv.key);
                let value = match &kv.value {
                    Value::Str(v) => IndexedValue::Str(strings.intern(v)),
                    Value::Int(i) => IndexedValue::Int(*i),
                    Value::Bool(b) => IndexedValue::Bool(*b),
                    _ => continue,
                };
                attr_rows.entry((key, value)).or_default().insert(row);
            }
        }
        *col(&mut cols, LogColumn::Attributes) = Encoder {
            buf: attr_cols.finish(),
        };
        let min_time_ns = group.first().map_or(0, |l| l.timestamp_ns());
        let max_time_ns = group.last().map_or(0, |l| l.timestamp_ns());
        footer.groups.push(LogRowGroup {
            first_row,
            rows: group.len() as u32,
            min_time_ns,
            max_time_ns,
            columns: write_column_chunks(&cols, [layout.zstd_level; NUM_LOG_COLUMNS], &mut out)?,
            bloom: NgramBloom::build(&trigram_hashes(texts)),
        });
    }
    for r in &resources.items {
        intern_attrs(&mut strings, &r.attributes);
        strings.intern(&r.schema_url);
    }
    for s in &scopes.items {
        strings.intern(&s.name);
        strings.intern(&s.version);
        strings.intern(&s.schema_url);
        intern_attrs(&mut strings, &s.attributes);
    }
    footer.resources = resources.items;
    footer.scopes = scopes.items;
    footer.traces = trace_ids.iter().copied().zip(trace_rows).collect();
    footer.service_rows = sorted(service_rows);
    footer.severity_rows = sorted(severity_rows);
    let mut attrs: Vec<AttrIndex> = attr_rows
        .into_iter()
        .map(|((key, value), rows)| AttrIndex { key, value, rows })
        .collect();
    attrs.sort_by(|a, b| (a.key, &a.value).cmp(&(b.key, &b.value)));
    footer.attr_rows = attrs;
    let mut unindexed: Vec<u32> = card
        .high_keys()
        .into_iter()
        .map(|k| strings.intern(k))
        .collect();
    unindexed.sort_unstable();
    footer.unindexed_keys = unindexed;
    footer.dict = std::mem::take(&mut strings.list);
    let ids: HashMap<&str, u32> = footer
        .dict
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i as u32))
        .collect();
    let mut enc = Encoder::new();
    footer.encode(&mut enc, &ids);
    write_frame_footer(
        &mut out,
        &enc.buf,
        layout.zstd_level,
        LOG_BLOCK_MAGIC,
        LOG_BLOCK_FORMAT_VERSION,
    )?;
    Ok(EncodedLogBlock {
        bytes: out,
        footer,
        trace_ids,
    })
}
