//! Anomaly detection: what changed in a window, merged into incidents, each localized to the
//! service and operation it started in.
//!
//! 1. **Series** (from rollups, no span decoded): per (service, operation) and minute, the
//!    span count, errors and p50/p99 duration (the blocks' rollup sketches merged); per
//!    service-graph edge and minute, calls and errors.
//! 2. **Baseline**: the same series over the baseline range (by default the window itself:
//!    medians and MADs ignore a short incident as long as it covers under half the window).
//!    An entity with fewer than [`MIN_BASELINE_MINUTES`] active baseline minutes is held
//!    against the window's own minutes instead.
//! 3. **Scores** per window minute (robust z = deviation / (1.4826 · MAD), with floors so a
//!    flat baseline does not make noise look huge):
//!    - errors: excess errors over the baseline ratio (pooled, the worst quarter of minutes
//!      left out) as a Poisson z scaled by the baseline's dispersion (errors come in bursts),
//!      over the minute and the two before it; needs ≥ 5 errors and twice the baseline
//!      ratio (at least +1 point);
//!    - latency: p50 or p99 (of the minute and the two before it, merged sketches) against
//!      the baseline median of that quantile; needs 20 (p50) or 100 (p99) spans in those
//!      three minutes, ≥ 2× the baseline and z ≥ [`Z_THRESHOLD`] with the
//!      MAD floored at 20% of the median;
//!    - rate: spans per minute, for entities with ≥ 20/minute of baseline: ≥ 2× or ≤ 0.3×.
//! 4. **Incidents**: an entity's anomalous minutes within 2 minutes of each other form an
//!    interval of at least two minutes (four for latency, whose windows overlap; one minute
//!    alone counts only for errors with a z ≥ 4 × threshold); intervals
//!    of one family (errors, latency, rate) that overlap (2 minutes of slack) form one
//!    incident, unless it holds only p99 deviations (a heavy tail moves a p99 on a few slow
//!    requests: it supports an incident, it does not make one). Services are entities too (all their operations' counts and errors). An
//!    entity deviating in four or more separate stretches of the window is noisy by nature
//!    (one span name over calls of very different cost) and its deviations are dropped.
//! 5. **Origin**: among the incident's anomalous services, the ones none of whose callees
//!    (service-graph edges in the incident) is anomalous; the highest scored of them, and its
//!    highest scored operation. Failures and slowness propagate to callers, not callees.
//! 6. **Attributes**: the origin operation's spans in the incident that are anomalous (errors,
//!    or slower than the baseline p99) against its baseline spans: the attribute values most
//!    over-represented (share in anomalous / share in baseline, as TraceQL's `compare()`),
//!    with example trace ids.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use spandb_storage::rollup::{RollupCell, ROLLUP_BUCKET_NS};
use spandb_storage::{ScanFilter, Snapshot, Span, TraceId, Value};

use super::graph_types::{EdgeKind, ServiceGraph};
use super::service_graph::{minute_aligned, service_graph};
use crate::error::Result;
use crate::plan::TimeRange;

/// Robust z a minute must reach to be anomalous.
pub const Z_THRESHOLD: f64 = 5.0;
/// Active baseline minutes an entity needs before its own baseline is trusted.
pub const MIN_BASELINE_MINUTES: usize = 10;
const MAX_ATTRIBUTES: usize = 5;
const SAMPLE_TRACES: usize = 5;
const MERGE_GAP_MINUTES: u64 = 2;
/// Separate stretches of deviation after which an entity counts as noisy for a metric.
const NOISY_STRETCHES: usize = 4;

/// What an anomaly is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    ErrorRatio,
    LatencyP50,
    LatencyP99,
    Rate,
}

/// One (entity, metric) that deviated during an incident.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Deviation {
    pub service: String,
    /// The span name, or `-> server` for an edge from `service`.
    pub operation: String,
    pub metric: Metric,
    pub start_ns: u64,
    /// Exclusive: the end of the last anomalous minute.
    pub end_ns: u64,
    /// The most extreme value in the window (ratio, ns or spans/minute).
    pub peak: f64,
    /// The baseline's typical value.
    pub baseline: f64,
    pub score: f64,
}

/// An attribute value over-represented in the anomalous spans.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttributeShift {
    pub key: String,
    pub value: String,
    /// Share of anomalous spans with this value.
    pub anomalous_share: f64,
    /// Share of baseline spans with this value.
    pub baseline_share: f64,
}

