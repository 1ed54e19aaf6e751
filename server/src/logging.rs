//! Structured logs through `tracing`, to stderr: one line per event, as text or as JSON
//! objects (`--log-format json`), filtered by `--log-level` (`info`, or directives such as
//! `warn,spandb_server=debug`).
//!
//! What is logged: startup (addresses, TLS, CORS), shutdown, every request once it is
//! answered (method, path without the query string, which can carry search terms, status,
//! latency; probes and `/metrics` at `debug`), failed writes and internal errors. Tokens and
//! bodies never are.

use std::io::IsTerminal as _;
use std::str::FromStr as _;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer as _;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// `2025-06-01T12:00:00.000Z  INFO spandb_server: request method=GET ...`
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message` and the event's
    /// fields at the top level.
    Json,
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("invalid --log-level {0:?}: give a level (error, warn, info, debug, trace) or directives such as warn,spandb_server=debug")]
    Level(String),
    #[error("a logger is already installed")]
    AlreadySet,
}

/// Installs the process-wide logger. Call once, before serving.
pub fn init(format: LogFormat, level: &str) -> Result<(), LogError> {
    let filter = Targets::from_str(level).map_err(|_| LogError::Level(level.to_owned()))?;
    let stderr = std::io::stderr;
    let layer = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(stderr)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init()
        .map_err(|_| LogError::AlreadySet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_levels_are_refused() {
        assert!(matches!(
            init(LogFormat::Json, "loud=="),
            Err(LogError::Level(_))
        ));
    }
}
