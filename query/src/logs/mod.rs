//! Log records: the filter language, search (newest first), and patterns.
//!
//! - `filter`: `{ ... }` conditions on log fields plus `|=` line filters (docs/QUERY.md)
//! - `search`: index-pruned, newest-first search of log blocks and unsealed records
//! - `correlate`: a trace's records joined to its spans (by span id, or inferred)
//! - `patterns`: templates mined from bodies, with trends and a baseline

mod correlate;
mod filter;
mod patterns;
mod search;

pub use correlate::{span_logs, trace_logs, LinkedLog, TraceLogs, MAX_INFERRED_CANDIDATES};
pub use filter::{parse_log_query, LineFilter, LogCond, LogField, LogQuery, LogValue};
pub use patterns::{log_patterns, mine, LogPattern, LogPatterns};
pub use search::{scan_logs, search_logs, LogSearch};
