//! Reads a block file through mmap. Opening validates the header, trailer and footer checksum;
//! each column chunk is checksummed when first decoded. Any inconsistency is
//! `Error::Corruption` naming the file.
//!
//! - `open`: mapping a file and validating its frame and footer
//! - `columns`: decoders of single columns of a row group (for filtering)
//! - `rebuild`: decoding whole rows back into spans, and trace lookups

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::footer::{Column, Footer, RowGroup};
use crate::codec::buf::DecodeError;
use crate::codec::chunk::decompress;
use crate::codec::value::dict_str;
use crate::error::{Error, Result};
use crate::mmap::MappedFile;
use crate::model::{SpanKind, StatusCode, TraceId};
use crate::rollup::ServiceRollup;

mod columns;
mod open;
mod rebuild;

pub use rebuild::SpanParts;

pub(crate) use open::{read_frame, slice_chunk};

/// An open, validated block.
pub struct BlockReader {
    id: u64,
    path: PathBuf,
    file: MappedFile,
    footer: Footer,
    dict_ids: HashMap<String, u32>,
    /// The rollup pre-merged per (service, minute), built on first use.
    service_rollup: OnceLock<ServiceRollup>,
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
    pub fn footer(&self) -> &Footer {
        &self.footer
    }
    /// The footer's rollup pre-merged per (service, minute), built on the first call.
    pub fn service_rollup(&self) -> &ServiceRollup {
        self.service_rollup
            .get_or_init(|| ServiceRollup::of(&self.footer.rollup))
    }
    pub fn file_len(&self) -> u64 {
        self.file.bytes().len() as u64
    }
    /// The dictionary id of `s` in this block, if the block contains it.
    pub fn string_id(&self, s: &str) -> Option<u32> {
        self.dict_ids.get(s).copied()
    }
    /// The dictionary string with id `id`.
    pub fn string(&self, id: u32) -> Result<&str> {
        dict_str(&self.footer.dict, u64::from(id)).map_err(|e| self.corrupt(e))
    }

    fn corrupt(&self, e: DecodeError) -> Error {
        e.in_file(&self.path)
    }

    fn column(&self, group: &RowGroup, c: Column) -> Result<Vec<u8>> {
        let chunk = group
            .columns
            .get(c as usize)
            .ok_or_else(|| Error::InvalidInput(format!("no column {}", c.name())))?;
        let stored = slice_chunk(self.file.bytes(), chunk, self.file.bytes().len())
            .map_err(|e| self.corrupt(e))?;
        decompress(stored, chunk)
            .map_err(|e| self.corrupt(e.context(format_args!("column {}", c.name()))))
    }

    fn group(&self, g: usize) -> Result<&RowGroup> {
        self.footer
            .groups
            .get(g)
            .ok_or_else(|| Error::InvalidInput(format!("row group {g} does not exist")))
    }
}
