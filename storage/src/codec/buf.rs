//! Byte-level encoder/decoder pair: little-endian fixed ints, LEB128 varints, zigzag, strings.
//!
//! The decoder never panics: every read is bounds-checked and returns `DecodeError`, which the
//! block reader turns into `Error::Corruption` naming the file.

/// Why bytes did not decode: what went wrong, and, when a [`Decoder`] read failed, the byte
/// offset in its buffer and what it was reading there. Carries no file name: callers add it
/// with [`DecodeError::in_file`], which makes the `Error::Corruption` a user sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}{}", at(*.offset, *.expected))]
pub struct DecodeError {
    /// Offset in the decoded buffer where the failed read started, when known.
    pub offset: Option<usize>,
    /// What the decoder was reading there ("varint", "string", ...), when known.
    pub expected: Option<&'static str>,
    /// What went wrong, for a person.
    pub detail: String,
}

fn at(offset: Option<usize>, expected: Option<&'static str>) -> String {
    match (offset, expected) {
        (Some(o), Some(e)) => format!(" (reading a {e} at offset {o})"),
        (Some(o), None) => format!(" (at offset {o})"),
        (None, Some(e)) => format!(" (reading a {e})"),
        (None, None) => String::new(),
    }
}

impl DecodeError {
    /// A value that was read but is not valid (an unknown tag, an id out of range).
    pub fn new(detail: impl Into<String>) -> Self {
        DecodeError {
            offset: None,
            expected: None,
            detail: detail.into(),
        }
    }

    /// A read of `expected` at `offset` that failed.
    pub fn at(offset: usize, expected: &'static str, detail: impl Into<String>) -> Self {
        DecodeError {
            offset: Some(offset),
            expected: Some(expected),
            detail: detail.into(),
        }
    }

    /// The same error with `context` before its detail ("footer: ...").
    #[must_use]
    pub fn context(mut self, context: impl std::fmt::Display) -> Self {
        self.detail = format!("{context}: {}", self.detail);
        self
    }

    /// The `Error::Corruption` of this error in `file`.
    pub fn in_file(self, file: impl Into<std::path::PathBuf>) -> crate::Error {
        crate::Error::corruption(file, self.to_string())
    }
}

pub type DecodeResult<T> = Result<T, DecodeError>;

pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Appends encoded values to a growable buffer.
#[derive(Default, Debug, Clone)]
pub struct Encoder {
    pub buf: Vec<u8>,
}