/// A span's service and operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Origin {
    pub service: String,
    pub operation: String,
}

/// Deviations that happened together, with where they started.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Incident {
    pub start_ns: u64,
    pub end_ns: u64,
    pub score: f64,
    /// `errors`, `latency` and/or `rate`.
    pub kinds: Vec<String>,
    pub origin: Option<Origin>,
    /// Services whose deviations the origin's explain (the rest of the incident's).
    pub affected_services: Vec<String>,
    pub deviations: Vec<Deviation>,
    pub attributes: Vec<AttributeShift>,
    /// Hex trace ids of anomalous spans of the origin.
    pub sample_trace_ids: Vec<String>,
}

/// The result of [`anomalies`].
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Anomalies {
    pub start_ns: u64,
    pub end_ns: u64,
    pub baseline_start_ns: u64,
    pub baseline_end_ns: u64,
    /// Strongest first.
    pub incidents: Vec<Incident>,
}

#[derive(Clone, Copy, Debug, Default)]
struct MinuteStats {
    count: u64,
    errors: u64,
    /// Spans of this minute and the two before it, which `p50` and `p99` are of.
    rolled_count: u64,
    p50: f64,
    p99: f64,
}

type Entity = (String, String);

/// Finds the incidents of `window` against `baseline` (`None`: the window itself).
pub fn anomalies(
    snapshot: &Snapshot,
    window: TimeRange,
    baseline: Option<TimeRange>,
) -> Result<Anomalies> {
    snapshot.require_all_blocks()?;
    let window = minute_aligned(window);
    let baseline = baseline.map(minute_aligned).unwrap_or(window);
    let span = TimeRange::new(
        window.start_ns.min(baseline.start_ns),
        window.end_ns.max(baseline.end_ns),
    );
    let series = operation_series(snapshot, span)?;
    let graph = service_graph(snapshot, span, None)?;
    let mut deviations = Vec::new();
    for (entity, minutes) in &series {
        deviations.extend(score_entity(entity, minutes, window, baseline));
    }
    // A whole service mixes its operations' error bursts, so it must deviate twice as far.
    for (service, minutes) in service_totals(&series) {
        let entity = (service, "*".to_owned());
        deviations.extend(
            score_entity(&entity, &minutes, window, baseline)
                .into_iter()
                .filter(|d| matches!(d.metric, Metric::ErrorRatio | Metric::Rate))
                .filter(|d| d.score >= 2.0 * Z_THRESHOLD),
        );
    }
    deviations.extend(edge_deviations(&graph, window, baseline));
    let mut incidents: Vec<Incident> = cluster(deviations)
        .into_iter()
        // A p99 moves with a few slow requests of a heavy tail: it supports an incident,
        // it does not make one alone.
        .filter(|devs| devs.iter().any(|d| d.metric != Metric::LatencyP99))
        .map(|devs| incident_of(devs, &graph, &series))
        .collect();
    for inc in &mut incidents {
        attribute_shifts(snapshot, inc, &series, baseline)?;
    }
    incidents.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.start_ns.cmp(&b.start_ns))
    });
    Ok(Anomalies {
        start_ns: window.start_ns,
        end_ns: window.end_ns,
        baseline_start_ns: baseline.start_ns,
        baseline_end_ns: baseline.end_ns,
        incidents,
    })
}

/// Per (service, operation) and minute: count, errors, quantiles, from the rollups (and the
/// unsealed spans).
fn operation_series(
    snapshot: &Snapshot,
    range: TimeRange,
) -> Result<HashMap<Entity, BTreeMap<u64, MinuteStats>>> {
    // Entities are numbered once per block (dictionary ids -> index), so the cells of a
    // block cost no string work.
    let mut series = EntitySeries::default();
    for block in snapshot.blocks() {
        let m = block.meta();
        if !range.overlaps(m.min_start_ns, m.max_start_ns) {
            continue;
        }
        let f = block.footer()?;
        let mut local: HashMap<(u32, u32), usize> = HashMap::new();
        for (key, cell) in &f.rollup().cells {
            let minute = key.minute.saturating_mul(ROLLUP_BUCKET_NS);
            if !range.contains(minute) {
                continue;
            }
            let i = match local.get(&(key.service, key.name)) {
                Some(i) => *i,
                None => {
                    let i = series.entity(f.string(key.service)?, f.string(key.name)?);
                    local.insert((key.service, key.name), i);
                    i
                }
            };
            series.merge(i, minute, cell);
        }
    }
    for s in snapshot.unsealed_spans()? {
        let minute = s.start_ns - s.start_ns % ROLLUP_BUCKET_NS;
        if range.contains(minute) {
            let mut cell = RollupCell::default();
            cell.add(s.duration_ns(), s.is_error());
            let i = series.entity(s.service(), &s.name);
            series.merge(i, minute, &cell);
        }
    }
    Ok(series
        .index
        .into_iter()
        .filter_map(|(entity, i)| Some((entity, rolled_stats(series.cells.get(i)?))))
        .collect())
}

