//! Arbitrary bytes as a block file: opening and decoding every row must return spans or an
//! error, never panic, loop or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spandb_storage::BlockReader;

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = BlockReader::from_bytes(data.to_vec(), "fuzz.blk") {
        let _ = block.all_spans();
        let Ok(footer) = block.footer() else {
            return;
        };
        for g in 0..footer.groups.len() {
            let _ = block.group_light(g);
        }
        let mut rows = roaring_rows(footer.rows);
        rows.truncate(64);
        let _ = block.spans_at(&rows.into_iter().collect());
        if let Some(first) = footer.traces.first() {
            let _ = block.trace(&first.trace_id);
        }
    }
});

fn roaring_rows(n: u32) -> Vec<u32> {
    (0..n).step_by(3).collect()
}