impl Encoder {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn put_u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn put_u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn put_u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn put_f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn put_varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }
    pub fn put_zigzag(&mut self, v: i64) {
        self.put_varint(zigzag(v));
    }
    pub fn put_raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
    /// Length-prefixed bytes.
    pub fn put_bytes(&mut self, bytes: &[u8]) {
        self.put_varint(bytes.len() as u64);
        self.buf.extend_from_slice(bytes);
    }
    pub fn put_str(&mut self, s: &str) {
        self.put_bytes(s.as_bytes());
    }
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads values from a byte slice, bounds-checked.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Decoder { data, pos: 0 }
    }
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }
    pub fn position(&self) -> usize {
        self.pos
    }
    pub fn get_raw(&mut self, n: usize) -> DecodeResult<&'a [u8]> {
        self.take(n, "byte string")
    }
    /// `n` bytes of a `what`, or a truncation error naming it.
    fn take(&mut self, n: usize, what: &'static str) -> DecodeResult<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| {
                DecodeError::at(
                    self.pos,
                    what,
                    format!("truncated: need {n} bytes, have {}", self.remaining()),
                )
            })?;
        let out = self.data.get(self.pos..end).unwrap_or_default();
        self.pos = end;
        Ok(out)
    }
    pub fn get_array<const N: usize>(&mut self) -> DecodeResult<[u8; N]> {
        self.get_fixed("fixed-size field")
    }
    fn get_fixed<const N: usize>(&mut self, what: &'static str) -> DecodeResult<[u8; N]> {
        let raw = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(raw);
        Ok(out)
    }
    pub fn get_u8(&mut self) -> DecodeResult<u8> {
        Ok(self.get_fixed::<1>("byte")?[0])
    }
    pub fn get_u32(&mut self) -> DecodeResult<u32> {
        Ok(u32::from_le_bytes(self.get_fixed("u32")?))
    }
    pub fn get_u64(&mut self) -> DecodeResult<u64> {
        Ok(u64::from_le_bytes(self.get_fixed("u64")?))
    }
    pub fn get_f64(&mut self) -> DecodeResult<f64> {
        Ok(f64::from_le_bytes(self.get_fixed("f64")?))
    }
    #[inline]
    pub fn get_varint(&mut self) -> DecodeResult<u64> {
        let start = self.pos;
        let rest = self.data.get(start..).unwrap_or_default();
        // Most varints in a block (ids, small deltas) are one byte: the hot path of decoding.
        if let Some(&b) = rest.first() {
            if b < 0x80 {
                self.pos = start + 1;
                return Ok(u64::from(b));
            }
        }
        // Multi-byte values (durations, timestamps, large deltas) that end within the next eight
        // bytes: find the last byte and gather its 7-bit groups without a branch per byte, whose
        // data-dependent length the CPU mispredicts (this loop was half of a duration scan).
        if let Some(word) = rest.first_chunk::<8>() {
            let x = u64::from_le_bytes(*word);
            let ends = !x & 0x8080_8080_8080_8080;
            if ends != 0 {
                let len = (ends.trailing_zeros() / 8 + 1) as usize;
                self.pos = start + len;
                return Ok(gather_7bit_groups(x, len));
            }
        }
        self.get_varint_bytewise(start, rest)
    }

    /// The reference decoding, one byte at a time: values of nine or ten bytes, the end of the
    /// buffer, and every error.
    fn get_varint_bytewise(&mut self, start: usize, rest: &[u8]) -> DecodeResult<u64> {
        let mut out = 0u64;
        for (i, &b) in rest.iter().take(10).enumerate() {
            out |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if i == 9 && b > 1 {
                    break;
                }
                self.pos = start + i + 1;
                return Ok(out);
            }
        }
        if rest.len() < 10 && rest.iter().all(|b| b & 0x80 != 0) {
            // As a byte-at-a-time read would report it: at the end, one byte missing.
            return Err(DecodeError::at(
                start + rest.len(),
                "varint",
                "truncated: need 1 bytes, have 0",
            ));
        }
        Err(DecodeError::at(start, "varint", "varint overflows 64 bits"))
    }
    /// Moves past `n` varints without decoding them: a varint ends at each byte below 0x80,
    /// counted eight bytes at a time. Values are not checked (an overlong one is skipped like
    /// any other); a truncated last one is an error.
    pub fn skip_varints(&mut self, mut n: usize) -> DecodeResult<()> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let mut at = 0usize;
        while n >= 8 {
            let Some(word) = rest.get(at..).and_then(|r| r.first_chunk::<8>()) else {
                break;
            };
            let ends = !u64::from_le_bytes(*word) & 0x8080_8080_8080_8080;
            let k = ends.count_ones() as usize;
            if k > n {
                break;
            }
            n -= k;
            at += 8;
        }
        for &b in rest.get(at..).unwrap_or_default() {
            if n == 0 {
                break;
            }
            at += 1;
            if b < 0x80 {
                n -= 1;
            }
        }
        if n > 0 {
            return Err(DecodeError::at(
                self.pos + at,
                "varint",
                format!("truncated: {n} varints missing"),
            ));
        }
        self.pos += at;
        Ok(())
    }
    /// A varint that must fit in u32 (counts, ids).
    pub fn get_varint32(&mut self) -> DecodeResult<u32> {
        let start = self.pos;
        let v = self.get_varint()?;
        u32::try_from(v)
            .map_err(|_| DecodeError::at(start, "32-bit varint", format!("value {v} out of range")))
    }
    /// A count of items that each take at least one byte: bounded by the bytes left, so a
    /// corrupt count cannot make us allocate gigabytes.
    pub fn get_count(&mut self) -> DecodeResult<usize> {
        let start = self.pos;
        let n = self.get_varint()?;
        if n > self.remaining() as u64 {
            return Err(DecodeError::at(
                start,
                "count",
                format!("count {n} exceeds the {} bytes left", self.remaining()),
            ));
        }
        Ok(n as usize)
    }
    #[inline]
    pub fn get_zigzag(&mut self) -> DecodeResult<i64> {
        Ok(unzigzag(self.get_varint()?))
    }
    pub fn get_bytes(&mut self) -> DecodeResult<&'a [u8]> {
        self.get_prefixed("byte string")
    }
    pub fn get_str(&mut self) -> DecodeResult<&'a str> {
        let start = self.pos;
        let b = self.get_prefixed("string")?;
        std::str::from_utf8(b).map_err(|_| DecodeError::at(start, "string", "string is not UTF-8"))
    }
    /// Length-prefixed bytes of a `what`.
    fn get_prefixed(&mut self, what: &'static str) -> DecodeResult<&'a [u8]> {
        let start = self.pos;
        let n = self.get_varint()?;
        let n =
            usize::try_from(n).map_err(|_| DecodeError::at(start, what, "length out of range"))?;
        self.take(n, what)
    }
}

