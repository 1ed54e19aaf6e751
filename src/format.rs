//! The storage engine's internals, for tools that work on blocks and bytes (format
//! inspectors, fuzzers, benchmarks). Not needed to store or query spans; less stable than
//! the rest of the API.

pub use spandb_storage::block::{
    encode_block, BlockLayout, Column, EncodedBlock, IndexRows, IndexedScalar,
};
pub use spandb_storage::{block, codec, fsio, rollup, wal_codec, BlockReader};
