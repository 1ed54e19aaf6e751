//! Rebuilding spans from the columns of a row group, and trace lookups through the footer's
//! trace table.

use std::sync::Arc;

use super::columns::{kind_status, next_start};
use super::{BlockReader, ColumnBuf};
use crate::block::footer::{Column, Footer, RowGroup};
use crate::block::writer::{PARENT_IN_RUN, PARENT_LITERAL, PARENT_NONE};
use crate::codec::attr_columns::AttrColumnsDecoder;
use crate::codec::buf::{DecodeError, DecodeResult, Decoder};
use crate::codec::value::{dict_str, get_attrs, skip_attrs};
use crate::error::Result;
use crate::model::{Event, Link, Resource, Scope, Span, SpanId, TraceId};

/// Which of a span's heavy parts a decode rebuilds. The core (ids, parent, times, name, kind,
/// status, status message, resource, scope) is always rebuilt; a part left out is not even
/// decompressed and stays empty (`Vec::new()`, zero counts) in the returned spans. Attributes
/// are most of a block's bytes, so an analysis that reads only events (exception groups)
/// skips most of the decompression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanParts {
    pub attributes: bool,
    pub events: bool,
    pub links: bool,
    /// Trace state, flags and the dropped counts.
    pub extra: bool,
}

impl SpanParts {
    /// Everything: the span as it was written.
    pub const ALL: SpanParts = SpanParts {
        attributes: true,
        events: true,
        links: true,
        extra: true,
    };
    /// The core alone: ids, times, name, kind, status, resource and scope.
    pub const CORE: SpanParts = SpanParts {
        attributes: false,
        events: false,
        links: false,
        extra: false,
    };
    /// The core and the events: what exception grouping reads.
    pub const EVENTS_ONLY: SpanParts = SpanParts {
        attributes: false,
        events: true,
        links: false,
        extra: false,
    };

    fn wants(self, c: Column) -> bool {
        match c {
            Column::Attributes => self.attributes,
            Column::Events => self.events,
            Column::Links => self.links,
            Column::Extra => self.extra,
            _ => true,
        }
    }
}

impl BlockReader {
    /// Every span of `trace_id` in this block: the trace table gives its rows, so only the
    /// row groups holding them are decoded.
    pub fn trace(&self, trace_id: &TraceId) -> Result<Vec<Span>> {
        self.trace_with(trace_id, SpanParts::ALL)
    }

    /// [`BlockReader::trace`], rebuilding only `parts` of each span.
    pub fn trace_with(&self, trace_id: &TraceId, parts: SpanParts) -> Result<Vec<Span>> {
        let f = self.footer()?;
        let Ok(t) = f.traces.binary_search_by(|e| e.trace_id.cmp(trace_id)) else {
            return Ok(Vec::new());
        };
        let Some(rows) = f.trace_rows(t) else {
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
            let spans = self.decode_group_until(g, parts, hi as usize, |i| (i as u32) >= lo)?;
            out.extend(spans.into_iter().map(|(_, s)| s));
        }
        Ok(out)
    }

