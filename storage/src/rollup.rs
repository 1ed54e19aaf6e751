//! Per-block rollups: count, errors, total duration and a duration sketch per
//! service x operation x minute, so range aggregations need not decode spans.
//!
//! The sketch is a DDSketch (Masson et al., VLDB 2019): logarithmic buckets with
//! `gamma = (1 + a) / (1 - a)`, so any quantile it returns is within relative error
//! `a` = [`SKETCH_RELATIVE_ACCURACY`] of the exact quantile of the same values. Sketches merge by
//! adding bucket counts, exactly, in any order.

use std::collections::BTreeMap;

use crate::codec::buf::{DecodeError, DecodeResult, Decoder, Encoder};

/// The sketch's relative-error bound (1%).
pub const SKETCH_RELATIVE_ACCURACY: f64 = 0.01;

/// Nanoseconds in a rollup bucket.
pub const ROLLUP_BUCKET_NS: u64 = 60_000_000_000;

fn gamma_ln() -> f64 {
    let a = SKETCH_RELATIVE_ACCURACY;
    ((1.0 + a) / (1.0 - a)).ln()
}

/// The bucket of a non-zero value.
fn bucket_of(value: u64) -> i32 {
    ((value as f64).ln() / gamma_ln()).ceil() as i32
}

/// The value a bucket reports: within `a` of every value in `(g^(i-1), g^i]`.
fn bucket_value(index: i32, g: f64) -> f64 {
    2.0 * g.powi(index) / (g + 1.0)
}

/// The q-quantile of a sketch given as its zero count and (bucket index, count) pairs in index
/// order, with the lower-rank convention `rank = floor(q * (n - 1))`. `None` when empty.
fn quantile_of(
    zero_count: u64,
    buckets: impl Iterator<Item = (i32, u64)> + Clone,
    q: f64,
) -> Option<f64> {
    let n = zero_count + buckets.clone().map(|(_, c)| c).sum::<u64>();
    if n == 0 {
        return None;
    }
    let rank = (q.clamp(0.0, 1.0) * (n - 1) as f64).floor() as u64;
    if rank < zero_count {
        return Some(0.0);
    }
    let mut seen = zero_count;
    let g = gamma_ln().exp();
    for (i, c) in buckets {
        seen += c;
        if seen > rank {
            return Some(bucket_value(i, g));
        }
    }
    None
}

/// [`quantile_of`] for a dense run of bucket counts starting at bucket `offset`, with the same
/// answer: one vectorized sum, then a walk from the end nearer the rank. A p99 walks down from
/// the top and touches the few buckets above its rank instead of the whole run (the finish of
/// a RED query's p99 per service and minute was mostly this walk).
fn quantile_of_run<C: Copy + Into<u64>>(
    zero_count: u64,
    offset: i32,
    counts: &[C],
    q: f64,
) -> Option<f64> {
    let n = zero_count + counts.iter().map(|c| (*c).into()).sum::<u64>();
    if n == 0 {
        return None;
    }
    let rank = (q.clamp(0.0, 1.0) * (n - 1) as f64).floor() as u64;
    if rank < zero_count {
        return Some(0.0);
    }
    let g = gamma_ln().exp();
    let at = |k: usize| bucket_value(offset.saturating_add(k as i32), g);
    if rank < n / 2 {
        // The first bucket whose running total (zeros included) passes the rank.
        let mut seen = zero_count;
        for (k, c) in counts.iter().enumerate() {
            seen += (*c).into();
            if seen > rank {
                return Some(at(k));
            }
        }
    } else {
        // The same bucket from the top: the first one, walking down, with at least
        // `n - rank` values at or above it.
        let need = n - rank;
        let mut above = 0u64;
        for (k, c) in counts.iter().enumerate().rev() {
            above += (*c).into();
            if above >= need {
                return Some(at(k));
            }
        }
    }
    None
}

/// One non-empty bucket of a [`Sketch`], packed in 6 bytes (16 as an `(i32, u64)` pair): the
/// bucket of any `u64` value is `0..=2221` at 1% accuracy, so the index fits an `i16`, and a
/// sketch counts the spans of one block, fewer than `u32::MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed(2))]
struct Bucket {
    index: i16,
    count: u32,
}

