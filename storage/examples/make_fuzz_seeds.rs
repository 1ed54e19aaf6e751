//! Writes the fuzz seed corpora (fuzz/corpus/<target>/) from examples/sample.jsonl.
//!
//!     cargo run -p spandb-storage --example make_fuzz_seeds

use std::fs;

use spandb_storage::block::{encode_block, BlockLayout};
use spandb_storage::otlp::{json, proto};
use spandb_storage::wal_codec;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let text = fs::read_to_string(format!("{root}/examples/sample.jsonl"))?;
    let line = text.lines().next().ok_or("empty sample")?;
    let mut spans = Vec::new();
    json::decode_json_request(line.as_bytes(), &mut spans)?;
    let few = &spans[..12.min(spans.len())];
    let dir = |t: &str| -> std::io::Result<String> {
        let d = format!("{root}/fuzz/corpus/{t}");
        fs::create_dir_all(&d)?;
        Ok(d)
    };
    let layout = BlockLayout {
        rows_per_group: 4,
        zstd_level: 1,
        attributes_zstd_level: 1,
    };
    let block = encode_block(few.iter().collect(), &layout)?;
    fs::write(format!("{}/small.blk", dir("block_decode")?), &block.bytes)?;
    // The golden files of this format version (see storage/tests/golden_format.rs): write
    // them only when starting a new format version, never to make that test pass.
    if std::env::var_os("SPANDB_WRITE_GOLDEN").is_some() {
        let golden = format!("{root}/storage/tests/golden");
        fs::create_dir_all(&golden)?;
        let v = spandb_storage::block::BLOCK_FORMAT_VERSION;
        fs::write(format!("{golden}/block_v{v}.blk"), &block.bytes)?;
        fs::write(
            format!("{golden}/block_v{v}.spans.json"),
            json::encode_json_request(few).to_string(),
        )?;
    }
    let ids: rustc_hash::FxHashMap<&str, u32> = block
        .footer
        .dict
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i as u32))
        .collect();
    let mut footer = spandb_storage::codec::buf::Encoder::new();
    block.footer.encode(&mut footer, &ids);
    fs::write(
        format!("{}/footer.bin", dir("footer_decode")?),
        footer.finish(),
    )?;
    fs::write(
        format!("{}/line.json", dir("otlp_json")?),
        json::encode_json_request(few).to_string(),
    )?;
    fs::write(
        format!("{}/request.pb", dir("otlp_proto")?),
        proto::encode_proto_request(few),
    )?;
    fs::write(
        format!("{}/record.bin", dir("wal_record")?),
        wal_codec::encode_record(few),
    )?;
    Ok(())
}
