//! Database options and the durability setting.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::Db;
use crate::block::BlockLayout;
use crate::error::Result;
use crate::fsio::{FileSystem, RealFs};

/// When a write is durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// `write` returns after the log record is fsynced: acknowledged spans survive kill -9
    /// and power loss. Concurrent writers share fsyncs (RocksDB's group commit).
    Sync,
    /// `write` returns once the log record is in the operating system (survives kill -9 of the
    /// process); a background thread fsyncs the log every `interval`, so a power loss loses at
    /// most that much.
    GroupCommit { interval: Duration },
}

/// The default of [`Options::cache_bytes`]: 512 MiB, which holds every footer of the macro
/// suite's data up to ~24M spans (measured at 10M: 76 blocks, 212 MiB after every macro query,
/// ~2.8 MiB per block). A budget below the footers a query walks costs 30-100x (RED 26 ms ->
/// 1.2 s at 192 MiB for 10M); docs/ARCHITECTURE.md, "Memory".
pub const DEFAULT_CACHE_BYTES: usize = 512 << 20;

/// Database options. Consuming setters; each documents its default.
#[derive(Clone, Debug)]
pub struct Options {
    pub(crate) durability: Durability,
    pub(crate) block_max_spans: usize,
    pub(crate) layout: BlockLayout,
    pub(crate) fs: Arc<dyn FileSystem>,
    pub(crate) compact_below_spans: usize,
    pub(crate) maintenance_interval: Option<Duration>,
    pub(crate) retention: Option<Duration>,
    pub(crate) cache_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::GroupCommit {
                interval: Duration::from_millis(50),
            },
            block_max_spans: 131_072,
            layout: BlockLayout::default(),
            fs: Arc::new(RealFs),
            compact_below_spans: 131_072 / 2,
            maintenance_interval: Some(Duration::from_secs(30)),
            retention: None,
            cache_bytes: DEFAULT_CACHE_BYTES,
        }
    }
}

impl Options {
    pub fn new() -> Self {
        Self::default()
    }
    /// Defaults to `GroupCommit { interval: 50 ms }`.
    #[must_use]
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }
    /// Spans in the memtable before it is frozen and sealed into a block. Defaults to 131072.
    #[must_use]
    pub fn block_max_spans(mut self, n: usize) -> Self {
        self.block_max_spans = n.max(1);
        self
    }
    /// Rows per row group (the unit of decompression). Defaults to 2048 (docs/ARCHITECTURE.md: half the work per trace lookup of 4096, for 1 B/span).
    #[must_use]
    pub fn rows_per_group(mut self, n: u32) -> Self {
        self.layout.rows_per_group = n.max(1);
        self
    }
    /// zstd level for column chunks other than the attributes. Defaults to 3: with the
    /// attributes at 6, level 6 here saves under 0.1 B/span more, for more sealer time
    /// (docs/ARCHITECTURE.md, "Row group size and zstd level").
    #[must_use]
    pub fn zstd_level(mut self, level: i32) -> Self {
        self.layout.zstd_level = level;
        self
    }
    /// zstd level for the attributes column chunks. Defaults to 6: 0.8 B/span less than
    /// level 3, for ~0.2 µs/span more sealing (docs/ARCHITECTURE.md).
    #[must_use]
    pub fn attributes_zstd_level(mut self, level: i32) -> Self {
        self.layout.attributes_zstd_level = level;
        self
    }
    /// The file system used for block files (tests inject faults here). Defaults to the real one.
    #[must_use]
    pub fn file_system(mut self, fs: Arc<dyn FileSystem>) -> Self {
        self.fs = fs;
        self
    }
    /// Blocks with fewer spans than this are merged by compaction. Defaults to half of
    /// `block_max_spans`'s default (65536).
    #[must_use]
    pub fn compact_below_spans(mut self, n: usize) -> Self {
        self.compact_below_spans = n;
        self
    }
    /// How often the background worker compacts (and applies retention). `None` turns the
    /// worker off (then call [`Db::compact`] / [`Db::retain`] yourself). Defaults to 30 s.
    #[must_use]
    pub fn maintenance_interval(mut self, every: Option<Duration>) -> Self {
        self.maintenance_interval = every;
        self
    }
    /// Drop blocks whose spans are all older than this. Defaults to keeping everything.
    #[must_use]
    pub fn retention(mut self, keep: Option<Duration>) -> Self {
        self.retention = keep;
        self
    }
    /// Heap bytes of decoded block footers (dictionaries, bitmaps, rollups, trace tables)
    /// kept in memory, in a scan-resistant LRU. Defaults to 512 MiB ([`DEFAULT_CACHE_BYTES`]):
    /// about 180 blocks of 131072 spans. A block whose footer is not held decodes it from its
    /// (mapped) file when a query needs it (~0.1 s for a full block); `0` holds none.
    #[must_use]
    pub fn cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
        self
    }
    pub fn open(self, dir: impl AsRef<Path>) -> Result<Db> {
        Db::open(dir, self)
    }
}