impl Bucket {
    fn new(index: i32, count: u64) -> Self {
        Bucket {
            // Every bucket `bucket_of` returns fits; decoding rejects any other.
            index: i16::try_from(index).unwrap_or(if index < 0 { i16::MIN } else { i16::MAX }),
            count: saturating_u32(count),
        }
    }
    fn index(self) -> i32 {
        i32::from(self.index)
    }
    fn count(self) -> u64 {
        u64::from(self.count)
    }
    /// Adds `n` (saturating: see the type's comment for why it cannot be reached).
    fn add(&mut self, n: u64) {
        self.count = saturating_u32(self.count() + n);
    }
}

fn saturating_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A mergeable quantile sketch of non-negative values (durations in ns).
///
/// Stored sparse (the non-empty buckets, sorted by index, 6 bytes each): rollup cells hold a
/// few buckets each, and a decoded footer holds a sketch per (service, operation, minute).
/// Counts are per block (below `u32::MAX`). Aggregations that merge many sketches use a
/// [`DenseSketch`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sketch {
    zero_count: u64,
    /// Non-empty buckets, sorted by index.
    buckets: Vec<Bucket>,
}

impl Sketch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, value: u64) {
        self.add_n(value, 1);
    }

    pub fn add_n(&mut self, value: u64, n: u64) {
        if n == 0 {
            return;
        }
        if value == 0 {
            self.zero_count += n;
        } else {
            self.add_bucket(bucket_of(value), n);
        }
    }

    fn add_bucket(&mut self, index: i32, n: u64) {
        match self.buckets.binary_search_by_key(&index, |b| b.index()) {
            Ok(p) => {
                if let Some(b) = self.buckets.get_mut(p) {
                    b.add(n);
                }
            }
            Err(p) => self.buckets.insert(p, Bucket::new(index, n)),
        }
    }

    /// Bytes this sketch holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * size_of::<Bucket>()
    }

    pub fn merge(&mut self, other: &Sketch) {
        self.zero_count += other.zero_count;
        if other.buckets.is_empty() {
            return;
        }
        if self.buckets.is_empty() {
            self.buckets.clone_from(&other.buckets);
            return;
        }
        let mut out = Vec::with_capacity(self.buckets.len() + other.buckets.len());
        let (mut a, mut b) = (
            self.buckets.iter().peekable(),
            other.buckets.iter().peekable(),
        );
        loop {
            match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.index() == y.index() => {
                    let mut sum = **x;
                    sum.add(y.count());
                    out.push(sum);
                    a.next();
                    b.next();
                }
                (Some(x), Some(y)) if x.index() < y.index() => {
                    out.push(**x);
                    a.next();
                }
                (Some(_), Some(y)) => {
                    out.push(**y);
                    b.next();
                }
                (Some(x), None) => {
                    out.push(**x);
                    a.next();
                }
                (None, Some(y)) => {
                    out.push(**y);
                    b.next();
                }
                (None, None) => break,
            }
        }
        self.buckets = out;
    }

    pub fn count(&self) -> u64 {
        self.zero_count + self.buckets.iter().map(|b| b.count()).sum::<u64>()
    }

    /// Values equal to zero.
    pub fn zero_count(&self) -> u64 {
        self.zero_count
    }

    /// The non-empty buckets, (index, count), by index.
    pub fn buckets(&self) -> impl Iterator<Item = (i32, u64)> + Clone + '_ {
        self.buckets.iter().map(|b| (b.index(), b.count()))
    }

    /// The q-quantile (0 <= q <= 1) with the lower-rank convention `rank = floor(q * (n - 1))`,
    /// within [`SKETCH_RELATIVE_ACCURACY`] of the exact value at that rank. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        quantile_of(self.zero_count, self.buckets(), q)
    }

    /// Values at most `value`, counting whole buckets: exact but for values in `value`'s own
    /// bucket (within the sketch's relative accuracy of it), which count as at most.
    pub fn count_at_most(&self, value: u64) -> u64 {
        if value == 0 {
            return self.zero_count;
        }
        let top = bucket_of(value);
        self.zero_count
            + self
                .buckets()
                .take_while(|(i, _)| *i <= top)
                .map(|(_, c)| c)
                .sum::<u64>()
    }

    pub fn encode(&self, enc: &mut Encoder) {
        enc.put_varint(self.zero_count);
        enc.put_varint(self.buckets.len() as u64);
        let mut prev = 0i64;
        for (i, c) in self.buckets() {
            enc.put_zigzag(i64::from(i) - prev);
            enc.put_varint(c);
            prev = i64::from(i);
        }
    }

    /// Checks what [`Sketch::decode`] would read and moves past it, building nothing.
    pub fn skip(dec: &mut Decoder<'_>) -> DecodeResult<()> {
        dec.get_varint()?;
        let n = dec.get_count()?;
        let mut prev = 0i64;
        for _ in 0..n {
            prev = prev
                .checked_add(dec.get_zigzag()?)
                .ok_or_else(|| DecodeError::new("sketch bucket index overflows"))?;
            i16::try_from(prev).map_err(|_| {
                DecodeError::new(format!("sketch bucket index {prev} out of range"))
            })?;
            let count = dec.get_varint()?;
            u32::try_from(count).map_err(|_| {
                DecodeError::new(format!("sketch bucket count {count} out of range"))
            })?;
        }
        Ok(())
    }

    pub fn decode(dec: &mut Decoder<'_>) -> DecodeResult<Self> {
        let zero_count = dec.get_varint()?;
        let n = dec.get_count()?;
        let mut buckets: Vec<Bucket> = Vec::with_capacity(n);
        let mut prev = 0i64;
        for _ in 0..n {
            prev = prev
                .checked_add(dec.get_zigzag()?)
                .ok_or_else(|| DecodeError::new("sketch bucket index overflows"))?;
            // No u64 value has a bucket outside i16 (the writer never wrote one), and no
            // block has u32::MAX spans.
            let index = i16::try_from(prev).map_err(|_| {
                DecodeError::new(format!("sketch bucket index {prev} out of range"))
            })?;
            let count = dec.get_varint()?;
            let count = u32::try_from(count).map_err(|_| {
                DecodeError::new(format!("sketch bucket count {count} out of range"))
            })?;
            let bucket = Bucket { index, count };
            let index = i32::from(index);
            // Written in increasing order; anything else (or an empty bucket) is tolerated
            // the way the map form did: later entries win, empty ones vanish.
            match buckets.last() {
                Some(last) if last.index() < index => buckets.push(bucket),
                None => buckets.push(bucket),
                _ => match buckets.binary_search_by_key(&index, |b| b.index()) {
                    Ok(p) => {
                        if let Some(b) = buckets.get_mut(p) {
                            *b = bucket;
                        }
                    }
                    Err(p) => buckets.insert(p, bucket),
                },
            }
        }
        buckets.retain(|b| b.count() > 0);
        Ok(Sketch {
            zero_count,
            buckets,
        })
    }
}

