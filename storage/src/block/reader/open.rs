//! Opening a block: mapping the file and validating its header, trailer and footer.

use std::fs::File;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use super::{BlockMeta, BlockReader, SharedFooterCache};
use crate::block::cache::FooterCache;
use crate::block::footer::{
    Footer, BLOCK_FORMAT_VERSION, BLOCK_MAGIC, HEADER_LEN, OLDEST_READABLE_BLOCK_FORMAT_VERSION,
    TRAILER_LEN,
};
use crate::codec::buf::{DecodeError, DecodeResult, Decoder};
use crate::codec::chunk::{decompress, ChunkRef};
use crate::error::{Error, Result};
use crate::mmap::MappedFile;

impl BlockReader {
    /// Maps and validates `path`, with a footer cache of its own that holds its one footer
    /// (tools and tests; a database shares one cache between its blocks: [`Self::open_cached`]).
    pub fn open(path: &Path, id: u64) -> Result<Self> {
        Self::open_cached(path, id, Self::private_cache())
    }

    /// Maps and validates `path`; its decoded footer lives in `cache`.
    pub fn open_cached(path: &Path, id: u64, cache: SharedFooterCache) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mapped = MappedFile::map(&file).map_err(|e| Error::io(path, e))?;
        Self::validate(id, path.to_owned(), mapped, cache)
    }

    /// Maps a block file this process has just written and fsynced, taking its scalars from
    /// the footer the writer built instead of reading the file back: no page of the mapping
    /// is touched. Reading the footer back faulted its pages in, and with the large page-cache
    /// folios of recent kernels a fault maps whole folios of the freshly written file, so the
    /// sealer kept every block it wrote resident (RssFile grew with the data: 326 MiB at 10M
    /// spans, all of the block bytes). Only the file's length is checked here; the footer's
    /// frame and CRC are checked when a query first loads it ([`BlockReader::footer`]), and
    /// `check` verifies the whole file against the catalog's CRC.
    pub(crate) fn open_written(
        path: &Path,
        id: u64,
        footer: &Footer,
        written_len: u64,
        cache: SharedFooterCache,
    ) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mapped = MappedFile::map(&file).map_err(|e| Error::io(path, e))?;
        let found = mapped.bytes().len() as u64;
        if found != written_len {
            return Err(Error::corruption(
                path,
                format!("block file is {found} bytes, {written_len} were written"),
            ));
        }
        let cache_key = cache.new_key();
        Ok(BlockReader {
            id,
            path: path.to_owned(),
            file: mapped,
            meta: BlockMeta::of(footer),
            cache,
            cache_key,
        })
    }

    /// Validates a block image held in memory (fuzzing, tests); `name` stands in for the path.
    pub fn from_bytes(bytes: Vec<u8>, name: &str) -> Result<Self> {
        Self::validate(
            0,
            PathBuf::from(name),
            MappedFile::from_bytes(bytes),
            Self::private_cache(),
        )
    }

    fn private_cache() -> SharedFooterCache {
        Arc::new(FooterCache::new(usize::MAX))
    }

    /// Reads and checks the footer of `file` and keeps its scalars. The decoded footer is not
    /// put in the cache: the sealer and compaction open every block they write, and holding
    /// those footers made ingest memory grow with the data up to the cache's budget. The cost:
    /// the first query that needs a footer decodes it again (~18 ms for a 131072-span block:
    /// opening the macro suite's 10M database, 76 blocks, takes 1.4 s).
    fn validate(
        id: u64,
        path: PathBuf,
        file: MappedFile,
        cache: SharedFooterCache,
    ) -> Result<Self> {
        let (footer, _) = Self::read_footer(file.bytes(), &path)?;
        let meta = BlockMeta::of(&footer);
        let cache_key = cache.new_key();
        let reader = BlockReader {
            id,
            path,
            file,
            meta,
            cache,
            cache_key,
        };
        reader.release_footer_pages();
        Ok(reader)
    }

    /// Drops the stored footer and trailer's pages from the resident set once decoded
    /// (`MappedFile::release`): the decoded footer is what the cache holds.
    pub(super) fn release_footer_pages(&self) {
        let bytes = self.file.bytes();
        let trailer_at = bytes.len().saturating_sub(TRAILER_LEN);
        let footer_at = bytes
            .get(trailer_at..trailer_at + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(trailer_at as u64, u64::from_le_bytes);
        let footer_at = usize::try_from(footer_at).map_or(trailer_at, |a| a.min(trailer_at));
        self.file.release(footer_at, bytes.len() - footer_at);
    }

    /// The footer, checked, with its per-operation rollup left encoded (its bytes second,
    /// as a [`LoadedFooter`](super::LoadedFooter) keeps them).
    pub(super) fn read_footer(bytes: &[u8], path: &Path) -> Result<(Footer, Vec<u8>)> {
        let (version, raw, offset) = read_frame(
            bytes,
            path,
            BLOCK_MAGIC,
            OLDEST_READABLE_BLOCK_FORMAT_VERSION..=BLOCK_FORMAT_VERSION,
        )?;
        let corrupt = |d: String| Error::corruption(path, d);
        let (footer, rollup_bytes) = Footer::decode_rollup_encoded(&raw, version)
            .map_err(|e| e.context("footer").in_file(path))?;
        for g in &footer.groups {
            for c in &g.columns {
                if c.offset < HEADER_LEN as u64
                    || c.offset.saturating_add(u64::from(c.stored_len)) > offset
                {
                    return Err(corrupt(format!(
                        "column chunk at {}+{} lies outside the data region",
                        c.offset, c.stored_len
                    )));
                }
            }
        }
        Ok((footer, rollup_bytes))
    }
}

