//! Read-only memory maps of immutable block files.
#![allow(unsafe_code)]

use std::fs::File;

use memmap2::Mmap;

/// A whole file mapped read-only (or bytes already in memory, for fuzzing and tests).
pub struct MappedFile {
    map: Option<Mmap>,
    owned: Vec<u8>,
}

impl MappedFile {
    pub fn map(file: &File) -> std::io::Result<Self> {
        if file.metadata()?.len() == 0 {
            // mmap of an empty file fails on Linux; an empty slice reads the same.
            return Ok(MappedFile {
                map: None,
                owned: Vec::new(),
            });
        }
        // SAFETY: block files are immutable once renamed into place: spandb never writes to,
        // truncates or reuses a block file while it is open (deletion only unlinks the name, the
        // mapping stays valid). Another process modifying the file is outside our contract, as
        // for every mmap-based store (LMDB, redb); checksums still catch it before use.
        let map = unsafe { Mmap::map(file)? };
        Ok(MappedFile {
            map: Some(map),
            owned: Vec::new(),
        })
    }

    pub fn from_bytes(owned: Vec<u8>) -> Self {
        MappedFile { map: None, owned }
    }

    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&self.owned)
    }
}
