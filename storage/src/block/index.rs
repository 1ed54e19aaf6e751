//! The block's index API, on its decoded footer ([`LoadedFooter`], from
//! `BlockReader::footer`): which rows the footer's roaring bitmaps allow for a predicate.
//!
//! This is the only place that reads the raw index fields of a [`Footer`]
//! (`service_rows`, `name_rows`, `error_rows`, `attr_rows`, `unindexed_keys`, duration
//! bounds). Every answer says whether it is the exact set of rows where the predicate holds
//! or a superset the caller still has to check row by row; `None` means "no index can
//! narrow this block" (every row stays a candidate).
//!
//! [`Footer`]: super::Footer

use roaring::RoaringBitmap;

use super::footer::IndexedValue;
use super::reader::LoadedFooter;
use crate::model::StatusCode;

/// Rows a footer index gives for a predicate.
#[derive(Clone, Debug, PartialEq)]
pub enum IndexRows {
    /// Exactly the rows where the predicate holds.
    Exact(RoaringBitmap),
    /// A superset of them: the rest must be decided row by row.
    Superset(RoaringBitmap),
}

impl IndexRows {
    /// The rows, exact or not.
    pub fn rows(&self) -> &RoaringBitmap {
        match self {
            IndexRows::Exact(r) | IndexRows::Superset(r) => r,
        }
    }
    pub fn into_rows(self) -> RoaringBitmap {
        match self {
            IndexRows::Exact(r) | IndexRows::Superset(r) => r,
        }
    }
    pub fn is_exact(&self) -> bool {
        matches!(self, IndexRows::Exact(_))
    }
    fn with_exactness(rows: RoaringBitmap, exact: bool) -> IndexRows {
        if exact {
            IndexRows::Exact(rows)
        } else {
            IndexRows::Superset(rows)
        }
    }
    /// Rows where both predicates may hold.
    pub fn and(self, other: IndexRows) -> IndexRows {
        let exact = self.is_exact() && other.is_exact();
        Self::with_exactness(self.into_rows() & other.into_rows(), exact)
    }
    /// Rows where either predicate may hold.
    pub fn or(self, other: IndexRows) -> IndexRows {
        let exact = self.is_exact() && other.is_exact();
        Self::with_exactness(self.into_rows() | other.into_rows(), exact)
    }
}

/// A scalar value of an indexed span attribute, as a predicate sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum IndexedScalar<'a> {
    Str(&'a str),
    Int(i64),
    Bool(bool),
}

/// Which span-attribute values a key's index holds: strings, integers and booleans of
/// keys with few distinct values per block. Doubles, bytes, arrays and maps are never
/// indexed, so a predicate that can hold on those cannot be answered from the index.
impl LoadedFooter {
    /// Every row of the block.
    pub fn all_rows(&self) -> RoaringBitmap {
        let mut b = RoaringBitmap::new();
        b.insert_range(0..self.rows);
        b
    }

    /// Rows whose service name satisfies `pred`. Spans whose resource has no string
    /// `service.name` are filed under `""` together with a literally empty name; the index
    /// cannot tell them apart, so when the block has any, those rows stay in and the answer
    /// is a superset.
    pub fn rows_by_service(&self, mut pred: impl FnMut(&str) -> bool) -> IndexRows {
        let f: &super::Footer = self;
        let mut rows = RoaringBitmap::new();
        let mut exact = true;
        for (id, r) in &f.service_rows {
            let service = f.dict.get(*id as usize).map_or("", String::as_str);
            if service.is_empty() {
                rows |= r;
                exact = false;
            } else if pred(service) {
                rows |= r;
            }
        }
        IndexRows::with_exactness(rows, exact)
    }

    /// Rows whose span name is `name` (exact).
    pub fn rows_with_name(&self, name: &str) -> RoaringBitmap {
        self.string_id(name)
            .and_then(|id| lookup(&self.name_rows, id))
            .cloned()
            .unwrap_or_default()
    }

    /// Rows whose span name satisfies `pred` (exact).
    pub fn rows_by_name(&self, mut pred: impl FnMut(&str) -> bool) -> RoaringBitmap {
        let f: &super::Footer = self;
        let mut rows = RoaringBitmap::new();
        for (id, r) in &f.name_rows {
            if pred(f.dict.get(*id as usize).map_or("", String::as_str)) {
                rows |= r;
            }
        }
        rows
    }

    /// Rows whose status is (`equal`) or is not (`!equal`) `status`. Only errors are
    /// indexed: `ok` and `unset` share the non-error rows, a superset of either.
    pub fn rows_by_status(&self, status: StatusCode, equal: bool) -> IndexRows {
        let errors = &self.error_rows;
        match (status, equal) {
            (StatusCode::Error, true) => IndexRows::Exact(errors.clone()),
            (StatusCode::Error, false) => IndexRows::Exact(self.all_rows() - errors),
            (_, true) => IndexRows::Superset(self.all_rows() - errors),
            (_, false) => IndexRows::Superset(self.all_rows()),
        }
    }

    /// Rows with an error status (exact).
    pub fn error_rows(&self) -> &RoaringBitmap {
        &self.error_rows
    }

