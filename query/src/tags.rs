//! Attribute names and values present in a time range, for query completion (Tempo's
//! `/api/v2/search/tags` and `.../tag/{tag}/values`). Answered from block footers where they
//! hold the answer (resources, indexed span attributes, names, services) and by decoding only
//! the one attribute's stream of each row group for span attributes too varied to index,
//! stopping at the limit; unsealed spans are read from memory.

use std::collections::BTreeSet;

use spandb_storage::block::IndexedValue;
use spandb_storage::codec::value::ScalarRef;
use spandb_storage::{Snapshot, Value};

use crate::error::Result;
use crate::plan::TimeRange;

/// Where an attribute lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TagScope {
    Span,
    Resource,
}

/// Attribute names seen in a range, per scope, sorted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TagNames {
    pub span: Vec<String>,
    pub resource: Vec<String>,
}

/// A distinct value of an attribute (or intrinsic).
#[derive(Clone, Debug, PartialEq, PartialOrd)]
pub enum TagValue {
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
}

impl TagValue {
    fn of(v: &Value) -> Option<TagValue> {
        match v {
            Value::Str(s) => Some(TagValue::Str(s.clone())),
            Value::Int(i) => Some(TagValue::Int(*i)),
            Value::Double(d) => Some(TagValue::Double(*d)),
            Value::Bool(b) => Some(TagValue::Bool(*b)),
            _ => None,
        }
    }
    fn of_scalar(v: ScalarRef<'_>) -> Option<TagValue> {
        match v {
            ScalarRef::Str(s) => Some(TagValue::Str(s.to_owned())),
            ScalarRef::Int(i) => Some(TagValue::Int(i)),
            ScalarRef::Double(d) => Some(TagValue::Double(d)),
            ScalarRef::Bool(b) => Some(TagValue::Bool(b)),
            ScalarRef::Other => None,
        }
    }
    /// Tempo's type name: `string`, `int`, `float`, `bool`.
    pub fn type_name(&self) -> &'static str {
        match self {
            TagValue::Str(_) => "string",
            TagValue::Int(_) => "int",
            TagValue::Double(_) => "float",
            TagValue::Bool(_) => "bool",
        }
    }
    /// The value as text.
    pub fn text(&self) -> String {
        match self {
            TagValue::Str(s) => s.clone(),
            TagValue::Int(i) => i.to_string(),
            TagValue::Double(d) => d.to_string(),
            TagValue::Bool(b) => b.to_string(),
        }
    }
}

fn blocks_in(
    snapshot: &Snapshot,
    range: TimeRange,
) -> impl Iterator<Item = &std::sync::Arc<spandb_storage::BlockReader>> {
    snapshot.blocks().filter(move |b| {
        let f = b.meta();
        f.rows > 0 && range.overlaps(f.min_start_ns, f.max_end_ns)
    })
}

/// Every span and resource attribute name of spans in `range`.
pub fn tag_names(snapshot: &Snapshot, range: TimeRange) -> Result<TagNames> {
    let mut span: BTreeSet<String> = BTreeSet::new();
    let mut resource: BTreeSet<String> = BTreeSet::new();
    for b in blocks_in(snapshot, range) {
        let f = b.footer()?;
        for key in f
            .attr_rows
            .iter()
            .map(|a| a.key)
            .chain(f.unindexed_keys.iter().copied())
        {
            span.insert(f.string(key)?.to_owned());
        }
        for r in &f.resources {
            resource.extend(r.attributes.iter().map(|kv| kv.key.clone()));
        }
    }
    for s in snapshot.unsealed_spans()? {
        if range.overlaps(s.start_ns, s.end_ns) {
            span.extend(s.attributes.iter().map(|kv| kv.key.clone()));
            resource.extend(s.resource.attributes.iter().map(|kv| kv.key.clone()));
        }
    }
    Ok(TagNames {
        span: span.into_iter().collect(),
        resource: resource.into_iter().collect(),
    })
}

/// Distinct values of attribute `key` in `scope` (`None`: either) among spans in `range`, at
/// most `limit`, sorted.
pub fn tag_values(
    snapshot: &Snapshot,
    scope: Option<TagScope>,
    key: &str,
    range: TimeRange,
    limit: usize,
) -> Result<Vec<TagValue>> {
    let mut out: Vec<TagValue> = Vec::new();
    let push = |v: TagValue, out: &mut Vec<TagValue>| {
        if !out.contains(&v) {
            out.push(v);
        }
    };
    let want_span = scope != Some(TagScope::Resource);
    let want_resource = scope != Some(TagScope::Span);
    'blocks: for b in blocks_in(snapshot, range) {
        let f = b.footer()?;
        if want_resource {
            for r in &f.resources {
                for kv in r.attributes.iter().filter(|kv| kv.key == key) {
                    if let Some(v) = TagValue::of(&kv.value) {
                        push(v, &mut out);
                    }
                }
            }
        }
        if !want_span {
            continue;
        }
        let Some(id) = f.string_id(key) else { continue };
        for a in f.attr_rows.iter().filter(|a| a.key == id) {
            let v = match a.value {
                IndexedValue::Str(s) => TagValue::Str(f.string(s)?.to_owned()),
                IndexedValue::Int(i) => TagValue::Int(i),
                IndexedValue::Bool(x) => TagValue::Bool(x),
            };
            push(v, &mut out);
        }
        if f.unindexed_keys.contains(&id) {
            for g in 0..f.groups.len() {
                let mut found = Vec::new();
                b.group_attr_values(g, id, |_, v| found.extend(TagValue::of_scalar(v)))?;
                for v in found {
                    push(v, &mut out);
                }
                if out.len() >= limit {
                    break 'blocks;
                }
            }
        }
        if out.len() >= limit {
            break;
        }
    }
    for s in snapshot.unsealed_spans()? {
        if out.len() >= limit {
            break;
        }
        if !range.overlaps(s.start_ns, s.end_ns) {
            continue;
        }
        let span_attrs = s.attributes.iter().filter(|_| want_span);
        let res_attrs = s.resource.attributes.iter().filter(|_| want_resource);
        for kv in span_attrs.chain(res_attrs).filter(|kv| kv.key == key) {
            if let Some(v) = TagValue::of(&kv.value) {
                push(v, &mut out);
            }
        }
    }
    out.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    out.truncate(limit);
    Ok(out)
}

/// Distinct span names in `range` (the `name` intrinsic), at most `limit`.
pub fn span_names(snapshot: &Snapshot, range: TimeRange, limit: usize) -> Result<Vec<String>> {
    let mut out: BTreeSet<String> = BTreeSet::new();
    for b in blocks_in(snapshot, range) {
        let f = b.footer()?;
        for (id, _) in &f.name_rows {
            out.insert(f.string(*id)?.to_owned());
        }
    }
    for s in snapshot.unsealed_spans()? {
        if range.overlaps(s.start_ns, s.end_ns) {
            out.insert(s.name.clone());
        }
    }
    Ok(out.into_iter().take(limit).collect())
}