/// Rollup cells per entity and minute, entities numbered in order of appearance.
#[derive(Default)]
struct EntitySeries {
    index: HashMap<Entity, usize>,
    cells: Vec<BTreeMap<u64, RollupCell>>,
}

impl EntitySeries {
    fn entity(&mut self, service: &str, name: &str) -> usize {
        let next = self.index.len();
        let i = *self
            .index
            .entry((service.to_owned(), name.to_owned()))
            .or_insert(next);
        if i == self.cells.len() {
            self.cells.push(BTreeMap::new());
        }
        i
    }

    fn merge(&mut self, entity: usize, minute: u64, cell: &RollupCell) {
        if let Some(minutes) = self.cells.get_mut(entity) {
            minutes.entry(minute).or_default().merge(cell);
        }
    }
}

/// Per minute: its own count and errors, and the quantiles of the three minutes ending
/// with it (one minute of a quiet operation holds too few spans for a stable median).
fn rolled_stats(minutes: &BTreeMap<u64, RollupCell>) -> BTreeMap<u64, MinuteStats> {
    minutes
        .iter()
        .map(|(&m, cell)| {
            let mut rolled = cell.clone();
            for k in 1..3 {
                if let Some(prev) = minutes.get(&m.saturating_sub(k * ROLLUP_BUCKET_NS)) {
                    rolled.merge(prev);
                }
            }
            let stats = MinuteStats {
                count: cell.count,
                errors: cell.errors,
                rolled_count: rolled.count,
                p50: rolled.durations.quantile(0.5).unwrap_or(0.0),
                p99: rolled.durations.quantile(0.99).unwrap_or(0.0),
            };
            (m, stats)
        })
        .collect()
}

/// Per service and minute: the counts and errors of all its operations (latency quantiles
/// do not add up across operations and are left out).
fn service_totals(
    series: &HashMap<Entity, BTreeMap<u64, MinuteStats>>,
) -> BTreeMap<String, BTreeMap<u64, MinuteStats>> {
    let mut out: BTreeMap<String, BTreeMap<u64, MinuteStats>> = BTreeMap::new();
    for ((service, _), minutes) in series {
        let per = out.entry(service.clone()).or_default();
        for (m, s) in minutes {
            let t = per.entry(*m).or_default();
            t.count += s.count;
            t.errors += s.errors;
        }
    }
    out
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// (median, scaled MAD) of `values`.
fn robust(mut values: Vec<f64>) -> (f64, f64) {
    let med = median(&mut values);
    let mut dev: Vec<f64> = values.iter().map(|v| (v - med).abs()).collect();
    (med, 1.4826 * median(&mut dev))
}

fn minutes_in(range: TimeRange) -> impl Iterator<Item = u64> {
    let end = range.end_ns.min(
        range
            .start_ns
            .saturating_add(7 * 24 * 60 * ROLLUP_BUCKET_NS),
    );
    (range.start_ns..end).step_by(ROLLUP_BUCKET_NS as usize)
}

/// The baseline minutes of an entity: those in `baseline`, or the window's own when the
/// baseline holds too few.
fn baseline_minutes<'m>(
    minutes: &'m BTreeMap<u64, MinuteStats>,
    window: TimeRange,
    baseline: TimeRange,
) -> Vec<(u64, &'m MinuteStats)> {
    let pick = |r: TimeRange| -> Vec<(u64, &'m MinuteStats)> {
        minutes
            .range(r.start_ns..r.end_ns)
            .map(|(m, s)| (*m, s))
            .collect()
    };
    let base = pick(baseline);
    if base.len() >= MIN_BASELINE_MINUTES {
        base
    } else {
        pick(window)
    }
}

