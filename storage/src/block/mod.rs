//! Span blocks (and, in `log`, log blocks): immutable, column-oriented, zstd-compressed, checksummed files.

pub mod cache;
pub mod footer;
mod index;
pub mod log;
pub mod reader;
mod row_labels;
pub mod writer;

pub use cache::{CacheStats, FooterCache, HeapSize};
pub use footer::{AttrIndex, Column, Footer, IndexedValue, RowGroup, BLOCK_FORMAT_VERSION};
pub use index::{IndexRows, IndexedScalar};
pub use reader::{
    BlockMeta, BlockReader, FooterRef, GroupLight, LoadedFooter, RowSummary, SharedFooterCache,
    SpanParts,
};
pub use writer::{encode_block, BlockLayout, EncodedBlock, INDEX_MAX_DISTINCT};
