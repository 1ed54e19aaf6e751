//! OTLP ingest and export: JSON lines (Collector `file` exporter) and protobuf.

pub mod json;
pub mod logs_proto;
pub mod proto;

/// What lenient decoding dropped, per reason. Strict decoding refuses the whole request
/// instead; lenient decoding keeps every span it can, without the bad part, and counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dropped {
    /// Spans skipped: no valid trace id or span id (missing, malformed or all zeros).
    pub spans_without_ids: u64,
    /// Links removed from kept spans: an invalid or all-zero trace or span id.
    pub invalid_links: u64,
    /// Parent ids removed from kept spans (malformed): the span becomes a root or orphan.
    pub invalid_parent_ids: u64,
    /// Kinds or status codes out of range, kept as unspecified / unset.
    pub out_of_range_enums: u64,
}

impl Dropped {
    /// Everything dropped, whatever the reason.
    pub fn total(&self) -> u64 {
        self.spans_without_ids
            + self.invalid_links
            + self.invalid_parent_ids
            + self.out_of_range_enums
    }
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Dropped) {
        self.spans_without_ids += other.spans_without_ids;
        self.invalid_links += other.invalid_links;
        self.invalid_parent_ids += other.invalid_parent_ids;
        self.out_of_range_enums += other.out_of_range_enums;
    }
}

/// Strict (`None`: a bad part fails the request) or lenient (bad parts dropped and counted).
pub(crate) struct Lenience<'a>(pub(crate) Option<&'a mut Dropped>);

impl Lenience<'_> {
    /// A part of a request: `Ok(Some(v))` when good; when bad, `Ok(None)` if lenient (the
    /// part is dropped and counted under `reason`), else the error.
    pub(crate) fn part<T, E>(
        &mut self,
        r: Result<T, E>,
        reason: fn(&mut Dropped) -> &mut u64,
    ) -> Result<Option<T>, E> {
        match (r, &mut self.0) {
            (Ok(v), _) => Ok(Some(v)),
            (Err(_), Some(d)) => {
                *reason(d) += 1;
                Ok(None)
            }
            (Err(e), None) => Err(e),
        }
    }
    pub(crate) fn is_lenient(&self) -> bool {
        self.0.is_some()
    }
}

use std::fmt;
use std::sync::Arc;

/// Where a span (or link) is in a request, as error messages name it:
/// `resourceSpans[0].scopeSpans[1].spans[2].links[3]`. Formatted only when an error names
/// it: formatting every span's path up front took ~3% of decoding.
#[derive(Clone, Copy, Default)]
pub(crate) struct SpanPath {
    pub(crate) resource: usize,
    pub(crate) scope: Option<usize>,
    pub(crate) span: Option<usize>,
    pub(crate) link: Option<usize>,
}

impl fmt::Display for SpanPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "resourceSpans[{}]", self.resource)?;
        for (name, index) in [
            ("scopeSpans", self.scope),
            ("spans", self.span),
            ("links", self.link),
        ] {
            if let Some(i) = index {
                write!(f, ".{name}[{i}]")?;
            }
        }
        Ok(())
    }
}

use crate::model::{Resource, Scope, Span};

/// Spans of one scope within a resource group.
pub type ScopeGroup<'a> = (&'a Arc<Scope>, &'a [Span]);

/// Splits spans into runs sharing a resource, each split into runs sharing a scope, as OTLP's
/// `resourceSpans[].scopeSpans[].spans[]` nesting wants. Consecutive equal values share a run.
pub fn group_by_resource_scope(spans: &[Span]) -> Vec<(&Arc<Resource>, Vec<ScopeGroup<'_>>)> {
    let same =
        |a: &Span, b: &Span| Arc::ptr_eq(&a.resource, &b.resource) || a.resource == b.resource;
    let same_scope = |a: &Span, b: &Span| Arc::ptr_eq(&a.scope, &b.scope) || a.scope == b.scope;
    spans
        .chunk_by(same)
        .filter_map(|run| {
            let scopes = run
                .chunk_by(same_scope)
                .filter_map(|g| Some((&g.first()?.scope, g)))
                .collect();
            Some((&run.first()?.resource, scopes))
        })
        .collect()
}
