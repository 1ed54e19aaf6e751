//! Decoders of single columns of a row group, for filtering without building spans.

use super::{BlockReader, GroupLight, RowSummary};
use crate::block::footer::Column;
use crate::codec::attr_columns::for_each_value_of_key;
use crate::codec::buf::{DecodeError, DecodeResult, Decoder};
use crate::codec::value::{skip_attrs, ScalarRef};
use crate::error::{Error, Result};
use crate::model::{SpanId, SpanKind, StatusCode};

impl BlockReader {
    /// Decodes the cheap columns of group `g` for filtering.
    pub fn group_light(&self, g: usize) -> Result<GroupLight> {
        self.group_light_prefix(g, usize::MAX)
    }

    /// The cheap columns of the first `rows` rows of group `g` (all of them if it has fewer):
    /// a caller that needs a few rows stops decoding at the last one.
    pub fn group_light_prefix(&self, g: usize, rows: usize) -> Result<GroupLight> {
        let f = self.footer()?;
        let group = self.group(&f, g)?;
        let n = (group.rows as usize).min(rows);
        let runs = self.trace_runs(&f, group)?;
        let start_raw = self.column(group, Column::Start)?;
        let dur_raw = self.column(group, Column::Duration)?;
        let name_raw = self.column(group, Column::Name)?;
        let ks_raw = self.column(group, Column::KindStatus)?;
        let res_raw = self.column(group, Column::Resource)?;
        let mut light = GroupLight {
            trace_ids: Vec::with_capacity(n),
            start_ns: Vec::with_capacity(n),
            end_ns: Vec::with_capacity(n),
            name: Vec::with_capacity(n),
            kind: Vec::with_capacity(n),
            status: Vec::with_capacity(n),
            resource: Vec::with_capacity(n),
        };
        for (t, len) in runs {
            light.trace_ids.extend(std::iter::repeat_n(t, len));
        }
        light.trace_ids.truncate(n);
        (|| -> DecodeResult<()> {
            let (mut sd, mut dd, mut nd, mut kd, mut rd) = (
                Decoder::new(&start_raw),
                Decoder::new(&dur_raw),
                Decoder::new(&name_raw),
                Decoder::new(&ks_raw),
                Decoder::new(&res_raw),
            );
            let mut prev = f.min_start_ns;
            for i in 0..n {
                let start = next_start(&mut sd, i, prev, f.min_start_ns)?;
                prev = start;
                light.start_ns.push(start);
                light
                    .end_ns
                    .push(start.wrapping_add(dd.get_zigzag()? as u64));
                light.name.push(dd_id(&mut nd, f.dict.len())?);
                let (kind, status) = kind_status(kd.get_u8()?)?;
                light.kind.push(kind);
                light.status.push(status);
                let r = rd.get_varint32()?;
                if r as usize >= f.resources.len() {
                    return Err(DecodeError::new(format!("resource id {r} out of range")));
                }
                light.resource.push(r);
            }
            Ok(())
        })()
        .map_err(|e| self.corrupt(e))?;
        Ok(light)
    }

    /// The summaries of the in-group rows `rows` (ascending) of group `g`, in that order.
    /// Rows in between are skipped rather than decoded (varints counted a word at a time),
    /// except for span starts, which are deltas from the row before; nothing past the last
    /// row asked for is read. A search showing a few matched spans of each of hundreds of
    /// groups spent most of its time decoding every row of six columns.
    pub fn group_row_summaries(&self, g: usize, rows: &[u32]) -> Result<Vec<RowSummary>> {
        let f = self.footer()?;
        let group = self.group(&f, g)?;
        let n = group.rows as usize;
        if let Some(&last) = rows.last() {
            if last as usize >= n {
                return Err(Error::InvalidInput(format!(
                    "row {last} of a group of {n} rows"
                )));
            }
        }
        let ids_raw = self.column(group, Column::SpanId)?;
        if ids_raw.len() != n * 8 {
            return Err(self.corrupt(DecodeError::new(format!(
                "span id column has {} bytes for {n} rows",
                ids_raw.len()
            ))));
        }
        let ks_raw = self.column(group, Column::KindStatus)?;
        if ks_raw.len() != n {
            return Err(self.corrupt(DecodeError::new(format!(
                "kind_status column has {} bytes for {n} rows",
                ks_raw.len()
            ))));
        }
        let start_raw = self.column(group, Column::Start)?;
        let dur_raw = self.column(group, Column::Duration)?;
        let name_raw = self.column(group, Column::Name)?;
        let res_raw = self.column(group, Column::Resource)?;
        (|| -> DecodeResult<Vec<RowSummary>> {
            let (mut sd, mut dd, mut nd, mut rd) = (
                Decoder::new(&start_raw),
                Decoder::new(&dur_raw),
                Decoder::new(&name_raw),
                Decoder::new(&res_raw),
            );
            let mut out = Vec::with_capacity(rows.len());
            // The next row each decoder is at, and the start of the row before `sd`'s.
            let (mut at_start, mut at) = (0usize, 0usize);
            let mut prev = f.min_start_ns;
            for &row in rows {
                let i = row as usize;
                if i < at {
                    return Err(DecodeError::new("summary rows out of order"));
                }
                while at_start <= i {
                    prev = next_start(&mut sd, at_start, prev, f.min_start_ns)?;
                    at_start += 1;
                }
                let skip = i - at;
                dd.skip_varints(skip)?;
                nd.skip_varints(skip)?;
                rd.skip_varints(skip)?;
                at = i + 1;
                let end_ns = prev.wrapping_add(dd.get_zigzag()? as u64);
                let name = dd_id(&mut nd, f.dict.len())?;
                let (_, status) = kind_status(ks_raw.get(i).copied().unwrap_or(0))?;
                let resource = rd.get_varint32()?;
                if resource as usize >= f.resources.len() {
                    return Err(DecodeError::new(format!(
                        "resource id {resource} out of range"
                    )));
                }
                let mut id = [0u8; 8];
                id.copy_from_slice(ids_raw.get(i * 8..i * 8 + 8).unwrap_or(&[0; 8]));
                out.push(RowSummary {
                    span_id: SpanId(id),
                    start_ns: prev,
                    end_ns,
                    name,
                    status,
                    resource,
                });
            }
            Ok(out)
        })()
        .map_err(|e| self.corrupt(e))
    }

