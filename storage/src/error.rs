//! The storage crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the storage engine, in terms a user can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O error, with the file it concerned when known.
    #[error("I/O error{}: {source}", path_suffix(.path))]
    Io {
        path: Option<PathBuf>,
        #[source]
        source: std::io::Error,
    },
    /// Bytes on disk that do not decode: bad checksum, truncation, impossible values.
    #[error("corruption in {}: {detail}", .file.display())]
    Corruption { file: PathBuf, detail: String },
    /// A file written by a format version this build does not read.
    #[error(
        "unsupported format version {found} in {} (this build reads version {supported})",
        .file.display()
    )]
    UnsupportedVersion {
        file: PathBuf,
        found: u32,
        supported: u32,
    },
    /// Input from the caller that cannot be accepted (malformed OTLP, bad id, bad option).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// RocksDB reported an error.
    #[error("RocksDB: {0}")]
    RocksDb(String),
    /// An earlier fsync failed; the handle refuses writes until the database is reopened,
    /// because retrying an fsync can silently lose data.
    #[error("the database is poisoned by an earlier I/O failure ({0}); reopen it")]
    Poisoned(String),
    /// The handle was closed.
    #[error("the database is closed")]
    Closed,
}

fn path_suffix(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!(" on {}", p.display()),
        None => String::new(),
    }
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: Some(path.into()),
            source,
        }
    }
    pub fn corruption(file: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        Error::Corruption {
            file: file.into(),
            detail: detail.into(),
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

impl From<rocksdb::Error> for Error {
    fn from(e: rocksdb::Error) -> Self {
        Error::RocksDb(e.into_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Self {
        Error::Io { path: None, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
