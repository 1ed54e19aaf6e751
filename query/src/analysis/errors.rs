//! Exception tracking: error spans of a time range grouped by service, exception type and
//! message template, each group with where its failures started.
//!
//! Error spans come from each block's error-status bitmap, so only row groups holding an
//! error are decoded, and only for those rows. An occurrence is an `exception` event of an
//! error span (`exception.type`, `exception.message`, `exception.stacktrace`), or the error
//! span itself (its status message) when it has none. Exception events on spans whose status
//! is not error were handled by the application and are not counted.
//!
//! Messages are mined into templates per (service, exception type) with
//! [`super::template::TemplateMiner`], in sorted order so the answer is deterministic.
//! Stack traces are fingerprinted by their top [`TOP_FRAMES`] frames (digits dropped, so line
//! numbers do not split a fingerprint); fingerprints describe a group, they do not split it.
//!
//! **Origin**: in each trace, the error spans form a forest by parent; an error span none
//! of whose children failed is where a failure started. Each error span is attributed to
//! the deepest origin below it, and the services of the error spans above an occurrence are
//! the services the failure propagated to.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hasher;

use rustc_hash::{FxHashMap, FxHasher};
use serde::Serialize;
use spandb_storage::{severity_name, LogRecord, Snapshot, Span, SpanId, SpanParts, TraceId, Value};

use super::template::TemplateMiner;
use crate::error::Result;
use crate::exec::scan::parallel_blocks;
use crate::logs::span_logs;
use crate::plan::TimeRange;

/// Frames of a stack trace that make its fingerprint.
pub const TOP_FRAMES: usize = 3;
/// Sample trace ids kept per group.
pub const SAMPLE_TRACES: usize = 5;
/// Entries kept in a group's operation, origin, stack and propagation lists.
pub const TOP_ENTRIES: usize = 10;
/// Example log lines kept per group.
pub const SAMPLE_LOGS: usize = 3;

const MINUTE_NS: u64 = 60_000_000_000;

/// A name and how often it occurred.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NameCount {
    pub name: String,
    pub count: u64,
}

/// Occurrences in one minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct MinuteCount {
    /// Start of the minute, unix ns.
    pub minute_ns: u64,
    pub count: u64,
}

/// A stack-trace fingerprint: its top frames as written (digits dropped).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StackCount {
    /// 16 hex characters.
    pub fingerprint: String,
    pub top_frames: Vec<String>,
    pub count: u64,
}

/// Where the failures of a group started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OriginCount {
    pub service: String,
    pub operation: String,
    pub count: u64,
}

/// A log record as a group shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Unix ns (the record's time, else its observed time).
    pub time_ns: u64,
    /// The severity text, else the name of its severity number's range (upper case).
    pub severity: String,
    pub service: String,
    /// The body as text.
    pub body: String,
    /// 32 hex characters.
    pub trace_id: String,
    /// 16 hex characters.
    pub span_id: String,
}

impl LogLine {
    fn of(l: &LogRecord) -> Self {
        LogLine {
            time_ns: l.timestamp_ns(),
            severity: if l.severity_text.is_empty() {
                severity_name(l.severity_number).to_uppercase()
            } else {
                l.severity_text.clone()
            },
            service: l.service().to_owned(),
            body: l.body_text().into_owned(),
            trace_id: l.trace_id.to_string(),
            span_id: l.span_id.to_string(),
        }
    }
}

/// The log records joined to a group's error spans (by trace id and span id).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GroupLogs {
    /// Records joined to the group's error spans.
    pub count: u64,
    /// Those of severity error or worse (number 17 and up).
    pub errors: u64,
    /// The newest [`SAMPLE_LOGS`], newest first.
    pub examples: Vec<LogLine>,
}

