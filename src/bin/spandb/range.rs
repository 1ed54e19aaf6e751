//! Time-range arguments shared by `search` and `metrics`.

use std::time::{SystemTime, UNIX_EPOCH};

use spandb::query::TimeRange;
use spandb::{Error, Result};

#[derive(clap::Args, Debug, Clone)]
pub struct RangeArgs {
    /// Only the last DURATION before now (e.g. 15m, 1h, 7d).
    #[arg(long, conflicts_with_all = ["start", "end"])]
    since: Option<String>,
    /// Range start: RFC 3339 (2025-06-01T10:00:00Z) or Unix nanoseconds.
    #[arg(long)]
    start: Option<String>,
    /// Range end (exclusive): RFC 3339 or Unix nanoseconds.
    #[arg(long)]
    end: Option<String>,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Parses an RFC 3339 time or Unix nanoseconds.
pub fn parse_time(text: &str) -> Result<u64> {
    if let Ok(ns) = text.parse::<u64>() {
        return Ok(ns);
    }
    let t = humantime::parse_rfc3339_weak(text).map_err(|e| {
        Error::InvalidInput(format!(
            "{text:?} is neither RFC 3339 nor Unix nanoseconds: {e}"
        ))
    })?;
    Ok(t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0))
}

pub fn parse_duration(text: &str) -> Result<u64> {
    let d = humantime::parse_duration(text).map_err(|e| {
        Error::InvalidInput(format!(
            "{text:?} is not a duration (e.g. 30s, 5m, 1h): {e}"
        ))
    })?;
    Ok(d.as_nanos() as u64)
}

impl RangeArgs {
    /// The explicit range, or `None` for "the whole store".
    pub fn range(&self) -> Result<Option<TimeRange>> {
        if let Some(since) = &self.since {
            let now = now_ns();
            return Ok(Some(TimeRange::new(
                now.saturating_sub(parse_duration(since)?),
                now,
            )));
        }
        if self.start.is_none() && self.end.is_none() {
            return Ok(None);
        }
        let start = self
            .start
            .as_deref()
            .map(parse_time)
            .transpose()?
            .unwrap_or(0);
        let end = self
            .end
            .as_deref()
            .map(parse_time)
            .transpose()?
            .unwrap_or(u64::MAX);
        if end <= start {
            return Err(Error::InvalidInput("--end must be after --start".into()));
        }
        Ok(Some(TimeRange::new(start, end)))
    }
}
