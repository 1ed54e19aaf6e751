//! Service-graph edges: which span pairs are calls between nodes, and the per-block edge
//! rollup computed when a block is sealed (docs/ANALYSIS.md, "Service graph";
//! layout in docs/FORMAT.md, "Edge rollup").
//!
//! An *observation* is one call: a span and its child in another service (or a producer and
//! the consumer that links to it), or a client span and the database, queue or peer it names.
//! Every observation belongs to one span, its *owner*: the child (server / consumer side) of a
//! pair, the client span of a virtual call. A block's rollup holds
//!
//! - the observations it owns whose both halves are in the block, aggregated per edge and
//!   minute (final: nothing that arrives later changes them);
//! - its *loose ends*: owned spans whose partner is not in the block (a child whose parent
//!   is elsewhere or not yet sent, a consumer linking to a span elsewhere) and virtual calls
//!   that a child arriving later would turn into a direct call. A reader resolves them
//!   against the whole store, so edges split across blocks are neither lost nor doubled.
//!
//! [`trace_observations`] is the same definition over one whole trace: the reference the
//! rollups are tested against.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use rustc_hash::{FxHashMap, FxHashSet};

use serde::Serialize;

use crate::codec::buf::{DecodeError, DecodeResult, Decoder, Encoder};
use crate::model::{Span, SpanId, SpanKind, TraceId, Value};
use crate::rollup::{CompactSketch, DenseSketch, Sketch, ROLLUP_BUCKET_NS};

/// What a node of the service graph stands for. Stored: never renumber.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// An instrumented service (`service.name`).
    Service = 0,
    /// A database seen only from its clients (`db.system`, `db.namespace` / `db.name`).
    Database = 1,
    /// A queue or topic seen only from its producers (`messaging.destination.name`).
    Messaging = 2,
    /// An uninstrumented peer named by a client (`peer.service`, `server.address`).
    Peer = 3,
}

impl TryFrom<u8> for NodeKind {
    type Error = DecodeError;
    fn try_from(v: u8) -> DecodeResult<Self> {
        Ok(match v {
            0 => Self::Service,
            1 => Self::Database,
            2 => Self::Messaging,
            3 => Self::Peer,
            _ => return Err(DecodeError::new(format!("unknown node kind {v}"))),
        })
    }
}

/// How an edge was observed. Stored: never renumber.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// A span and its child in another service (client → server, or any other
    /// cross-service parent → child).
    Direct = 0,
    /// A producer and its consumer, by parent or by span link.
    Messaging = 1,
    /// A client span to a database node.
    Database = 2,
    /// A client or producer span to an uninstrumented peer or queue node.
    VirtualPeer = 3,
}

impl TryFrom<u8> for EdgeKind {
    type Error = DecodeError;
    fn try_from(v: u8) -> DecodeResult<Self> {
        Ok(match v {
            0 => Self::Direct,
            1 => Self::Messaging,
            2 => Self::Database,
            3 => Self::VirtualPeer,
            _ => return Err(DecodeError::new(format!("unknown edge kind {v}"))),
        })
    }
}

/// An edge: `client` calls `server`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EdgeKey {
    pub client: String,
    pub client_kind: NodeKind,
    pub server: String,
    pub server_kind: NodeKind,
    pub kind: EdgeKind,
}

/// One call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub edge: EdgeKey,
    /// When the call counts: the owner span's start.
    pub time_ns: u64,
    /// Duration of the caller's span (client, producer or parent).
    pub client_ns: u64,
    /// Duration of the callee's span; `None` for virtual nodes.
    pub server_ns: Option<u64>,
    /// The caller's or the callee's span has error status.
    pub error: bool,
}

/// Calls of one edge in one minute.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EdgeCell {
    pub calls: u64,
    pub errors: u64,
    pub client: Sketch,
    pub server: Sketch,
}

impl EdgeCell {
    pub fn add(&mut self, o: &Observation) {
        self.add_call(o.client_ns, o.server_ns, o.error);
    }

