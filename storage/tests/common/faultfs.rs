//! A [`FileSystem`] for fault-injection tests: it counts every call per operation, can fail the
//! Nth call of a chosen operation, and can simulate a crash at that call by throwing away
//! everything the disk had not been told to keep:
//!
//! - data written to a file and not yet `sync_file`d is torn (the file is cut to half its length);
//! - directory changes (creations, renames, removals) not followed by a `sync_dir` of their
//!   directory are undone, newest first: created files vanish, renames go back, removed files
//!   come back with their contents.
//!
//! After the crash point every call fails and touches nothing, as nothing runs in a dead process.
//! Only block files go through this seam: RocksDB (catalog, log, trace index) does its own I/O,
//! so in these tests it keeps whatever it wrote (the kill -9 model for RocksDB, the power-loss
//! model for block files). The real kill -9 tests cover RocksDB's side.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use spandb_storage::fsio::{FileSystem, RealFs};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FsOp {
    Write,
    Sync,
    Rename,
    SyncDir,
    Remove,
}

impl FsOp {
    pub const ALL: [FsOp; 5] = [
        FsOp::Write,
        FsOp::Sync,
        FsOp::Rename,
        FsOp::SyncDir,
        FsOp::Remove,
    ];
}

/// What happens at the chosen call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The call fails with an I/O error; later calls work.
    Fail,
    /// The call fails and the "machine" dies: later calls fail, and [`FaultFs::crash`] drops
    /// whatever was not durable.
    Crash,
}

#[derive(Debug)]
enum DirChange {
    Created(PathBuf),
    Renamed {
        from: PathBuf,
        to: PathBuf,
        replaced: Option<Vec<u8>>,
    },
    Removed {
        path: PathBuf,
        contents: Vec<u8>,
    },
}

impl DirChange {
    fn dir(&self) -> Option<&Path> {
        match self {
            DirChange::Created(p) => p.parent(),
            DirChange::Renamed { to, .. } => to.parent(),
            DirChange::Removed { path, .. } => path.parent(),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    calls: BTreeMap<FsOp, usize>,
    fault: Option<(FsOp, usize, Fault)>,
    tripped: bool,
    dead: bool,
    unsynced_data: HashSet<PathBuf>,
    unsynced_dir: Vec<DirChange>,
}

#[derive(Debug, Default)]
pub struct FaultFs {
    state: Mutex<State>,
}

fn injected(op: FsOp, n: usize) -> std::io::Error {
    std::io::Error::other(format!("injected failure of {op:?} call #{n}"))
}

impl FaultFs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms a fault at the `n`th (1-based) call of `op`, counting from now.
    pub fn arm(&self, op: FsOp, n: usize, fault: Fault) {
        let mut s = self.state.lock().unwrap();
        s.calls.clear();
        s.fault = Some((op, n, fault));
        s.tripped = false;
    }

    /// Calls per operation since the last `arm` (or since creation).
    pub fn calls(&self) -> BTreeMap<FsOp, usize> {
        self.state.lock().unwrap().calls.clone()
    }

    /// Whether the armed fault has fired.
    pub fn tripped(&self) -> bool {
        self.state.lock().unwrap().tripped
    }

    /// Drops everything not durable, as a power loss at the crash point would. Call it once
    /// the database handle is gone.
    pub fn crash(&self) {
        let mut s = self.state.lock().unwrap();
        s.dead = true;
        for p in s.unsynced_data.drain() {
            if let Ok(bytes) = std::fs::read(&p) {
                std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
            }
        }
        while let Some(change) = s.unsynced_dir.pop() {
            match change {
                DirChange::Created(p) => {
                    let _ = std::fs::remove_file(p);
                }
                DirChange::Renamed { from, to, replaced } => {
                    std::fs::rename(&to, &from).unwrap();
                    if let Some(old) = replaced {
                        std::fs::write(&to, old).unwrap();
                    }
                }
                DirChange::Removed { path, contents } => std::fs::write(path, contents).unwrap(),
            }
        }
    }

    /// Counts the call and decides whether it fails.
    fn enter(&self, op: FsOp) -> Result<std::sync::MutexGuard<'_, State>, std::io::Error> {
        let mut s = self.state.lock().unwrap();
        let n = {
            let c = s.calls.entry(op).or_default();
            *c += 1;
            *c
        };
        if s.dead {
            return Err(std::io::Error::other("the machine crashed"));
        }
        if let Some((fop, fn_, fault)) = s.fault {
            if fop == op && fn_ == n {
                s.tripped = true;
                if fault == Fault::Crash {
                    s.dead = true;
                }
                return Err(injected(op, n));
            }
        }
        Ok(s)
    }
}

impl FileSystem for FaultFs {
    fn write_file(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let mut s = self.enter(FsOp::Write)?;
        let existed = path.exists();
        RealFs.write_file(path, bytes)?;
        s.unsynced_data.insert(path.to_owned());
        if !existed {
            s.unsynced_dir.push(DirChange::Created(path.to_owned()));
        }
        Ok(())
    }

    fn sync_file(&self, path: &Path) -> std::io::Result<()> {
        let mut s = self.enter(FsOp::Sync)?;
        RealFs.sync_file(path)?;
        s.unsynced_data.remove(path);
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        let mut s = self.enter(FsOp::Rename)?;
        let replaced = std::fs::read(to).ok();
        RealFs.rename(from, to)?;
        if s.unsynced_data.remove(from) {
            s.unsynced_data.insert(to.to_owned());
        }
        s.unsynced_dir.push(DirChange::Renamed {
            from: from.to_owned(),
            to: to.to_owned(),
            replaced,
        });
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        let mut s = self.enter(FsOp::SyncDir)?;
        RealFs.sync_dir(dir)?;
        s.unsynced_dir.retain(|c| c.dir() != Some(dir));
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        let mut s = self.enter(FsOp::Remove)?;
        let contents = std::fs::read(path)?;
        RealFs.remove_file(path)?;
        s.unsynced_data.remove(path);
        s.unsynced_dir.push(DirChange::Removed {
            path: path.to_owned(),
            contents,
        });
        Ok(())
    }
}
