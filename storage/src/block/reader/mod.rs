//! Reads a block file through mmap. Opening validates the header, trailer and footer checksum;
//! each column chunk is checksummed when first decoded. Any inconsistency is
//! `Error::Corruption` naming the file.
//!
//! - `open`: mapping a file and validating its frame and footer
//! - `loaded`: a decoded footer as the footer cache holds it, and its heap size
//! - `columns`: decoders of single columns of a row group (for filtering)
//! - `rebuild`: decoding whole rows back into spans, and trace lookups
//! - `scratch`: per-thread reused buffers for decompressed chunks

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::cache::FooterCache;
use super::footer::{Column, Footer, RowGroup};
use crate::codec::buf::DecodeError;
use crate::codec::chunk::decompress_into;
use crate::error::{Error, Result};
use crate::mmap::MappedFile;
use crate::model::{SpanId, SpanKind, StatusCode, TraceId};

mod columns;
mod loaded;
mod open;
mod rebuild;
mod scratch;

pub use loaded::LoadedFooter;
pub use rebuild::SpanParts;
use scratch::ColumnBuf;

/// The cache every reader of a database shares.
pub type SharedFooterCache = Arc<FooterCache<LoadedFooter>>;

/// A decoded footer, held by the cache and by whoever reads it (evicting it never pulls it
/// from under a reader).
pub type FooterRef = Arc<LoadedFooter>;

/// What a block keeps resident while it is open: the footer's scalars, enough to order
/// blocks, skip them by time and count them without decoding the footer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockMeta {
    pub rows: u32,
    pub trace_count: u32,
    pub error_count: u32,
    pub min_start_ns: u64,
    pub max_start_ns: u64,
    pub max_end_ns: u64,
    pub min_duration_ns: u64,
    pub max_duration_ns: u64,
}

impl BlockMeta {
    fn of(f: &Footer) -> Self {
        BlockMeta {
            rows: f.rows,
            trace_count: f.trace_count,
            error_count: f.error_count,
            min_start_ns: f.min_start_ns,
            max_start_ns: f.max_start_ns,
            max_end_ns: f.max_end_ns,
            min_duration_ns: f.min_duration_ns,
            max_duration_ns: f.max_duration_ns,
        }
    }
}

pub(crate) use open::{read_frame, slice_chunk};

/// An open, validated block. Its footer is decoded on demand through the footer cache
/// ([`BlockReader::footer`]); only its [`BlockMeta`] stays resident.
pub struct BlockReader {
    id: u64,
    path: PathBuf,
    file: MappedFile,
    meta: BlockMeta,
    cache: SharedFooterCache,
    /// This block's key in `cache`.
    cache_key: u64,
}

impl Drop for BlockReader {
    fn drop(&mut self) {
        self.cache.remove(self.cache_key);
    }
}

/// The cheap columns of one row group, decoded for filtering without building spans.
#[derive(Debug, Default, Clone)]
pub struct GroupLight {
    pub trace_ids: Vec<TraceId>,
    pub start_ns: Vec<u64>,
    pub end_ns: Vec<u64>,
    pub name: Vec<u32>,
    pub kind: Vec<SpanKind>,
    pub status: Vec<StatusCode>,
    pub resource: Vec<u32>,
}

/// What a search result shows of one span, read for chosen rows of a row group without
/// building the others ([`BlockReader::group_row_summaries`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RowSummary {
    pub span_id: SpanId,
    pub start_ns: u64,
    /// `start_ns` plus the stored duration, wrapping as `Span::end_ns` does.
    pub end_ns: u64,
    /// Dictionary id of the span name.
    pub name: u32,
    pub status: StatusCode,
    /// Index into the footer's resource table.
    pub resource: u32,
}

impl RowSummary {
    /// `Span::duration_ns`: 0 when the end precedes the start.
    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }
}

impl std::fmt::Debug for BlockReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlockReader({})", self.path.display())
    }
}

impl BlockReader {
    pub fn id(&self) -> u64 {
        self.id
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The footer's scalars, always resident.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }
    /// The decoded footer: from the cache, or decoded from the mapped file (and cached).
    /// Hold the returned reference for as long as a piece of work on this block lasts rather
    /// than asking again per row.
    pub fn footer(&self) -> Result<FooterRef> {
        self.cache.get_or_load(self.cache_key, || {
            let (footer, rollup_bytes) = Self::read_footer(self.file.bytes(), &self.path)?;
            self.release_footer_pages();
            Ok(LoadedFooter::with_encoded_rollup(
                footer,
                rollup_bytes,
                &self.path,
                Some((Arc::downgrade(&self.cache), self.cache_key)),
            ))
        })
    }
    /// The decoded footer for a one-off walk over every block (`Snapshot::stats`): the cached
    /// one when the cache holds it, else decoded and not cached, so the walk does not fill
    /// the cache with footers no query asked for (at 10M spans, one `stats()` took a process
    /// from ~400 to ~720 MiB that way).
    pub fn footer_uncached(&self) -> Result<FooterRef> {
        if let Some(f) = self.cache.get(self.cache_key) {
            return Ok(f);
        }
        let (footer, rollup_bytes) = Self::read_footer(self.file.bytes(), &self.path)?;
        self.release_footer_pages();
        Ok(Arc::new(LoadedFooter::with_encoded_rollup(
            footer,
            rollup_bytes,
            &self.path,
            None,
        )))
    }
    pub fn file_len(&self) -> u64 {
        self.file.bytes().len() as u64
    }
    /// The dictionary id of `s` in this block, if the block contains it.
    pub fn string_id(&self, s: &str) -> Result<Option<u32>> {
        Ok(self.footer()?.string_id(s))
    }
    /// The dictionary string with id `id`.
    pub fn string(&self, id: u32) -> Result<String> {
        Ok(self.footer()?.string(id)?.to_owned())
    }

    fn corrupt(&self, e: DecodeError) -> Error {
        e.in_file(&self.path)
    }

    /// Column `c` of `group`, checked and decompressed into a buffer of this thread's pool.
    fn column(&self, group: &RowGroup, c: Column) -> Result<ColumnBuf> {
        let chunk = group
            .columns
            .get(c as usize)
            .ok_or_else(|| Error::InvalidInput(format!("no column {}", c.name())))?;
        let stored = slice_chunk(self.file.bytes(), chunk, self.file.bytes().len())
            .map_err(|e| self.corrupt(e))?;
        // Read with `pread` into a pooled buffer rather than through the mapping, which kept
        // every page a query touched resident (docs/ARCHITECTURE.md, "Memory").
        let start = chunk.offset as usize;
        let mut stored_buf = ColumnBuf::take();
        self.file
            .read_into(start..start + stored.len(), stored_buf.vec_mut());
        let mut buf = ColumnBuf::take();
        decompress_into(&stored_buf, chunk, buf.vec_mut())
            .map_err(|e| self.corrupt(e.context(format_args!("column {}", c.name()))))?;
        Ok(buf)
    }

    fn group<'f>(&self, f: &'f Footer, g: usize) -> Result<&'f RowGroup> {
        f.groups
            .get(g)
            .ok_or_else(|| Error::InvalidInput(format!("row group {g} does not exist")))
    }
}
