//! Log records: the filter language, search (newest first), and patterns.
//!
//! - `filter`: `{ ... }` conditions on log fields plus `|=` line filters (docs/QUERY.md)
//! - `search`: index-pruned, newest-first search of log blocks and unsealed records
//! - `patterns`: templates mined from bodies, with trends and a baseline

mod filter;
mod patterns;
mod search;

pub use filter::{parse_log_query, LineFilter, LogCond, LogField, LogQuery, LogValue};
pub use patterns::{log_patterns, mine, LogPattern, LogPatterns};
pub use search::{scan_logs, search_logs, LogSearch};
