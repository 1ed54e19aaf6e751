//! Building C views of Rust values: structs whose pointers point into data the view owns.
//! Strings are not copied: they point into the Rust `String`s the view keeps alive.

use std::collections::HashMap;
use std::ptr;

use spandb_api::{Event, KeyValue, Link, Resource, Scope, Span, Value};

use crate::types::*;

/// Owns every array a view's structs point to. Inner `Vec`s are never touched after their
/// pointer is taken, so their buffers never move.
// Resources and scopes are boxed one by one: spans point at them while more are pushed, and
// a `Vec<spandb_resource>` would move them when it grows.
#[allow(clippy::vec_box)]
#[derive(Default)]
pub struct Arena {
    kv_lists: Vec<Vec<spandb_key_value>>,
    value_lists: Vec<Vec<spandb_value>>,
    event_lists: Vec<Vec<spandb_event>>,
    link_lists: Vec<Vec<spandb_link>>,
    resources: Vec<Box<spandb_resource>>,
    scopes: Vec<Box<spandb_scope>>,
}

/// Pointer and length of a finished list (NULL when empty), moved into `store`.
fn keep<T>(store: &mut Vec<Vec<T>>, list: Vec<T>) -> (*const T, usize) {
    if list.is_empty() {
        return (ptr::null(), 0);
    }
    let out = (list.as_ptr(), list.len());
    store.push(list);
    out
}

pub fn str_of(s: &str) -> spandb_str {
    spandb_str::of(s.as_bytes())
}

impl Arena {
    pub fn attrs(&mut self, kvs: &[KeyValue]) -> (*const spandb_key_value, usize) {
        let mut list = Vec::with_capacity(kvs.len());
        for kv in kvs {
            let value = self.value(&kv.value);
            list.push(spandb_key_value {
                key: str_of(&kv.key),
                value,
            });
        }
        keep(&mut self.kv_lists, list)
    }

    pub fn value(&mut self, v: &Value) -> spandb_value {
        let mut out = spandb_value::EMPTY;
        match v {
            Value::Empty => {}
            Value::Str(s) => {
                out.kind = SPANDB_VALUE_STRING;
                out.string_value = str_of(s);
            }
            Value::Int(i) => {
                out.kind = SPANDB_VALUE_INT;
                out.int_value = *i;
            }
            Value::Double(d) => {
                out.kind = SPANDB_VALUE_DOUBLE;
                out.double_value = *d;
            }
            Value::Bool(b) => {
                out.kind = SPANDB_VALUE_BOOL;
                out.bool_value = u8::from(*b);
            }
            Value::Bytes(b) => {
                out.kind = SPANDB_VALUE_BYTES;
                out.string_value = spandb_str::of(b);
            }
            Value::Array(items) => {
                let list: Vec<spandb_value> = items.iter().map(|i| self.value(i)).collect();
                out.kind = SPANDB_VALUE_ARRAY;
                (out.array, out.array_len) = keep(&mut self.value_lists, list);
            }
            Value::KvList(kvs) => {
                out.kind = SPANDB_VALUE_KVLIST;
                (out.kvlist, out.kvlist_len) = self.attrs(kvs);
            }
        }
        out
    }

    fn resource(&mut self, r: &Resource) -> *const spandb_resource {
        let (attributes, attributes_len) = self.attrs(&r.attributes);
        let b = Box::new(spandb_resource {
            attributes,
            attributes_len,
            dropped_attributes_count: r.dropped_attributes_count,
            schema_url: str_of(&r.schema_url),
        });
        let p: *const spandb_resource = &*b;
        self.resources.push(b);
        p
    }

    fn scope(&mut self, s: &Scope) -> *const spandb_scope {
        let (attributes, attributes_len) = self.attrs(&s.attributes);
        let b = Box::new(spandb_scope {
            name: str_of(&s.name),
            version: str_of(&s.version),
            attributes,
            attributes_len,
            dropped_attributes_count: s.dropped_attributes_count,
            schema_url: str_of(&s.schema_url),
        });
        let p: *const spandb_scope = &*b;
        self.scopes.push(b);
        p
    }

    fn events(&mut self, events: &[Event]) -> (*const spandb_event, usize) {
        let mut list = Vec::with_capacity(events.len());
        for e in events {
            let (attributes, attributes_len) = self.attrs(&e.attributes);
            list.push(spandb_event {
                time_ns: e.time_ns,
                name: str_of(&e.name),
                attributes,
                attributes_len,
                dropped_attributes_count: e.dropped_attributes_count,
            });
        }
        keep(&mut self.event_lists, list)
    }

    fn links(&mut self, links: &[Link]) -> (*const spandb_link, usize) {
        let mut list = Vec::with_capacity(links.len());
        for l in links {
            let (attributes, attributes_len) = self.attrs(&l.attributes);
            list.push(spandb_link {
                trace_id: l.trace_id.0,
                span_id: l.span_id.0,
                trace_state: str_of(&l.trace_state),
                flags: l.flags,
                attributes,
                attributes_len,
                dropped_attributes_count: l.dropped_attributes_count,
            });
        }
        keep(&mut self.link_lists, list)
    }

    /// C views of `spans`; resources and scopes shared in Rust are shared in the view too.
    pub fn spans(&mut self, spans: &[Span]) -> Vec<spandb_span> {
        let mut resources: HashMap<*const Resource, *const spandb_resource> = HashMap::new();
        let mut scopes: HashMap<*const Scope, *const spandb_scope> = HashMap::new();
        let mut out = Vec::with_capacity(spans.len());
        for s in spans {
            let rkey = std::sync::Arc::as_ptr(&s.resource);
            let resource = match resources.get(&rkey) {
                Some(v) => *v,
                None => {
                    let v = self.resource(&s.resource);
                    resources.insert(rkey, v);
                    v
                }
            };
            let skey = std::sync::Arc::as_ptr(&s.scope);
            let scope = match scopes.get(&skey) {
                Some(v) => *v,
                None => {
                    let v = self.scope(&s.scope);
                    scopes.insert(skey, v);
                    v
                }
            };
            let (attributes, attributes_len) = self.attrs(&s.attributes);
            let (events, events_len) = self.events(&s.events);
            let (links, links_len) = self.links(&s.links);
            out.push(spandb_span {
                trace_id: s.trace_id.0,
                span_id: s.span_id.0,
                parent_span_id: s.parent_span_id.map(|p| p.0).unwrap_or([0; 8]),
                trace_state: str_of(&s.trace_state),
                flags: s.flags,
                name: str_of(&s.name),
                kind: s.kind as u32,
                start_ns: s.start_ns,
                end_ns: s.end_ns,
                status_code: s.status_code as u32,
                status_message: str_of(&s.status_message),
                resource,
                scope,
                attributes,
                attributes_len,
                dropped_attributes_count: s.dropped_attributes_count,
                events,
                events_len,
                dropped_events_count: s.dropped_events_count,
                links,
                links_len,
                dropped_links_count: s.dropped_links_count,
            });
        }
        out
    }
}
