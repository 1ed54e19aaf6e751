//! Opening a database and recovering from a crash: catalogued blocks are opened, files a
//! crash left behind are removed, and logged spans are replayed into the memtable.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};

use super::maintenance::{self, AnyBlock, LiveBlock};
use super::snapshot::Version;
use super::write::WriterState;
use super::{lock, Db, Inner, Options};
use crate::block::log::LogBlockReader;
use crate::block::{BlockReader, FooterCache, SharedFooterCache};
use crate::catalog::{BlockEntry, BlockKind, Catalog, RecordKind};
use crate::error::{Error, Result};
use crate::memtable::{Memtable, Segment};
use crate::model::LogRecord;
use crate::wal_codec::{decode_log_record, decode_record};

impl Db {
    /// Opens (creating if needed) the database in `dir` and recovers: catalogued blocks are
    /// opened, files a crash left behind are removed, and logged spans are replayed into the
    /// memtable.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Db> {
        let dir = dir.as_ref().to_owned();
        let blocks_dir = dir.join("blocks");
        std::fs::create_dir_all(&blocks_dir).map_err(|e| Error::io(&blocks_dir, e))?;
        let catalog = Arc::new(Catalog::open(&dir.join("catalog"))?);
        maintenance::finish_retirements(&catalog, &blocks_dir, opts.fs.as_ref())?;
        let entries = catalog.blocks()?;
        let footer_cache: SharedFooterCache = Arc::new(FooterCache::new(opts.cache_bytes));
        let mut blocks = BTreeMap::new();
        let mut logs = BTreeMap::new();
        let mut broken = BTreeMap::new();
        let known: HashSet<String> = entries
            .iter()
            .map(|e| BlockEntry::file_name(e.id))
            .collect();
        for e in &entries {
            let path = blocks_dir.join(BlockEntry::file_name(e.id));
            match open_block(&path, e, Some(&footer_cache)) {
                Ok(AnyBlock::Spans(r)) => {
                    blocks.insert(e.id, LiveBlock::new(r, &catalog, &opts.fs));
                }
                Ok(AnyBlock::Logs(r)) => {
                    logs.insert(e.id, LiveBlock::new(r, &catalog, &opts.fs));
                }
                Err(err) => {
                    broken.insert(e.id, err.to_string());
                }
            }
        }
        // An empty catalog beside block files is not a new database: RocksDB lost its state
        // (a damaged MANIFEST opens as empty). Deleting the "unknown" files below would then
        // destroy every sealed span, so refuse instead.
        if catalog.is_fresh() {
            let blocks = std::fs::read_dir(&blocks_dir)
                .map_err(|e| Error::io(&blocks_dir, e))?
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".blk"))
                .count();
            if blocks > 0 {
                return Err(Error::corruption(
                    dir.join("catalog"),
                    format!(
                        "the catalog is empty but blocks/ holds {blocks} block files: RocksDB lost \
                         its state. Nothing was deleted; restore the catalog from a backup, or \
                         move blocks/ aside to start a new database"
                    ),
                ));
            }
        }
        // A crash between writing a block and committing it to the catalog leaves a file the
        // catalog does not know; its spans are still in the log, so the file goes.
        for item in std::fs::read_dir(&blocks_dir).map_err(|e| Error::io(&blocks_dir, e))? {
            let item = item.map_err(|e| Error::io(&blocks_dir, e))?;
            let name = item.file_name().to_string_lossy().into_owned();
            if !known.contains(&name) {
                opts.fs
                    .remove_file(&item.path())
                    .map_err(|e| Error::io(item.path(), e))?;
            }
        }
        let memtable = Arc::new(Memtable::default());
        let records = catalog.wal_records()?;
        let memtable_first_seq = records.first().map(|r| r.0).unwrap_or(0);
        let mut next_seq = memtable_first_seq;
        for (seq, kind, payload) in records {
            let bad = |e: crate::codec::buf::DecodeError| {
                e.context(format_args!("log record {seq}"))
                    .in_file(dir.join("catalog"))
            };
            // Decoded once here, to check the record and index its trace ids; the memtable
            // keeps the record itself.
            match kind {
                RecordKind::Spans => {
                    let spans = decode_record(&payload).map_err(bad)?;
                    let traces = spans.iter().map(|s| Some(s.trace_id));
                    memtable.append(Segment::spans(payload, spans.len()), traces);
                }
                RecordKind::Logs => {
                    let logs = decode_log_record(&payload).map_err(bad)?;
                    let traces = logs.iter().map(LogRecord::trace);
                    memtable.append(Segment::logs(payload, logs.len()), traces);
                }
            }
            next_seq = seq + 1;
        }
        let next_block_id = catalog
            .next_block_id()?
            .max(entries.last().map(|e| e.id + 1).unwrap_or(1));
        let inner = Arc::new(Inner {
            dir,
            blocks_dir,
            catalog,
            writer: Mutex::new(WriterState {
                next_seq,
                next_block_id,
                memtable_first_seq,
            }),
            current: RwLock::new(Arc::new(Version {
                blocks,
                logs,
                broken,
                frozen: Vec::new(),
                memtable,
            })),
            poisoned: Mutex::new(None),
            log_failed: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            syncer: Mutex::new(None),
            sealer: Mutex::new(None),
            maintenance: Mutex::new(()),
            maintenance_worker: Mutex::new(None),
            footer_cache,
            opts,
        });
        inner.start_workers();
        let db = Db::for_user(inner);
        if db.inner.version().memtable.row_count() >= db.inner.opts.block_max_spans {
            let mut w = lock(&db.inner.writer);
            db.inner.freeze(&mut w)?;
        }
        Ok(db)
    }
}

/// Opens catalogued block `e` at `path` (a span or log block, as the catalog says), checking
/// its length and row count against the catalog.
/// Opens a catalogued block; a span block's footer goes to `cache` (`None`: a cache of its
/// own, for one-off reads such as `check`, which must not push out what queries use).
pub(super) fn open_block(
    path: &Path,
    e: &BlockEntry,
    cache: Option<&SharedFooterCache>,
) -> Result<AnyBlock> {
    let len = std::fs::metadata(path)
        .map_err(|err| Error::io(path, err))?
        .len();
    if len != e.file_len {
        return Err(Error::corruption(
            path,
            format!("file is {len} bytes, the catalog says {}", e.file_len),
        ));
    }
    let r = match e.kind {
        BlockKind::Spans => AnyBlock::Spans(match cache {
            Some(c) => BlockReader::open_cached(path, e.id, c.clone())?,
            None => BlockReader::open(path, e.id)?,
        }),
        BlockKind::Logs => AnyBlock::Logs(LogBlockReader::open(path, e.id)?),
    };
    let rows = r.file().rows();
    if rows != e.rows {
        return Err(Error::corruption(
            path,
            format!("footer says {rows} rows, the catalog says {}", e.rows),
        ));
    }
    Ok(r)
}