    fn add_call(&mut self, client_ns: u64, server_ns: Option<u64>, error: bool) {
        self.calls += 1;
        self.errors += u64::from(error);
        self.client.add(client_ns);
        if let Some(s) = server_ns {
            self.server.add(s);
        }
    }

    pub fn merge(&mut self, other: &EdgeCell) {
        self.calls += other.calls;
        self.errors += other.errors;
        self.client.merge(&other.client);
        self.server.merge(&other.server);
    }
}

/// What a loose end needs of its owner span to become an observation once its partner is
/// found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanHalf {
    pub service: String,
    pub kind: SpanKind,
    pub start_ns: u64,
    pub duration_ns: u64,
    pub error: bool,
}

impl SpanHalf {
    fn of(s: &Span) -> Self {
        SpanHalf {
            service: s.service().to_owned(),
            kind: s.kind,
            start_ns: s.start_ns,
            duration_ns: s.duration_ns(),
            error: s.is_error(),
        }
    }
}

/// An owned observation the block could not complete alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LooseEnd {
    /// `child`'s parent (`parent` in `trace_id`) is not in the block.
    Child {
        trace_id: TraceId,
        parent: SpanId,
        child: SpanHalf,
    },
    /// A consumer's link to a span (`span_id` in `trace_id`) not in the block.
    Link {
        trace_id: TraceId,
        span_id: SpanId,
        consumer: SpanHalf,
    },
    /// A virtual call (`call`) by span `span_id` of `trace_id`, which has no child in another
    /// service in the block: it stands unless such a child is stored elsewhere.
    Virtual {
        trace_id: TraceId,
        span_id: SpanId,
        call: Observation,
    },
}

impl LooseEnd {
    /// The time the observation would count at.
    pub fn time_ns(&self) -> u64 {
        match self {
            LooseEnd::Child { child: h, .. } | LooseEnd::Link { consumer: h, .. } => h.start_ns,
            LooseEnd::Virtual { call, .. } => call.time_ns,
        }
    }
}

/// A block's edges: complete observations per (edge, minute) and the loose ends.
#[derive(Clone, Debug, Default)]
pub struct EdgeRollup {
    pub cells: BTreeMap<(EdgeKey, u64), EdgeCell>,
    pub loose: Vec<LooseEnd>,
    /// [`EdgeRollup::totals`], computed on first use and kept while the block is open.
    totals: OnceLock<RollupSummary>,
}

impl PartialEq for EdgeRollup {
    /// The rollup's content; whether its totals were computed yet does not matter.
    fn eq(&self, other: &Self) -> bool {
        self.cells == other.cells && self.loose == other.loose
    }
}

/// Per-edge totals and the first and last minute of a rollup's cells.
type RollupSummary = (Vec<EdgeTotal>, Option<(u64, u64)>);

/// One edge's complete calls over a whole block: what a graph over a range covering the
/// block adds, with one dense merge per edge instead of one per (edge, minute).
///
/// Kept as long as the block's footer is cached, so its sketches are compact (`u32` counts
/// over the non-empty buckets only): held as the merges' dense `u64` vectors, the totals of
/// a 10M-span database took 52 MiB, three times the edge cells they sum.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeTotal {
    pub key: EdgeKey,
    pub calls: u64,
    pub errors: u64,
    pub client: CompactSketch,
    pub server: CompactSketch,
    /// (minute start, calls, errors), by minute.
    pub minutes: Vec<(u64, u64, u64)>,
}

/// The minute bucket (start, unix ns) of a time.
pub fn minute_of(time_ns: u64) -> u64 {
    time_ns - time_ns % ROLLUP_BUCKET_NS
}

fn str_attr<'s>(s: &'s Span, key: &str) -> Option<&'s str> {
    match s.attr(key) {
        Some(Value::Str(v)) if !v.is_empty() => Some(v),
        _ => None,
    }
}

