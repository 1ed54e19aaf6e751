//! Read-only memory maps of immutable block files.
#![allow(unsafe_code)]

use std::fs::File;

use memmap2::Mmap;

/// A whole file mapped read-only (or bytes already in memory, for fuzzing and tests).
pub struct MappedFile {
    map: Option<Mmap>,
    /// The mapped file, for [`Self::read_into`].
    file: Option<File>,
    owned: Vec<u8>,
}

impl MappedFile {
    pub fn map(file: &File) -> std::io::Result<Self> {
        if file.metadata()?.len() == 0 {
            // mmap of an empty file fails on Linux; an empty slice reads the same.
            return Ok(MappedFile {
                map: None,
                file: None,
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
            file: file.try_clone().ok(),
            owned: Vec::new(),
        })
    }

    pub fn from_bytes(owned: Vec<u8>) -> Self {
        MappedFile {
            map: None,
            file: None,
            owned,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&self.owned)
    }

    /// Copies `range` (inside [`Self::bytes`]) into `out`, replacing its contents, with a
    /// `pread` when the file is mapped: reading a column chunk through the mapping left its
    /// pages (and, through the kernel's fault-around, up to 64 KiB of their neighbours)
    /// counted in the process's RSS for as long as the block is open. A failed read falls
    /// back to copying from the mapping.
    pub fn read_into(&self, range: std::ops::Range<usize>, out: &mut Vec<u8>) {
        out.clear();
        #[cfg(unix)]
        if let Some(file) = &self.file {
            use std::os::unix::fs::FileExt;
            out.resize(range.len(), 0);
            if file.read_exact_at(out, range.start as u64).is_ok() {
                return;
            }
            out.clear();
        }
        out.extend_from_slice(self.bytes().get(range).unwrap_or_default());
    }

    /// Takes the pages holding `offset..offset + len` out of this process's resident set,
    /// once their bytes were decoded: a file's pages a query touched used to stay counted in
    /// the process's RSS (327 MiB of the 740 MiB serving the macro queries at 10M spans,
    /// docs/ARCHITECTURE.md "Memory"). The pages stay in the kernel's page cache, so the next
    /// read of them is a minor fault, not a disk read. Bytes held in memory are left alone;
    /// a failed madvise only leaves the pages resident.
    pub fn release(&self, offset: usize, len: usize) {
        #[cfg(unix)]
        if let Some(map) = &self.map {
            if len == 0 || offset >= map.len() {
                return;
            }
            let len = len.min(map.len() - offset);
            // SAFETY: the map is a shared, read-only mapping of a file nobody writes while it
            // is open (see `map`). MADV_DONTNEED on such a mapping only drops the page table
            // entries: the next access, by any thread and through any slice still borrowed
            // from `bytes`, faults the same bytes back in from the page cache. (On a private
            // or anonymous mapping it would zero the pages; this one is neither.) memmap2
            // rounds the range out to whole pages; pages shared with a neighbouring chunk
            // are dropped too, which costs that chunk a minor fault, never wrong bytes.
            let _ = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, len)
            };
        }
        #[cfg(not(unix))]
        let _ = (offset, len);
    }
}
