//! The one error type of spandb's API: storage and query failures in variants a caller can
//! act on.

use std::fmt;
use std::path::PathBuf;

/// Where in a piece of input text (a query, a JSON-lines file) something went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Position {
    /// 1-based line.
    pub line: u64,
    /// 1-based column, when known.
    pub column: Option<u64>,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(c) => write!(f, "line {}, column {c}", self.line),
            None => write!(f, "line {}", self.line),
        }
    }
}

/// Everything that can go wrong in spandb.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// What was asked for does not exist (a trace id with no spans).
    #[error("not found: {what}")]
    NotFound { what: String },
    /// Input from the caller that cannot be accepted: a query that does not parse, malformed
    /// OTLP, a bad id, option or time range. `position` points into the text when known.
    #[error("invalid input{}: {message}", position_prefix(.position))]
    InvalidInput {
        message: String,
        position: Option<Position>,
    },
    /// TraceQL text that does not parse: where, and what was found instead of what.
    #[error("query error at {position}: {message}")]
    Query { message: String, position: Position },
    /// Stored bytes that do not decode: a bad checksum, truncation, impossible values.
    #[error("corruption in {}: {detail}", .file.display())]
    Corruption { file: PathBuf, detail: String },
    /// A file written by a format version this build does not read.
    #[error("unsupported format version {found} in {} (this build reads version {supported})", .file.display())]
    UnsupportedVersion {
        file: PathBuf,
        found: u32,
        supported: u32,
    },
    /// An earlier write or fsync failed; the handle refuses writes until the database is
    /// reopened, because retrying an fsync can silently lose data.
    #[error("the database is poisoned by an earlier I/O failure ({0}); reopen it")]
    Poisoned(String),
    /// An operating-system I/O error (RocksDB's included), with the file when known.
    #[error("I/O error{}: {source}", path_suffix(.path))]
    Io {
        path: Option<PathBuf>,
        #[source]
        source: std::io::Error,
    },
    /// The handle was closed.
    #[error("the database is closed")]
    Closed,
    /// A fault inside spandb (a worker thread panicked): a bug, not bad input.
    #[error("internal error: {0}")]
    Internal(String),
}

fn position_prefix(p: &Option<Position>) -> String {
    p.map(|p| format!(" at {p}")).unwrap_or_default()
}

fn path_suffix(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!(" on {}", p.display()),
        None => String::new(),
    }
}

impl Error {
    /// Invalid input without a position.
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::InvalidInput {
            message: message.into(),
            position: None,
        }
    }
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: Some(path.into()),
            source,
        }
    }
    /// True for errors that mean stored bytes are bad.
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            Error::Corruption { .. } | Error::UnsupportedVersion { .. }
        )
    }
}

impl From<spandb_storage::Error> for Error {
    fn from(e: spandb_storage::Error) -> Self {
        use spandb_storage::Error as S;
        match e {
            S::Io { path, source } => Error::Io { path, source },
            S::Corruption { file, detail } => Error::Corruption { file, detail },
            S::UnsupportedVersion {
                file,
                found,
                supported,
            } => Error::UnsupportedVersion {
                file,
                found,
                supported,
            },
            S::InvalidInput(message) => Error::invalid(message),
            S::RocksDb(message) => {
                // RocksDB reports damaged files as "Corruption: ..."; the rest is I/O.
                if let Some(detail) = message.strip_prefix("Corruption: ") {
                    Error::Corruption {
                        file: PathBuf::from("RocksDB"),
                        detail: detail.to_string(),
                    }
                } else {
                    Error::Io {
                        path: None,
                        source: std::io::Error::other(format!("RocksDB: {message}")),
                    }
                }
            }
            S::Poisoned(why) => Error::Poisoned(why),
            S::Closed => Error::Closed,
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<spandb_query::Error> for Error {
    fn from(e: spandb_query::Error) -> Self {
        use spandb_query::Error as Q;
        match e {
            Q::Query {
                line,
                column,
                found,
                expected,
            } => Error::Query {
                message: format!("expected {expected}, found {found}"),
                position: Position {
                    line: u64::from(line),
                    column: Some(u64::from(column)),
                },
            },
            Q::InvalidInput(message) => Error::invalid(message),
            Q::Unsupported(construct) => Error::invalid(format!("unsupported: {construct}")),
            Q::Internal(message) => Error::Internal(message),
            Q::Storage(inner) => inner.into(),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Self {
        Error::Io { path: None, source }
    }
}

/// `Result` with spandb's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