/// The database node a client span calls: `system/namespace` (`db.namespace`, or the older
/// `db.name`) when the span names a namespace, else the system (`db.system`).
fn database_of(s: &Span) -> Option<String> {
    if s.kind != SpanKind::Client {
        return None;
    }
    let system = str_attr(s, "db.system").or_else(|| str_attr(s, "db.system.name"))?;
    Some(
        match str_attr(s, "db.namespace").or_else(|| str_attr(s, "db.name")) {
            Some(ns) => format!("{system}/{ns}"),
            None => system.to_owned(),
        },
    )
}

/// The queue or peer node a client or producer span names, for when no instrumented
/// service answers it.
fn virtual_peer_of(s: &Span) -> Option<(&str, NodeKind)> {
    match s.kind {
        SpanKind::Producer => str_attr(s, "messaging.destination.name")
            .or_else(|| str_attr(s, "messaging.system"))
            .map(|n| (n, NodeKind::Messaging)),
        SpanKind::Client => str_attr(s, "peer.service")
            .or_else(|| str_attr(s, "server.address"))
            .map(|n| (n, NodeKind::Peer)),
        _ => None,
    }
}

/// The call a span makes to a database or virtual peer by itself (without its children).
/// Database calls always count (databases are not instrumented); a virtual peer call counts
/// only while no child in another service answers it, which the caller decides.
fn virtual_call(s: &Span) -> Option<(Observation, bool)> {
    let (server, server_kind, kind, always) = if let Some(db) = database_of(s) {
        (db, NodeKind::Database, EdgeKind::Database, true)
    } else {
        let (peer, node) = virtual_peer_of(s)?;
        (peer.to_owned(), node, EdgeKind::VirtualPeer, false)
    };
    Some((
        Observation {
            edge: EdgeKey {
                client: s.service().to_owned(),
                client_kind: NodeKind::Service,
                server,
                server_kind,
                kind,
            },
            time_ns: s.start_ns,
            client_ns: s.duration_ns(),
            server_ns: None,
            error: s.is_error(),
        },
        always,
    ))
}

fn is_messaging(caller: SpanKind, callee: SpanKind) -> bool {
    caller == SpanKind::Producer || callee == SpanKind::Consumer
}

/// The call `parent` → `child`, when they are in different services.
fn pair_call(parent: &SpanHalf, child: &SpanHalf) -> Option<Observation> {
    if parent.service == child.service {
        return None;
    }
    Some(Observation {
        edge: EdgeKey {
            client: parent.service.clone(),
            client_kind: NodeKind::Service,
            server: child.service.clone(),
            server_kind: NodeKind::Service,
            kind: if is_messaging(parent.kind, child.kind) {
                EdgeKind::Messaging
            } else {
                EdgeKind::Direct
            },
        },
        time_ns: child.start_ns,
        client_ns: parent.duration_ns,
        server_ns: Some(child.duration_ns),
        error: parent.error || child.error,
    })
}

/// The messaging call a consumer span's link to `producer` stands for.
fn link_call(producer: &SpanHalf, consumer: &SpanHalf) -> Option<Observation> {
    if producer.kind != SpanKind::Producer || consumer.kind != SpanKind::Consumer {
        return None;
    }
    pair_call(producer, consumer).map(|mut o| {
        o.edge.kind = EdgeKind::Messaging;
        o
    })
}

/// Resolves a loose end given a way to find any stored span by (trace, span id) and to ask
/// whether a span has a child in another service anywhere in the store.
pub fn resolve_loose_end(
    end: &LooseEnd,
    find_span: &mut dyn FnMut(&TraceId, &SpanId) -> Option<SpanHalf>,
    has_remote_child: &mut dyn FnMut(&TraceId, &SpanId, &str) -> bool,
) -> Option<Observation> {
    match end {
        LooseEnd::Child {
            trace_id,
            parent,
            child,
        } => pair_call(&find_span(trace_id, parent)?, child),
        LooseEnd::Link {
            trace_id,
            span_id,
            consumer,
        } => link_call(&find_span(trace_id, span_id)?, consumer),
        LooseEnd::Virtual {
            trace_id,
            span_id,
            call,
        } => (!has_remote_child(trace_id, span_id, &call.edge.client)).then(|| call.clone()),
    }
}

