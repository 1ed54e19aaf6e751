//! `spandb`: the command-line tool. Each command lives in its own module.

/// `println!` to stdout, where a closed pipe (`spandb stats | head`) ends the program quietly.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($t)*) {
            crate::output::stdout_failed(e)
        }
    }};
}

/// `print!` counterpart of [`outln!`].
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout(), $($t)*) {
            crate::output::stdout_failed(e)
        }
    }};
}

mod check;
mod import;
mod lifecycle;
mod metrics;
mod output;
mod range;
mod search;
mod stats;
mod trace;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

// mimalloc: measured faster ingest and lower peak RSS than glibc malloc for span-sized
// allocations (docs/ARCHITECTURE.md, "Memory").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// spandb: an embedded span store for distributed traces.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Database directory.
    #[arg(long, global = true, default_value = "./spandb-data")]
    db: PathBuf,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    output: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Import OTLP files: JSON lines (Collector file exporter) or protobuf.
    Import(import::Args),
    /// Show one trace as an indented tree (or OTLP JSON with --output json).
    Trace(trace::Args),
    /// Traces matching a TraceQL query, newest first.
    Search(search::Args),
    /// A TraceQL metrics pipeline (rate, count, avg, quantiles) as time series.
    Metrics(metrics::Args),
    /// Spans, traces, blocks, bytes on disk and per-service counts.
    Stats,
    /// Verify every checksum and that catalog, trace index and blocks agree.
    Check(check::Args),
    /// Merge small blocks into larger ones now (the background worker also does it).
    Compact,
    /// Drop blocks whose spans are all older than a horizon.
    Retain(lifecycle::RetainArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Import(args) => import::run(&cli.db, cli.output, args),
        Command::Trace(args) => trace::run(&cli.db, cli.output, args),
        Command::Search(args) => search::run(&cli.db, cli.output, args),
        Command::Metrics(args) => metrics::run(&cli.db, cli.output, args),
        Command::Stats => stats::run(&cli.db, cli.output),
        Command::Check(args) => check::run(&cli.db, cli.output, args),
        Command::Compact => lifecycle::compact(&cli.db, cli.output),
        Command::Retain(args) => lifecycle::retain(&cli.db, cli.output, args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("spandb: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Opens an existing database for reading commands; a missing directory is an error rather
/// than a silently created empty database.
pub fn open_existing(dir: &std::path::Path) -> spandb::Result<spandb::Db> {
    if !dir.join("catalog").exists() {
        return Err(spandb::Error::InvalidInput(format!(
            "no spandb database at {} (import some spans first, or pass --db)",
            dir.display()
        )));
    }
    spandb::Options::new().open(dir)
}

/// Query errors carry their own kinds (a parse error says where); storage errors inside them
/// keep theirs.
pub fn query_error(e: spandb::query::Error) -> spandb::Error {
    match e {
        spandb::query::Error::Storage(inner) => inner,
        other => spandb::Error::InvalidInput(other.to_string()),
    }
}
