//! Per-block planning: which blocks and rows can match. Every predicate the footer can answer
//! becomes a roaring bitmap (the service through the per-service rows, span names through the
//! name dictionary, `status = error`, indexed span-attribute
//! equality), duration predicates are checked against the block's min/max, and the bitmaps are
//! intersected (`&&`) or unioned (`||`). Bitmaps that are exact answers are kept per comparison
//! so the executor does not re-evaluate them row by row.

use roaring::RoaringBitmap;
use spandb_storage::block::IndexedValue;
use spandb_storage::{BlockReader, StatusCode};

use crate::ast::{Field, Literal, Op};
use crate::eval::{compare, Leaf, Matcher, Operand};

/// A span-start window: `start_ns <= span.start < end_ns`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    pub start_ns: u64,
    pub end_ns: u64,
}

impl TimeRange {
    /// Every span.
    pub const ALL: TimeRange = TimeRange {
        start_ns: 0,
        end_ns: u64::MAX,
    };
    pub fn new(start_ns: u64, end_ns: u64) -> Self {
        TimeRange { start_ns, end_ns }
    }
    pub fn contains(&self, t: u64) -> bool {
        t >= self.start_ns && t < self.end_ns
    }
    /// True when a block whose spans start in `[min, max]` can hold spans in the window.
    pub fn overlaps(&self, min_start: u64, max_start: u64) -> bool {
        max_start >= self.start_ns && min_start < self.end_ns
    }
}

/// What the footer says about one condition in one block.
pub(crate) struct BlockPlan {
    /// Rows that may match; `None` when no index narrows the block.
    pub rows: Option<RoaringBitmap>,
    /// Per comparison id: the exact set of rows where it holds, when the footer gives it.
    pub exact: Vec<Option<RoaringBitmap>>,
}

impl BlockPlan {
    pub(crate) fn new(m: &Matcher, block: &BlockReader) -> BlockPlan {
        let mut exact = vec![None; m.leaf_count()];
        let all = spandb_storage::all_rows(block);
        let rows = candidates(m, block, &all, &mut exact);
        BlockPlan { rows, exact }
    }
    /// No row can match.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.as_ref().is_some_and(RoaringBitmap::is_empty)
    }
}

fn candidates(
    m: &Matcher,
    block: &BlockReader,
    all: &RoaringBitmap,
    exact: &mut Vec<Option<RoaringBitmap>>,
) -> Option<RoaringBitmap> {
    match m {
        Matcher::True => None,
        Matcher::And(a, b) => match (
            candidates(a, block, all, exact),
            candidates(b, block, all, exact),
        ) {
            (Some(x), Some(y)) => Some(x & y),
            (x, None) => x,
            (None, y) => y,
        },
        Matcher::Or(a, b) => match (
            candidates(a, block, all, exact),
            candidates(b, block, all, exact),
        ) {
            (Some(x), Some(y)) => Some(x | y),
            _ => None,
        },
        Matcher::Cmp(leaf) => {
            let rows = leaf_rows(leaf, block, all);
            if let Some((rows, true)) = &rows {
                if let Some(slot) = exact.get_mut(leaf.id) {
                    *slot = Some(rows.clone());
                }
            }
            rows.map(|(r, _)| r)
        }
    }
}

