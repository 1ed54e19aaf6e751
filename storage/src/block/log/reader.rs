//! Reads a log block through mmap: opening validates the frame and footer; each column chunk
//! is checksummed when decoded. Index answers (trace, service, severity, attribute values,
//! body n-grams) come from the footer alone.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use roaring::RoaringBitmap;

use super::footer::{LogColumn, LogFooter, LogRowGroup, LOG_BLOCK_FORMAT_VERSION, LOG_BLOCK_MAGIC};
use crate::block::footer::{IndexedValue, HEADER_LEN};
use crate::block::reader::{read_frame, slice_chunk};
use crate::codec::attr_columns::AttrColumnsDecoder;
use crate::codec::buf::{DecodeError, DecodeResult, Decoder};
use crate::codec::chunk::decompress;
use crate::codec::value::{dict_str, get_value};
use crate::error::{Error, Result};
use crate::mmap::MappedFile;
use crate::model::{LogRecord, SpanId, TraceId, Value};

/// An open, validated log block.
pub struct LogBlockReader {
    id: u64,
    path: PathBuf,
    file: MappedFile,
    footer: LogFooter,
    dict_ids: HashMap<String, u32>,
}

impl std::fmt::Debug for LogBlockReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogBlockReader({})", self.path.display())
    }
}