/// Spans of one trace by span id: the first (earliest) of duplicates wins, as in trace
/// assembly.
fn index_by_id<'s>(spans: impl Iterator<Item = &'s Span>) -> FxHashMap<SpanId, &'s Span> {
    let mut by_id = FxHashMap::default();
    for s in spans {
        by_id.entry(s.span_id).or_insert(s);
    }
    by_id
}

fn parent_id(s: &Span) -> Option<SpanId> {
    s.parent_span_id.filter(|p| !p.is_zero() && *p != s.span_id)
}

/// Every call observed in one whole trace (`spans` is all of it), links resolved through
/// `find_linked` (spans of other traces). The definition the block rollups must agree with.
pub fn trace_observations(
    spans: &[Span],
    find_linked: &mut dyn FnMut(&TraceId, &SpanId) -> Option<SpanHalf>,
) -> Vec<Observation> {
    let mut sorted: Vec<&Span> = spans.iter().collect();
    sorted.sort_by_key(|s| (s.start_ns, s.span_id, s.end_ns));
    let by_id = index_by_id(sorted.iter().copied());
    let mut has_remote_child: HashMap<SpanId, bool> = HashMap::new();
    let mut out = Vec::new();
    for s in &sorted {
        if let Some(parent) = parent_id(s).and_then(|p| by_id.get(&p)) {
            if parent.service() != s.service() {
                has_remote_child.insert(parent.span_id, true);
            }
            out.extend(pair_call(&SpanHalf::of(parent), &SpanHalf::of(s)));
        }
        out.extend(link_calls(s, &mut |t, id| {
            if *t == s.trace_id {
                by_id.get(id).map(|p| SpanHalf::of(p))
            } else {
                find_linked(t, id)
            }
        }));
    }
    for s in &sorted {
        if let Some((call, always)) = virtual_call(s) {
            // Only the first of duplicate span ids makes calls, like the parent lookup.
            let first = by_id.get(&s.span_id).is_some_and(|f| std::ptr::eq(*f, *s));
            if always || (first && !has_remote_child.contains_key(&s.span_id)) {
                out.push(call);
            }
        }
    }
    out
}

fn link_calls(
    s: &Span,
    find: &mut dyn FnMut(&TraceId, &SpanId) -> Option<SpanHalf>,
) -> Vec<Observation> {
    if s.kind != SpanKind::Consumer || s.links.is_empty() {
        return Vec::new();
    }
    let consumer = SpanHalf::of(s);
    s.links
        .iter()
        .filter_map(|l| link_call(&find(&l.trace_id, &l.span_id)?, &consumer))
        .collect()
}

impl EdgeRollup {
    /// The first and the last minute with complete calls; `None` without any.
    pub fn minute_span(&self) -> Option<(u64, u64)> {
        self.summary().1
    }

    /// The complete calls per edge over all the block's minutes (computed once, then kept).
    pub fn totals(&self) -> &[EdgeTotal] {
        &self.summary().0
    }

    /// Heap bytes of the totals if [`EdgeRollup::totals`] has computed them, else 0.
    pub fn totals_heap_bytes(&self) -> usize {
        self.totals.get().map_or(0, |(totals, _)| {
            totals.capacity() * size_of::<EdgeTotal>()
                + totals
                    .iter()
                    .map(|t| {
                        t.key.client.capacity()
                            + t.key.server.capacity()
                            + t.client.heap_bytes()
                            + t.server.heap_bytes()
                            + 32
                            + t.minutes.capacity() * size_of::<(u64, u64, u64)>()
                    })
                    .sum::<usize>()
        })
    }

