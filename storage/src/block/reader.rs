//! Reads a block file through mmap. Opening validates the header, trailer and footer checksum;
//! each column chunk is checksummed when first decoded. Any inconsistency is
//! `Error::Corruption` naming the file.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::footer::{
    Column, Footer, RowGroup, BLOCK_FORMAT_VERSION, BLOCK_MAGIC, HEADER_LEN, TRAILER_LEN,
};
use super::writer::{PARENT_IN_RUN, PARENT_LITERAL, PARENT_NONE};
use crate::codec::attr_columns::{for_each_value_of_key, AttrColumnsDecoder};
use crate::codec::buf::{DecodeError, DecodeResult, Decoder};
use crate::codec::chunk::{decompress, ChunkRef};
use crate::codec::value::{dict_str, get_attrs, skip_attrs, ScalarRef};
use crate::error::{Error, Result};
use crate::mmap::MappedFile;
use crate::model::{Event, Link, Resource, Scope, Span, SpanId, SpanKind, StatusCode, TraceId};

/// An open, validated block.
pub struct BlockReader {
    id: u64,
    path: PathBuf,
    file: MappedFile,
    footer: Footer,
    dict_ids: HashMap<String, u32>,
}

/// The cheap columns of one row group, decoded for filtering without building spans.
#[derive(Debug, Default, Clone)]
pub struct GroupLight {
    pub trace_ids: Vec<TraceId>,
    pub start_ns: Vec<u64>,
    pub end_ns: Vec<u64>,
    pub name: Vec<u32>,
    pub kind: Vec<SpanKind>,
    pub status: Vec<StatusCode>,
    pub resource: Vec<u32>,
}

impl std::fmt::Debug for BlockReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlockReader({})", self.path.display())
    }
}