/// Checks the frame every block kind shares (header and trailer magic and version, footer
/// inside the file, footer CRC and length) and returns the format version, the decompressed
/// footer bytes and the footer's offset (the end of the data region).
pub(crate) fn read_frame(
    bytes: &[u8],
    path: &Path,
    magic: [u8; 8],
    versions: std::ops::RangeInclusive<u32>,
) -> Result<(u32, Vec<u8>, u64)> {
    let corrupt = |d: String| Error::corruption(path, d);
    if bytes.len() < HEADER_LEN + TRAILER_LEN {
        return Err(corrupt(format!(
            "file is {} bytes, too short for a block",
            bytes.len()
        )));
    }
    let mut head = Decoder::new(bytes);
    let found: [u8; 8] = head.get_array().map_err(|e| e.in_file(path))?;
    if found != magic {
        return Err(corrupt(format!(
            "bad magic at the start: not a spandb {} block",
            if magic == BLOCK_MAGIC { "span" } else { "log" }
        )));
    }
    let version = head.get_u32().map_err(|e| e.in_file(path))?;
    if !versions.contains(&version) {
        return Err(Error::UnsupportedVersion {
            file: path.to_owned(),
            found: version,
            supported: *versions.end(),
        });
    }
    let trailer_at = bytes.len() - TRAILER_LEN;
    let mut t = Decoder::new(bytes.get(trailer_at..).unwrap_or_default());
    let trailer = (|| -> DecodeResult<_> {
        Ok((
            t.get_u64()?,
            t.get_u32()?,
            t.get_u32()?,
            t.get_u32()?,
            t.get_u32()?,
            t.get_array::<8>()?,
        ))
    })()
    .map_err(|e| e.in_file(path))?;
    let (offset, stored_len, raw_len, crc, tversion, tmagic) = trailer;
    if tmagic != magic {
        return Err(corrupt(
            "bad magic at the end: the file is truncated or overwritten".into(),
        ));
    }
    if tversion != version {
        return Err(corrupt(format!(
            "header says version {version}, trailer {tversion}"
        )));
    }
    let chunk = ChunkRef {
        offset,
        stored_len,
        raw_len,
        crc32c: crc,
    };
    let stored =
        slice_chunk(bytes, &chunk, trailer_at).map_err(|e| e.context("footer").in_file(path))?;
    let raw = decompress(stored, &chunk).map_err(|e| e.context("footer").in_file(path))?;
    Ok((version, raw, offset))
}

pub(crate) fn slice_chunk<'a>(
    bytes: &'a [u8],
    chunk: &ChunkRef,
    limit: usize,
) -> DecodeResult<&'a [u8]> {
    let start =
        usize::try_from(chunk.offset).map_err(|_| DecodeError::new("offset out of range"))?;
    let end = start
        .checked_add(chunk.stored_len as usize)
        .filter(|&e| e <= limit)
        .ok_or_else(|| {
            DecodeError::new(format!(
                "chunk {}+{} past the end of the file",
                chunk.offset, chunk.stored_len
            ))
        })?;
    bytes.get(start..end).ok_or_else(|| {
        DecodeError::new(format!(
            "chunk {}+{} past the end of the file",
            chunk.offset, chunk.stored_len
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{encode_block, BlockLayout};
    use crate::model::{Span, SpanId, TraceId};

    fn spans() -> Vec<Span> {
        (0u64..300)
            .map(|i| Span {
                trace_id: TraceId([(i % 7) as u8 + 1; 16]),
                span_id: SpanId((i + 1).to_be_bytes()),
                name: format!("op-{}", i % 5),
                start_ns: 1_000_000 + i * 1_000,
                end_ns: 1_000_000 + i * 1_000 + 500 + i,
                ..Span::default()
            })
            .collect()
    }

    #[test]
    fn a_block_opened_as_written_reads_as_one_opened_from_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("000000000001.blk");
        let spans = spans();
        let encoded =
            encode_block(spans.iter().collect(), &BlockLayout::default()).expect("encode");
        std::fs::write(&path, &encoded.bytes).expect("write");
        let len = encoded.bytes.len() as u64;
        let written =
            BlockReader::open_written(&path, 1, &encoded.footer, len, BlockReader::private_cache())
                .expect("open as written");
        let reopened = BlockReader::open(&path, 1).expect("open from disk");
        assert_eq!(written.meta(), reopened.meta());
        assert_eq!(written.meta().rows, 300);
        assert_eq!(written.file_len(), len);
        // Its footer, loaded on first use, is read back from the file and checked.
        assert_eq!(
            written.all_spans().expect("spans"),
            reopened.all_spans().expect("spans")
        );
    }

    #[test]
    fn a_block_file_shorter_than_written_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("000000000001.blk");
        let spans = spans();
        let encoded =
            encode_block(spans.iter().collect(), &BlockLayout::default()).expect("encode");
        let short = encoded
            .bytes
            .get(..encoded.bytes.len() - 1)
            .expect("shorter");
        std::fs::write(&path, short).expect("write");
        let len = encoded.bytes.len() as u64;
        match BlockReader::open_written(
            &path,
            1,
            &encoded.footer,
            len,
            BlockReader::private_cache(),
        ) {
            Err(err) => assert!(matches!(err, Error::Corruption { .. }), "{err}"),
            Ok(_) => panic!("a file shorter than written was accepted"),
        }
    }
}
