//! `spandb import`: OTLP JSON lines or protobuf files into the database.

use std::fs::File;
use std::io::{BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use spandb::{import, Durability, Error, Options, Result, Span};

use crate::output::json;

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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImportOutput {
    spans: u64,
    skipped_lines: u64,
    seconds: f64,
    spans_per_second: f64,
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
        let mut sink = |batch: Vec<Span>| {
            spans_total += batch.len() as u64;
            bar.set_message(format!("{spans_total} spans"));
            db.write(batch)
        };
        if is_json(path, &mut reader)? {
            let report =
                import::read_json_lines(&mut reader, args.skip_bad_lines, args.batch, &mut sink)
                    .map_err(|e| in_file(path, e))?;
            skipped += report.skipped_lines;
            notes.extend(
                report
                    .first_errors
                    .iter()
                    .map(|e| format!("{}: {e}", path.display())),
            );
        } else {
            let len = path.metadata().map_err(|e| Error::io(path, e))?.len();
            import::read_proto(&mut reader, len, args.batch, &mut sink)
                .map_err(|e| in_file(path, e))?;
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
            json(&ImportOutput {
                spans: spans_total,
                skipped_lines: skipped,
                seconds: secs,
                spans_per_second: rate,
            })
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

fn is_json(path: &Path, reader: &mut BufReader<impl Read>) -> Result<bool> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext == "jsonl" || ext == "json" {
        return Ok(true);
    }
    import::looks_like_json(reader).map_err(|e| in_file(path, e))
}

/// Names the file in an error about its contents.
fn in_file(path: &Path, e: Error) -> Error {
    match e {
        Error::InvalidInput { message, position } => Error::InvalidInput {
            message: format!("{}: {message}", path.display()),
            position,
        },
        Error::Io { path: None, source } => Error::io(path, source),
        other => other,
    }
}