impl BlockReader {
    /// Maps and validates `path`.
    pub fn open(path: &Path, id: u64) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mapped = MappedFile::map(&file).map_err(|e| Error::io(path, e))?;
        let name = path.display().to_string();
        let footer = Self::read_footer(mapped.bytes(), &name)?;
        let dict_ids = footer
            .dict
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32))
            .collect();
        Ok(BlockReader {
            id,
            path: path.to_owned(),
            file: mapped,
            footer,
            dict_ids,
        })
    }

    /// Validates a block image held in memory (fuzzing, tests); `name` stands in for the path.
    pub fn from_bytes(bytes: Vec<u8>, name: &str) -> Result<Self> {
        let file = MappedFile::from_bytes(bytes);
        let footer = Self::read_footer(file.bytes(), name)?;
        let dict_ids = footer
            .dict
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32))
            .collect();
        Ok(BlockReader {
            id: 0,
            path: PathBuf::from(name),
            file,
            footer,
            dict_ids,
        })
    }

    fn read_footer(bytes: &[u8], name: &str) -> Result<Footer> {
        let corrupt = |d: String| Error::corruption(name, d);
        if bytes.len() < HEADER_LEN + TRAILER_LEN {
            return Err(corrupt(format!(
                "file is {} bytes, too short for a block",
                bytes.len()
            )));
        }
        let mut head = Decoder::new(bytes);
        let magic: [u8; 8] = head.get_array().map_err(|e| corrupt(e.0))?;
        if magic != BLOCK_MAGIC {
            return Err(corrupt("bad magic at the start: not a spandb block".into()));
        }
        let version = head.get_u32().map_err(|e| corrupt(e.0))?;
        if version != BLOCK_FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                file: name.to_owned(),
                found: version,
                supported: BLOCK_FORMAT_VERSION,
            });
        }
        let trailer_at = bytes.len() - TRAILER_LEN;
        let mut t = Decoder::new(bytes.get(trailer_at..).unwrap_or_default());
        let trailer = (|| -> DecodeResult<_> {
            Ok((
                t.get_u64()?,
                t.get_u32()?,
                t.get_u32()?,
                t.get_u32()?,
                t.get_u32()?,
                t.get_array::<8>()?,
            ))
        })()
        .map_err(|e| corrupt(e.0))?;
        let (offset, stored_len, raw_len, crc, tversion, tmagic) = trailer;
        if tmagic != BLOCK_MAGIC {
            return Err(corrupt(
                "bad magic at the end: the file is truncated or overwritten".into(),
            ));
        }
        if tversion != version {
            return Err(corrupt(format!(
                "header says version {version}, trailer {tversion}"
            )));
        }
        let chunk = ChunkRef {
            offset,
            stored_len,
            raw_len,
            crc32c: crc,
        };
        let stored = slice_chunk(bytes, &chunk, trailer_at)
            .map_err(|e| corrupt(format!("footer: {}", e.0)))?;
        let raw = decompress(stored, &chunk).map_err(|e| corrupt(format!("footer: {}", e.0)))?;
        let footer = Footer::decode(&raw).map_err(|e| corrupt(format!("footer: {}", e.0)))?;
        for g in &footer.groups {
            for c in &g.columns {
                if c.offset < HEADER_LEN as u64
                    || c.offset.saturating_add(u64::from(c.stored_len)) > offset
                {
                    return Err(corrupt(format!(
                        "column chunk at {}+{} lies outside the data region",
                        c.offset, c.stored_len
                    )));
                }
            }
        }
        Ok(footer)
    }

    pub fn id(&self) -> u64 {
        self.id
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn footer(&self) -> &Footer {
        &self.footer
    }
    pub fn file_len(&self) -> u64 {
        self.file.bytes().len() as u64
    }
    /// The dictionary id of `s` in this block, if the block contains it.
    pub fn string_id(&self, s: &str) -> Option<u32> {
        self.dict_ids.get(s).copied()
    }
    /// The dictionary string with id `id`.
    pub fn string(&self, id: u32) -> Result<&str> {
        dict_str(&self.footer.dict, u64::from(id)).map_err(|e| self.corrupt(e))
    }

    fn corrupt(&self, e: DecodeError) -> Error {
        Error::corruption(self.path.display().to_string(), e.0)
    }

    fn column(&self, group: &RowGroup, c: Column) -> Result<Vec<u8>> {
        let chunk = group
            .columns
            .get(c as usize)
            .ok_or_else(|| Error::InvalidInput(format!("no column {}", c.name())))?;
        let stored = slice_chunk(self.file.bytes(), chunk, self.file.bytes().len())
            .map_err(|e| self.corrupt(e))?;
        decompress(stored, chunk)
            .map_err(|e| self.corrupt(DecodeError(format!("column {}: {}", c.name(), e.0))))
    }

    fn group(&self, g: usize) -> Result<&RowGroup> {
        self.footer
            .groups
            .get(g)
            .ok_or_else(|| Error::InvalidInput(format!("row group {g} does not exist")))
    }

    /// Every span of `trace_id` in this block: the trace table gives its rows, so only the
    /// row groups holding them are decoded.
    pub fn trace(&self, trace_id: &TraceId) -> Result<Vec<Span>> {
        let f = &self.footer;
        let Ok(t) = f.traces.binary_search_by(|e| e.trace_id.cmp(trace_id)) else {
            return Ok(Vec::new());
        };
        let Some(rows) = self.trace_rows(t) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let first_group = f
            .groups
            .partition_point(|g| g.first_row + g.rows <= rows.start);
        for (g, group) in f.groups.iter().enumerate().skip(first_group) {
            if group.first_row >= rows.end {
                break;
            }
            let (lo, hi) = (
                rows.start.max(group.first_row) - group.first_row,
                rows.end.min(group.first_row + group.rows) - group.first_row,
            );
            let spans = self.decode_group(g, |i| (i as u32) >= lo && (i as u32) < hi)?;
            out.extend(spans.into_iter().map(|(_, s)| s));
        }
        Ok(out)
    }

    /// The trace runs of a row group: (trace id, rows) from the footer's trace table.
    fn trace_runs(&self, group: &RowGroup) -> Result<Vec<(TraceId, usize)>> {
        let f = &self.footer;
        let (lo, hi) = (group.first_row, group.first_row + group.rows);
        let first = f
            .trace_first_row
            .partition_point(|&r| r <= lo)
            .saturating_sub(1);
        let mut runs = Vec::new();
        for (t, &start) in f.traces.iter().zip(&f.trace_first_row).skip(first) {
            if start >= hi {
                break;
            }
            let end = start + t.rows;
            let n = end.min(hi) - start.max(lo);
            runs.push((t.trace_id, n as usize));
        }
        Ok(runs)
    }

    /// The trace (index into `footer().traces`) that block row `row` belongs to.
    pub fn trace_of_row(&self, row: u32) -> Option<usize> {
        let f = &self.footer;
        (row < f.rows).then(|| {
            f.trace_first_row
                .partition_point(|&r| r <= row)
                .saturating_sub(1)
        })
    }

    /// Block rows of trace number `t` (an index into `footer().traces`).
    pub fn trace_rows(&self, t: usize) -> Option<std::ops::Range<u32>> {
        let f = &self.footer;
        let start = *f.trace_first_row.get(t)?;
        Some(start..start + f.traces.get(t)?.rows)
    }

    /// Decodes the cheap columns of group `g` for filtering.
    pub fn group_light(&self, g: usize) -> Result<GroupLight> {
        let group = self.group(g)?;
        let n = group.rows as usize;
        let runs = self.trace_runs(group)?;
        let start_raw = self.column(group, Column::Start)?;
        let dur_raw = self.column(group, Column::Duration)?;
        let name_raw = self.column(group, Column::Name)?;
        let ks_raw = self.column(group, Column::KindStatus)?;
        let res_raw = self.column(group, Column::Resource)?;
        let mut light = GroupLight {
            trace_ids: Vec::with_capacity(n),
            ..GroupLight::default()
        };
        for (t, len) in runs {
            light.trace_ids.extend(std::iter::repeat_n(t, len));
        }
        (|| -> DecodeResult<()> {
            let (mut sd, mut dd, mut nd, mut kd, mut rd) = (
                Decoder::new(&start_raw),
                Decoder::new(&dur_raw),
                Decoder::new(&name_raw),
                Decoder::new(&ks_raw),
                Decoder::new(&res_raw),
            );
            let mut prev = self.footer.min_start_ns;
            for i in 0..n {
                let start = next_start(&mut sd, i, prev, self.footer.min_start_ns)?;
                prev = start;
                light.start_ns.push(start);
                light
                    .end_ns
                    .push(start.wrapping_add(dd.get_zigzag()? as u64));
                light.name.push(dd_id(&mut nd, self.footer.dict.len())?);
                let (kind, status) = kind_status(kd.get_u8()?)?;
                light.kind.push(kind);
                light.status.push(status);
                let r = rd.get_varint32()?;
                if r as usize >= self.footer.resources.len() {
                    return Err(DecodeError(format!("resource id {r} out of range")));
                }
                light.resource.push(r);
            }
            Ok(())
        })()
        .map_err(|e| self.corrupt(e))?;
        Ok(light)
    }

    /// Span starts of group `g`, in row order.
    pub fn group_starts(&self, g: usize) -> Result<Vec<u64>> {
        let group = self.group(g)?;
        let raw = self.column(group, Column::Start)?;
        let base = self.footer.min_start_ns;
        (|| -> DecodeResult<Vec<u64>> {
            let mut d = Decoder::new(&raw);
            let mut out = Vec::with_capacity(group.rows as usize);
            let mut prev = base;
            for i in 0..group.rows as usize {
                prev = next_start(&mut d, i, prev, base)?;
                out.push(prev);
            }
            Ok(out)
        })()
        .map_err(|e| self.corrupt(e))
    }

    /// Span durations of group `g` (`Span::duration_ns`: 0 when the end precedes the start),
    /// in row order. Decodes the start column too only when a stored value could wrap.
    pub fn group_durations(&self, g: usize) -> Result<Vec<u64>> {
        let group = self.group(g)?;
        let raw = self.column(group, Column::Duration)?;
        let (min_start, max_start) = (self.footer.min_start_ns, self.footer.max_start_ns);
        let mut wraps = false;
        let mut out = (|| -> DecodeResult<Vec<u64>> {
            let mut d = Decoder::new(&raw);
            let mut out = Vec::with_capacity(group.rows as usize);
            for _ in 0..group.rows {
                let z = d.get_zigzag()?;
                out.push(if z >= 0 {
                    let z = z as u64;
                    wraps |= z > u64::MAX - max_start;
                    z
                } else {
                    wraps |= z.unsigned_abs() > min_start;
                    0
                });
            }
            Ok(out)
        })()
        .map_err(|e| self.corrupt(e))?;
        if wraps {
            let starts = self.group_starts(g)?;
            let mut d = Decoder::new(&raw);
            for (slot, start) in out.iter_mut().zip(starts) {
                let z = d.get_zigzag().map_err(|e| self.corrupt(e))?;
                *slot = start.wrapping_add(z as u64).saturating_sub(start);
            }
        }
        Ok(out)
    }

    /// A column of ids of group `g`, in row order: `Name` and `StatusMessage` (dictionary ids),
    /// `Resource` and `Scope` (indexes into the footer's tables), each checked against its table.
    pub fn group_ids(&self, g: usize, c: Column) -> Result<Vec<u32>> {
        let limit = match c {
            Column::Name | Column::StatusMessage => self.footer.dict.len(),
            Column::Resource => self.footer.resources.len(),
            Column::Scope => self.footer.scopes.len(),
            other => {
                return Err(Error::InvalidInput(format!(
                    "column {} does not hold ids",
                    other.name()
                )))
            }
        };
        let group = self.group(g)?;
        let raw = self.column(group, c)?;
        (|| -> DecodeResult<Vec<u32>> {
            let mut d = Decoder::new(&raw);
            let mut out = Vec::with_capacity(group.rows as usize);
            for _ in 0..group.rows {
                let id = d.get_varint32()?;
                if id as usize >= limit {
                    return Err(DecodeError(format!(
                        "{} id {id} outside a table of {limit}",
                        c.name()
                    )));
                }
                out.push(id);
            }
            Ok(out)
        })()
        .map_err(|e| self.corrupt(e))
    }

    /// Kinds and status codes of group `g`, in row order.
    pub fn group_kind_status(&self, g: usize) -> Result<Vec<(SpanKind, StatusCode)>> {
        let group = self.group(g)?;
        let raw = self.column(group, Column::KindStatus)?;
        if raw.len() != group.rows as usize {
            return Err(self.corrupt(DecodeError(format!(
                "kind_status column has {} bytes for {} rows",
                raw.len(),
                group.rows
            ))));
        }
        raw.iter()
            .map(|b| kind_status(*b).map_err(|e| self.corrupt(e)))
            .collect()
    }

    /// Span ids of group `g`, in row order.
    pub fn group_span_ids(&self, g: usize) -> Result<Vec<SpanId>> {
        let group = self.group(g)?;
        let raw = self.column(group, Column::SpanId)?;
        if raw.len() != group.rows as usize * 8 {
            return Err(self.corrupt(DecodeError(format!(
                "span id column has {} bytes for {} rows",
                raw.len(),
                group.rows
            ))));
        }
        Ok(raw
            .chunks_exact(8)
            .map(|c| {
                let mut id = [0u8; 8];
                id.copy_from_slice(c);
                SpanId(id)
            })
            .collect())
    }

    /// Calls `f(in-group row, value)` for each row of group `g` that has span attribute `key`
    /// (a dictionary id), with its first value for that key. Only that key's stream of the
    /// attribute chunk is decoded.
    pub fn group_attr_values(
        &self,
        g: usize,
        key: u32,
        f: impl FnMut(usize, ScalarRef<'_>),
    ) -> Result<()> {
        let group = self.group(g)?;
        let raw = self.column(group, Column::Attributes)?;
        for_each_value_of_key(&raw, key, &self.footer.dict, f).map_err(|e| self.corrupt(e))
    }

    /// Spans at the given block-wide rows (sorted or not), with their row numbers, in row order.
    pub fn spans_at(&self, rows: &roaring::RoaringBitmap) -> Result<Vec<(u32, Span)>> {
        let mut out = Vec::new();
        if rows.max().is_some_and(|m| m >= self.footer.rows) {
            return Err(self.corrupt(DecodeError("index refers to a row past the end".into())));
        }
        for (g, group) in self.footer.groups.iter().enumerate() {
            let lo = group.first_row;
            let hi = lo + group.rows;
            if rows.range_cardinality(lo..hi) == 0 {
                continue;
            }
            let spans = self.decode_group(g, |i| rows.contains(lo + i as u32))?;
            out.extend(spans.into_iter().map(|(i, s)| (lo + i as u32, s)));
        }
        Ok(out)
    }

    /// Every span of the block, in row order.
    pub fn all_spans(&self) -> Result<Vec<Span>> {
        let mut out = Vec::with_capacity(self.footer.rows as usize);
        for g in 0..self.footer.groups.len() {
            out.extend(self.decode_group(g, |_| true)?.into_iter().map(|(_, s)| s));
        }
        Ok(out)
    }

    /// Verifies every column chunk's checksum and decodes every row: what `check` runs.
    pub fn verify(&self) -> Result<u64> {
        let mut rows = 0u64;
        for g in 0..self.footer.groups.len() {
            rows += self.decode_group(g, |_| true)?.len() as u64;
        }
        Ok(rows)
    }

    /// Decodes group `g`, building spans only for the in-group rows `select` accepts.
    pub fn decode_group(
        &self,
        g: usize,
        select: impl Fn(usize) -> bool,
    ) -> Result<Vec<(usize, Span)>> {
        let group = self.group(g)?;
        let runs = self.trace_runs(group)?;
        let mut cols: Vec<Vec<u8>> = Vec::with_capacity(Column::ALL.len());
        for c in Column::ALL {
            cols.push(self.column(group, c)?);
        }
        self.decode_rows(group, &runs, &cols, select)
            .map_err(|e| self.corrupt(e))
    }

    fn decode_rows(
        &self,
        group: &RowGroup,
        runs: &[(TraceId, usize)],
        cols: &[Vec<u8>],
        select: impl Fn(usize) -> bool,
    ) -> DecodeResult<Vec<(usize, Span)>> {
        let col =
            |c: Column| Decoder::new(cols.get(c as usize).map(Vec::as_slice).unwrap_or_default());
        let span_ids = cols
            .get(Column::SpanId as usize)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let n = group.rows as usize;
        if span_ids.len() != n * 8 {
            return Err(DecodeError(format!(
                "span id column has {} bytes for {n} rows",
                span_ids.len()
            )));
        }
        let span_id_at = |row: usize| -> SpanId {
            let mut id = [0u8; 8];
            id.copy_from_slice(span_ids.get(row * 8..row * 8 + 8).unwrap_or(&[0; 8]));
            SpanId(id)
        };
        let dict = &self.footer.dict;
        let (mut parent, mut start, mut dur, mut name) = (
            col(Column::Parent),
            col(Column::Start),
            col(Column::Duration),
            col(Column::Name),
        );
        let (mut ks, mut msg, mut res, mut scope) = (
            col(Column::KindStatus),
            col(Column::StatusMessage),
            col(Column::Resource),
            col(Column::Scope),
        );
        let attr_bytes = cols
            .get(Column::Attributes as usize)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut attrs = AttrColumnsDecoder::new(attr_bytes)?;
        let (mut events, mut links, mut extra) =
            (col(Column::Events), col(Column::Links), col(Column::Extra));
        let mut out = Vec::new();
        let mut prev_start = self.footer.min_start_ns;
        let mut row = 0usize;
        for (trace_id, run_len) in runs {
            let run_start = row;
            for _ in 0..*run_len {
                let i = row;
                row += 1;
                let want = select(i);
                let parent_id = match parent.get_varint()? {
                    PARENT_NONE => None,
                    PARENT_LITERAL => Some(SpanId(parent.get_array()?)),
                    code => {
                        let off = (code - PARENT_IN_RUN) as usize;
                        if off >= *run_len {
                            return Err(DecodeError(format!(
                                "parent reference {off} outside its trace run"
                            )));
                        }
                        Some(span_id_at(run_start + off))
                    }
                };
                let start_ns = next_start(&mut start, i, prev_start, self.footer.min_start_ns)?;
                prev_start = start_ns;
                let end_ns = start_ns.wrapping_add(dur.get_zigzag()? as u64);
                let name_id = name.get_varint()?;
                let (kind, status_code) = kind_status(ks.get_u8()?)?;
                let msg_id = msg.get_varint()?;
                let res_id = res.get_varint()? as usize;
                let scope_id = scope.get_varint()? as usize;
                if !want {
                    attrs.skip_row()?;
                    for _ in 0..events.get_count()? {
                        events.get_varint()?;
                        events.get_varint()?;
                        skip_attrs(&mut events)?;
                        events.get_varint()?;
                    }
                    for _ in 0..links.get_count()? {
                        links.get_raw(24)?;
                        links.get_varint()?;
                        links.get_varint()?;
                        skip_attrs(&mut links)?;
                        links.get_varint()?;
                    }
                    for _ in 0..5 {
                        extra.get_varint()?;
                    }
                    continue;
                }
                let resource: Arc<Resource> = self
                    .footer
                    .resources
                    .get(res_id)
                    .cloned()
                    .ok_or_else(|| DecodeError(format!("resource id {res_id} out of range")))?;
                let scope: Arc<Scope> = self
                    .footer
                    .scopes
                    .get(scope_id)
                    .cloned()
                    .ok_or_else(|| DecodeError(format!("scope id {scope_id} out of range")))?;
                let attributes = attrs.next_row(dict)?;
                let n_events = events.get_count()?;
                let mut evs = Vec::with_capacity(n_events);
                for _ in 0..n_events {
                    evs.push(Event {
                        time_ns: start_ns.wrapping_add(events.get_zigzag()? as u64),
                        name: dict_str(dict, events.get_varint()?)?.to_owned(),
                        attributes: get_attrs(&mut events, dict)?,
                        dropped_attributes_count: events.get_varint32()?,
                    });
                }
                let n_links = links.get_count()?;
                let mut lks = Vec::with_capacity(n_links);
                for _ in 0..n_links {
                    lks.push(Link {
                        trace_id: TraceId(links.get_array()?),
                        span_id: SpanId(links.get_array()?),
                        trace_state: dict_str(dict, links.get_varint()?)?.to_owned(),
                        flags: links.get_varint32()?,
                        attributes: get_attrs(&mut links, dict)?,
                        dropped_attributes_count: links.get_varint32()?,
                    });
                }
                let trace_state = dict_str(dict, extra.get_varint()?)?.to_owned();
                out.push((
                    i,
                    Span {
                        trace_id: *trace_id,
                        span_id: span_id_at(i),
                        parent_span_id: parent_id,
                        trace_state,
                        flags: extra.get_varint32()?,
                        name: dict_str(dict, name_id)?.to_owned(),
                        kind,
                        start_ns,
                        end_ns,
                        status_code,
                        status_message: dict_str(dict, msg_id)?.to_owned(),
                        resource,
                        scope,
                        attributes,
                        dropped_attributes_count: extra.get_varint32()?,
                        events: evs,
                        dropped_events_count: extra.get_varint32()?,
                        links: lks,
                        dropped_links_count: extra.get_varint32()?,
                    },
                ));
            }
        }
        Ok(out)
    }
}

fn next_start(d: &mut Decoder<'_>, i: usize, prev: u64, base: u64) -> DecodeResult<u64> {
    Ok(if i == 0 {
        base.wrapping_add(d.get_varint()?)
    } else {
        prev.wrapping_add(d.get_zigzag()? as u64)
    })
}

fn dd_id(d: &mut Decoder<'_>, dict_len: usize) -> DecodeResult<u32> {
    let id = d.get_varint32()?;
    if id as usize >= dict_len {
        return Err(DecodeError(format!(
            "string id {id} outside a dictionary of {dict_len}"
        )));
    }
    Ok(id)
}

fn kind_status(b: u8) -> DecodeResult<(SpanKind, StatusCode)> {
    let kind = SpanKind::from_u8(b & 0x0f)
        .ok_or_else(|| DecodeError(format!("bad span kind {}", b & 0x0f)))?;
    let status = StatusCode::from_u8(b >> 4)
        .ok_or_else(|| DecodeError(format!("bad status code {}", b >> 4)))?;
    Ok((kind, status))
}

fn slice_chunk<'a>(bytes: &'a [u8], chunk: &ChunkRef, limit: usize) -> DecodeResult<&'a [u8]> {
    let start =
        usize::try_from(chunk.offset).map_err(|_| DecodeError("offset out of range".into()))?;
    let end = start
        .checked_add(chunk.stored_len as usize)
        .filter(|&e| e <= limit)
        .ok_or_else(|| {
            DecodeError(format!(
                "chunk {}+{} past the end of the file",
                chunk.offset, chunk.stored_len
            ))
        })?;
    bytes.get(start..end).ok_or_else(|| {
        DecodeError(format!(
            "chunk {}+{} past the end of the file",
            chunk.offset, chunk.stored_len
        ))
    })
}
