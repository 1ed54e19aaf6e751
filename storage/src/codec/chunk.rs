//! A compressed, checksummed chunk: zstd over the encoded bytes, crc32c over the stored bytes.

use super::buf::{DecodeError, DecodeResult};

/// What a stored chunk is: where it is and how to check it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChunkRef {
    pub offset: u64,
    pub stored_len: u32,
    pub raw_len: u32,
    pub crc32c: u32,
}

/// Compresses `raw` with zstd at `level`. Returns the stored bytes.
///
/// One compression context per thread and level, reused: `zstd::bulk::compress` created (and
/// allocated the tables of) a fresh context per call, i.e. per column chunk of every row group
/// (~1,300 per sealed block). The bytes are the same: a context's parameters are reset for
/// every frame.
pub fn compress(raw: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    thread_local! {
        /// (level, context), the few levels a thread uses (columns, attributes, footer).
        static CCTX: std::cell::RefCell<Vec<(i32, zstd::bulk::Compressor<'static>)>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    CCTX.with(|cell| {
        let mut contexts = cell.borrow_mut();
        let slot = match contexts.iter().position(|(l, _)| *l == level) {
            Some(i) => i,
            None => {
                contexts.push((level, zstd::bulk::Compressor::new(level)?));
                contexts.len() - 1
            }
        };
        match contexts.get_mut(slot) {
            Some((_, c)) => c.compress(raw),
            None => zstd::bulk::compress(raw, level),
        }
    })
}

/// Verifies the checksum of `stored` and decompresses it to exactly `raw_len` bytes.
pub fn decompress(stored: &[u8], chunk: &ChunkRef) -> DecodeResult<Vec<u8>> {
    let mut raw = Vec::new();
    decompress_into(stored, chunk, &mut raw)?;
    Ok(raw)
}

/// [`decompress`] into `out` (cleared first), reusing its allocation: a reader decoding the
/// same column of hundreds of row groups keeps one buffer instead of having fresh pages
/// allocated and cleared by the kernel for each group.
pub fn decompress_into(stored: &[u8], chunk: &ChunkRef, out: &mut Vec<u8>) -> DecodeResult<()> {
    let actual = crc32c::crc32c(stored);
    if actual != chunk.crc32c {
        return Err(DecodeError::new(format!(
            "checksum mismatch at offset {}: expected {:08x}, found {actual:08x}",
            chunk.offset, chunk.crc32c
        )));
    }
    out.clear();
    out.reserve(chunk.raw_len as usize);
    // One decompression context per thread: creating one per chunk was 14% of a trace lookup.
    thread_local! {
        static DCTX: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    DCTX.with(|cell| -> std::io::Result<usize> {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new()?);
        }
        match slot.as_mut() {
            Some(d) => d.decompress_to_buffer(stored, out),
            None => {
                *out = zstd::bulk::decompress(stored, chunk.raw_len as usize)?;
                Ok(out.len())
            }
        }
    })
    .map_err(|e| DecodeError::new(format!("zstd at offset {}: {e}", chunk.offset)))?;
    if out.len() != chunk.raw_len as usize {
        return Err(DecodeError::new(format!(
            "chunk at offset {} decompressed to {} bytes, expected {}",
            chunk.offset,
            out.len(),
            chunk.raw_len
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reused_contexts_write_the_bytes_of_fresh_ones() {
        let text: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("span-{} service-{};", i % 977, i % 13).into_bytes())
            .collect();
        for level in [3, 6, 12, 3] {
            for part in [&text[..], &text[..1000], &text[5000..90_000], &[][..]] {
                let reused = compress(part, level).expect("compress");
                assert_eq!(
                    reused,
                    zstd::bulk::compress(part, level).expect("fresh"),
                    "level {level}"
                );
                let chunk = ChunkRef {
                    offset: 0,
                    stored_len: reused.len() as u32,
                    raw_len: part.len() as u32,
                    crc32c: crc32c::crc32c(&reused),
                };
                assert_eq!(decompress(&reused, &chunk).expect("decompress"), part);
            }
        }
    }
}