/// Rows where `leaf` may hold, and whether that set is exact.
fn leaf_rows(
    leaf: &Leaf,
    block: &BlockReader,
    all: &RoaringBitmap,
) -> Option<(RoaringBitmap, bool)> {
    let f = block.footer();
    match &leaf.field {
        Field::Name => {
            let mut rows = RoaringBitmap::new();
            if leaf.op == Op::Eq {
                if let Literal::Str(s) = &leaf.lit {
                    if let Some(id) = block.string_id(s) {
                        if let Ok(p) = f.name_rows.binary_search_by_key(&id, |(i, _)| *i) {
                            rows |= &f.name_rows.get(p)?.1;
                        }
                    }
                    return Some((rows, true));
                }
            }
            for (id, r) in &f.name_rows {
                let name = f.dict.get(*id as usize).map(String::as_str).unwrap_or("");
                if compare(leaf, Operand::Str(name)) {
                    rows |= r;
                }
            }
            Some((rows, true))
        }
        Field::Resource(key) => resource_rows(leaf, block, key),
        Field::Status => match (&leaf.op, &leaf.lit) {
            (Op::Eq, Literal::Status(StatusCode::Error)) => Some((f.error_rows.clone(), true)),
            (Op::Ne, Literal::Status(StatusCode::Error)) => Some((all - &f.error_rows, true)),
            (Op::Eq, Literal::Status(_)) => Some((all - &f.error_rows, false)),
            _ => None,
        },
        Field::Duration => {
            let (lo, hi) = (f.min_duration_ns, f.max_duration_ns);
            let possible = match (leaf.op, &leaf.lit) {
                (Op::Gt, Literal::Duration(d)) => hi > *d,
                (Op::Ge, Literal::Duration(d)) => hi >= *d,
                (Op::Lt, Literal::Duration(d)) => lo < *d,
                (Op::Le, Literal::Duration(d)) => lo <= *d,
                (Op::Eq, Literal::Duration(d)) => lo <= *d && *d <= hi,
                _ => true,
            };
            (!possible).then(|| (RoaringBitmap::new(), true))
        }
        Field::Span(key) => span_attr_rows(leaf, block, key),
        Field::Unscoped(key) => {
            let (span, span_exact) = span_attr_rows(leaf, block, key)?;
            let (res, res_exact) = resource_rows(leaf, block, key)?;
            Some((span | res, span_exact && res_exact))
        }
        Field::Kind
        | Field::StatusMessage
        | Field::TraceRootService
        | Field::TraceRootName
        | Field::TraceDuration => None,
    }
}

/// Rows whose resource may satisfy `leaf` on attribute `key`. Only `service.name` has an index
/// (the footer's rows per service); other resource attributes are decided per row from the
/// block's resource table, which is cheap. The service index files spans whose resource has no
/// string `service.name` under `""`, so those rows stay candidates and the answer is exact only
/// when the block has none.
fn resource_rows(leaf: &Leaf, block: &BlockReader, key: &str) -> Option<(RoaringBitmap, bool)> {
    if key != "service.name" {
        return None;
    }
    let f = block.footer();
    let mut rows = RoaringBitmap::new();
    let mut exact = true;
    for (id, r) in &f.service_rows {
        let service = f.dict.get(*id as usize).map(String::as_str).unwrap_or("");
        if service.is_empty() {
            rows |= r;
            exact = false;
        } else if compare(leaf, Operand::Str(service)) {
            rows |= r;
        }
    }
    Some((rows, exact))
}

/// Rows where span attribute `key` may satisfy `leaf`.
fn span_attr_rows(leaf: &Leaf, block: &BlockReader, key: &str) -> Option<(RoaringBitmap, bool)> {
    let f = block.footer();
    // Keys are always in the block dictionary: a key that is not there is on no span.
    let Some(key_id) = block.string_id(key) else {
        return Some((RoaringBitmap::new(), true));
    };
    if f.unindexed_keys.binary_search(&key_id).is_ok() {
        return None;
    }
    let value = match (&leaf.op, &leaf.lit) {
        (Op::Eq, Literal::Str(s)) => match block.string_id(s) {
            Some(id) => IndexedValue::Str(id),
            // Values of indexed keys are in the dictionary: nobody has this one.
            None => return Some((RoaringBitmap::new(), true)),
        },
        (Op::Eq, Literal::Int(i)) => IndexedValue::Int(*i),
        (Op::Eq, Literal::Bool(b)) => IndexedValue::Bool(*b),
        _ => return None,
    };
    let pos = f
        .attr_rows
        .binary_search_by(|a| (a.key, &a.value).cmp(&(key_id, &value)));
    match pos {
        Ok(p) => Some((f.attr_rows.get(p)?.rows.clone(), true)),
        Err(_) => Some((RoaringBitmap::new(), true)),
    }
}