/// A sketch for accumulating many merges: bucket counts in one dense vector from the lowest
/// bucket seen. Gives the same quantiles as a [`Sketch`] of the same values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DenseSketch {
    zero_count: u64,
    /// Bucket index of `counts[0]`.
    offset: i32,
    counts: Vec<u64>,
}

impl DenseSketch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes room for buckets `lo..=hi`, growing by at least the current width on a side that
    /// must grow (amortized: many merges of narrow sketches do not shift the vector each time).
    fn reserve(&mut self, lo: i32, hi: i32) {
        if self.counts.is_empty() {
            self.offset = lo.saturating_sub(16);
            self.counts = vec![0; (i64::from(hi) - i64::from(self.offset) + 17) as usize];
            return;
        }
        let width = self.counts.len() as i64;
        if lo < self.offset {
            let new_offset = (i64::from(lo)).min(i64::from(self.offset) - width);
            let new_offset = new_offset.max(i64::from(i32::MIN)) as i32;
            let grow = (i64::from(self.offset) - i64::from(new_offset)) as usize;
            let mut counts = vec![0; grow + self.counts.len()];
            if let Some(tail) = counts.get_mut(grow..) {
                tail.copy_from_slice(&self.counts);
            }
            self.counts = counts;
            self.offset = new_offset;
        }
        let need = i64::from(hi) - i64::from(self.offset) + 1;
        if need > self.counts.len() as i64 {
            let len = need.max(2 * self.counts.len() as i64) as usize;
            self.counts.resize(len, 0);
        }
    }

    pub fn add(&mut self, value: u64) {
        if value == 0 {
            self.zero_count += 1;
            return;
        }
        let i = bucket_of(value);
        self.reserve(i, i);
        if let Some(c) = self
            .counts
            .get_mut((i64::from(i) - i64::from(self.offset)) as usize)
        {
            *c += 1;
        }
    }

    pub fn merge_sketch(&mut self, s: &Sketch) {
        self.zero_count += s.zero_count;
        let (Some(first), Some(last)) = (s.buckets.first(), s.buckets.last()) else {
            return;
        };
        self.reserve(first.index(), last.index());
        for (i, c) in s.buckets() {
            if let Some(slot) = self
                .counts
                .get_mut((i64::from(i) - i64::from(self.offset)) as usize)
            {
                *slot += c;
            }
        }
    }

    pub fn merge(&mut self, other: &DenseSketch) {
        self.zero_count += other.zero_count;
        if other.counts.is_empty() {
            return;
        }
        let hi = other.offset + other.counts.len() as i32 - 1;
        self.reserve(other.offset, hi);
        let at = (i64::from(other.offset) - i64::from(self.offset)) as usize;
        for (slot, c) in self.counts.iter_mut().skip(at).zip(&other.counts) {
            *slot += c;
        }
    }

    /// No value at all.
    pub fn is_empty(&self) -> bool {
        self.zero_count == 0 && self.counts.is_empty()
    }

    /// The sketch's state: values equal to zero, the bucket index of `counts[0]`, and the
    /// bucket counts (possibly with zeros at either end). With [`DenseSketch::from_parts`],
    /// what carries a sketch between processes (the query front merges nodes' sketches).
    pub fn parts(&self) -> (u64, i32, &[u64]) {
        (self.zero_count, self.offset, &self.counts)
    }

    /// The sketch whose [`DenseSketch::parts`] these are; `None` when the last bucket's index
    /// does not fit an `i32`.
    pub fn from_parts(zero_count: u64, offset: i32, counts: Vec<u64>) -> Option<DenseSketch> {
        i32::try_from(i64::from(offset) + counts.len() as i64).ok()?;
        Some(DenseSketch {
            zero_count,
            offset,
            counts,
        })
    }

    /// Adds a [`CompactSketch`]: one slice addition.
    pub fn merge_compact(&mut self, s: &CompactSketch) {
        self.zero_count += s.zero_count;
        if s.counts.is_empty() {
            return;
        }
        let hi = s.offset.saturating_add(s.counts.len() as i32 - 1);
        self.reserve(s.offset, hi);
        let at = (i64::from(s.offset) - i64::from(self.offset)) as usize;
        if let Some(slots) = self.counts.get_mut(at..at + s.counts.len()) {
            for (slot, c) in slots.iter_mut().zip(s.counts.iter()) {
                *slot += u64::from(*c);
            }
        }
    }

    /// The same values as a [`CompactSketch`] (counts above `u32::MAX` saturate; a block
    /// holds fewer spans than that).
    pub fn to_compact(&self) -> CompactSketch {
        let first = self.counts.iter().position(|c| *c > 0);
        let last = self.counts.iter().rposition(|c| *c > 0);
        let (Some(first), Some(last)) = (first, last) else {
            return CompactSketch {
                zero_count: self.zero_count,
                ..CompactSketch::default()
            };
        };
        CompactSketch {
            zero_count: self.zero_count,
            offset: self.offset + first as i32,
            counts: self
                .counts
                .get(first..=last)
                .unwrap_or_default()
                .iter()
                .map(|c| u32::try_from(*c).unwrap_or(u32::MAX))
                .collect(),
        }
    }

    pub fn count(&self) -> u64 {
        self.zero_count + self.counts.iter().sum::<u64>()
    }

    /// As [`Sketch::quantile`].
    pub fn quantile(&self, q: f64) -> Option<f64> {
        quantile_of_run(self.zero_count, self.offset, &self.counts, q)
    }
}

