//! The index planner: what a block's footer indexes say about one comparison. It is the only
//! place in the query engine that asks a block's index API ([`LoadedFooter::rows_by_service`]
//! and friends); the executor (`exec::rows`) combines its answers bitmap at a time and decides
//! the rest on decoded columns.
//!
//! Every answer is [`IndexRows::Exact`] (the rows where the comparison holds),
//! [`IndexRows::Superset`] (rows outside it cannot match, rows inside must still be checked),
//! or `None` (no index narrows this block). Trace-level intrinsics are never answered here.

use roaring::RoaringBitmap;
use spandb_storage::block::{IndexRows, IndexedScalar, LoadedFooter};

use crate::ast::{Field, Literal, Op};
use crate::eval::{compare, resource_leaf, Leaf, Operand};

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

/// What the footer's indexes say about `leaf` in `block`.
pub(crate) fn leaf_index(leaf: &Leaf, block: &LoadedFooter) -> Option<IndexRows> {
    match &leaf.field {
        Field::Name => Some(IndexRows::Exact(match (&leaf.op, &leaf.lit) {
            (Op::Eq, Literal::Str(s)) => block.rows_with_name(s),
            _ => block.rows_by_name(|name| compare(leaf, Operand::Str(name))),
        })),
        Field::Status => Some(match (&leaf.op, &leaf.lit) {
            (Op::Eq, Literal::Status(s)) => block.rows_by_status(*s, true),
            (Op::Ne, Literal::Status(s)) => block.rows_by_status(*s, false),
            // Statuses compare with `=` and `!=` against statuses only.
            _ => IndexRows::Exact(RoaringBitmap::new()),
        }),
        Field::Duration => duration_index(leaf, block),
        Field::Resource(key) => resource_index(leaf, block, key),
        Field::Span(key) => span_attr_index(leaf, block, key),
        Field::Unscoped(key) => {
            let span = span_attr_index(leaf, block, key)?;
            let resource = resource_index(leaf, block, key)?;
            Some(span.or(resource))
        }
        _ => None,
    }
}

/// Duration comparisons the zone maps (block, row group and trace duration bounds) narrow.
fn duration_index(leaf: &Leaf, block: &LoadedFooter) -> Option<IndexRows> {
    let Literal::Duration(d) = leaf.lit else {
        // Span durations compare with duration literals only.
        return Some(IndexRows::Exact(RoaringBitmap::new()));
    };
    let op = leaf.op;
    block.rows_by_duration_bounds(|lo, hi| match op {
        Op::Gt => (hi > d, lo > d),
        Op::Ge => (hi >= d, lo >= d),
        Op::Lt => (lo < d, hi < d),
        Op::Le => (lo <= d, hi <= d),
        Op::Eq => (lo <= d && d <= hi, lo == d && hi == d),
        Op::Ne => (!(lo == d && hi == d), d < lo || d > hi),
        Op::Match | Op::NotMatch => (false, false),
    })
}

/// Rows whose resource may satisfy `leaf` on attribute `key`. The block's resource table is
/// small: when the comparison holds on all of its resources or on none, that is exact;
/// otherwise only `service.name` has an index (the rows per service).
pub(crate) fn resource_index(leaf: &Leaf, block: &LoadedFooter, key: &str) -> Option<IndexRows> {
    let resources = &block.resources;
    let mut holds = resources.iter().map(|r| resource_leaf(leaf, r, key));
    let (any, all) = holds
        .by_ref()
        .fold((false, true), |(any, all), h| (any || h, all && h));
    if !any {
        return Some(IndexRows::Exact(RoaringBitmap::new()));
    }
    if all {
        return Some(IndexRows::Exact(block.all_rows()));
    }
    (key == "service.name").then(|| block.rows_by_service(|s| compare(leaf, Operand::Str(s))))
}

/// Rows where span attribute `key` may satisfy `leaf`.
pub(crate) fn span_attr_index(leaf: &Leaf, block: &LoadedFooter, key: &str) -> Option<IndexRows> {
    if block.string_id(key).is_none() {
        // Keys are always in the block dictionary: a key that is not there is on no span.
        return Some(IndexRows::Exact(RoaringBitmap::new()));
    }
    let rows = match (&leaf.op, &leaf.lit) {
        (Op::Eq, Literal::Str(s)) => block.rows_with_attribute(key, IndexedScalar::Str(s)),
        (Op::Eq, Literal::Int(i)) => block.rows_with_attribute(key, IndexedScalar::Int(*i)),
        (Op::Eq, Literal::Bool(b)) => block.rows_with_attribute(key, IndexedScalar::Bool(*b)),
        // These literals only ever match indexed value types (strings, ints, bools).
        (_, Literal::Str(_) | Literal::Int(_) | Literal::Bool(_)) => {
            block.rows_by_attribute(key, |v| compare(leaf, scalar_operand(v)))
        }
        // Floats and durations also match doubles, which have no index.
        (_, Literal::Float(_) | Literal::Duration(_)) => None,
        // Attributes never hold statuses or kinds.
        (_, Literal::Status(_) | Literal::Kind(_)) => Some(RoaringBitmap::new()),
    };
    rows.map(IndexRows::Exact)
}

fn scalar_operand(v: IndexedScalar<'_>) -> Operand<'_> {
    match v {
        IndexedScalar::Str(s) => Operand::Str(s),
        IndexedScalar::Int(i) => Operand::Int(i),
        IndexedScalar::Bool(b) => Operand::Bool(b),
    }
}

/// `attr != nil` (or a bare existence test) on an attribute that no row of `block` can have:
/// the key is not in the block's dictionary (span attributes) and no resource of the block
/// has it (resource attributes). Such an expression holds on no row of the block.
pub(crate) fn absent_in_block(e: &crate::ast::Expr, block: &LoadedFooter) -> bool {
    use crate::ast::Expr;
    let Expr::Exists(inner) = e else {
        return false;
    };
    let no_span = |k: &str| block.string_id(k).is_none();
    let no_resource = |k: &str| {
        !block
            .resources
            .iter()
            .any(|r| spandb_storage::model::find_attr(&r.attributes, k).is_some())
    };
    match &**inner {
        Expr::Field(Field::Span(k)) => no_span(k),
        Expr::Field(Field::Resource(k)) => no_resource(k),
        Expr::Field(Field::Unscoped(k)) => no_span(k) && no_resource(k),
        _ => false,
    }
}