    /// What the duration zone maps decide for a predicate on a span duration. `pred_at(lo,
    /// hi)` returns (some may hold, all hold) for durations in `[lo, hi]`. The block's bounds
    /// answer first (no row, every row); then each row group's bounds drop or keep whole
    /// groups, and each trace's longest span drops the traces whose spans are all too short
    /// for it. The answer is exact when every group left holds for all its rows, a superset
    /// otherwise (the rows left must be checked on the duration column); `None` when nothing
    /// narrows the block.
    pub fn rows_by_duration_bounds(
        &self,
        pred_at: impl Fn(u64, u64) -> (bool, bool),
    ) -> Option<IndexRows> {
        let f: &super::Footer = self;
        match pred_at(f.min_duration_ns, f.max_duration_ns) {
            (false, _) => return Some(IndexRows::Exact(RoaringBitmap::new())),
            (true, true) => return Some(IndexRows::Exact(self.all_rows())),
            (true, false) => {}
        }
        let mut rows = RoaringBitmap::new();
        let mut exact = true;
        let mut narrowed = false;
        let mut t = 0usize;
        for g in &f.groups {
            let (lo, hi) = (g.first_row, g.first_row + g.rows);
            match pred_at(g.min_duration_ns, g.max_duration_ns) {
                (false, _) => narrowed = true,
                (true, true) => {
                    rows.insert_range(lo..hi);
                }
                (true, false) => {
                    exact = false;
                    // Traces overlapping the group, in row order; a trace may straddle groups.
                    while t < f.traces.len()
                        && f.trace_first_row.get(t + 1).is_some_and(|&n| n <= lo)
                    {
                        t += 1;
                    }
                    let mut u = t;
                    while let (Some(e), Some(&first)) = (f.traces.get(u), f.trace_first_row.get(u))
                    {
                        if first >= hi {
                            break;
                        }
                        // Span durations of this trace lie in [0, its longest].
                        if pred_at(0, e.max_span_duration_ns).0 {
                            rows.insert_range(first.max(lo)..(first + e.rows).min(hi));
                        } else {
                            narrowed = true;
                        }
                        u += 1;
                    }
                }
            }
        }
        if exact {
            Some(IndexRows::Exact(rows))
        } else if narrowed {
            Some(IndexRows::Superset(rows))
        } else {
            None
        }
    }

    /// Whether span attribute `key` has a value index in this block. A key absent from the
    /// block is indexed trivially (no row has it).
    pub fn is_attribute_indexed(&self, key: &str) -> bool {
        match self.string_id(key) {
            None => true,
            Some(id) => self.unindexed_keys.binary_search(&id).is_err(),
        }
    }

    /// Rows whose span attribute `key` equals `value` (exact), or `None` when the key has
    /// no index in this block.
    pub fn rows_with_attribute(
        &self,
        key: &str,
        value: IndexedScalar<'_>,
    ) -> Option<RoaringBitmap> {
        if !self.is_attribute_indexed(key) {
            return None;
        }
        let Some(key_id) = self.string_id(key) else {
            return Some(RoaringBitmap::new());
        };
        let value = match value {
            IndexedScalar::Str(s) => match self.string_id(s) {
                Some(id) => IndexedValue::Str(id),
                // Values of indexed keys are in the dictionary: nobody has this one.
                None => return Some(RoaringBitmap::new()),
            },
            IndexedScalar::Int(i) => IndexedValue::Int(i),
            IndexedScalar::Bool(b) => IndexedValue::Bool(b),
        };
        let attrs = &self.attr_rows;
        let rows = attrs
            .binary_search_by(|a| (a.key, &a.value).cmp(&(key_id, &value)))
            .ok()
            .and_then(|p| attrs.get(p))
            .map(|a| a.rows.clone());
        Some(rows.unwrap_or_default())
    }

    /// Rows whose span attribute `key` has an indexed (string, integer or boolean) value
    /// satisfying `pred`: a range, a regex, an inequality. `None` when the key has no index
    /// in this block. Exact for predicates that cannot hold on doubles or other unindexed
    /// value types.
    pub fn rows_by_attribute(
        &self,
        key: &str,
        mut pred: impl FnMut(IndexedScalar<'_>) -> bool,
    ) -> Option<RoaringBitmap> {
        if !self.is_attribute_indexed(key) {
            return None;
        }
        let Some(key_id) = self.string_id(key) else {
            return Some(RoaringBitmap::new());
        };
        let f: &super::Footer = self;
        let lo = f.attr_rows.partition_point(|a| a.key < key_id);
        let hi = f.attr_rows.partition_point(|a| a.key <= key_id);
        let mut rows = RoaringBitmap::new();
        for a in f.attr_rows.get(lo..hi).unwrap_or_default() {
            let value = match &a.value {
                IndexedValue::Str(id) => {
                    IndexedScalar::Str(f.dict.get(*id as usize).map_or("", String::as_str))
                }
                IndexedValue::Int(i) => IndexedScalar::Int(*i),
                IndexedValue::Bool(b) => IndexedScalar::Bool(*b),
            };
            if pred(value) {
                rows |= &a.rows;
            }
        }
        Some(rows)
    }
}

fn lookup(list: &[(u32, RoaringBitmap)], id: u32) -> Option<&RoaringBitmap> {
    list.binary_search_by_key(&id, |(i, _)| *i)
        .ok()
        .and_then(|p| list.get(p))
        .map(|(_, b)| b)
}
