//! The file-system seam: every block-file write, fsync, rename and delete goes through
//! [`FileSystem`], so tests can fail any step or simulate a crash (issue: fault seams).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// File operations the storage engine performs on block files.
pub trait FileSystem: Send + Sync + std::fmt::Debug {
    /// Creates (or truncates) `path` and writes `bytes`, without syncing.
    fn write_file(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()>;
    /// fsyncs the file at `path`.
    fn sync_file(&self, path: &Path) -> std::io::Result<()>;
    /// Atomically renames `from` to `to`.
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()>;
    /// fsyncs a directory, making renames and deletions in it durable.
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()>;
    fn remove_file(&self, path: &Path) -> std::io::Result<()>;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

impl FileSystem for RealFs {
    fn write_file(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        f.write_all(bytes)
    }
    fn sync_file(&self, path: &Path) -> std::io::Result<()> {
        File::open(path)?.sync_all()
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        fs::rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        fs::remove_file(path)
    }
}

/// Writes `bytes` to `path` atomically: `path.tmp`, fsync, rename, fsync the directory.
/// After a crash either the old state or the whole new file is visible, never a part.
pub fn write_atomic(fs: &dyn FileSystem, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    fs.write_file(&tmp, bytes)?;
    fs.sync_file(&tmp)?;
    fs.rename(&tmp, path)?;
    match path.parent() {
        Some(dir) => fs.sync_dir(dir),
        None => Ok(()),
    }
}