/// One group of errors.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ErrorGroup {
    pub service: String,
    /// `exception.type`; `None` for error spans without an exception event.
    pub exception_type: Option<String>,
    /// The message template (`<*>` for variable parts); the status message for error spans
    /// without an exception event.
    pub template: String,
    /// One message of the group as it was recorded.
    pub sample_message: String,
    pub count: u64,
    /// Distinct traces with an occurrence.
    pub traces: u64,
    /// Occurrence times (the exception event's time, or the span's end), unix ns.
    pub first_seen_ns: u64,
    pub last_seen_ns: u64,
    /// Minutes without occurrences are left out.
    pub per_minute: Vec<MinuteCount>,
    /// Span names the group occurs in, most first.
    pub operations: Vec<NameCount>,
    /// Newest first (32 hex characters each).
    pub sample_trace_ids: Vec<String>,
    /// Most first; empty when no occurrence had a stack trace.
    pub stacks: Vec<StackCount>,
    /// Where the failures started, most first.
    pub origins: Vec<OriginCount>,
    /// Share of occurrences that are their own origin (0 to 1).
    pub origin_share: f64,
    /// Services the failures propagated to (error spans above the occurrences), most first.
    pub propagated_to: Vec<NameCount>,
    /// Not seen in the baseline window (always false without a baseline).
    pub new: bool,
    /// Log records of the group's error spans.
    pub logs: GroupLogs,
}

/// The error groups of a range.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ErrorGroups {
    pub start_ns: u64,
    pub end_ns: u64,
    pub baseline: Option<(u64, u64)>,
    /// Error spans in the range.
    pub error_spans: u64,
    /// Most occurrences first.
    pub groups: Vec<ErrorGroup>,
}

/// Error groups of spans starting in `range`; groups whose key never occurs in `baseline`
/// are flagged `new`.
pub fn error_groups(
    snapshot: &Snapshot,
    range: TimeRange,
    baseline: Option<TimeRange>,
) -> Result<ErrorGroups> {
    let current = error_spans(snapshot, range)?;
    let before = match baseline {
        Some(b) => error_spans(snapshot, b)?,
        None => Vec::new(),
    };
    let (mut groups, spans) = grouped(&current, &before, range, baseline);
    attach_logs(snapshot, &mut groups.groups, &spans)?;
    Ok(groups)
}

/// Fills each group's [`GroupLogs`] from the records of its error spans (`spans[i]` are the
/// spans of `groups[i]`). A span in several groups lends its records to each.
fn attach_logs(
    snapshot: &Snapshot,
    groups: &mut [ErrorGroup],
    spans: &[BTreeSet<(TraceId, SpanId)>],
) -> Result<()> {
    let mut owners: FxHashMap<(TraceId, SpanId), Vec<usize>> = FxHashMap::default();
    for (g, set) in spans.iter().enumerate() {
        for key in set {
            owners.entry(*key).or_default().push(g);
        }
    }
    let all: BTreeSet<(TraceId, SpanId)> = owners.keys().copied().collect();
    let mut records = span_logs(snapshot, &all)?;
    // Newest first, ties by body, so the examples do not depend on block order.
    records.sort_by(|a, b| {
        b.timestamp_ns()
            .cmp(&a.timestamp_ns())
            .then_with(|| a.body_text().cmp(&b.body_text()))
    });
    for l in &records {
        for &g in owners.get(&(l.trace_id, l.span_id)).into_iter().flatten() {
            let Some(group) = groups.get_mut(g) else {
                continue;
            };
            let logs = &mut group.logs;
            logs.count += 1;
            if l.severity_number >= 17 {
                logs.errors += 1;
            }
            if logs.examples.len() < SAMPLE_LOGS {
                logs.examples.push(LogLine::of(l));
            }
        }
    }
    Ok(())
}

/// Every error span starting in `range`: the error bitmap of each block whose spans may
/// start in it, then the unsealed spans. Sealed spans are rebuilt with their core and events
/// only (attributes, links and extras stay empty): grouping reads nothing else, and skipping
/// the attribute columns is most of the decode.
pub fn error_spans(snapshot: &Snapshot, range: TimeRange) -> Result<Vec<Span>> {
    snapshot.require_all_blocks()?;
    let blocks: Vec<_> = snapshot
        .blocks()
        .filter(|b| {
            let f = b.meta();
            f.rows > 0 && range.overlaps(f.min_start_ns, f.max_start_ns)
        })
        .cloned()
        .collect();
    let parts = parallel_blocks(&blocks, Vec::<Span>::new, |block, acc| {
        let f = block.footer()?;
        let rows = f.error_rows();
        if !rows.is_empty() {
            acc.extend(
                block
                    .spans_at_with(rows, SpanParts::EVENTS_ONLY)?
                    .into_iter()
                    .map(|(_, s)| s)
                    .filter(|s| range.contains(s.start_ns)),
            );
        }
        Ok(())
    })?;
    let mut out: Vec<Span> = parts.into_iter().flatten().collect();
    out.extend(
        snapshot
            .unsealed_spans()?
            .filter(|s| s.is_error() && range.contains(s.start_ns))
            .cloned(),
    );
    Ok(out)
}