/// A sketch frozen for reading: bucket counts as `u32` in one dense run from the lowest
/// non-empty bucket to the highest. A pre-merged per-service cell fills most of its run, so
/// this takes ~4 B per bucket in memory against 6 for [`Sketch`]'s (index, count) pairs, and
/// merging it into a [`DenseSketch`] is one slice addition the compiler vectorizes. The counts
/// are shared: a query that needs one block's sketch as it is clones it for a reference count.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CompactSketch {
    zero_count: u64,
    /// Bucket index of `counts[0]`.
    offset: i32,
    counts: std::sync::Arc<[u32]>,
}

impl CompactSketch {
    pub fn count(&self) -> u64 {
        self.zero_count + self.counts.iter().map(|c| u64::from(*c)).sum::<u64>()
    }

    /// As [`Sketch::quantile`].
    pub fn quantile(&self, q: f64) -> Option<f64> {
        quantile_of_run(self.zero_count, self.offset, &self.counts, q)
    }

    /// Bytes this sketch holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.counts.len() * size_of::<u32>()
    }
}

/// One rollup cell: the spans of one service x operation in one minute.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RollupCell {
    pub count: u64,
    pub errors: u64,
    pub duration_sum_ns: u64,
    pub durations: Sketch,
}

impl RollupCell {
    pub fn add(&mut self, duration_ns: u64, is_error: bool) {
        self.count += 1;
        self.errors += u64::from(is_error);
        self.duration_sum_ns = self.duration_sum_ns.saturating_add(duration_ns);
        self.durations.add(duration_ns);
    }
    pub fn merge(&mut self, other: &RollupCell) {
        self.count += other.count;
        self.errors += other.errors;
        self.duration_sum_ns = self.duration_sum_ns.saturating_add(other.duration_sum_ns);
        self.durations.merge(&other.durations);
    }
}

