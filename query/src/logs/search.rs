//! Running a log query: newest records first, up to a limit. Per log block the footer's
//! indexes (trace table, service and severity bitmaps, attribute values, body trigram
//! blooms) give a superset of the matching rows; only row groups holding candidates are
//! decoded, newest first, and every candidate is checked exactly. Blocks and groups whose
//! newest record is older than the limit-th match so far are skipped.

use roaring::RoaringBitmap;

use super::filter::{LineFilter, LogCond, LogField, LogQuery, LogValue};
use crate::ast::Op;
use crate::error::Result;
use crate::plan::TimeRange;
use spandb_storage::{LogBlockReader, LogRecord, Snapshot};

/// Options of [`search_logs`].
#[derive(Clone, Copy, Debug)]
pub struct LogSearch {
    pub range: TimeRange,
    /// At most this many records (the newest). Defaults to 100.
    pub limit: usize,
}

impl Default for LogSearch {
    fn default() -> Self {
        LogSearch {
            range: TimeRange::ALL,
            limit: 100,
        }
    }
}

/// Rows of `b` that may match `cond` (a superset), from the footer alone.
fn candidates(b: &LogBlockReader, cond: &LogCond) -> RoaringBitmap {
    match cond {
        LogCond::True => b.all_rows(),
        LogCond::And(x, y) => {
            let left = candidates(b, x);
            if left.is_empty() {
                return left;
            }
            left & candidates(b, y)
        }
        LogCond::Or(x, y) => candidates(b, x) | candidates(b, y),
        LogCond::Cmp {
            field,
            op,
            value,
            regex,
        } => match (field, op, value) {
            (LogField::Service, _, _) => {
                let probe = LogCond::Cmp {
                    field: LogField::Service,
                    op: *op,
                    value: value.clone(),
                    regex: regex.clone(),
                };
                let mut r = LogRecord::default();
                b.rows_by_service(|s| {
                    r.resource = std::sync::Arc::new(spandb_storage::Resource {
                        attributes: vec![spandb_storage::KeyValue::new(
                            "service.name",
                            spandb_storage::Value::Str(s.to_owned()),
                        )],
                        ..Default::default()
                    });
                    probe.matches(&r)
                })
            }
            (LogField::Severity, _, LogValue::Int(n)) => {
                b.rows_by_severity(|s| super::filter::cmp_i64(i64::from(s), *op, *n))
            }
            (LogField::TraceId, Op::Eq, LogValue::Str(s)) => {
                match spandb_storage::TraceId::from_hex(s) {
                    Ok(t) => b.rows_of_trace(&t),
                    Err(_) => RoaringBitmap::new(),
                }
            }
            (LogField::Attr(k), Op::Eq, v) => {
                let v = match v {
                    LogValue::Str(s) => spandb_storage::Value::Str(s.clone()),
                    LogValue::Int(i) => spandb_storage::Value::Int(*i),
                    LogValue::Bool(x) => spandb_storage::Value::Bool(*x),
                    LogValue::Float(_) => return b.all_rows(),
                };
                b.rows_with_attribute(k, &v).unwrap_or_else(|| b.all_rows())
            }
            _ => b.all_rows(),
        },
    }
}

/// Candidate rows of `b` for the whole query.
fn block_candidates(b: &LogBlockReader, q: &LogQuery) -> RoaringBitmap {
    let mut rows = candidates(b, &q.cond);
    for f in &q.lines {
        if rows.is_empty() {
            break;
        }
        if let LineFilter::Contains(s) = f {
            rows &= b.rows_maybe_containing(s);
        }
    }
    rows
}

/// Keeps the newest `limit` of `found` (sorted newest first).
fn keep_newest(found: &mut Vec<LogRecord>, limit: usize) {
    found.sort_by_key(|l| std::cmp::Reverse(l.timestamp_ns()));
    found.truncate(limit);
}

/// The oldest timestamp a new match must beat once `found` holds `limit` records.
fn floor(found: &[LogRecord], limit: usize) -> Option<u64> {
    (found.len() >= limit)
        .then(|| found.last().map(|l| l.timestamp_ns()))
        .flatten()
}

/// The newest records matching `q` in `opts.range`, newest first.
pub fn search_logs(snap: &Snapshot, q: &LogQuery, opts: &LogSearch) -> Result<Vec<LogRecord>> {
    snap.require_all_blocks()?;
    let limit = opts.limit.max(1);
    let (from, to) = (opts.range.start_ns, opts.range.end_ns);
    let in_range = |l: &LogRecord| {
        let t = l.timestamp_ns();
        t >= from && t < to
    };
    let mut found: Vec<LogRecord> = snap
        .unsealed_logs()?
        .filter(|l| in_range(l) && q.matches(l))
        .cloned()
        .collect();
    if found.len() >= limit {
        keep_newest(&mut found, limit);
    }
    let mut blocks: Vec<&LogBlockReader> = snap
        .log_blocks()
        .map(|b| b.as_ref())
        .filter(|b| b.footer().max_time_ns >= from && b.footer().min_time_ns < to)
        .collect();
    blocks.sort_by_key(|b| std::cmp::Reverse(b.footer().max_time_ns));
    // With a pinned trace the trace index could pick the blocks; the footer's trace table
    // answers the same per block without decoding anything.
    for b in blocks {
        if floor(&found, limit).is_some_and(|f| b.footer().max_time_ns < f) {
            continue;
        }
        let rows = block_candidates(b, q);
        if rows.is_empty() {
            continue;
        }
        for (gi, g) in b.footer().groups.iter().enumerate().rev() {
            if g.max_time_ns < from || g.min_time_ns >= to {
                continue;
            }
            if floor(&found, limit).is_some_and(|f| g.max_time_ns < f) {
                break;
            }
            let mut in_group = RoaringBitmap::new();
            in_group.insert_range(g.first_row..g.first_row + g.rows);
            in_group &= &rows;
            if in_group.is_empty() {
                continue;
            }
            let records = b.decode_group(gi)?;
            for r in in_group.iter().rev() {
                let Some(l) = records.get((r - g.first_row) as usize) else {
                    continue;
                };
                if in_range(l) && q.matches(l) {
                    found.push(l.clone());
                }
            }
            if found.len() >= limit {
                keep_newest(&mut found, limit);
            }
        }
    }
    keep_newest(&mut found, limit);
    Ok(found)
}

/// Every record matching `q` in `range`, oldest first (for pattern mining).
pub fn scan_logs(snap: &Snapshot, q: &LogQuery, range: TimeRange) -> Result<Vec<LogRecord>> {
    let mut out = search_logs(
        snap,
        q,
        &LogSearch {
            range,
            limit: usize::MAX,
        },
    )?;
    out.reverse();
    Ok(out)
}