/// One exception (or bare error span).
struct Occurrence<'s> {
    span: usize,
    exception_type: Option<&'s str>,
    message: &'s str,
    stack: Option<&'s str>,
    time_ns: u64,
}

fn occurrences(spans: &[Span]) -> Vec<Occurrence<'_>> {
    let mut out = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        let mut found = false;
        for e in s.events.iter().filter(|e| e.name == "exception") {
            let attr = |k: &str| {
                e.attributes
                    .iter()
                    .find(|kv| kv.key == k)
                    .and_then(|kv| match &kv.value {
                        Value::Str(v) => Some(v.as_str()),
                        _ => None,
                    })
            };
            found = true;
            out.push(Occurrence {
                span: i,
                exception_type: attr("exception.type"),
                message: attr("exception.message").unwrap_or(""),
                stack: attr("exception.stacktrace"),
                time_ns: e.time_ns,
            });
        }
        if !found {
            out.push(Occurrence {
                span: i,
                exception_type: None,
                message: &s.status_message,
                stack: None,
                time_ns: s.end_ns.max(s.start_ns),
            });
        }
    }
    out
}

type GroupKey<'s> = (&'s str, Option<&'s str>, String);

#[derive(Default)]
struct Acc<'s> {
    count: u64,
    traces: BTreeSet<TraceId>,
    first: u64,
    last: u64,
    per_minute: BTreeMap<u64, u64>,
    operations: FxHashMap<&'s str, u64>,
    samples: Vec<(u64, TraceId)>,
    stacks: FxHashMap<u64, (Vec<String>, u64)>,
    origins: FxHashMap<(&'s str, &'s str), u64>,
    own_origin: u64,
    propagated: FxHashMap<&'s str, u64>,
    sample_message: &'s str,
    spans: BTreeSet<(TraceId, SpanId)>,
}

/// Groups the occurrences of `current`; `baseline` spans only decide which groups are new.
/// Groups carry no logs (see [`error_groups`]).
pub fn group_errors(
    current: &[Span],
    baseline: &[Span],
    range: TimeRange,
    baseline_range: Option<TimeRange>,
) -> ErrorGroups {
    grouped(current, baseline, range, baseline_range).0
}

