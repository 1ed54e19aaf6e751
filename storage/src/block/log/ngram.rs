//! The body text index of a log row group: a bloom filter over the lowercased byte trigrams
//! of every string in the bodies. A substring search whose needle has 3 or more bytes skips
//! every row group whose bloom lacks one of the needle's trigrams; the bodies of the other
//! groups are decoded and checked exactly, so a false positive costs time, never a wrong
//! answer.
//!
//! Trigrams rather than words: a bloom of whole words cannot answer a substring (`timeo` in
//! `timeouts`) without false negatives, and a word query is a substring query. Sizes are in
//! docs/ARCHITECTURE.md ("Log blocks").

use crate::codec::buf::{DecodeError, DecodeResult, Decoder, Encoder};

/// Bits per distinct trigram (about 2% false positives with 4 probes).
const BITS_PER_KEY: usize = 8;
/// Probes per key.
const PROBES: u32 = 4;
/// A bloom never has more words than this (512 KiB), whatever a corrupt file says.
const MAX_WORDS: usize = 1 << 16;

/// A bloom filter over trigram hashes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NgramBloom {
    words: Vec<u64>,
}

fn trigram_hash(t: &[u8]) -> u64 {
    let mut v = 0u64;
    for b in t {
        v = v << 8 | u64::from(b.to_ascii_lowercase());
    }
    // splitmix64 finalizer
    let mut z = v.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Distinct trigram hashes of `texts` (lowercased ASCII; other bytes as they are).
pub fn trigram_hashes<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    for t in texts {
        out.extend(t.as_bytes().windows(3).map(trigram_hash));
    }
    out.sort_unstable();
    out.dedup();
    out
}

impl NgramBloom {
    /// A bloom holding `hashes`.
    pub fn build(hashes: &[u64]) -> Self {
        let bits = (hashes.len() * BITS_PER_KEY).clamp(64, MAX_WORDS * 64);
        let mut b = NgramBloom {
            words: vec![0; bits.div_ceil(64)],
        };
        for h in hashes {
            b.probe(*h, |w, bit| *w |= bit);
        }
        b
    }

    fn probe(&mut self, h: u64, mut f: impl FnMut(&mut u64, u64)) {
        let n = (self.words.len() * 64) as u64;
        if n == 0 {
            return;
        }
        let (h1, h2) = (h, h.rotate_left(32) | 1);
        for i in 0..u64::from(PROBES) {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) % n;
            if let Some(w) = self.words.get_mut((bit / 64) as usize) {
                f(w, 1 << (bit % 64));
            }
        }
    }

    fn may_hold(&self, h: u64) -> bool {
        let n = (self.words.len() * 64) as u64;
        if n == 0 {
            return true;
        }
        let (h1, h2) = (h, h.rotate_left(32) | 1);
        (0..u64::from(PROBES)).all(|i| {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) % n;
            self.words
                .get((bit / 64) as usize)
                .is_some_and(|w| w & (1 << (bit % 64)) != 0)
        })
    }

    /// False when no body of the group can contain `needle` (case-insensitively); true when
    /// one may (always for needles shorter than 3 bytes).
    pub fn may_contain(&self, needle: &str) -> bool {
        needle
            .as_bytes()
            .windows(3)
            .all(|t| self.may_hold(trigram_hash(t)))
    }

    pub fn byte_len(&self) -> usize {
        self.words.len() * 8
    }

    pub fn encode(&self, enc: &mut Encoder) {
        enc.put_varint(self.words.len() as u64);
        for w in &self.words {
            enc.put_u64(*w);
        }
    }

    pub fn decode(d: &mut Decoder<'_>) -> DecodeResult<Self> {
        let n = d.get_count()?;
        if n > MAX_WORDS {
            return Err(DecodeError::new(format!("n-gram bloom of {n} words")));
        }
        let mut words = Vec::with_capacity(n);
        for _ in 0..n {
            words.push(d.get_u64()?);
        }
        Ok(NgramBloom { words })
    }
}

/// What a bloom of whole words (alphanumeric runs) would take for the same texts, at the same
/// bits per key: the alternative measured against trigrams (docs/ARCHITECTURE.md).
pub fn token_bloom_bytes<'a>(texts: impl IntoIterator<Item = &'a str>) -> usize {
    let mut tokens: Vec<String> = Vec::new();
    for t in texts {
        tokens.extend(
            t.split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase),
        );
    }
    tokens.sort_unstable();
    tokens.dedup();
    (tokens.len() * BITS_PER_KEY)
        .clamp(64, MAX_WORDS * 64)
        .div_ceil(64)
        * 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_what_was_added_and_rejects_most_else() {
        let texts = [
            "Payment declined for user u42",
            "Timeout calling inventory after 3s",
        ];
        let b = NgramBloom::build(&trigram_hashes(texts));
        for needle in ["declined", "TIMEOUT", "u42", "ory aft", "ab"] {
            assert!(b.may_contain(needle), "{needle}");
        }
        let misses = ["zebra", "quux", "xylophone", "kafka", "qqq"]
            .iter()
            .filter(|n| !b.may_contain(n))
            .count();
        assert!(misses >= 4, "{misses}");
        let mut e = Encoder::new();
        b.encode(&mut e);
        let bytes = e.finish();
        assert_eq!(NgramBloom::decode(&mut Decoder::new(&bytes)).unwrap(), b);
    }
}
