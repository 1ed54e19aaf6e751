//! The span-attribute column of a row group, stored column-wise per key.
//!
//! Row-wise (key, value, key, value, ...) streams interleave high-entropy values (URL paths,
//! IP addresses, SQL literals) with everything else and zstd compresses them poorly; grouping
//! each key's values together let zstd see like with like (measured in docs/ARCHITECTURE.md).
//! A row keeps its exact key order through its *shape*: the sequence of key ids it carries.
//!
//! ```text
//! chunk   := shapes, varint ids_len, ids_len bytes (one varint shape id per row),
//!            varint n_streams, n_streams × (varint key id, varint byte_len), streams
//! shapes  := varint n, n × (varint k, k × varint key id)
//! streams := the values of each key in row order (value encoding), in directory order
//! ```

use rustc_hash::FxHashMap;

use super::buf::{DecodeError, DecodeResult, Decoder, Encoder};
use super::value::{
    dict_str, get_scalar_ref, get_value, put_value, skip_value, ScalarRef, StringPolicy,
};
use crate::model::KeyValue;

/// Builds the attribute chunk of one row group.
#[derive(Default)]
pub struct AttrColumnsEncoder {
    shape_ids: FxHashMap<Vec<u32>, u32>,
    shapes: Vec<Vec<u32>>,
    rows: Encoder,
    stream_of_key: FxHashMap<u32, usize>,
    streams: Vec<(u32, Encoder)>,
    scratch: Vec<u32>,
}

impl AttrColumnsEncoder {
    pub fn put_row(&mut self, attrs: &[KeyValue], strings: &mut impl StringPolicy) {
        self.scratch.clear();
        for kv in attrs {
            let key = strings.intern(&kv.key);
            self.scratch.push(key);
            let next = self.streams.len();
            let i = *self.stream_of_key.entry(key).or_insert(next);
            if i == next {
                self.streams.push((key, Encoder::new()));
            }
            if let Some((_, enc)) = self.streams.get_mut(i) {
                put_value(enc, &kv.key, &kv.value, strings);
            }
        }
        let id = match self.shape_ids.get(&self.scratch) {
            Some(id) => *id,
            None => {
                let id = self.shapes.len() as u32;
                self.shapes.push(self.scratch.clone());
                self.shape_ids.insert(self.scratch.clone(), id);
                id
            }
        };
        self.rows.put_varint(u64::from(id));
    }

    pub fn finish(self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.put_varint(self.shapes.len() as u64);
        for shape in &self.shapes {
            e.put_varint(shape.len() as u64);
            for k in shape {
                e.put_varint(u64::from(*k));
            }
        }
        e.put_bytes(&self.rows.buf);
        e.put_varint(self.streams.len() as u64);
        for (key, s) in &self.streams {
            e.put_varint(u64::from(*key));
            e.put_varint(s.len() as u64);
        }
        for (_, s) in &self.streams {
            e.put_raw(&s.buf);
        }
        e.finish()
    }
}

/// Reads one key's values from an attribute chunk without touching the other keys' streams:
/// calls `f(row, value)` for each row (in order) that has attribute `key` (a dictionary id),
/// with the row's first value for it, as an attribute lookup by key sees it.
pub fn for_each_value_of_key<'a>(
    bytes: &'a [u8],
    key: u32,
    dict: &'a [String],
    mut f: impl FnMut(usize, ScalarRef<'a>),
) -> DecodeResult<()> {
    let mut d = Decoder::new(bytes);
    // Occurrences of `key` per shape.
    let mut occurrences: Vec<u32> = Vec::new();
    for _ in 0..d.get_count()? {
        let k = d.get_count()?;
        let mut n = 0u32;
        for _ in 0..k {
            n += u32::from(d.get_varint32()? == key);
        }
        occurrences.push(n);
    }
    let mut rows = Decoder::new(d.get_bytes()?);
    let n = d.get_count()?;
    let mut dir = Vec::with_capacity(n);
    for _ in 0..n {
        dir.push((d.get_varint32()?, d.get_varint()?));
    }
    let mut stream: Option<Decoder<'a>> = None;
    for (k, len) in dir {
        let len =
            usize::try_from(len).map_err(|_| DecodeError::new("stream length out of range"))?;
        let raw = d.get_raw(len)?;
        if k == key && stream.is_none() {
            stream = Some(Decoder::new(raw));
        }
    }
    if !d.is_empty() {
        return Err(DecodeError::new(format!(
            "{} trailing bytes in the attribute chunk",
            d.remaining()
        )));
    }
    let Some(mut stream) = stream else {
        return if occurrences.iter().any(|n| *n > 0) {
            Err(DecodeError::new(format!(
                "attribute key {key} has no stream"
            )))
        } else {
            Ok(())
        };
    };
    let mut row = 0usize;
    while !rows.is_empty() {
        let id = rows.get_varint()? as usize;
        let n = *occurrences
            .get(id)
            .ok_or_else(|| DecodeError::new(format!("attribute shape {id} out of range")))?;
        if n > 0 {
            f(row, get_scalar_ref(&mut stream, dict)?);
            for _ in 1..n {
                skip_value(&mut stream)?;
            }
        }
        row += 1;
    }
    Ok(())
}