/// [`group_errors`], and the (trace id, span id) of each group's error spans, in the order
/// of the groups.
fn grouped<'s>(
    current: &'s [Span],
    baseline: &'s [Span],
    range: TimeRange,
    baseline_range: Option<TimeRange>,
) -> (ErrorGroups, Vec<BTreeSet<(TraceId, SpanId)>>) {
    let occ = occurrences(current);
    let base_occ = occurrences(baseline);
    // One miner per (service, type), fed every distinct message of both windows in sorted
    // order so templates agree between them and do not depend on block order.
    let mut messages: BTreeMap<(&str, Option<&str>), BTreeSet<&str>> = BTreeMap::new();
    for (spans, list) in [(current, &occ), (baseline, &base_occ)] {
        for o in list.iter() {
            messages
                .entry((spans[o.span].service(), o.exception_type))
                .or_default()
                .insert(o.message);
        }
    }
    let mut templates: Templates<'s> = FxHashMap::default();
    for (key, msgs) in &messages {
        let mut miner = TemplateMiner::default();
        let ids: Vec<_> = msgs.iter().map(|m| (*m, miner.add(m))).collect();
        for (m, c) in ids {
            templates.insert((key.0, key.1, m), miner.template(c));
        }
    }
    let key_of = |spans: &'s [Span], o: &Occurrence<'s>| key_of(&templates, spans, o);
    let baseline_keys: BTreeSet<(&str, Option<&str>, String)> =
        base_occ.iter().map(|o| key_of(baseline, o)).collect();
    let chains = ErrorForest::new(current);
    let mut groups: BTreeMap<GroupKey<'_>, Acc<'_>> = BTreeMap::new();
    for o in &occ {
        let span = &current[o.span];
        let a = groups.entry(key_of(current, o)).or_insert_with(|| Acc {
            first: u64::MAX,
            sample_message: o.message,
            ..Acc::default()
        });
        a.count += 1;
        a.traces.insert(span.trace_id);
        a.spans.insert((span.trace_id, span.span_id));
        a.first = a.first.min(o.time_ns);
        a.last = a.last.max(o.time_ns);
        *a.per_minute
            .entry(o.time_ns / MINUTE_NS * MINUTE_NS)
            .or_default() += 1;
        *a.operations.entry(span.name.as_str()).or_default() += 1;
        a.samples.push((o.time_ns, span.trace_id));
        if let Some(stack) = o.stack {
            let (fp, frames) = fingerprint(stack);
            a.stacks.entry(fp).or_insert((frames, 0)).1 += 1;
        }
        let origin = chains.origin(o.span);
        if origin == o.span {
            a.own_origin += 1;
        }
        let os = &current[origin];
        *a.origins
            .entry((os.service(), os.name.as_str()))
            .or_default() += 1;
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        for up in chains.ancestors(o.span) {
            let svc = current[up].service();
            if svc != span.service() && seen.insert(svc) {
                *a.propagated.entry(svc).or_default() += 1;
            }
        }
    }
    let mut out: Vec<(ErrorGroup, BTreeSet<(TraceId, SpanId)>)> = groups
        .into_iter()
        .map(|((service, exception_type, template), mut a)| {
            a.samples.sort_by(|x, y| y.cmp(x));
            a.samples.dedup_by_key(|s| s.1);
            let mut sample_trace_ids: Vec<String> = Vec::new();
            for (_, t) in &a.samples {
                let t = t.to_string();
                if !sample_trace_ids.contains(&t) {
                    sample_trace_ids.push(t);
                }
                if sample_trace_ids.len() == SAMPLE_TRACES {
                    break;
                }
            }
            let new = baseline_range.is_some()
                && !baseline_keys.contains(&(service, exception_type, template.clone()));
            let mut stacks: Vec<StackCount> = a
                .stacks
                .into_iter()
                .map(|(fp, (top_frames, count))| StackCount {
                    fingerprint: format!("{fp:016x}"),
                    top_frames,
                    count,
                })
                .collect();
            stacks.sort_by(|x, y| {
                y.count
                    .cmp(&x.count)
                    .then(x.fingerprint.cmp(&y.fingerprint))
            });
            stacks.truncate(TOP_ENTRIES);
            let mut origins: Vec<OriginCount> = a
                .origins
                .into_iter()
                .map(|((s, op), count)| OriginCount {
                    service: s.to_owned(),
                    operation: op.to_owned(),
                    count,
                })
                .collect();
            origins.sort_by(|x, y| {
                y.count
                    .cmp(&x.count)
                    .then_with(|| (&x.service, &x.operation).cmp(&(&y.service, &y.operation)))
            });
            origins.truncate(TOP_ENTRIES);
            let group = ErrorGroup {
                service: service.to_owned(),
                exception_type: exception_type.map(str::to_owned),
                template,
                sample_message: a.sample_message.to_owned(),
                count: a.count,
                traces: a.traces.len() as u64,
                first_seen_ns: a.first,
                last_seen_ns: a.last,
                per_minute: a
                    .per_minute
                    .into_iter()
                    .map(|(minute_ns, count)| MinuteCount { minute_ns, count })
                    .collect(),
                operations: top(a.operations),
                sample_trace_ids,
                stacks,
                origins,
                origin_share: a.own_origin as f64 / a.count.max(1) as f64,
                propagated_to: top(a.propagated),
                new,
                logs: GroupLogs::default(),
            };
            (group, a.spans)
        })
        .collect();
    out.sort_by(|(x, _), (y, _)| {
        y.count.cmp(&x.count).then_with(|| {
            (&x.service, &x.exception_type, &x.template).cmp(&(
                &y.service,
                &y.exception_type,
                &y.template,
            ))
        })
    });
    let (out, spans): (Vec<ErrorGroup>, Vec<_>) = out.into_iter().unzip();
    let groups = ErrorGroups {
        start_ns: range.start_ns,
        end_ns: range.end_ns,
        baseline: baseline_range.map(|b| (b.start_ns, b.end_ns)),
        error_spans: current.len() as u64,
        groups: out,
    };
    (groups, spans)
}

