//! Arbitrary bytes as a log block file: opening, the indexes and decoding every row must
//! return records or an error, never panic, loop or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spandb_storage::LogBlockReader;

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = LogBlockReader::from_bytes(data.to_vec(), "fuzz.lblk") {
        let _ = block.verify();
        let _ = block.all_records();
        for g in 0..block.footer().groups.len() {
            let _ = block.group_times(g);
            let _ = block.decode_group(g);
        }
        let _ = block.rows_in_time(0, u64::MAX / 2);
        let _ = block.rows_maybe_containing("error");
        let _ = block.rows_by_severity(|s| s >= 17);
        let _ = block.rows_by_service(|s| s.starts_with('a'));
        let rows = block.all_rows();
        let some: roaring::RoaringBitmap = rows.iter().step_by(3).take(64).collect();
        let _ = block.records_at(&some);
        if let Some(first) = block.trace_ids().first() {
            let _ = block.rows_of_trace(first);
        }
    }
});