/// Key of a rollup cell inside one block: dictionary ids of service and span name, and the
/// minute (`start_ns / ROLLUP_BUCKET_NS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RollupKey {
    pub service: u32,
    pub name: u32,
    pub minute: u64,
}

/// All rollup cells of a block.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rollup {
    pub cells: BTreeMap<RollupKey, RollupCell>,
}

impl Rollup {
    pub fn add(&mut self, key: RollupKey, duration_ns: u64, is_error: bool) {
        self.cells
            .entry(key)
            .or_default()
            .add(duration_ns, is_error);
    }

    pub fn encode(&self, enc: &mut Encoder) {
        enc.put_varint(self.cells.len() as u64);
        let base = self.cells.keys().map(|k| k.minute).min().unwrap_or(0);
        enc.put_varint(base);
        for (k, c) in &self.cells {
            enc.put_varint(u64::from(k.service));
            enc.put_varint(u64::from(k.name));
            enc.put_varint(k.minute - base);
            enc.put_varint(c.count);
            enc.put_varint(c.errors);
            enc.put_varint(c.duration_sum_ns);
            c.durations.encode(enc);
        }
    }

    /// Checks what [`Rollup::decode`] would read and moves past it, building nothing: a
    /// loaded footer keeps its rollup's bytes as stored until a query asks for the cells.
    pub fn skip(dec: &mut Decoder<'_>) -> DecodeResult<()> {
        let n = dec.get_count()?;
        dec.get_varint()?;
        for _ in 0..n {
            dec.get_varint32()?;
            dec.get_varint32()?;
            for _ in 0..4 {
                dec.get_varint()?;
            }
            Sketch::skip(dec)?;
        }
        Ok(())
    }

    pub fn decode(dec: &mut Decoder<'_>) -> DecodeResult<Self> {
        let n = dec.get_count()?;
        let base = dec.get_varint()?;
        let mut cells = BTreeMap::new();
        for _ in 0..n {
            let key = RollupKey {
                service: dec.get_varint32()?,
                name: dec.get_varint32()?,
                minute: base.saturating_add(dec.get_varint()?),
            };
            let cell = RollupCell {
                count: dec.get_varint()?,
                errors: dec.get_varint()?,
                duration_sum_ns: dec.get_varint()?,
                durations: Sketch::decode(dec)?,
            };
            cells.insert(key, cell);
        }
        Ok(Rollup { cells })
    }
}