fn score_entity(
    entity: &Entity,
    minutes: &BTreeMap<u64, MinuteStats>,
    window: TimeRange,
    baseline: TimeRange,
) -> Vec<Deviation> {
    let base = baseline_minutes(minutes, window, baseline);
    if base.len() < 3 {
        return Vec::new();
    }
    let mut flagged: Vec<(Metric, u64, f64, f64, f64)> = Vec::new(); // metric, minute, value, base, z
                                                                     // Errors: excess over the baseline's pooled ratio (its worst tenth of minutes left out),
                                                                     // in units of the baseline's own spread: errors come in bursts (one failing request
                                                                     // fails several spans), so the Poisson variance is scaled by the baseline's dispersion.
    let mut ratios: Vec<f64> = base
        .iter()
        .map(|(_, s)| s.errors as f64 / s.count.max(1) as f64)
        .collect();
    ratios.sort_by(f64::total_cmp);
    let cut = ratios.get(ratios.len() * 3 / 4).copied().unwrap_or(0.0);
    let kept: Vec<&MinuteStats> = base
        .iter()
        .map(|(_, s)| *s)
        .filter(|s| (s.errors as f64 / s.count.max(1) as f64) <= cut)
        .collect();
    let (e, n) = kept
        .iter()
        .fold((0u64, 0u64), |(e, n), s| (e + s.errors, n + s.count));
    let base_ratio = e as f64 / n.max(1) as f64;
    let dispersion = {
        let (mut var, mut mean) = (0.0, 0.0);
        for s in &kept {
            let expected = s.count as f64 * base_ratio;
            var += (s.errors as f64 - expected).powi(2);
            mean += expected;
        }
        if mean > 0.0 {
            (var / mean).clamp(1.0, 25.0)
        } else {
            1.0
        }
    };
    // Latency: medians of the quantiles over busy minutes.
    let busy = |q: fn(&MinuteStats) -> f64| -> (f64, f64) {
        robust(
            base.iter()
                .filter(|(_, s)| s.rolled_count >= 20)
                .map(|(_, s)| q(s))
                .collect(),
        )
    };
    let p50 = busy(|s| s.p50);
    let p99 = busy(|s| s.p99);
    let rate = robust(
        minutes_in(if base.first().is_some_and(|(m, _)| window.contains(*m)) {
            window
        } else {
            baseline
        })
        .map(|m| minutes.get(&m).map_or(0.0, |s| s.count as f64))
        .collect(),
    );
    for m in minutes_in(window) {
        let s = minutes.get(&m).copied().unwrap_or_default();
        // Errors over the last three minutes, so a sustained small excess (a few errors a
        // minute on a quiet operation) adds up to a clear signal.
        let (mut e3, mut n3) = (0u64, 0u64);
        for k in 0..3 {
            if let Some(p) = minutes.get(&m.saturating_sub(k * ROLLUP_BUCKET_NS)) {
                e3 += p.errors;
                n3 += p.count;
            }
        }
        if s.errors >= 1 && e3 >= 5 {
            let expected = n3 as f64 * base_ratio;
            let z = (e3 as f64 - expected) / (expected.max(1.0) * dispersion).sqrt();
            let ratio = e3 as f64 / n3.max(1) as f64;
            if z >= Z_THRESHOLD && ratio >= (2.0 * base_ratio).max(base_ratio + 0.01) {
                flagged.push((Metric::ErrorRatio, m, ratio, base_ratio, z));
            }
        }
        // A quantile of a handful of spans is mostly noise (a p99 of 50 spans is their
        // maximum): p50 needs 20 spans in the three minutes, p99 100.
        for (metric, min_count, value, (med, mad)) in [
            (Metric::LatencyP50, 20, s.p50, p50),
            (Metric::LatencyP99, 100, s.p99, p99),
        ] {
            if s.rolled_count < min_count || med <= 0.0 {
                continue;
            }
            let z = (value - med) / mad.max(0.2 * med);
            if value >= 2.0 * med && z >= Z_THRESHOLD {
                flagged.push((metric, m, value, med, z));
            }
        }
        let (med, mad) = rate;
        if med >= 20.0 {
            let x = s.count as f64;
            let z = (x - med).abs() / mad.max(0.1 * med);
            if (x >= 2.0 * med || x <= 0.3 * med) && z >= Z_THRESHOLD {
                flagged.push((Metric::Rate, m, x, med, z));
            }
        }
    }
    intervals(&entity.0, &entity.1, flagged)
}