    /// [`EdgeRollup::totals`], and whether this call computed them (a cache counts their
    /// bytes once).
    pub fn totals_once(&self) -> (&[EdgeTotal], bool) {
        let mut built = false;
        let summary = self.totals.get_or_init(|| {
            built = true;
            self.summarize()
        });
        (&summary.0, built)
    }

    fn summary(&self) -> &RollupSummary {
        self.totals.get_or_init(|| self.summarize())
    }

    fn summarize(&self) -> RollupSummary {
        let mut out: Vec<EdgeTotal> = Vec::new();
        let (mut lo, mut hi) = (u64::MAX, 0);
        // Cells are ordered by edge, then minute: one run of cells per edge, merged into
        // dense sketches that are frozen compact when the edge's run ends.
        let (mut client, mut server) = (DenseSketch::new(), DenseSketch::new());
        let freeze =
            |out: &mut Vec<EdgeTotal>, client: &mut DenseSketch, server: &mut DenseSketch| {
                if let Some(t) = out.last_mut() {
                    t.client = std::mem::take(client).to_compact();
                    t.server = std::mem::take(server).to_compact();
                    t.minutes.shrink_to_fit();
                }
            };
        for ((key, minute), cell) in &self.cells {
            (lo, hi) = (lo.min(*minute), hi.max(*minute));
            if out.last().is_none_or(|t| t.key != *key) {
                freeze(&mut out, &mut client, &mut server);
                out.push(EdgeTotal {
                    key: key.clone(),
                    calls: 0,
                    errors: 0,
                    client: CompactSketch::default(),
                    server: CompactSketch::default(),
                    minutes: Vec::new(),
                });
            }
            if let Some(t) = out.last_mut() {
                t.calls += cell.calls;
                t.errors += cell.errors;
                client.merge_sketch(&cell.client);
                server.merge_sketch(&cell.server);
                t.minutes.push((*minute, cell.calls, cell.errors));
            }
        }
        freeze(&mut out, &mut client, &mut server);
        out.shrink_to_fit();
        (out, (lo <= hi).then_some((lo, hi)))
    }

    /// The rollup of a block's spans (any order).
    pub fn of_spans(spans: &[&Span]) -> Self {
        // Traces in id order, each one's spans by (start, span id, end): one stable sort
        // (the sealer's row order is nearly this already) instead of a map of per-trace
        // vectors; ties keep their input order, as the per-trace sort did.
        let mut sorted = spans.to_vec();
        sorted.sort_by_key(|s| {
            (
                u128::from_be_bytes(s.trace_id.0),
                s.start_ns,
                u64::from_be_bytes(s.span_id.0),
                s.end_ns,
            )
        });
        let mut block_ids: Option<FxHashMap<(TraceId, SpanId), &Span>> = None;
        let mut rollup = EdgeRollup::default();
        let mut has_remote_child: FxHashSet<SpanId> = FxHashSet::default();
        for trace in sorted.chunk_by(|a, b| a.trace_id == b.trace_id) {
            let Some(trace_id) = trace.first().map(|s| s.trace_id) else {
                continue;
            };
            let by_id = index_by_id(trace.iter().copied());
            has_remote_child.clear();
            for s in trace {
                if let Some(parent) = parent_id(s) {
                    match by_id.get(&parent) {
                        // A pair in one service is no call (`pair_call` says so too): tell
                        // before copying both halves' service names.
                        Some(p) if p.service() == s.service() => {}
                        Some(p) => {
                            has_remote_child.insert(p.span_id);
                            if let Some(o) = pair_call(&SpanHalf::of(p), &SpanHalf::of(s)) {
                                rollup.add_owned(o);
                            }
                        }
                        None => rollup.loose.push(LooseEnd::Child {
                            trace_id,
                            parent,
                            child: SpanHalf::of(s),
                        }),
                    }
                }
                if s.kind == SpanKind::Consumer && !s.links.is_empty() {
                    let ids = block_ids.get_or_insert_with(|| {
                        let mut m = FxHashMap::default();
                        for s in spans {
                            m.entry((s.trace_id, s.span_id)).or_insert(*s);
                        }
                        m
                    });
                    let consumer = SpanHalf::of(s);
                    for l in &s.links {
                        match ids.get(&(l.trace_id, l.span_id)) {
                            Some(p) => {
                                if let Some(o) = link_call(&SpanHalf::of(p), &consumer) {
                                    rollup.add_owned(o);
                                }
                            }
                            None => rollup.loose.push(LooseEnd::Link {
                                trace_id: l.trace_id,
                                span_id: l.span_id,
                                consumer: consumer.clone(),
                            }),
                        }
                    }
                }
            }
            for s in trace {
                let Some((call, always)) = virtual_call(s) else {
                    continue;
                };
                let first = by_id.get(&s.span_id).is_some_and(|f| std::ptr::eq(*f, *s));
                if always {
                    rollup.add_owned(call);
                } else if first && !has_remote_child.contains(&s.span_id) {
                    rollup.loose.push(LooseEnd::Virtual {
                        trace_id,
                        span_id: s.span_id,
                        call,
                    });
                }
            }
        }
        rollup
    }