    /// The trace runs of a row group: (trace id, rows) from the footer's trace table.
    pub(super) fn trace_runs(&self, f: &Footer, group: &RowGroup) -> Result<Vec<(TraceId, usize)>> {
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
    pub fn trace_of_row(&self, row: u32) -> Result<Option<usize>> {
        Ok(self.footer()?.trace_of_row(row))
    }

    /// Block rows of trace number `t` (an index into `footer().traces`).
    pub fn trace_rows(&self, t: usize) -> Result<Option<std::ops::Range<u32>>> {
        Ok(self.footer()?.trace_rows(t))
    }

    /// Spans at the given block-wide rows (sorted or not), with their row numbers, in row order.
    pub fn spans_at(&self, rows: &roaring::RoaringBitmap) -> Result<Vec<(u32, Span)>> {
        self.spans_at_with(rows, SpanParts::ALL)
    }

    /// [`BlockReader::spans_at`], rebuilding only `parts` of each span.
    pub fn spans_at_with(
        &self,
        rows: &roaring::RoaringBitmap,
        parts: SpanParts,
    ) -> Result<Vec<(u32, Span)>> {
        let f = self.footer()?;
        let mut out = Vec::new();
        if rows.max().is_some_and(|m| m >= f.rows) {
            return Err(self.corrupt(DecodeError::new("index refers to a row past the end")));
        }
        for (g, group) in f.groups.iter().enumerate() {
            let lo = group.first_row;
            let hi = lo + group.rows;
            if rows.range_cardinality(lo..hi) == 0 {
                continue;
            }
            // The group's selected rows as flags, and the last one: rows after it are not
            // decoded at all.
            let mut wanted = vec![false; group.rows as usize];
            let mut until = 0;
            for r in rows.range(lo..hi) {
                let i = (r - lo) as usize;
                if let Some(w) = wanted.get_mut(i) {
                    *w = true;
                }
                until = i + 1;
            }
            let spans = self
                .decode_group_until(g, parts, until, |i| wanted.get(i).copied().unwrap_or(false))?;
            out.extend(spans.into_iter().map(|(i, s)| (lo + i as u32, s)));
        }
        Ok(out)
    }

    /// Every span of the block, in row order.
    pub fn all_spans(&self) -> Result<Vec<Span>> {
        let groups = self.footer()?.groups.len();
        let mut out = Vec::with_capacity(self.meta.rows as usize);
        for g in 0..groups {
            out.extend(self.decode_group(g, |_| true)?.into_iter().map(|(_, s)| s));
        }
        Ok(out)
    }

    /// Verifies every column chunk's checksum and decodes every row: what `check` runs.
    pub fn verify(&self) -> Result<u64> {
        let mut rows = 0u64;
        for g in 0..self.footer()?.groups.len() {
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
        self.decode_group_with(g, SpanParts::ALL, select)
    }

    /// [`BlockReader::decode_group`], decompressing and rebuilding only `parts`.
    pub fn decode_group_with(
        &self,
        g: usize,
        parts: SpanParts,
        select: impl Fn(usize) -> bool,
    ) -> Result<Vec<(usize, Span)>> {
        self.decode_group_until(g, parts, usize::MAX, select)
    }

    /// [`BlockReader::decode_group_with`], stopping before in-group row `until`.
    fn decode_group_until(
        &self,
        g: usize,
        parts: SpanParts,
        until: usize,
        select: impl Fn(usize) -> bool,
    ) -> Result<Vec<(usize, Span)>> {
        let f = self.footer()?;
        let group = self.group(&f, g)?;
        let runs = self.trace_runs(&f, group)?;
        let mut cols: Vec<ColumnBuf> = Vec::with_capacity(Column::ALL.len());
        for c in Column::ALL {
            cols.push(if parts.wants(c) {
                self.column(group, c)?
            } else {
                ColumnBuf::default()
            });
        }
        Self::decode_rows(&f, group, &runs, &cols, parts, until, select)
            .map_err(|e| self.corrupt(e))
    }

    fn decode_rows(
        f: &Footer,
        group: &RowGroup,
        runs: &[(TraceId, usize)],
        cols: &[ColumnBuf],
        parts: SpanParts,
        until: usize,
        select: impl Fn(usize) -> bool,
    ) -> DecodeResult<Vec<(usize, Span)>> {
        let col =
            |c: Column| Decoder::new(cols.get(c as usize).map(|b| &b[..]).unwrap_or_default());
        let span_ids = cols
            .get(Column::SpanId as usize)
            .map(|b| &b[..])
            .unwrap_or_default();
        let n = group.rows as usize;
        if span_ids.len() != n * 8 {
            return Err(DecodeError::new(format!(
                "span id column has {} bytes for {n} rows",
                span_ids.len()
            )));
        }
        let span_id_at = |row: usize| -> SpanId {
            let mut id = [0u8; 8];
            id.copy_from_slice(span_ids.get(row * 8..row * 8 + 8).unwrap_or(&[0; 8]));
            SpanId(id)
        };
        let dict = &f.dict;
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
            .map(|b| &b[..])
            .unwrap_or_default();
        let mut attrs = match parts.attributes {
            true => Some(AttrColumnsDecoder::new(attr_bytes)?),
            false => None,
        };
        let (mut events, mut links, mut extra) =
            (col(Column::Events), col(Column::Links), col(Column::Extra));
        let mut out = Vec::new();
        let mut prev_start = f.min_start_ns;
        let mut row = 0usize;
        'runs: for (trace_id, run_len) in runs {
            let run_start = row;
            for _ in 0..*run_len {
                if row >= until {
                    break 'runs;
                }
                let i = row;
                row += 1;
                let want = select(i);
                let parent_id = match parent.get_varint()? {
                    PARENT_NONE => None,
                    PARENT_LITERAL => Some(SpanId(parent.get_array()?)),
                    code => {
                        let off = (code - PARENT_IN_RUN) as usize;
                        if off >= *run_len {
                            return Err(DecodeError::new(format!(
                                "parent reference {off} outside its trace run"
                            )));
                        }
                        Some(span_id_at(run_start + off))
                    }
                };
                let start_ns = next_start(&mut start, i, prev_start, f.min_start_ns)?;
                prev_start = start_ns;
                let end_ns = start_ns.wrapping_add(dur.get_zigzag()? as u64);
                let name_id = name.get_varint()?;
                let (kind, status_code) = kind_status(ks.get_u8()?)?;
                let msg_id = msg.get_varint()?;
                let res_id = res.get_varint()? as usize;
                let scope_id = scope.get_varint()? as usize;
                if !want {
                    if let Some(attrs) = attrs.as_mut() {
                        attrs.skip_row()?;
                    }
                    if parts.events {
                        for _ in 0..events.get_count()? {
                            events.get_varint()?;
                            events.get_varint()?;
                            skip_attrs(&mut events)?;
                            events.get_varint()?;
                        }
                    }
                    if parts.links {
                        for _ in 0..links.get_count()? {
                            links.get_raw(24)?;
                            links.get_varint()?;
                            links.get_varint()?;
                            skip_attrs(&mut links)?;
                            links.get_varint()?;
                        }
                    }
                    if parts.extra {
                        for _ in 0..5 {
                            extra.get_varint()?;
                        }
                    }
                    continue;
                }
                let resource: Arc<Resource> =
                    f.resources.get(res_id).cloned().ok_or_else(|| {
                        DecodeError::new(format!("resource id {res_id} out of range"))
                    })?;
                let scope: Arc<Scope> =
                    f.scopes.get(scope_id).cloned().ok_or_else(|| {
                        DecodeError::new(format!("scope id {scope_id} out of range"))
                    })?;
                let attributes = match attrs.as_mut() {
                    Some(attrs) => attrs.next_row(dict)?,
                    None => Vec::new(),
                };
                let n_events = if parts.events { events.get_count()? } else { 0 };
                let mut evs = Vec::with_capacity(n_events);
                for _ in 0..n_events {
                    evs.push(Event {
                        time_ns: start_ns.wrapping_add(events.get_zigzag()? as u64),
                        name: dict_str(dict, events.get_varint()?)?.to_owned(),
                        attributes: get_attrs(&mut events, dict)?,
                        dropped_attributes_count: events.get_varint32()?,
                    });
                }
                let n_links = if parts.links { links.get_count()? } else { 0 };
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
                // The column's order: trace state, flags, then the three dropped counts.
                let (
                    trace_state,
                    flags,
                    dropped_attributes_count,
                    dropped_events_count,
                    dropped_links_count,
                ) = if parts.extra {
                    (
                        dict_str(dict, extra.get_varint()?)?.to_owned(),
                        extra.get_varint32()?,
                        extra.get_varint32()?,
                        extra.get_varint32()?,
                        extra.get_varint32()?,
                    )
                } else {
                    (String::new(), 0, 0, 0, 0)
                };
                out.push((
                    i,
                    Span {
                        trace_id: *trace_id,
                        span_id: span_id_at(i),
                        parent_span_id: parent_id,
                        trace_state,
                        flags,
                        name: dict_str(dict, name_id)?.to_owned(),
                        kind,
                        start_ns,
                        end_ns,
                        status_code,
                        status_message: dict_str(dict, msg_id)?.to_owned(),
                        resource,
                        scope,
                        attributes,
                        dropped_attributes_count,
                        events: evs,
                        dropped_events_count,
                        links: lks,
                        dropped_links_count,
                    },
                ));
            }
        }
        Ok(out)
    }
}