/// Merges an entity's flagged minutes per metric into deviations.
fn intervals(
    service: &str,
    operation: &str,
    mut flagged: Vec<(Metric, u64, f64, f64, f64)>,
) -> Vec<Deviation> {
    flagged.sort_by_key(|f| (f.0, f.1));
    let mut out: Vec<(Deviation, usize)> = Vec::new();
    for (metric, minute, value, base, z) in flagged {
        let z = z.min(1000.0);
        match out.last_mut() {
            Some((d, n))
                if d.metric == metric
                    && minute <= d.end_ns + MERGE_GAP_MINUTES * ROLLUP_BUCKET_NS =>
            {
                d.end_ns = minute + ROLLUP_BUCKET_NS;
                let more_extreme = if metric == Metric::Rate {
                    (value - base).abs() > (d.peak - base).abs()
                } else {
                    value > d.peak
                };
                if more_extreme {
                    d.peak = value;
                }
                d.score = d.score.max(z);
                *n += 1;
            }
            _ => out.push((
                Deviation {
                    service: service.to_owned(),
                    operation: operation.to_owned(),
                    metric,
                    start_ns: minute,
                    end_ns: minute + ROLLUP_BUCKET_NS,
                    peak: value,
                    baseline: base,
                    score: z,
                },
                1,
            )),
        }
    }
    // An entity that keeps deviating (four or more separate stretches in the window) is
    // noisy by nature, not in trouble: typically one span name covering calls of very
    // different cost. Its deviations for that metric are dropped.
    let mut stretches: HashMap<Metric, usize> = HashMap::new();
    for (d, _) in &out {
        *stretches.entry(d.metric).or_default() += 1;
    }
    out.retain(|(d, _)| stretches.get(&d.metric).copied().unwrap_or(0) < NOISY_STRETCHES);
    out.into_iter()
        // One minute alone is noise unless it is a burst of errors far beyond chance.
        // Latency is judged on three-minute windows, so one bad minute flags three in a row:
        // a latency deviation needs four.
        .filter(|(d, n)| match d.metric {
            Metric::LatencyP50 | Metric::LatencyP99 => *n >= 4,
            Metric::ErrorRatio => *n >= 2 || d.score >= 4.0 * Z_THRESHOLD,
            Metric::Rate => *n >= 2,
        })
        .map(|(d, _)| d)
        .collect()
}

/// Error-ratio deviations of the service-graph edges.
fn edge_deviations(graph: &ServiceGraph, window: TimeRange, baseline: TimeRange) -> Vec<Deviation> {
    let mut out = Vec::new();
    for e in &graph.edges {
        if !matches!(e.kind, EdgeKind::Direct | EdgeKind::Messaging) {
            continue;
        }
        let minutes: BTreeMap<u64, MinuteStats> = e
            .per_minute
            .iter()
            .map(|m| {
                (
                    m.minute_ns,
                    MinuteStats {
                        count: m.calls,
                        errors: m.errors,
                        ..MinuteStats::default()
                    },
                )
            })
            .collect();
        let entity = (e.client.clone(), format!("-> {}", e.server));
        out.extend(
            score_entity(&entity, &minutes, window, baseline)
                .into_iter()
                .filter(|d| d.metric == Metric::ErrorRatio),
        );
    }
    out
}

/// The family a metric's incidents are formed in: errors, latency and rate changes that
/// merely overlap in time are told apart (a slow service and a failing one are two
/// incidents, each with its own origin).
fn family(metric: Metric) -> u8 {
    match metric {
        Metric::ErrorRatio => 0,
        Metric::LatencyP50 | Metric::LatencyP99 => 1,
        Metric::Rate => 2,
    }
}

/// Groups deviations of one family that overlap in time (with slack) into incidents.
fn cluster(mut deviations: Vec<Deviation>) -> Vec<Vec<Deviation>> {
    deviations.sort_by_key(|d| (family(d.metric), d.start_ns, d.end_ns));
    let mut groups: Vec<(u8, u64, Vec<Deviation>)> = Vec::new();
    for d in deviations {
        let f = family(d.metric);
        match groups.last_mut() {
            Some((gf, end, devs))
                if *gf == f && d.start_ns <= *end + MERGE_GAP_MINUTES * ROLLUP_BUCKET_NS =>
            {
                *end = (*end).max(d.end_ns);
                devs.push(d);
            }
            _ => groups.push((f, d.end_ns, vec![d])),
        }
    }
    groups.into_iter().map(|(_, _, d)| d).collect()
}

