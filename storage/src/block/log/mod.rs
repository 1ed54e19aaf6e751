//! Log blocks: immutable, column-oriented, zstd-compressed, checksummed files of log records,
//! in the same frame as span blocks (header, column chunks per row group, compressed footer,
//! trailer; only the magic differs) and written, catalogued, compacted, retained and checked
//! by the same machinery. Layout in docs/FORMAT.md ("Log block").
//!
//! - `footer`: the footer (column directory, trace table, bitmaps, body n-gram blooms)
//! - `writer`: records -> block image
//! - `reader`: validation, index answers, decoding records
//! - `ngram`: the per-row-group body n-gram bloom filter

mod footer;
mod ngram;
mod reader;
mod writer;

pub use footer::{LogColumn, LogFooter, LogRowGroup, LOG_BLOCK_FORMAT_VERSION, LOG_BLOCK_MAGIC};
pub use ngram::{token_bloom_bytes, NgramBloom};
pub use reader::LogBlockReader;
pub use writer::{encode_log_block, EncodedLogBlock};