    /// [`EdgeRollup::add`] of an observation no longer needed: its edge becomes the cell's
    /// key without a copy.
    fn add_owned(&mut self, o: Observation) {
        let minute = minute_of(o.time_ns);
        self.cells
            .entry((o.edge, minute))
            .or_default()
            .add_call(o.client_ns, o.server_ns, o.error);
    }

    pub fn add(&mut self, o: &Observation) {
        self.cells
            .entry((o.edge.clone(), minute_of(o.time_ns)))
            .or_default()
            .add(o);
    }

    /// Encodes the rollup: a table of node names, then cells, then loose ends.
    pub fn encode(&self, enc: &mut Encoder) {
        let mut names: BTreeMap<&str, u64> = BTreeMap::new();
        fn note<'n>(names: &mut BTreeMap<&'n str, u64>, s: &'n str) {
            let next = names.len() as u64;
            names.entry(s).or_insert(next);
        }
        for (k, _) in self.cells.keys() {
            note(&mut names, &k.client);
            note(&mut names, &k.server);
        }
        for l in &self.loose {
            match l {
                LooseEnd::Child { child: h, .. } | LooseEnd::Link { consumer: h, .. } => {
                    note(&mut names, &h.service)
                }
                LooseEnd::Virtual { call, .. } => {
                    note(&mut names, &call.edge.client);
                    note(&mut names, &call.edge.server);
                }
            }
        }
        let mut table: Vec<(&str, u64)> = names.iter().map(|(s, i)| (*s, *i)).collect();
        table.sort_by_key(|(_, i)| *i);
        enc.put_varint(table.len() as u64);
        for (s, _) in &table {
            enc.put_str(s);
        }
        let id = |s: &str| names.get(s).copied().unwrap_or(0);
        enc.put_varint(self.cells.len() as u64);
        for ((k, minute), cell) in &self.cells {
            put_key(enc, k, &id);
            enc.put_u64(*minute);
            enc.put_varint(cell.calls);
            enc.put_varint(cell.errors);
            cell.client.encode(enc);
            cell.server.encode(enc);
        }
        enc.put_varint(self.loose.len() as u64);
        for l in &self.loose {
            match l {
                LooseEnd::Child {
                    trace_id,
                    parent,
                    child,
                } => {
                    enc.put_u8(0);
                    enc.put_raw(&trace_id.0);
                    enc.put_raw(&parent.0);
                    put_half(enc, child, &id);
                }
                LooseEnd::Link {
                    trace_id,
                    span_id,
                    consumer,
                } => {
                    enc.put_u8(1);
                    enc.put_raw(&trace_id.0);
                    enc.put_raw(&span_id.0);
                    put_half(enc, consumer, &id);
                }
                LooseEnd::Virtual {
                    trace_id,
                    span_id,
                    call,
                } => {
                    enc.put_u8(2);
                    enc.put_raw(&trace_id.0);
                    enc.put_raw(&span_id.0);
                    put_key(enc, &call.edge, &id);
                    enc.put_u64(call.time_ns);
                    enc.put_varint(call.client_ns);
                    enc.put_u8(u8::from(call.error));
                }
            }
        }
    }

    pub fn decode(dec: &mut Decoder<'_>) -> DecodeResult<Self> {
        let n = dec.get_count()?;
        let mut names = Vec::with_capacity(n);
        for _ in 0..n {
            names.push(dec.get_str()?.to_owned());
        }
        let mut rollup = EdgeRollup::default();
        for _ in 0..dec.get_count()? {
            let key = get_key(dec, &names)?;
            let minute = dec.get_u64()?;
            let cell = EdgeCell {
                calls: dec.get_varint()?,
                errors: dec.get_varint()?,
                client: Sketch::decode(dec)?,
                server: Sketch::decode(dec)?,
            };
            rollup.cells.insert((key, minute), cell);
        }
        for _ in 0..dec.get_count()? {
            let tag = dec.get_u8()?;
            let trace_id = TraceId(dec.get_array()?);
            let span_id = SpanId(dec.get_array()?);
            rollup.loose.push(match tag {
                0 => LooseEnd::Child {
                    trace_id,
                    parent: span_id,
                    child: get_half(dec, &names)?,
                },
                1 => LooseEnd::Link {
                    trace_id,
                    span_id,
                    consumer: get_half(dec, &names)?,
                },
                2 => LooseEnd::Virtual {
                    trace_id,
                    span_id,
                    call: Observation {
                        edge: get_key(dec, &names)?,
                        time_ns: dec.get_u64()?,
                        client_ns: dec.get_varint()?,
                        server_ns: None,
                        error: dec.get_u8()? != 0,
                    },
                },
                t => return Err(DecodeError::new(format!("unknown loose-end tag {t}"))),
            });
        }
        Ok(rollup)
    }
}

