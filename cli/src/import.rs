//! `spandb import`: span files of any supported format into the database.

use std::fs::File;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use spandb::import::{self, ImportOptions, ImportReport};
use spandb::{Durability, Error, Result};

use crate::output::json;
use crate::Format;

#[derive(clap::Args)]
pub struct Args {
    /// Files to import, detected from their bytes: OTLP JSON (JSON lines, or whole documents,
    /// pretty-printed or concatenated), OTLP protobuf (one request, or the Collector file
    /// exporter's length-prefixed stream), Jaeger JSON, Zipkin v2 JSON; each plain, zstd or
    /// gzip. `-` reads standard input; a directory imports its files in name order (the
    /// Collector's rotated files).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The format, when detection cannot tell.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Skip malformed JSON lines (counted and reported) instead of stopping at the first.
    #[arg(long)]
    skip_bad_lines: bool,
    /// Refuse a whole OTLP request for one bad part. By default a span without valid ids is
    /// skipped, an invalid link or parent id dropped from its span, an out-of-range kind or
    /// status made unspecified, and each counted in the summary.
    #[arg(long)]
    strict: bool,
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
enum FormatArg {
    OtlpJson,
    OtlpProto,
    Jaeger,
    Zipkin,
    /// OTLP JSON logs (`ExportLogsServiceRequest`).
    OtlpLogsJson,
    /// OTLP protobuf logs (`ExportLogsServiceRequest`), one or length-prefixed.
    OtlpLogsProto,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum DurabilityArg {
    Sync,
    Group,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImportOutput {
    spans: u64,
    logs: u64,
    skipped_lines: u64,
    seconds: f64,
    spans_per_second: f64,
    files: Vec<FileOutput>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileOutput {
    path: String,
    #[serde(flatten)]
    report: ImportReport,
}

/// The inputs: `-` is standard input, a directory its regular files by name.
fn inputs(args: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in args {
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| Error::io(path, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

pub fn run(db_dir: &Path, format: Format, args: Args) -> Result<ExitCode> {
    let durability = match args.durability {
        DurabilityArg::Sync => Durability::Sync,
        DurabilityArg::Group => Durability::GroupCommit {
            interval: Duration::from_millis(50),
        },
    };
    let files = inputs(&args.files)?;
    let db = crate::db_options().durability(durability).open(db_dir)?;
    let started = Instant::now();
    let total_bytes: u64 = files
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
    let opts = ImportOptions {
        format: args.format.map(|f| match f {
            FormatArg::OtlpJson => import::Format::OtlpJson,
            FormatArg::OtlpProto => import::Format::OtlpProto,
            FormatArg::Jaeger => import::Format::Jaeger,
            FormatArg::Zipkin => import::Format::Zipkin,
            FormatArg::OtlpLogsJson => import::Format::OtlpLogsJson,
            FormatArg::OtlpLogsProto => import::Format::OtlpLogsProto,
        }),
        skip_bad_records: args.skip_bad_lines,
        strict: args.strict,
        batch_spans: args.batch,
    };
    let mut spans_total = 0u64;
    let mut logs_total = 0u64;
    let mut reports = Vec::new();
    for path in &files {
        let input: Box<dyn Read> = if path.as_os_str() == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            Box::new(bar.wrap_read(File::open(path).map_err(|e| Error::io(path, e))?))
        };
        let report = import::read_telemetry(
            input,
            &opts,
            |batch| {
                spans_total += batch.len() as u64;
                bar.set_message(format!("{spans_total} spans"));
                db.write(batch)
            },
            |logs| {
                logs_total += logs.len() as u64;
                bar.set_message(format!("{logs_total} log records"));
                db.write_logs(logs)
            },
        )
        .map_err(|e| in_file(path, e))?;
        reports.push(FileOutput {
            path: path.display().to_string(),
            report,
        });
    }
    if !args.no_flush {
        bar.set_message("sealing");
        db.flush()?;
    }
    db.close()?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let rate = spans_total as f64 / secs.max(1e-9);
    let skipped: u64 = reports.iter().map(|f| f.report.skipped_records).sum();
    match format {
        Format::Json => outln!(
            "{}",
            json(&ImportOutput {
                spans: spans_total,
                logs: logs_total,
                skipped_lines: skipped,
                seconds: secs,
                spans_per_second: rate,
                files: reports,
            })
        ),
        // Table (main.rs refused the image formats for this command).
        _ => {
            if logs_total > 0 {
                let lrate = logs_total as f64 / secs.max(1e-9);
                outln!(
                    "imported {spans_total} spans and {logs_total} log records in {secs:.2} s ({lrate:.0} log records/s)"
                );
            } else {
                outln!("imported {spans_total} spans in {secs:.2} s ({rate:.0} spans/s)");
            }
            let mut dropped = spandb::otlp::Dropped::default();
            for f in &reports {
                dropped.add(&f.report.dropped);
            }
            if dropped.total() > 0 {
                outln!(
                    "dropped (use --strict to refuse instead): {} spans without valid ids, {} invalid links, {} invalid parent ids, {} out-of-range kinds or statuses",
                    dropped.spans_without_ids,
                    dropped.invalid_links,
                    dropped.invalid_parent_ids,
                    dropped.out_of_range_enums
                );
            }
            if skipped > 0 {
                outln!("skipped {skipped} malformed lines; first errors:");
                for f in &reports {
                    for e in &f.report.first_errors {
                        outln!("  {}: {e}", f.path);
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
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
