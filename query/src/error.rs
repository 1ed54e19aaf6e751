//! The query crate's error type.

/// Everything that can go wrong when parsing or running a query.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The query text does not parse: where, what was found and what was expected.
    #[error("line {line}, column {column}: expected {expected}, found {found}")]
    Query {
        line: u32,
        column: u32,
        found: String,
        expected: String,
    },
    /// A valid TraceQL construct that spandb does not run (named in the message).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A well-formed request that cannot be run (bad time range, step, limit...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A fault inside the engine (a query worker panicked): a bug, not bad input.
    #[error("internal error: {0}")]
    Internal(String),
    /// The storage engine failed (I/O, corruption...).
    #[error(transparent)]
    Storage(#[from] spandb_storage::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
