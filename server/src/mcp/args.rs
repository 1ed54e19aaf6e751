//! The tools' arguments: what each takes, with the JSON schema and descriptions an MCP client
//! shows the model, and how a time range is read from them.

use std::time::{SystemTime, UNIX_EPOCH};

use schemars::JsonSchema;
use serde::Deserialize;
use spandb::TimeRange;

/// A point in time as a model is likely to write it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum TimeArg {
    /// Unix time in nanoseconds.
    Ns(u64),
    /// RFC 3339 ("2025-06-01T10:00:00Z") or Unix nanoseconds as a string.
    Text(String),
}

/// A time range: `since`, or `start` and/or `end`; none of them means the tool's default.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct RangeArgs {
    /// Only the last DURATION before now, e.g. "15m", "1h", "7d". Takes precedence over
    /// start/end.
    #[serde(default)]
    pub since: Option<String>,
    /// Range start: RFC 3339 ("2025-06-01T10:00:00Z") or Unix nanoseconds.
    #[serde(default)]
    pub start: Option<TimeArg>,
    /// Range end (exclusive): RFC 3339 or Unix nanoseconds.
    #[serde(default)]
    pub end: Option<TimeArg>,
}

pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn time_ns(t: &TimeArg) -> Result<u64, String> {
    match t {
        TimeArg::Ns(n) => Ok(*n),
        TimeArg::Text(s) => {
            let s = s.trim();
            if let Ok(n) = s.parse::<u64>() {
                return Ok(n);
            }
            let t = humantime::parse_rfc3339_weak(s).map_err(|_| {
                format!(
                    "{s:?} is neither an RFC 3339 time (2025-06-01T10:00:00Z) nor Unix nanoseconds"
                )
            })?;
            Ok(t.duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0))
        }
    }
}

/// A positive duration such as "30s", "5m", "1h", "7d", in nanoseconds.
pub fn duration_ns(text: &str) -> Result<u64, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|_| format!("{text:?} is not a duration (e.g. 30s, 5m, 1h, 7d)"))?;
    match u64::try_from(d.as_nanos()) {
        Ok(0) => Err("a duration must be positive".into()),
        Ok(ns) => Ok(ns),
        Err(_) => Err(format!("{text:?} is too long")),
    }
}

impl RangeArgs {
    /// The range asked for, or `None` when none was given.
    pub fn range(&self) -> Result<Option<TimeRange>, String> {
        if let Some(since) = self.since.as_deref().filter(|s| !s.trim().is_empty()) {
            let now = now_ns();
            return Ok(Some(TimeRange::new(
                now.saturating_sub(duration_ns(since)?),
                now,
            )));
        }
        if self.start.is_none() && self.end.is_none() {
            return Ok(None);
        }
        let start = self.start.as_ref().map(time_ns).transpose()?.unwrap_or(0);
        let end = self
            .end
            .as_ref()
            .map(time_ns)
            .transpose()?
            .unwrap_or(u64::MAX);
        if end <= start {
            return Err("end must be after start".into());
        }
        Ok(Some(TimeRange::new(start, end)))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchArgs {
    /// A TraceQL spanset filter, e.g. `{ resource.service.name = "checkout" && status = error }`
    /// or `{ duration > 500ms }`. Default `{}` (every trace).
    #[serde(default)]
    pub query: Option<String>,
    #[serde(flatten)]
    pub range: RangeArgs,
    /// Most traces to return, newest first. Default 20, at most 100.
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetTraceArgs {
    /// The trace id: 32 hexadecimal characters (shorter ids are left-padded with zeros).
    pub trace_id: String,
    /// Most spans of the span tree to list (the critical path, errors and the shallowest
    /// spans are kept first). Default 40, at most 300.
    #[serde(default)]
    pub max_spans: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ServiceGraphArgs {
    #[serde(flatten)]
    pub range: RangeArgs,
    /// Only count the traces this TraceQL spanset filter matches, e.g.
    /// `{ .http.route = "/checkout" }`.
    #[serde(default)]
    pub filter: Option<String>,
    /// Most edges to return, busiest first. Default 100, at most 500.
    #[serde(default)]
    pub limit: Option<usize>,
}

/// What the RED table has one row per.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// One row per service.
    #[default]
    Service,
    /// One row per (service, span name).
    Operation,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RedMetricsArgs {
    #[serde(flatten)]
    pub range: RangeArgs,
    /// "service" (default) or "operation" (service and span name).
    #[serde(default)]
    pub group_by: GroupBy,
    /// Only spans this TraceQL spanset filter matches, e.g. `{ kind = server }` for inbound
    /// requests only, or `{ resource.service.name = "checkout" }`. Default `{}`.
    #[serde(default)]
    pub filter: Option<String>,
    /// Most rows, busiest first. Default 50, at most 500.
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ErrorGroupsArgs {
    #[serde(flatten)]
    pub range: RangeArgs,
    /// Compare with the DURATION before the range (e.g. "24h") and flag groups absent from
    /// it as new.
    #[serde(default)]
    pub baseline: Option<String>,
    /// Most groups, largest first. Default 20, at most 100.
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AnomaliesArgs {
    #[serde(flatten)]
    pub range: RangeArgs,
    /// Hold the window against the DURATION before it (e.g. "24h"); default: the window
    /// itself.
    #[serde(default)]
    pub baseline: Option<String>,
    /// Most incidents, strongest first. Default 10, at most 50.
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AttributeNamesArgs {
    #[serde(flatten)]
    pub range: RangeArgs,
}

/// Where an attribute lives.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScopeArg {
    /// A span attribute (`.key` or `span.key` in TraceQL).
    Span,
    /// A resource attribute (`resource.key`), e.g. service.name.
    Resource,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AttributeValuesArgs {
    /// The attribute key, e.g. "http.route" or "service.name" (without `span.`/`resource.`).
    pub key: String,
    /// "span" or "resource"; default both.
    #[serde(default)]
    pub scope: Option<ScopeArg>,
    #[serde(flatten)]
    pub range: RangeArgs,
    /// Most values, sorted. Default 50, at most 1000.
    #[serde(default)]
    pub limit: Option<usize>,
}

/// `limit`, or `default`, within 1..=`max`.
pub fn bounded(limit: Option<usize>, default: usize, max: usize) -> usize {
    limit.unwrap_or(default).clamp(1, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_read_since_rfc3339_and_nanoseconds() {
        let r: RangeArgs = serde_json::from_str(r#"{"since":"1h"}"#).unwrap();
        let got = r.range().unwrap().unwrap();
        assert_eq!(got.end_ns - got.start_ns, 3_600_000_000_000);
        let r: RangeArgs =
            serde_json::from_str(r#"{"start":"2025-06-01T10:00:00Z","end":1748772000000000001}"#)
                .unwrap();
        let got = r.range().unwrap().unwrap();
        assert_eq!(got.start_ns, 1_748_772_000_000_000_000);
        assert_eq!(got.end_ns, 1_748_772_000_000_000_001);
        let r: RangeArgs = serde_json::from_str(r#"{}"#).unwrap();
        assert!(r.range().unwrap().is_none());
        let r: RangeArgs = serde_json::from_str(r#"{"start":"yesterday"}"#).unwrap();
        assert!(r.range().is_err());
        let r: RangeArgs = serde_json::from_str(r#"{"start":"5","end":"5"}"#).unwrap();
        assert!(r.range().is_err());
    }
}