/// The value of a varint whose `len` (1..=8) bytes are the low bytes of `x` (little endian):
/// byte `i` keeps its low 7 bits, moved to bit `7 * i`. Bits of later bytes are masked off.
#[inline]
fn gather_7bit_groups(x: u64, len: usize) -> u64 {
    let x = if len == 8 {
        x
    } else {
        x & ((1u64 << (8 * len)) - 1)
    };
    (x & 0x7f)
        | ((x >> 1) & (0x7f << 7))
        | ((x >> 2) & (0x7f << 14))
        | ((x >> 3) & (0x7f << 21))
        | ((x >> 4) & (0x7f << 28))
        | ((x >> 5) & (0x7f << 35))
        | ((x >> 6) & (0x7f << 42))
        | ((x >> 7) & (0x7f << 49))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipping_varints_lands_where_decoding_them_does() {
        let values: Vec<u64> = (0..200u64)
            .map(|i| match i % 5 {
                0 => i,
                1 => i << 20,
                2 => u64::MAX - i,
                3 => 0x7f,
                _ => 1 << 35,
            })
            .collect();
        let mut e = Encoder::new();
        for v in &values {
            e.put_varint(*v);
        }
        let buf = e.finish();
        for n in [0, 1, 7, 8, 9, 63, 64, 150, 199, 200] {
            let mut skipped = Decoder::new(&buf);
            skipped.skip_varints(n).unwrap();
            let mut read = Decoder::new(&buf);
            for _ in 0..n {
                read.get_varint().unwrap();
            }
            assert_eq!(skipped.position(), read.position(), "after {n} varints");
        }
        let mut d = Decoder::new(&buf);
        assert!(d.skip_varints(201).is_err(), "past the end");
        let mut d = Decoder::new(&[0x80, 0x80]);
        assert!(d.skip_varints(1).is_err(), "truncated");
    }
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varints_round_trip(values in proptest::collection::vec(any::<u64>(), 0..50), signed in any::<i64>()) {
            let mut enc = Encoder::new();
            for v in &values { enc.put_varint(*v); }
            enc.put_zigzag(signed);
            let bytes = enc.finish();
            let mut dec = Decoder::new(&bytes);
            for v in &values { prop_assert_eq!(dec.get_varint().unwrap(), *v); }
            prop_assert_eq!(dec.get_zigzag().unwrap(), signed);
            prop_assert!(dec.is_empty());
        }

        #[test]
        fn word_at_a_time_decoding_equals_the_bytewise_reference(
            bytes in proptest::collection::vec(any::<u8>().prop_map(|b| if b & 1 == 1 { b | 0x80 } else { b }), 0..24),
            at in 0usize..24,
        ) {
            let at = at.min(bytes.len());
            let mut fast = Decoder::new(&bytes);
            fast.pos = at;
            let mut reference = Decoder::new(&bytes);
            let expected = reference.get_varint_bytewise(at, &bytes[at..]);
            let got = fast.get_varint();
            prop_assert_eq!(format!("{got:?}"), format!("{expected:?}"));
            if got.is_ok() {
                prop_assert_eq!(fast.pos, reference.pos);
            }
        }

        #[test]
        fn decoder_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut dec = Decoder::new(&bytes);
            while dec.get_varint().is_ok() && dec.get_str().is_ok() {}
        }
    }

    #[test]
    fn varints_round_trip_at_every_width_and_overflow_is_an_error() {
        let mut values = vec![
            0u64,
            1,
            127,
            128,
            255,
            16_383,
            16_384,
            u64::MAX - 1,
            u64::MAX,
        ];
        values.extend((0..64).map(|b| 1u64 << b));
        values.extend((1..64).map(|b| (1u64 << b) - 1));
        let mut enc = Encoder::new();
        for &v in &values {
            enc.put_varint(v);
        }
        let bytes = enc.finish();
        let mut dec = Decoder::new(&bytes);
        for &v in &values {
            assert_eq!(dec.get_varint().unwrap(), v);
        }
        assert_eq!(dec.remaining(), 0);
        // Ten bytes whose last carries more than the 64th bit.
        let mut too_big = vec![0xffu8; 9];
        too_big.push(0x02);
        assert!(Decoder::new(&too_big).get_varint().is_err());
        // Eleven continuation bytes.
        assert!(Decoder::new(&[0x80; 11]).get_varint().is_err());
        let err = Decoder::new(&[0x80, 0x80]).get_varint().unwrap_err();
        assert_eq!(err.offset, Some(2));
    }

    #[test]
    fn truncation_is_an_error() {
        let mut dec = Decoder::new(&[0x80, 0x80]);
        assert!(dec.get_varint().is_err());
        let mut dec = Decoder::new(&[5, b'a']);
        let err = dec.get_str().unwrap_err();
        assert!(err.detail.contains("truncated"), "{err}");
        assert_eq!((err.offset, err.expected), (Some(1), Some("string")));
    }
}
