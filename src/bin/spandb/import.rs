//! `spandb import`: OTLP JSON lines or protobuf files into the database.

use std::fs::File;
use std::io::{BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use spandb::otlp::{json, proto};
use spandb::{Durability, Error, Options, Result, Span};

use crate::Format;

#[derive(clap::Args)]
pub struct Args {
    /// Files to import. `.jsonl`/`.json` are OTLP JSON lines; anything else is sniffed: a file
    /// starting with `{` is JSON lines, otherwise OTLP protobuf (one request, or a stream of
    /// 4-byte big-endian length-prefixed requests as the Collector file exporter writes).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Skip malformed lines (counted and reported) instead of stopping at the first.
    #[arg(long)]
    skip_bad_lines: bool,
    /// fsync every write (`sync`) or fsync the log every 50 ms (`group`).
    #[arg(long, value_enum, default_value_t = DurabilityArg::Group)]
    durability: DurabilityArg,
    /// Spans per write batch.
    #[arg(long, default_value_t = 4096)]
    batch: usize,
    /// Leave the last spans unsealed in the log instead of sealing them into a block.
    #[arg(long)]
    no_flush: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum DurabilityArg {
    Sync,
    Group,
}

pub fn run(db_dir: &Path, format: Format, args: Args) -> Result<ExitCode> {
    let durability = match args.durability {
        DurabilityArg::Sync => Durability::Sync,
        DurabilityArg::Group => Durability::GroupCommit {
            interval: Duration::from_millis(50),
        },
    };
    let db = Options::new().durability(durability).open(db_dir)?;
    let started = Instant::now();
    let total_bytes: u64 = args
        .files
        .iter()
        .filter_map(|f| f.metadata().ok())
        .map(|m| m.len())
        .sum();
    let bar = if std::io::stderr().is_terminal() && format == Format::Table {
        let bar = ProgressBar::new(total_bytes);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{bar:40}] {bytes}/{total_bytes} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut spans_total = 0u64;
    let mut skipped = 0u64;
    let mut notes = Vec::new();
    for path in &args.files {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut reader = BufReader::with_capacity(1 << 20, bar.wrap_read(file));
        let is_json = is_json_file(path, &mut reader)?;
        let mut sink = |batch: Vec<Span>| {
            spans_total += batch.len() as u64;
            bar.set_message(format!("{spans_total} spans"));
            db.write(batch)
        };
        if is_json {
            let report =
                json::read_json_lines(&mut reader, args.skip_bad_lines, args.batch, &mut sink)
                    .map_err(|e| match e {
                        Error::BadLine { line, message } => {
                            Error::InvalidInput(format!("{}:{line}: {message}", path.display()))
                        }
                        other => other,
                    })?;
            skipped += report.skipped_lines;
            notes.extend(
                report
                    .first_errors
                    .iter()
                    .map(|e| format!("{}: {e}", path.display())),
            );
        } else {
            let len = path.metadata().map_err(|e| Error::io(path, e))?.len();
            read_proto(&mut reader, len, args.batch.max(1), &mut sink).map_err(|e| match e {
                Error::InvalidInput(m) => Error::InvalidInput(format!("{}: {m}", path.display())),
                other => other,
            })?;
        }
    }
    if !args.no_flush {
        bar.set_message("sealing");
        db.flush()?;
    }
    db.close()?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let rate = spans_total as f64 / secs.max(1e-9);
    match format {
        Format::Json => outln!(
            "{}",
            serde_json::json!({ "spans": spans_total, "skippedLines": skipped, "seconds": secs, "spansPerSecond": rate })
        ),
        Format::Table => {
            outln!("imported {spans_total} spans in {secs:.2} s ({rate:.0} spans/s)");
            if skipped > 0 {
                outln!("skipped {skipped} malformed lines; first errors:");
                for n in &notes {
                    outln!("  {n}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn is_json_file(path: &Path, reader: &mut BufReader<impl Read>) -> Result<bool> {
    use std::io::BufRead;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext == "jsonl" || ext == "json" {
        return Ok(true);
    }
    let head = reader.fill_buf().map_err(|e| Error::io(path, e))?;
    Ok(head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'))
}

/// Reads OTLP protobuf: the Collector's `file` exporter writes a stream of requests, each
/// prefixed by its 4-byte big-endian length; a plain file holds one request. A request starts
/// with field 1's tag (0x0a), which read as a length exceeds any file under 167 MB, so the
/// first four bytes tell the two apart.
fn read_proto(
    reader: &mut impl Read,
    file_len: u64,
    batch: usize,
    sink: &mut impl FnMut(Vec<Span>) -> Result<()>,
) -> Result<()> {
    let mut head = [0u8; 4];
    let n = read_up_to(reader, &mut head)?;
    let first = u32::from_be_bytes(head) as u64;
    let mut message = Vec::new();
    let mut send = |message: &[u8]| -> Result<()> {
        let mut spans = Vec::new();
        proto::decode_proto_request(message, &mut spans)?;
        while spans.len() > batch {
            let rest = spans.split_off(batch);
            sink(std::mem::replace(&mut spans, rest))?;
        }
        sink(spans)
    };
    if n < 4 || first + 4 > file_len {
        message.extend_from_slice(&head[..n]);
        reader.read_to_end(&mut message)?;
        return send(&message);
    }
    let mut len = first;
    loop {
        message.resize(len as usize, 0);
        reader.read_exact(&mut message).map_err(|_| {
            Error::InvalidInput(format!("truncated stream: a {len}-byte request ends early"))
        })?;
        send(&message)?;
        match read_up_to(reader, &mut head)? {
            0 => return Ok(()),
            4 => len = u64::from(u32::from_be_bytes(head)),
            _ => {
                return Err(Error::InvalidInput(
                    "truncated stream: a length prefix ends early".into(),
                ))
            }
        }
    }
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}