type Templates<'s> = FxHashMap<(&'s str, Option<&'s str>, &'s str), String>;

fn key_of<'s>(templates: &Templates<'s>, spans: &'s [Span], o: &Occurrence<'s>) -> GroupKey<'s> {
    let svc = spans[o.span].service();
    let template = templates
        .get(&(svc, o.exception_type, o.message))
        .cloned()
        .unwrap_or_default();
    (svc, o.exception_type, template)
}

fn top(map: FxHashMap<&str, u64>) -> Vec<NameCount> {
    let mut v: Vec<NameCount> = map
        .into_iter()
        .map(|(name, count)| NameCount {
            name: name.to_owned(),
            count,
        })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    v.truncate(TOP_ENTRIES);
    v
}

/// The error spans of each trace as a forest by parent id.
struct ErrorForest {
    parent: Vec<Option<usize>>,
    origin: Vec<usize>,
}

impl ErrorForest {
    fn new(spans: &[Span]) -> Self {
        let n = spans.len();
        let by_id: FxHashMap<(TraceId, SpanId), usize> = spans
            .iter()
            .enumerate()
            .map(|(i, s)| ((s.trace_id, s.span_id), i))
            .collect();
        let parent: Vec<Option<usize>> = spans
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.parent_span_id
                    .and_then(|p| by_id.get(&(s.trace_id, p)).copied())
                    .filter(|&p| p != i)
            })
            .collect();
        let mut has_error_child = vec![false; n];
        for p in parent.iter().flatten() {
            has_error_child[*p] = true;
        }
        // Depth of each origin below its topmost error ancestor decides between origins;
        // walks stop after n steps so a parent cycle cannot loop.
        let mut origin: Vec<usize> = (0..n).collect();
        let mut origin_depth: Vec<usize> = vec![0; n];
        for leaf in (0..n).filter(|&i| !has_error_child[i]) {
            let mut chain = vec![leaf];
            let mut cur = leaf;
            while let Some(p) = parent[cur] {
                if chain.len() > n {
                    break;
                }
                chain.push(p);
                cur = p;
            }
            let depth = chain.len();
            for &up in &chain[1..] {
                if origin[up] == up || depth > origin_depth[up] {
                    origin[up] = leaf;
                    origin_depth[up] = depth;
                }
            }
        }
        ErrorForest { parent, origin }
    }

    /// The error span where the failure of error span `i` started (`i` itself when none
    /// of its children failed).
    fn origin(&self, i: usize) -> usize {
        self.origin.get(i).copied().unwrap_or(i)
    }

    /// The error spans above `i`, nearest first.
    fn ancestors(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        let mut cur = i;
        let mut steps = 0;
        std::iter::from_fn(move || {
            steps += 1;
            if steps > self.parent.len() {
                return None;
            }
            let p = self.parent.get(cur).copied().flatten()?;
            cur = p;
            Some(p)
        })
    }
}

/// The fingerprint of a stack trace and its top frames. Frames are the lines after the
/// first (the `Type: message` line) that name code: Python tracebacks list the innermost
/// call last, so theirs are read from the end; Go's file-and-line lines are skipped.
pub fn fingerprint(stack: &str) -> (u64, Vec<String>) {
    let mut lines = stack.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("");
    let python = first.starts_with("Traceback");
    let mut frames: Vec<String> = lines
        .filter(|l| !l.starts_with('/') && !l.starts_with("...") && !l.starts_with("goroutine"))
        .filter(|l| !python || l.starts_with("File "))
        .map(|l| l.chars().filter(|c| !c.is_ascii_digit()).collect())
        .collect();
    if python {
        frames.reverse();
    }
    frames.truncate(TOP_FRAMES);
    let mut h = FxHasher::default();
    for f in &frames {
        h.write(f.as_bytes());
        h.write_u8(0xff);
    }
    (h.finish(), frames)
}
