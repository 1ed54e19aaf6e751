//! Converts OTLP JSON lines to an OTLP protobuf stream as the Collector's file exporter writes
//! it (`format: proto`): each ExportTraceServiceRequest prefixed by its 4-byte big-endian length.
//! Used to measure protobuf import on the same spans as JSON import.
//!
//!     cargo run --release -p spandb-storage --example jsonl_to_proto -- in.jsonl out.pb

use std::io::{BufRead, BufReader, BufWriter, Write};

use spandb_storage::otlp::{json, proto};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (input, output) = match (args.next(), args.next()) {
        (Some(i), Some(o)) => (i, o),
        _ => return Err("usage: jsonl_to_proto <in.jsonl> <out.pb>".into()),
    };
    let mut out = BufWriter::new(std::fs::File::create(output)?);
    for line in BufReader::new(std::fs::File::open(input)?).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let mut spans = Vec::new();
        json::decode_json_request(line.as_bytes(), &mut spans)?;
        let bytes = proto::encode_proto_request(&spans);
        out.write_all(&(bytes.len() as u32).to_be_bytes())?;
        out.write_all(&bytes)?;
    }
    out.flush()?;
    Ok(())
}