fn incident_of(
    mut deviations: Vec<Deviation>,
    graph: &ServiceGraph,
    series: &HashMap<Entity, BTreeMap<u64, MinuteStats>>,
) -> Incident {
    deviations.sort_by(|a, b| b.score.total_cmp(&a.score));
    let start_ns = deviations.iter().map(|d| d.start_ns).min().unwrap_or(0);
    let end_ns = deviations.iter().map(|d| d.end_ns).max().unwrap_or(0);
    let score = deviations.first().map_or(0.0, |d| d.score);
    let kinds: BTreeSet<&str> = deviations
        .iter()
        .map(|d| match d.metric {
            Metric::ErrorRatio => "errors",
            Metric::LatencyP50 | Metric::LatencyP99 => "latency",
            Metric::Rate => "rate",
        })
        .collect();
    // Service scores: a deviating operation implicates its service; a deviating edge
    // implicates both ends (its callee may show nothing else when its own traffic is
    // dominated by healthy calls).
    let mut services: BTreeMap<&str, f64> = BTreeMap::new();
    // An RPC client span is named after the method it calls (`package.Service/Method`, no
    // spaces, unlike HTTP's generic `GET` or `GET /route`): it implicates the callee that
    // serves a method of that name.
    let callee_serving = |d: &Deviation| -> Option<&str> {
        if !d.operation.contains('/') || d.operation.contains(' ') {
            return None;
        }
        graph
            .edges
            .iter()
            .filter(|e| e.client == d.service && e.kind == EdgeKind::Direct)
            .map(|e| e.server.as_str())
            .find(|server| series.contains_key(&(server.to_string(), d.operation.clone())))
    };
    for d in &deviations {
        let implicated = [
            Some(d.service.as_str()),
            d.operation.strip_prefix("-> "),
            callee_serving(d),
        ];
        for service in implicated.into_iter().flatten() {
            let s = services.entry(service).or_default();
            *s = s.max(d.score);
        }
    }
    let has_anomalous_callee = |service: &str| {
        graph.edges.iter().any(|e| {
            e.client == service
                && e.server != service
                && matches!(e.kind, EdgeKind::Direct | EdgeKind::Messaging)
                && services.contains_key(e.server.as_str())
        })
    };
    let origin_service = services
        .iter()
        .filter(|(s, _)| !has_anomalous_callee(s))
        .max_by(|a, b| a.1.total_cmp(b.1))
        .or_else(|| services.iter().max_by(|a, b| a.1.total_cmp(b.1)))
        .map(|(s, _)| (*s).to_owned());
    let origin = origin_service.as_ref().map(|service| {
        let operation = deviations
            .iter()
            .filter(|d| &d.service == service && !d.operation.starts_with("-> "))
            .filter(|d| d.operation != "*")
            .max_by(|a, b| a.score.total_cmp(&b.score))
            .map_or_else(|| "*".to_owned(), |d| d.operation.clone());
        Origin {
            service: service.clone(),
            operation,
        }
    });
    let affected_services = services
        .keys()
        .filter(|s| Some(**s) != origin_service.as_deref())
        .map(|s| (*s).to_owned())
        .collect();
    Incident {
        start_ns,
        end_ns,
        score,
        kinds: kinds.into_iter().map(str::to_owned).collect(),
        origin,
        affected_services,
        deviations,
        attributes: Vec::new(),
        sample_trace_ids: Vec::new(),
    }
}