/// Reads rows back from an attribute chunk, in row order.
pub struct AttrColumnsDecoder<'a> {
    shapes: Vec<Vec<usize>>,
    shape_keys: Vec<Vec<u32>>,
    rows: Decoder<'a>,
    streams: Vec<Decoder<'a>>,
}

impl<'a> AttrColumnsDecoder<'a> {
    pub fn new(bytes: &'a [u8]) -> DecodeResult<Self> {
        let mut d = Decoder::new(bytes);
        let mut shape_keys = Vec::new();
        for _ in 0..d.get_count()? {
            let k = d.get_count()?;
            let mut keys = Vec::with_capacity(k);
            for _ in 0..k {
                keys.push(d.get_varint32()?);
            }
            shape_keys.push(keys);
        }
        let rows = Decoder::new(d.get_bytes()?);
        let n = d.get_count()?;
        let mut dir = Vec::with_capacity(n);
        for _ in 0..n {
            dir.push((d.get_varint32()?, d.get_varint()?));
        }
        let mut stream_of_key = FxHashMap::default();
        let mut streams = Vec::with_capacity(n);
        for (i, (key, len)) in dir.into_iter().enumerate() {
            let len =
                usize::try_from(len).map_err(|_| DecodeError::new("stream length out of range"))?;
            streams.push(Decoder::new(d.get_raw(len)?));
            if stream_of_key.insert(key, i).is_some() {
                return Err(DecodeError::new(format!(
                    "attribute key {key} has two streams"
                )));
            }
        }
        if !d.is_empty() {
            return Err(DecodeError::new(format!(
                "{} trailing bytes in the attribute chunk",
                d.remaining()
            )));
        }
        let shapes = shape_keys
            .iter()
            .map(|keys| {
                keys.iter()
                    .map(|k| {
                        stream_of_key.get(k).copied().ok_or_else(|| {
                            DecodeError::new(format!("attribute key {k} has no stream"))
                        })
                    })
                    .collect::<DecodeResult<Vec<_>>>()
            })
            .collect::<DecodeResult<Vec<_>>>()?;
        Ok(AttrColumnsDecoder {
            shapes,
            shape_keys,
            rows,
            streams,
        })
    }

    fn next_shape(&mut self) -> DecodeResult<usize> {
        let id = self.rows.get_varint()? as usize;
        if id >= self.shapes.len() {
            return Err(DecodeError::new(format!(
                "attribute shape {id} out of range"
            )));
        }
        Ok(id)
    }

    pub fn next_row(&mut self, dict: &[String]) -> DecodeResult<Vec<KeyValue>> {
        let id = self.next_shape()?;
        let (Some(shape), Some(keys)) = (self.shapes.get(id), self.shape_keys.get(id)) else {
            return Err(DecodeError::new(format!(
                "attribute shape {id} out of range"
            )));
        };
        let mut out = Vec::with_capacity(shape.len());
        for (stream, key) in shape.iter().zip(keys) {
            let dec = self
                .streams
                .get_mut(*stream)
                .ok_or_else(|| DecodeError::new("attribute stream out of range"))?;
            out.push(KeyValue {
                key: dict_str(dict, u64::from(*key))?.to_owned(),
                value: get_value(dec, dict)?,
            });
        }
        Ok(out)
    }

    pub fn skip_row(&mut self) -> DecodeResult<()> {
        let id = self.next_shape()?;
        let shape = self.shapes.get(id).cloned().unwrap_or_default();
        for stream in shape {
            let dec = self
                .streams
                .get_mut(stream)
                .ok_or_else(|| DecodeError::new("attribute stream out of range"))?;
            skip_value(dec)?;
        }
        Ok(())
    }

    /// True when every row and value was consumed.
    pub fn is_exhausted(&self) -> bool {
        self.rows.is_empty() && self.streams.iter().all(Decoder::is_empty)
    }
}
