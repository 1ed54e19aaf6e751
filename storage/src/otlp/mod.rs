//! OTLP ingest and export: JSON lines (Collector `file` exporter) and protobuf.

pub mod json;
pub mod proto;

use crate::model::Span;

/// Splits spans into runs sharing a resource, each split into runs sharing a scope, as OTLP's
/// `resourceSpans[].scopeSpans[].spans[]` nesting wants. Consecutive equal values share a run.
pub fn group_by_resource_scope(spans: &[Span]) -> Vec<Vec<&[Span]>> {
    let mut out: Vec<Vec<&[Span]>> = Vec::new();
    let mut i = 0;
    while i < spans.len() {
        let r = &spans[i].resource;
        let mut j = i;
        while j < spans.len()
            && (std::sync::Arc::ptr_eq(&spans[j].resource, r) || spans[j].resource == *r)
        {
            j += 1;
        }
        let run = &spans[i..j];
        let mut scopes = Vec::new();
        let mut k = 0;
        while k < run.len() {
            let s = &run[k].scope;
            let mut m = k;
            while m < run.len() && (std::sync::Arc::ptr_eq(&run[m].scope, s) || run[m].scope == *s)
            {
                m += 1;
            }
            scopes.push(&run[k..m]);
            k = m;
        }
        out.push(scopes);
        i = j;
    }
    out
}
