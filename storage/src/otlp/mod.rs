//! OTLP ingest and export: JSON lines (Collector `file` exporter) and protobuf.

pub mod json;
pub mod proto;

use std::sync::Arc;

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