/// The attribute values over-represented in the origin operation's anomalous spans, and
/// example traces.
fn attribute_shifts(
    snapshot: &Snapshot,
    incident: &mut Incident,
    series: &HashMap<Entity, BTreeMap<u64, MinuteStats>>,
    baseline: TimeRange,
) -> Result<()> {
    let Some(origin) = incident.origin.clone() else {
        return Ok(());
    };
    let errors = incident
        .deviations
        .iter()
        .any(|d| d.service == origin.service && d.metric == Metric::ErrorRatio);
    let entity = (origin.service.clone(), origin.operation.clone());
    let slow_ns = series
        .get(&entity)
        .map(|m| {
            robust(
                m.range(baseline.start_ns..baseline.end_ns)
                    .filter(|(t, _)| !(incident.start_ns..incident.end_ns).contains(*t))
                    .filter(|(_, s)| s.count >= 5)
                    .map(|(_, s)| s.p99)
                    .collect(),
            )
            .0
        })
        .unwrap_or(0.0);
    let scan = |start: u64, end: u64| -> Result<Vec<Span>> {
        let filter = ScanFilter {
            start_ns: Some(start),
            end_ns: Some(end),
            service: Some(origin.service.clone()),
            name: Some(origin.operation.clone()),
            ..ScanFilter::default()
        };
        let mut out = Vec::new();
        for b in snapshot.blocks() {
            if filter.overlaps(b) {
                out.extend(filter.block_spans(b)?);
            }
        }
        out.extend(
            snapshot
                .unsealed_spans()?
                .filter(|s| filter.matches(s))
                .cloned(),
        );
        Ok(out)
    };
    let during = scan(incident.start_ns, incident.end_ns)?;
    let anomalous: Vec<&Span> = during
        .iter()
        .filter(|s| {
            if errors {
                s.is_error()
            } else {
                slow_ns > 0.0 && s.duration_ns() as f64 > slow_ns
            }
        })
        .collect();
    // The baseline spans: the same length of time just before the incident (or after, when
    // the incident starts the baseline), never the incident itself.
    let len = incident.end_ns - incident.start_ns;
    let (b_start, b_end) = if incident.start_ns >= baseline.start_ns + len {
        (incident.start_ns - len, incident.start_ns)
    } else {
        (incident.end_ns, incident.end_ns.saturating_add(len))
    };
    let before = scan(b_start, b_end)?;
    let before: Vec<&Span> = before.iter().filter(|s| !s.is_error()).collect();
    incident.attributes = over_represented(&anomalous, &before);
    let mut samples: BTreeSet<TraceId> = BTreeSet::new();
    for s in &anomalous {
        if samples.len() >= SAMPLE_TRACES {
            break;
        }
        samples.insert(s.trace_id);
    }
    incident.sample_trace_ids = samples.iter().map(|t| t.to_string()).collect();
    Ok(())
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) if s.len() <= 64 => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn value_counts(spans: &[&Span]) -> HashMap<(String, String), u64> {
    let mut counts = HashMap::new();
    for s in spans {
        let exception_types = s
            .events
            .iter()
            .flat_map(|e| e.attributes.iter().filter(|a| a.key == "exception.type"));
        for kv in s.attributes.iter().chain(exception_types) {
            if let Some(v) = value_text(&kv.value) {
                *counts.entry((kv.key.clone(), v)).or_default() += 1;
            }
        }
    }
    counts
}

fn over_represented(anomalous: &[&Span], baseline: &[&Span]) -> Vec<AttributeShift> {
    if anomalous.is_empty() {
        return Vec::new();
    }
    let a = value_counts(anomalous);
    let b = value_counts(baseline);
    let (na, nb) = (anomalous.len() as f64, baseline.len().max(1) as f64);
    let mut shifts: Vec<(f64, AttributeShift)> = a
        .into_iter()
        // Values seen on a single anomalous span (ids) say nothing.
        .filter(|(_, c)| *c >= 2 && *c as f64 / na >= 0.2)
        .map(|((key, value), c)| {
            let base = b.get(&(key.clone(), value.clone())).copied().unwrap_or(0) as f64;
            let (sa, sb) = (c as f64 / na, base / nb);
            // Add-one smoothing so a value absent from the baseline ranks high, not infinite.
            let lift = sa / ((base + 1.0) / (nb + 1.0));
            (
                lift,
                AttributeShift {
                    key,
                    value,
                    anomalous_share: sa,
                    baseline_share: sb,
                },
            )
        })
        .filter(|(lift, _)| *lift >= 2.0)
        .collect();
    shifts.sort_by(|x, y| {
        y.0.total_cmp(&x.0)
            .then_with(|| (&x.1.key, &x.1.value).cmp(&(&y.1.key, &y.1.value)))
    });
    shifts.truncate(MAX_ATTRIBUTES);
    shifts.into_iter().map(|(_, s)| s).collect()
}
