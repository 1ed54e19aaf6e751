//! A duration sketch's state as plain data, so that it can leave the process and merge with
//! others exactly: the query front adds up its nodes' sketches bucket by bucket, which is what
//! one node holding every span computes. It is the same DDSketch as everywhere else
//! ([`spandb_storage::rollup::DenseSketch`]), so quantiles from merged states keep its
//! documented bound ([`crate::QUANTILE_RELATIVE_ERROR`]).

use serde::{Deserialize, Serialize};
use spandb_storage::rollup::DenseSketch;

use crate::error::{Error, Result};

/// Highest bucket index a state may name. A sketch bucket covers a factor `(1+a)/(1-a)`
/// (about 1.02), so `u64::MAX` ns lies in bucket ~2,200: anything higher is not a sketch
/// of durations, and the bound keeps a bad state from allocating without limit.
const MAX_BUCKET: i64 = 4096;

/// A sketch: how many values were 0, and the counts of consecutive buckets from `offset`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SketchState {
    pub zero_count: u64,
    /// Bucket index of `counts[0]`.
    pub offset: i32,
    /// Counts of buckets `offset`, `offset + 1`, ...; no zeros at either end.
    pub counts: Vec<u64>,
}

impl SketchState {
    /// The state of `sketch`, trimmed to its non-empty buckets.
    pub fn of(sketch: &DenseSketch) -> SketchState {
        let (zero_count, offset, counts) = sketch.parts();
        let first = counts.iter().position(|c| *c > 0);
        let last = counts.iter().rposition(|c| *c > 0);
        match (first, last) {
            (Some(first), Some(last)) => SketchState {
                zero_count,
                offset: offset + first as i32,
                counts: counts.get(first..=last).unwrap_or_default().to_vec(),
            },
            _ => SketchState {
                zero_count,
                ..SketchState::default()
            },
        }
    }

    /// The sketch again; an error for bucket indices no duration sketch can have.
    pub fn to_dense(&self) -> Result<DenseSketch> {
        let hi = i64::from(self.offset) + self.counts.len() as i64;
        if self.counts.is_empty() {
            return Ok(DenseSketch::from_parts(self.zero_count, 0, Vec::new()).unwrap_or_default());
        }
        if self.offset < 0 || hi > MAX_BUCKET {
            return Err(Error::InvalidInput(format!(
                "sketch buckets {}..{hi} are out of range (0..{MAX_BUCKET})",
                self.offset
            )));
        }
        DenseSketch::from_parts(self.zero_count, self.offset, self.counts.clone())
            .ok_or_else(|| Error::InvalidInput("sketch buckets out of range".into()))
    }

    /// No value at all.
    pub fn is_empty(&self) -> bool {
        self.zero_count == 0 && self.counts.iter().all(|c| *c == 0)
    }

    /// Adds `other`'s values (bucket counts summed: exact, in any order).
    pub fn merge(&mut self, other: &SketchState) -> Result<()> {
        let mut d = self.to_dense()?;
        d.merge(&other.to_dense()?);
        *self = SketchState::of(&d);
        Ok(())
    }

    /// As [`DenseSketch::quantile`]: within [`crate::QUANTILE_RELATIVE_ERROR`] of the exact
    /// value at rank `floor(q·(n−1))`; `None` when empty or invalid.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.to_dense().ok()?.quantile(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_merge_to_the_sketch_of_all_values() {
        let (mut a, mut b, mut all) = (DenseSketch::new(), DenseSketch::new(), DenseSketch::new());
        for v in [0u64, 5, 1_000, 77_777, 3_000_000_000] {
            a.add(v);
            all.add(v);
        }
        for v in [1u64, 42, 1_000_000, 9] {
            b.add(v);
            all.add(v);
        }
        let mut s = SketchState::of(&a);
        let json = serde_json::to_string(&SketchState::of(&b)).unwrap();
        s.merge(&serde_json::from_str(&json).unwrap()).unwrap();
        assert_eq!(s, SketchState::of(&all));
        for q in [0.0, 0.25, 0.5, 0.9, 0.99, 1.0] {
            assert_eq!(s.quantile(q), all.quantile(q));
        }
    }

    #[test]
    fn impossible_buckets_are_an_error() {
        let bad = SketchState {
            zero_count: 0,
            offset: i32::MAX - 1,
            counts: vec![1, 2, 3],
        };
        assert!(bad.to_dense().is_err());
        assert!(SketchState::default().merge(&bad).is_err());
        let negative = SketchState {
            zero_count: 0,
            offset: -3,
            counts: vec![1],
        };
        assert!(negative.to_dense().is_err());
    }
}