fn put_key(enc: &mut Encoder, k: &EdgeKey, id: &dyn Fn(&str) -> u64) {
    enc.put_varint(id(&k.client));
    enc.put_u8(k.client_kind as u8);
    enc.put_varint(id(&k.server));
    enc.put_u8(k.server_kind as u8);
    enc.put_u8(k.kind as u8);
}

fn name_at(names: &[String], id: u64) -> DecodeResult<String> {
    usize::try_from(id)
        .ok()
        .and_then(|i| names.get(i))
        .cloned()
        .ok_or_else(|| DecodeError::new(format!("edge node name {id} out of range")))
}

fn get_key(dec: &mut Decoder<'_>, names: &[String]) -> DecodeResult<EdgeKey> {
    Ok(EdgeKey {
        client: name_at(names, dec.get_varint()?)?,
        client_kind: NodeKind::try_from(dec.get_u8()?)?,
        server: name_at(names, dec.get_varint()?)?,
        server_kind: NodeKind::try_from(dec.get_u8()?)?,
        kind: EdgeKind::try_from(dec.get_u8()?)?,
    })
}

fn put_half(enc: &mut Encoder, h: &SpanHalf, id: &dyn Fn(&str) -> u64) {
    enc.put_varint(id(&h.service));
    enc.put_u8(h.kind as u8);
    enc.put_u64(h.start_ns);
    enc.put_varint(h.duration_ns);
    enc.put_u8(u8::from(h.error));
}

fn get_half(dec: &mut Decoder<'_>, names: &[String]) -> DecodeResult<SpanHalf> {
    Ok(SpanHalf {
        service: name_at(names, dec.get_varint()?)?,
        kind: {
            let k = dec.get_u8()?;
            SpanKind::from_u8(k)
                .ok_or_else(|| DecodeError::new(format!("unknown span kind {k}")))?
        },
        start_ns: dec.get_u64()?,
        duration_ns: dec.get_varint()?,
        error: dec.get_u8()? != 0,
    })
}

