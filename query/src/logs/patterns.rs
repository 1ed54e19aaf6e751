//! Log patterns: bodies mined into templates by the same Drain-style miner as exception
//! messages ([`crate::analysis::template::TemplateMiner`], one implementation), each with its
//! count, per-minute trend, severity mix, services and an example; a pattern with no record
//! in the baseline window is flagged new.

use std::collections::BTreeMap;

use serde::Serialize;

use super::filter::LogQuery;
use super::search::scan_logs;
use crate::analysis::TemplateMiner;
use crate::error::Result;
use crate::plan::TimeRange;
use spandb_storage::{severity_name, LogRecord, Snapshot};

/// One mined pattern.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogPattern {
    pub template: String,
    pub count: u64,
    /// Records in the baseline window that joined this pattern.
    pub baseline_count: u64,
    /// No record of the baseline window has this pattern.
    pub new: bool,
    /// Records per minute over the window, oldest first (`minute_start_ns` + i minutes).
    pub per_minute: Vec<u64>,
    /// Records per severity range name (`info`, `error`...).
    pub severities: BTreeMap<String, u64>,
    /// Records per service.
    pub services: BTreeMap<String, u64>,
    /// The body of the first record that formed the pattern.
    pub example: String,
}

impl LogPattern {
    /// Adds another cluster's records with the same template to this pattern.
    fn absorb(&mut self, other: LogPattern) {
        self.count += other.count;
        self.baseline_count += other.baseline_count;
        for (slot, n) in self.per_minute.iter_mut().zip(other.per_minute) {
            *slot += n;
        }
        for (k, n) in other.severities {
            *self.severities.entry(k).or_default() += n;
        }
        for (k, n) in other.services {
            *self.services.entry(k).or_default() += n;
        }
    }
}

/// The patterns of a window.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogPatterns {
    pub range: (u64, u64),
    pub baseline: Option<(u64, u64)>,
    pub minute_start_ns: u64,
    pub records: u64,
    /// Most frequent first.
    pub patterns: Vec<LogPattern>,
}

const MINUTE_NS: u64 = 60_000_000_000;

/// Mines the bodies of the records matching `q` in `range` (and, when given, those of
/// `baseline` first, so its patterns are known).
pub fn log_patterns(
    snap: &Snapshot,
    q: &LogQuery,
    range: TimeRange,
    baseline: Option<TimeRange>,
) -> Result<LogPatterns> {
    let base = match baseline {
        Some(b) => scan_logs(snap, q, b)?,
        None => Vec::new(),
    };
    let logs = scan_logs(snap, q, range)?;
    Ok(mine(&base, &logs, range, baseline))
}

/// [`log_patterns`] on records already read (oldest first).
pub fn mine(
    base: &[LogRecord],
    logs: &[LogRecord],
    range: TimeRange,
    baseline: Option<TimeRange>,
) -> LogPatterns {
    let mut miner = TemplateMiner::default();
    let mut base_counts: Vec<u64> = Vec::new();
    for l in base {
        let c = miner.add(&l.body_text());
        if base_counts.len() <= c {
            base_counts.resize(c + 1, 0);
        }
        if let Some(n) = base_counts.get_mut(c) {
            *n += 1;
        }
    }
    let first = logs.first().map_or(range.start_ns, |l| l.timestamp_ns());
    let last = logs.last().map_or(first, |l| l.timestamp_ns());
    let start = if range.start_ns > 0 {
        range.start_ns
    } else {
        first
    };
    let minute_start_ns = start - start % MINUTE_NS;
    let minutes = ((last.max(minute_start_ns) - minute_start_ns) / MINUTE_NS + 1) as usize;
    let mut by_cluster: BTreeMap<usize, LogPattern> = BTreeMap::new();
    for l in logs {
        let body = l.body_text();
        let c = miner.add(&body);
        let p = by_cluster.entry(c).or_insert_with(|| LogPattern {
            template: String::new(),
            count: 0,
            baseline_count: 0,
            new: false,
            per_minute: vec![0; minutes.min(24 * 60)],
            severities: BTreeMap::new(),
            services: BTreeMap::new(),
            example: body.to_string(),
        });
        p.count += 1;
        let m = ((l.timestamp_ns().saturating_sub(minute_start_ns)) / MINUTE_NS) as usize;
        if let Some(slot) = p.per_minute.get_mut(m) {
            *slot += 1;
        }
        *p.severities
            .entry(severity_name(l.severity_number).to_owned())
            .or_default() += 1;
        *p.services.entry(l.service().to_owned()).or_default() += 1;
    }
    // Clusters whose templates ended up equal (they grew apart in the tree, then converged)
    // are one pattern to a reader: merged by template text.
    let mut by_template: BTreeMap<String, LogPattern> = BTreeMap::new();
    for (c, mut p) in by_cluster {
        p.template = miner.template(c);
        p.baseline_count = base_counts.get(c).copied().unwrap_or(0);
        match by_template.entry(p.template.clone()) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(p);
            }
            std::collections::btree_map::Entry::Occupied(mut o) => o.get_mut().absorb(p),
        }
    }
    let mut patterns: Vec<LogPattern> = by_template
        .into_values()
        .map(|mut p| {
            p.new = baseline.is_some() && p.baseline_count == 0;
            p
        })
        .collect();
    patterns.sort_by(|a, b| b.count.cmp(&a.count).then(a.template.cmp(&b.template)));
    LogPatterns {
        range: (range.start_ns, range.end_ns),
        baseline: baseline.map(|b| (b.start_ns, b.end_ns)),
        minute_start_ns,
        records: logs.len() as u64,
        patterns,
    }
}