/// One cell of a [`ServiceRollup`]: the spans of one service in one minute, every span
/// name together.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceCell {
    /// Dictionary id of the service name.
    pub service: u32,
    pub minute: u64,
    pub count: u64,
    pub errors: u64,
    pub duration_sum_ns: u64,
    pub durations: CompactSketch,
}

/// A block's rollup pre-merged per (service, minute): what a RED query grouped by service
/// reads, one cell per service and minute instead of one per operation, each sketch already
/// merged. Derived from the [`Rollup`] (not stored: it would cost bytes on disk for what a
/// few hundred microseconds per block rebuild).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceRollup {
    /// Sorted by (service, minute).
    pub cells: Vec<ServiceCell>,
}

impl ServiceRollup {
    pub fn of(rollup: &Rollup) -> Self {
        let mut merged: BTreeMap<(u32, u64), (u64, u64, u64, DenseSketch)> = BTreeMap::new();
        for (k, c) in &rollup.cells {
            let e = merged.entry((k.service, k.minute)).or_default();
            e.0 += c.count;
            e.1 += c.errors;
            e.2 = e.2.saturating_add(c.duration_sum_ns);
            e.3.merge_sketch(&c.durations);
        }
        ServiceRollup {
            cells: merged
                .into_iter()
                .map(
                    |((service, minute), (count, errors, sum, sketch))| ServiceCell {
                        service,
                        minute,
                        count,
                        errors,
                        duration_sum_ns: sum,
                        durations: sketch.to_compact(),
                    },
                )
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exact_quantile(sorted: &[u64], q: f64) -> f64 {
        let rank = (q * (sorted.len() - 1) as f64).floor() as usize;
        sorted[rank] as f64
    }

    proptest! {
        #[test]
        fn skipping_a_rollup_checks_and_moves_past_what_decoding_reads(
            cells in proptest::collection::vec((0u32..5, 0u32..5, 0u64..90, 0u64..10_000_000_000), 0..60),
            garbage in proptest::collection::vec(any::<u8>(), 0..48),
        ) {
            let mut rollup = Rollup::default();
            for (service, name, minute, duration) in cells {
                let key = RollupKey { service, name, minute: 1_700_000_000_000_000_000 + minute * ROLLUP_BUCKET_NS };
                rollup.add(key, duration, duration % 7 == 0);
            }
            let mut enc = Encoder::new();
            rollup.encode(&mut enc);
            enc.buf.extend_from_slice(&garbage);
            let (mut skipped, mut decoded) = (Decoder::new(&enc.buf), Decoder::new(&enc.buf));
            Rollup::skip(&mut skipped).unwrap();
            prop_assert_eq!(Rollup::decode(&mut decoded).unwrap(), rollup);
            prop_assert_eq!(skipped.position(), decoded.position());
            // On any bytes, skipping fails exactly when decoding does, at the same place.
            let (mut skipped, mut decoded) = (Decoder::new(&garbage), Decoder::new(&garbage));
            let (s, d) = (Rollup::skip(&mut skipped), Rollup::decode(&mut decoded));
            prop_assert_eq!(s.is_ok(), d.is_ok());
            if s.is_ok() {
                prop_assert_eq!(skipped.position(), decoded.position());
            }
        }

        #[test]
        fn sketch_quantiles_are_within_the_relative_bound(
            values in proptest::collection::vec(0u64..10_000_000_000_000, 1..400),
            q in 0.0f64..=1.0,
        ) {
            let mut s = Sketch::new();
            for v in &values { s.add(*v); }
            let mut sorted = values.clone();
            sorted.sort_unstable();
            let exact = exact_quantile(&sorted, q);
            let got = s.quantile(q).unwrap();
            prop_assert!((got - exact).abs() <= exact * SKETCH_RELATIVE_ACCURACY + 1e-9,
                "q={q} exact={exact} got={got}");
        }

        #[test]
        fn merged_sketches_equal_one_sketch(a in proptest::collection::vec(any::<u32>(), 0..100),
                                            b in proptest::collection::vec(any::<u32>(), 0..100)) {
            let (mut sa, mut sb, mut all) = (Sketch::new(), Sketch::new(), Sketch::new());
            for v in &a { sa.add(u64::from(*v)); all.add(u64::from(*v)); }
            for v in &b { sb.add(u64::from(*v)); all.add(u64::from(*v)); }
            sa.merge(&sb);
            prop_assert_eq!(&sa, &all);
            let mut dense = DenseSketch::new();
            dense.merge_sketch(&sb);
            let mut da = DenseSketch::new();
            for v in &a { da.add(u64::from(*v)); }
            dense.merge(&da);
            for q in [0.0, 0.1, 0.5, 0.9, 0.99, 1.0] {
                prop_assert_eq!(dense.quantile(q), all.quantile(q));
            }
            prop_assert_eq!(dense.count(), all.count());
        }
    }

    proptest! {
        /// The dense runs' quantile walks from whichever end is nearer the rank; the pairs'
        /// forward walk is the reference. Few distinct values and zeros make ranks land on
        /// bucket edges and inside the zero count.
        #[test]
        fn run_quantiles_walk_to_the_same_bucket_from_either_end(
            values in proptest::collection::vec(
                prop_oneof![Just(0u64), 1u64..50, 1_000u64..1_000_000_000], 1..300),
            qs in proptest::collection::vec(0.0f64..=1.0, 1..8),
        ) {
            let mut reference = Sketch::new();
            let mut dense = DenseSketch::new();
            for v in &values {
                reference.add(*v);
                dense.add(*v);
            }
            let compact = dense.to_compact();
            for q in qs.into_iter().chain([0.0, 0.5, 0.99, 1.0]) {
                let want = reference.quantile(q);
                prop_assert_eq!(dense.quantile(q), want, "dense, q={}", q);
                prop_assert_eq!(compact.quantile(q), want, "compact, q={}", q);
            }
        }
    }

    proptest! {
        #[test]
        fn service_rollup_equals_merging_the_cells(
            spans in proptest::collection::vec((0u32..3, 0u32..4, 0u64..3, 0u64..5_000_000_000, any::<bool>()), 0..300),
        ) {
            let mut r = Rollup::default();
            for (service, name, minute, d, err) in &spans {
                r.add(RollupKey { service: *service, name: *name, minute: *minute }, *d, *err);
            }
            let s = ServiceRollup::of(&r);
            prop_assert!(s.cells.windows(2).all(|w| (w[0].service, w[0].minute) < (w[1].service, w[1].minute)));
            prop_assert_eq!(s.cells.iter().map(|c| c.count).sum::<u64>(), spans.len() as u64);
            for c in &s.cells {
                let mut want = Sketch::new();
                let (mut count, mut errors, mut sum) = (0, 0, 0u64);
                for (service, _, minute, d, err) in &spans {
                    if (*service, *minute) == (c.service, c.minute) {
                        want.add(*d);
                        count += 1;
                        errors += u64::from(*err);
                        sum += d;
                    }
                }
                prop_assert_eq!((c.count, c.errors, c.duration_sum_ns), (count, errors, sum));
                prop_assert_eq!(c.durations.count(), want.count());
                let mut dense = DenseSketch::new();
                dense.merge_compact(&c.durations);
                for q in [0.0, 0.25, 0.5, 0.9, 0.99, 1.0] {
                    prop_assert_eq!(c.durations.quantile(q), want.quantile(q));
                    prop_assert_eq!(dense.quantile(q), want.quantile(q));
                }
            }
        }
    }

    #[test]
    fn rollup_round_trips() {
        let mut r = Rollup::default();
        r.add(
            RollupKey {
                service: 1,
                name: 2,
                minute: 29_000_000,
            },
            1_500_000,
            true,
        );
        r.add(
            RollupKey {
                service: 1,
                name: 2,
                minute: 29_000_000,
            },
            0,
            false,
        );
        r.add(
            RollupKey {
                service: 3,
                name: 4,
                minute: 29_000_007,
            },
            7,
            false,
        );
        let mut enc = Encoder::new();
        r.encode(&mut enc);
        let bytes = enc.finish();
        let back = Rollup::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_eq!(back, r);
    }
}
