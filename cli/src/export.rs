//! `spandb export`: spans of a time range, or the traces a search finds, as OTLP JSON lines
//! or a protobuf stream (optionally zstd), for `spandb import` elsewhere or other tools.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use spandb::export::{ExportFormat, SpanWriter};
use spandb::{Error, Result, ScanFilter, TimeRange};

use crate::range::RangeArgs;

#[derive(clap::Args)]
pub struct Args {
    /// Only the traces this TraceQL query finds (whole traces); default: every span.
    #[arg(long)]
    query: Option<String>,
    #[command(flatten)]
    range: RangeArgs,
    /// `otlp-json` (JSON lines) or `otlp-proto` (the Collector's length-prefixed stream).
    #[arg(long, value_enum, default_value_t = FormatArg::OtlpJson)]
    format: FormatArg,
    /// Compress with zstd.
    #[arg(long)]
    zstd: bool,
    /// Write here instead of standard output.
    #[arg(long, short)]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum FormatArg {
    OtlpJson,
    OtlpProto,
}

/// Spans per request written.
const BATCH: usize = 4096;

pub fn run(db_dir: &Path, args: Args) -> Result<ExitCode> {
    let db = crate::open_existing(db_dir)?;
    let snap = db.snapshot()?;
    let out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(File::create(path).map_err(|e| Error::io(path, e))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let format = match args.format {
        FormatArg::OtlpJson => ExportFormat::OtlpJson,
        FormatArg::OtlpProto => ExportFormat::OtlpProto,
    };
    let mut writer = SpanWriter::new(BufWriter::new(out), format, args.zstd)?;
    let range = args.range.range()?;
    match &args.query {
        Some(q) => {
            for t in snap.search(q.as_str(), range.unwrap_or(TimeRange::ALL), usize::MAX)? {
                writer.write(&snap.trace(&t.trace_id)?)?;
            }
        }
        None => {
            let filter = ScanFilter {
                start_ns: range.map(|r| r.start_ns),
                end_ns: range.map(|r| r.end_ns),
                ..ScanFilter::default()
            };
            let mut batch = Vec::with_capacity(BATCH);
            for span in snap.spans(filter)? {
                batch.push(span?);
                if batch.len() == BATCH {
                    writer.write(&batch)?;
                    batch.clear();
                }
            }
            writer.write(&batch)?;
        }
    }
    let spans = writer.spans;
    match writer.finish() {
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => {
            other?;
        }
    }
    eprintln!("spandb: exported {spans} spans");
    Ok(ExitCode::SUCCESS)
}