impl LogBlockReader {
    /// Maps and validates `path`.
    pub fn open(path: &Path, id: u64) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mapped = MappedFile::map(&file).map_err(|e| Error::io(path, e))?;
        Self::validate(id, path.to_owned(), mapped)
    }

    /// Validates a log block image held in memory (fuzzing, tests).
    pub fn from_bytes(bytes: Vec<u8>, name: &str) -> Result<Self> {
        Self::validate(0, PathBuf::from(name), MappedFile::from_bytes(bytes))
    }

    fn validate(id: u64, path: PathBuf, file: MappedFile) -> Result<Self> {
        let (_, raw, data_end) = read_frame(
            file.bytes(),
            &path,
            LOG_BLOCK_MAGIC,
            LOG_BLOCK_FORMAT_VERSION..=LOG_BLOCK_FORMAT_VERSION,
        )?;
        let footer = LogFooter::decode(&raw).map_err(|e| e.context("footer").in_file(&path))?;
        for g in &footer.groups {
            for c in &g.columns {
                if c.offset < HEADER_LEN as u64
                    || c.offset.saturating_add(u64::from(c.stored_len)) > data_end
                {
                    return Err(Error::corruption(
                        &path,
                        format!(
                            "column chunk at {}+{} lies outside the data region",
                            c.offset, c.stored_len
                        ),
                    ));
                }
            }
        }
        let dict_ids = footer
            .dict
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32))
            .collect();
        Ok(LogBlockReader {
            id,
            path,
            file,
            footer,
            dict_ids,
        })
    }

    pub fn id(&self) -> u64 {
        self.id
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn footer(&self) -> &LogFooter {
        &self.footer
    }
    pub fn file_len(&self) -> u64 {
        self.file.bytes().len() as u64
    }
    pub fn string(&self, id: u32) -> Result<&str> {
        dict_str(&self.footer.dict, u64::from(id)).map_err(|e| e.in_file(&self.path))
    }
    /// Distinct trace ids of the block, sorted.
    pub fn trace_ids(&self) -> Vec<TraceId> {
        self.footer.traces.iter().map(|(t, _)| *t).collect()
    }

    // ---- index answers (exact) ----

    pub fn all_rows(&self) -> RoaringBitmap {
        let mut b = RoaringBitmap::new();
        b.insert_range(0..self.footer.rows);
        b
    }

    /// Rows of `trace`.
    pub fn rows_of_trace(&self, trace: &TraceId) -> RoaringBitmap {
        self.footer
            .traces
            .binary_search_by(|(t, _)| t.cmp(trace))
            .ok()
            .and_then(|i| self.footer.traces.get(i))
            .map(|(_, r)| r.clone())
            .unwrap_or_default()
    }

    /// Rows whose service name satisfies `pred`.
    pub fn rows_by_service(&self, mut pred: impl FnMut(&str) -> bool) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        for (id, rows) in &self.footer.service_rows {
            if self.string(*id).is_ok_and(&mut pred) {
                out |= rows;
            }
        }
        out
    }

    /// Rows whose severity number satisfies `pred`.
    pub fn rows_by_severity(&self, mut pred: impl FnMut(u8) -> bool) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        for (n, rows) in &self.footer.severity_rows {
            if pred(u8::try_from(*n).unwrap_or(u8::MAX)) {
                out |= rows;
            }
        }
        out
    }

    /// Rows whose attribute `key` has the string `value`, when `key` is indexed in this block
    /// (`None`: not indexed, decode and check).
    pub fn rows_with_attribute(&self, key: &str, value: &Value) -> Option<RoaringBitmap> {
        let Some(key_id) = self.dict_ids.get(key).copied() else {
            // The key is in no record of the block.
            return Some(RoaringBitmap::new());
        };
        if self.footer.unindexed_keys.binary_search(&key_id).is_ok() {
            return None;
        }
        let want = match value {
            Value::Str(s) => match self.dict_ids.get(s.as_str()) {
                Some(id) => IndexedValue::Str(*id),
                None => return Some(RoaringBitmap::new()),
            },
            Value::Int(i) => IndexedValue::Int(*i),
            Value::Bool(b) => IndexedValue::Bool(*b),
            _ => return None,
        };
        Some(
            self.footer
                .attr_rows
                .iter()
                .filter(|a| a.key == key_id && a.value == want)
                .fold(RoaringBitmap::new(), |acc, a| acc | &a.rows),
        )
    }

    /// Rows of the row groups whose body bloom may hold `needle` (case-insensitive).
    pub fn rows_maybe_containing(&self, needle: &str) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        for g in &self.footer.groups {
            if g.bloom.may_contain(needle) {
                out.insert_range(g.first_row..g.first_row + g.rows);
            }
        }
        out
    }

    /// Rows whose timestamp lies in `[from, to)`.
    pub fn rows_in_time(&self, from: u64, to: u64) -> Result<RoaringBitmap> {
        let mut out = RoaringBitmap::new();
        for (gi, g) in self.footer.groups.iter().enumerate() {
            if g.max_time_ns < from || g.min_time_ns >= to {
                continue;
            }
            if g.min_time_ns >= from && g.max_time_ns < to {
                out.insert_range(g.first_row..g.first_row + g.rows);
                continue;
            }
            for (i, t) in self.group_times(gi)?.into_iter().enumerate() {
                if t >= from && t < to {
                    out.insert(g.first_row + i as u32);
                }
            }
        }
        Ok(out)
    }

    // ---- decoding ----

    fn group(&self, g: usize) -> Result<&LogRowGroup> {
        self.footer
            .groups
            .get(g)
            .ok_or_else(|| Error::InvalidInput(format!("log row group {g} does not exist")))
    }

    fn column(&self, group: &LogRowGroup, c: LogColumn) -> Result<Vec<u8>> {
        let chunk = group
            .columns
            .get(c as usize)
            .ok_or_else(|| Error::InvalidInput(format!("no column {}", c.name())))?;
        let bytes = self.file.bytes();
        let stored = slice_chunk(bytes, chunk, bytes.len()).map_err(|e| e.in_file(&self.path))?;
        decompress(stored, chunk).map_err(|e| {
            e.context(format_args!("column {}", c.name()))
                .in_file(&self.path)
        })
    }

    /// Timestamps of group `g`'s rows.
    pub fn group_times(&self, g: usize) -> Result<Vec<u64>> {
        let group = self.group(g)?;
        let raw = self.column(group, LogColumn::Time)?;
        let mut d = Decoder::new(&raw);
        let mut out = Vec::with_capacity(group.rows as usize);
        let mut prev = self.footer.min_time_ns;
        (|| -> DecodeResult<()> {
            for _ in 0..group.rows {
                prev = prev.wrapping_add(d.get_varint()?);
                out.push(prev);
            }
            if !d.is_empty() {
                return Err(DecodeError::new("trailing bytes in the time column"));
            }
            Ok(())
        })()
        .map_err(|e| e.context("column time").in_file(&self.path))?;
        Ok(out)
    }

    /// Decodes every record of group `g`, in row order.
    pub fn decode_group(&self, g: usize) -> Result<Vec<LogRecord>> {
        let group = self.group(g)?;
        let times = self.group_times(g)?;
        let cols: Vec<Vec<u8>> = [
            LogColumn::ObservedTime,
            LogColumn::Severity,
            LogColumn::SeverityText,
            LogColumn::Body,
            LogColumn::Attributes,
            LogColumn::Resource,
            LogColumn::Scope,
            LogColumn::Trace,
            LogColumn::SpanId,
            LogColumn::Extra,
        ]
        .into_iter()
        .map(|c| self.column(group, c))
        .collect::<Result<_>>()?;
        self.rebuild(group, &times, &cols)
            .map_err(|e| e.context(format_args!("row group {g}")).in_file(&self.path))
    }

    fn rebuild(
        &self,
        group: &LogRowGroup,
        times: &[u64],
        cols: &[Vec<u8>],
    ) -> DecodeResult<Vec<LogRecord>> {
        let f = &self.footer;
        let dict = &f.dict;
        let get = |i: usize| -> DecodeResult<Decoder<'_>> {
            cols.get(i)
                .map(|c| Decoder::new(c))
                .ok_or_else(|| DecodeError::new("missing column"))
        };
        let (mut obs, mut sev, mut sevt, mut body) = (get(0)?, get(1)?, get(2)?, get(3)?);
        let mut attrs = AttrColumnsDecoder::new(cols.get(4).map_or(&[][..], |c| c))?;
        let (mut res, mut scope, mut trace, mut sid, mut extra) =
            (get(5)?, get(6)?, get(7)?, get(8)?, get(9)?);
        let mut out = Vec::with_capacity(group.rows as usize);
        for t in times {
            let no_time = obs.get_u8()? != 0;
            let observed = t.wrapping_add(obs.get_zigzag()? as u64);
            let severity_number = sev.get_u8()?;
            if severity_number > 24 {
                return Err(DecodeError::new(format!(
                    "severity number {severity_number} out of range"
                )));
            }
            let severity_text = dict_str(dict, sevt.get_varint()?)?.to_owned();
            let body = get_value(&mut body, dict)?;
            let attributes = attrs.next_row(dict)?;
            let r = res.get_varint()? as usize;
            let resource = f
                .resources
                .get(r)
                .cloned()
                .ok_or_else(|| DecodeError::new(format!("resource {r} out of range")))?;
            let s = scope.get_varint()? as usize;
            let scope_ = f
                .scopes
                .get(s)
                .cloned()
                .ok_or_else(|| DecodeError::new(format!("scope {s} out of range")))?;
            let trace_id = match trace.get_varint()? {
                0 => TraceId::default(),
                k => {
                    f.traces
                        .get((k - 1) as usize)
                        .ok_or_else(|| DecodeError::new(format!("trace {k} out of range")))?
                        .0
                }
            };
            let span_id = match sid.get_u8()? {
                0 => SpanId::default(),
                1 => SpanId(sid.get_array()?),
                t => return Err(DecodeError::new(format!("bad span id tag {t}"))),
            };
            let flags = extra.get_varint32()?;
            let dropped_attributes_count = extra.get_varint32()?;
            let event_name = dict_str(dict, extra.get_varint()?)?.to_owned();
            out.push(LogRecord {
                time_ns: if no_time { 0 } else { *t },
                observed_time_ns: observed,
                severity_number,
                severity_text,
                body,
                attributes,
                dropped_attributes_count,
                flags,
                trace_id,
                span_id,
                event_name,
                resource,
                scope: scope_,
            });
        }
        for d in [&obs, &sev, &sevt, &body, &res, &scope, &trace, &sid, &extra] {
            if !d.is_empty() {
                return Err(DecodeError::new("trailing bytes in a column"));
            }
        }
        if !attrs.is_exhausted() {
            return Err(DecodeError::new("trailing bytes in the attribute column"));
        }
        Ok(out)
    }

    /// The records at `rows` (block row numbers), in row order, each with its row.
    pub fn records_at(&self, rows: &RoaringBitmap) -> Result<Vec<(u32, LogRecord)>> {
        let mut out = Vec::with_capacity(rows.len() as usize);
        for (gi, g) in self.footer.groups.iter().enumerate() {
            let mut range = RoaringBitmap::new();
            range.insert_range(g.first_row..g.first_row + g.rows);
            range &= rows;
            if range.is_empty() {
                continue;
            }
            let records = self.decode_group(gi)?;
            for r in &range {
                if let Some(l) = records.get((r - g.first_row) as usize) {
                    out.push((r, l.clone()));
                }
            }
        }
        Ok(out)
    }

    /// Every record of the block, in row order.
    pub fn all_records(&self) -> Result<Vec<LogRecord>> {
        let mut out = Vec::with_capacity(self.footer.rows as usize);
        for g in 0..self.footer.groups.len() {
            out.extend(self.decode_group(g)?);
        }
        Ok(out)
    }

    /// Decodes every row group (every chunk's checksum and encoding); the record count.
    pub fn verify(&self) -> Result<u64> {
        let mut n = 0u64;
        for g in 0..self.footer.groups.len() {
            n += self.decode_group(g)?.len() as u64;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::log::encode_log_block;
    use crate::block::BlockLayout;
    use crate::model::{KeyValue, Resource, Scope};
    use std::sync::Arc;

    fn sample(n: usize) -> Vec<LogRecord> {
        let res = Arc::new(Resource {
            attributes: vec![KeyValue::new("service.name", Value::Str("pay".into()))],
            ..Resource::default()
        });
        let scope = Arc::new(Scope::default());
        (0..n)
            .map(|i| LogRecord {
                time_ns: if i % 7 == 0 {
                    0
                } else {
                    1_000 + (n - i) as u64 * 10
                },
                observed_time_ns: 5_000 + i as u64,
                severity_number: (i % 24) as u8 + 1,
                severity_text: ["INFO", "WARN"][i % 2].into(),
                body: if i % 5 == 0 {
                    Value::Int(i as i64)
                } else {
                    Value::Str(format!("request {i} took {}ms", i * 3))
                },
                attributes: vec![
                    KeyValue::new("thread", Value::Str(format!("t{}", i % 3))),
                    KeyValue::new("user", Value::Str(format!("u{i}"))),
                ],
                dropped_attributes_count: (i % 2) as u32,
                flags: 1,
                trace_id: if i % 3 == 0 {
                    TraceId::default()
                } else {
                    TraceId([(i % 4) as u8 + 1; 16])
                },
                span_id: if i % 3 == 0 {
                    SpanId::default()
                } else {
                    SpanId([i as u8; 8])
                },
                event_name: if i == 4 { "evt".into() } else { String::new() },
                resource: res.clone(),
                scope: scope.clone(),
            })
            .collect()
    }

    #[test]
    fn block_round_trips_and_indexes_agree_with_records() {
        let logs = sample(3000);
        let layout = BlockLayout {
            rows_per_group: 512,
            ..BlockLayout::default()
        };
        let enc = encode_log_block(logs.iter().collect(), &layout).unwrap();
        let r = LogBlockReader::from_bytes(enc.bytes, "mem").unwrap();
        let back = r.all_records().unwrap();
        assert_eq!(back.len(), logs.len());
        let mut want = logs.clone();
        want.sort_by_key(|l| (l.timestamp_ns(), u128::from_be_bytes(l.trace_id.0)));
        assert_eq!(back, want);
        let t = TraceId([2; 16]);
        let rows = r.rows_of_trace(&t);
        assert_eq!(
            rows.len() as usize,
            logs.iter().filter(|l| l.trace_id == t).count()
        );
        let warn = r.rows_by_severity(|n| n >= 13);
        assert_eq!(
            warn.len() as usize,
            logs.iter().filter(|l| l.severity_number >= 13).count()
        );
        let t1 = r
            .rows_with_attribute("thread", &Value::Str("t1".into()))
            .unwrap();
        assert_eq!(t1.len(), 1000);
        assert!(r
            .rows_with_attribute("user", &Value::Str("u1".into()))
            .is_none());
        assert!(!r.rows_maybe_containing("took").is_empty());
        assert!(r.rows_maybe_containing("zebra-quux").len() < u64::from(r.footer().rows));
        assert_eq!(r.verify().unwrap(), 3000);
    }

    #[test]
    fn damaged_bytes_are_corruption_not_panics() {
        let logs = sample(300);
        let enc = encode_log_block(logs.iter().collect(), &BlockLayout::default()).unwrap();
        for at in (0..enc.bytes.len()).step_by(37) {
            let mut b = enc.bytes.clone();
            b[at] ^= 0x5a;
            if let Ok(r) = LogBlockReader::from_bytes(b, "mem") {
                let _ = r.verify();
            }
        }
        for len in (0..enc.bytes.len()).step_by(53) {
            assert!(LogBlockReader::from_bytes(enc.bytes[..len].to_vec(), "mem").is_err());
        }
    }
}