    /// Span starts of group `g`, in row order.
    pub fn group_starts(&self, g: usize) -> Result<Vec<u64>> {
        let f = self.footer()?;
        let group = self.group(&f, g)?;
        let raw = self.column(group, Column::Start)?;
        let base = f.min_start_ns;
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
        let f = self.footer()?;
        let group = self.group(&f, g)?;
        let raw = self.column(group, Column::Duration)?;
        let (min_start, max_start) = (f.min_start_ns, f.max_start_ns);
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
        let f = self.footer()?;
        let limit = match c {
            Column::Name | Column::StatusMessage => f.dict.len(),
            Column::Resource => f.resources.len(),
            Column::Scope => f.scopes.len(),
            other => {
                return Err(Error::InvalidInput(format!(
                    "column {} does not hold ids",
                    other.name()
                )))
            }
        };
        let group = self.group(&f, g)?;
        let raw = self.column(group, c)?;
        (|| -> DecodeResult<Vec<u32>> {
            let mut d = Decoder::new(&raw);
            let mut out = Vec::with_capacity(group.rows as usize);
            for _ in 0..group.rows {
                let id = d.get_varint32()?;
                if id as usize >= limit {
                    return Err(DecodeError::new(format!(
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
        let f = self.footer()?;
        let group = self.group(&f, g)?;
        let raw = self.column(group, Column::KindStatus)?;
        if raw.len() != group.rows as usize {
            return Err(self.corrupt(DecodeError::new(format!(
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
        let f = self.footer()?;
        let group = self.group(&f, g)?;
        let raw = self.column(group, Column::SpanId)?;
        if raw.len() != group.rows as usize * 8 {
            return Err(self.corrupt(DecodeError::new(format!(
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
        visit: impl FnMut(usize, ScalarRef<'_>),
    ) -> Result<()> {
        let f = self.footer()?;
        let group = self.group(&f, g)?;
        let raw = self.column(group, Column::Attributes)?;
        for_each_value_of_key(&raw, key, &f.dict, visit).map_err(|e| self.corrupt(e))
    }
}

impl BlockReader {
    /// Calls `f(in-group row, names)` for each row of group `g`, with the dictionary ids of
    /// its events' names (empty for a span without events). Only the events chunk is
    /// decompressed, and event attributes are skipped, not built.
    pub fn group_event_names(&self, g: usize, mut visit: impl FnMut(usize, &[u32])) -> Result<()> {
        let f = self.footer()?;
        let group = self.group(&f, g)?;
        let raw = self.column(group, Column::Events)?;
        let dict_len = f.dict.len();
        (|| -> DecodeResult<()> {
            let mut d = Decoder::new(&raw);
            let mut names: Vec<u32> = Vec::new();
            for i in 0..group.rows as usize {
                names.clear();
                for _ in 0..d.get_count()? {
                    d.get_zigzag()?;
                    names.push(dd_id(&mut d, dict_len)?);
                    skip_attrs(&mut d)?;
                    d.get_varint()?;
                }
                visit(i, &names);
            }
            if !d.is_empty() {
                return Err(DecodeError::new(
                    "trailing bytes after the events of a group",
                ));
            }
            Ok(())
        })()
        .map_err(|e| self.corrupt(e))
    }
}

pub(super) fn next_start(d: &mut Decoder<'_>, i: usize, prev: u64, base: u64) -> DecodeResult<u64> {
    Ok(if i == 0 {
        base.wrapping_add(d.get_varint()?)
    } else {
        prev.wrapping_add(d.get_zigzag()? as u64)
    })
}

fn dd_id(d: &mut Decoder<'_>, dict_len: usize) -> DecodeResult<u32> {
    let id = d.get_varint32()?;
    if id as usize >= dict_len {
        return Err(DecodeError::new(format!(
            "string id {id} outside a dictionary of {dict_len}"
        )));
    }
    Ok(id)
}

pub(super) fn kind_status(b: u8) -> DecodeResult<(SpanKind, StatusCode)> {
    let kind = SpanKind::from_u8(b & 0x0f)
        .ok_or_else(|| DecodeError::new(format!("bad span kind {}", b & 0x0f)))?;
    let status = StatusCode::from_u8(b >> 4)
        .ok_or_else(|| DecodeError::new(format!("bad status code {}", b >> 4)))?;
    Ok((kind, status))
}
