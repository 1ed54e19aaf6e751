//! Filtered scans over a snapshot: prune blocks by time, intersect the footer's roaring
//! bitmaps for service / operation / error / indexed attribute values, and decode only the
//! candidate rows. The query crate builds its planner on the same pieces.

use roaring::RoaringBitmap;

use crate::block::{BlockReader, IndexedScalar};
use crate::db::Snapshot;
use crate::error::Result;
use crate::model::{Span, Value};

/// A conjunction of simple span predicates. Empty fields match everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScanFilter {
    /// Spans starting at or after this time.
    pub start_ns: Option<u64>,
    /// Spans starting before this time.
    pub end_ns: Option<u64>,
    pub service: Option<String>,
    pub name: Option<String>,
    pub error_only: bool,
    /// Span attributes that must equal the given value.
    pub attributes: Vec<(String, Value)>,
}

impl ScanFilter {
    pub fn matches(&self, s: &Span) -> bool {
        self.start_ns.is_none_or(|t| s.start_ns >= t)
            && self.end_ns.is_none_or(|t| s.start_ns < t)
            && self.service.as_deref().is_none_or(|v| s.service() == v)
            && self.name.as_deref().is_none_or(|v| s.name == v)
            && (!self.error_only || s.is_error())
            && self.attributes.iter().all(|(k, v)| s.attr(k) == Some(v))
    }

    /// True when the block's time range can hold matching spans.
    pub fn overlaps(&self, block: &BlockReader) -> bool {
        let f = block.meta();
        self.start_ns.is_none_or(|t| f.max_start_ns >= t)
            && self.end_ns.is_none_or(|t| f.min_start_ns < t)
    }

    /// Rows of `block` that may match, from the block's index API: the intersection of the
    /// rows it gives for each predicate (exact or superset). `None` means no row can match.
    /// Predicates without an index (time, high-cardinality attributes, doubles) are left for
    /// [`ScanFilter::matches`].
    pub fn candidate_rows(&self, block: &BlockReader) -> Result<Option<RoaringBitmap>> {
        let f = block.footer()?;
        let mut rows = f.all_rows();
        if let Some(service) = &self.service {
            rows &= f.rows_by_service(|s| s == service).rows();
        }
        if let Some(name) = &self.name {
            rows &= f.rows_with_name(name);
        }
        if self.error_only {
            rows &= f.error_rows();
        }
        for (key, value) in &self.attributes {
            let scalar = match value {
                Value::Str(s) => IndexedScalar::Str(s),
                Value::Int(i) => IndexedScalar::Int(*i),
                Value::Bool(b) => IndexedScalar::Bool(*b),
                _ => continue,
            };
            if let Some(r) = f.rows_with_attribute(key, scalar) {
                rows &= r;
            }
        }
        Ok((!rows.is_empty()).then_some(rows))
    }
}

impl ScanFilter {
    /// The spans of `block` that match (unordered).
    pub fn block_spans(&self, block: &BlockReader) -> Result<Vec<Span>> {
        if !self.overlaps(block) {
            return Ok(Vec::new());
        }
        let Some(rows) = self.candidate_rows(block)? else {
            return Ok(Vec::new());
        };
        let mut spans = block.spans_at(&rows)?;
        spans.retain(|(_, span)| self.matches(span));
        Ok(spans.into_iter().map(|(_, span)| span).collect())
    }
}

impl Snapshot {
    /// Every span matching `filter`, from blocks and the builder (unordered).
    pub fn scan(&self, filter: &ScanFilter) -> Result<Vec<Span>> {
        self.require_all_blocks()?;
        let mut out = Vec::new();
        for block in self.blocks() {
            out.extend(filter.block_spans(block)?);
        }
        out.extend(
            self.unsealed_spans()?
                .filter(|s| filter.matches(s))
                .cloned(),
        );
        Ok(out)
    }
}
