//! Time arguments, parsed by clap into nanoseconds, and the range flags `search` and
//! `metrics` share.

use std::time::{SystemTime, UNIX_EPOCH};

use spandb::{Error, Result, TimeRange};

/// Clap value parser: an RFC 3339 time (2025-06-01T10:00:00Z) or Unix nanoseconds.
pub fn time_ns(text: &str) -> std::result::Result<u64, String> {
    if let Ok(ns) = text.parse::<u64>() {
        return Ok(ns);
    }
    let t = humantime::parse_rfc3339_weak(text)
        .map_err(|e| format!("{text:?} is neither RFC 3339 nor Unix nanoseconds: {e}"))?;
    Ok(t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0))
}

/// Clap value parser: a positive duration such as 30s, 5m, 1h, 7d, in nanoseconds.
pub fn duration_ns(text: &str) -> std::result::Result<u64, String> {
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("{text:?} is not a duration (e.g. 30s, 5m, 1h): {e}"))?;
    match u64::try_from(d.as_nanos()) {
        Ok(0) => Err("the duration must be positive".into()),
        Ok(ns) => Ok(ns),
        Err(_) => Err(format!("{text:?} is too long")),
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct RangeArgs {
    /// Only the last DURATION before now (e.g. 15m, 1h, 7d).
    #[arg(long, value_parser = duration_ns, conflicts_with_all = ["start", "end"])]
    since: Option<u64>,
    /// Range start: RFC 3339 (2025-06-01T10:00:00Z) or Unix nanoseconds.
    #[arg(long, value_parser = time_ns)]
    start: Option<u64>,
    /// Range end (exclusive): RFC 3339 or Unix nanoseconds.
    #[arg(long, value_parser = time_ns)]
    end: Option<u64>,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl RangeArgs {
    /// The explicit range, or `None` for "the whole store".
    pub fn range(&self) -> Result<Option<TimeRange>> {
        if let Some(since) = self.since {
            let now = now_ns();
            return Ok(Some(TimeRange::new(now.saturating_sub(since), now)));
        }
        if self.start.is_none() && self.end.is_none() {
            return Ok(None);
        }
        let start = self.start.unwrap_or(0);
        let end = self.end.unwrap_or(u64::MAX);
        if end <= start {
            return Err(Error::invalid("--end must be after --start"));
        }
        Ok(Some(TimeRange::new(start, end)))
    }
}