/// A span's half, for resolvers that look spans up.
pub fn span_half(s: &Span) -> SpanHalf {
    SpanHalf::of(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{KeyValue, Resource, StatusCode};
    use std::sync::Arc;

    fn span(trace: u8, id: u8, parent: u8, service: &str, kind: SpanKind, start: u64) -> Span {
        Span {
            trace_id: TraceId([trace; 16]),
            span_id: SpanId([id; 8]),
            parent_span_id: (parent != 0).then_some(SpanId([parent; 8])),
            name: format!("op{id}"),
            kind,
            start_ns: start,
            end_ns: start + 1_000,
            resource: Arc::new(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Value::Str(service.into()),
                }],
                ..Resource::default()
            }),
            ..Span::default()
        }
    }

    fn with_attr(mut s: Span, k: &str, v: &str) -> Span {
        s.attributes.push(KeyValue {
            key: k.into(),
            value: Value::Str(v.into()),
        });
        s
    }

    #[test]
    fn pairs_in_a_block_are_cells_and_split_pairs_are_loose_ends() {
        let root = span(1, 1, 0, "front", SpanKind::Server, 0);
        let call = with_attr(
            span(1, 2, 1, "front", SpanKind::Client, 10),
            "server.address",
            "api",
        );
        let served = span(1, 3, 2, "api", SpanKind::Server, 20);
        let mut db = span(1, 4, 3, "api", SpanKind::Client, 30);
        db = with_attr(db, "db.system", "postgresql");
        db.status_code = StatusCode::Error;
        let late_child = span(2, 5, 9, "api", SpanKind::Server, 40);
        let spans = [&root, &call, &served, &db, &late_child];
        let r = EdgeRollup::of_spans(&spans);
        let edges: Vec<(&str, &str, EdgeKind, u64, u64)> = r
            .cells
            .iter()
            .map(|((k, _), c)| {
                (
                    k.client.as_str(),
                    k.server.as_str(),
                    k.kind,
                    c.calls,
                    c.errors,
                )
            })
            .collect();
        assert_eq!(
            edges,
            vec![
                ("api", "postgresql", EdgeKind::Database, 1, 1),
                ("front", "api", EdgeKind::Direct, 1, 0),
            ]
        );
        assert_eq!(r.loose.len(), 1, "{:?}", r.loose);
        assert!(matches!(&r.loose[0], LooseEnd::Child { parent, .. } if *parent == SpanId([9; 8])));

        let mut enc = Encoder::new();
        r.encode(&mut enc);
        let bytes = enc.finish();
        let back = EdgeRollup::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn a_client_without_a_remote_child_is_a_tentative_virtual_call() {
        let call = with_attr(
            span(1, 2, 0, "front", SpanKind::Client, 10),
            "peer.service",
            "stripe",
        );
        let r = EdgeRollup::of_spans(&[&call]);
        assert!(r.cells.is_empty());
        let [LooseEnd::Virtual { call: o, .. }] = &r.loose[..] else {
            panic!("{:?}", r.loose)
        };
        assert_eq!(
            (o.edge.server.as_str(), o.edge.server_kind),
            ("stripe", NodeKind::Peer)
        );
        let mut no = |_: &TraceId, _: &SpanId| None;
        let resolved = resolve_loose_end(&r.loose[0], &mut no, &mut |_, _, _| true);
        assert_eq!(resolved, None, "a child elsewhere answers the call");
        let resolved = resolve_loose_end(&r.loose[0], &mut no, &mut |_, _, _| false);
        assert_eq!(resolved.as_ref(), Some(o));
        assert_eq!(
            trace_observations(std::slice::from_ref(&call), &mut no),
            vec![o.clone()]
        );
    }

    #[test]
    fn decoding_garbage_is_an_error() {
        for bytes in [
            &[1u8, 3, b'a', b'b'][..],
            &[0, 1, 0, 0, 9][..],
            &[0, 0, 1, 7][..],
        ] {
            assert!(EdgeRollup::decode(&mut Decoder::new(bytes)).is_err());
        }
    }
}
