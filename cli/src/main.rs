//! `spandb`: the command-line tool. Each command lives in its own module; all of them go
//! through the `spandb` facade and print through `spandb::render`.
//!
//! Exit status, for scripts:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | failure: I/O, a poisoned or closed database, an internal error |
//! | 2 | usage: bad arguments, a query that does not parse, input that cannot be accepted |
//! | 3 | not found: the trace id, or no database in `--db` |
//! | 4 | corruption: stored bytes failed validation (also `check` finding a problem) |

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

mod anomalies;
mod breakdown;
mod check;
mod critical_path;
mod errors;
mod explain;
mod export;
mod graph;
mod health;
mod import;
mod lifecycle;
mod logs;
mod metrics;
mod output;
mod range;
mod search;
mod serve;
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
    /// Memory for decoded block footers (dictionaries, bitmaps, rollups, trace tables),
    /// in a scan-resistant LRU: bytes, or with a K/M/G (KiB/MiB/GiB) suffix, e.g.
    /// 64MiB. Default 512MiB; 0 keeps none (each query decodes what it needs).
    #[arg(long, global = true, value_parser = byte_size)]
    cache_bytes: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Text for people: tables, the trace waterfall (`text` is the same).
    #[value(alias = "text")]
    Table,
    Json,
    /// One self-contained HTML file (trace, graph, metrics).
    Html,
    /// An SVG image (trace, graph, metrics).
    Svg,
    /// A PNG image (trace, graph, metrics); written to stdout, so redirect it to a file.
    Png,
    /// Graphviz dot (graph).
    Dot,
    /// OTLP JSON (logs: one `ExportLogsServiceRequest`).
    Otlp,
}

impl Format {
    /// The error for a format `command` cannot write.
    pub fn unsupported(self, command: &str) -> spandb::Error {
        let name = self
            .to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default();
        spandb::Error::invalid(format!("`spandb {command}` cannot write --output {name}"))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Import span files: OTLP JSON or protobuf, Jaeger or Zipkin JSON; plain, zstd or gzip.
    Import(import::Args),
    /// Export spans (a time range, or the traces a search finds) as OTLP JSON lines or protobuf.
    Export(export::Args),
    /// Show one trace as a waterfall (terminal, HTML, SVG, PNG) or OTLP JSON.
    Trace(trace::Args),
    /// Traces matching a TraceQL query, newest first.
    Search(search::Args),
    /// Log records matching a query, newest first; `logs patterns` mines their templates.
    Logs(logs::Args),
    /// A TraceQL metrics pipeline (rate, count, avg, quantiles) as time series.
    Metrics(metrics::Args),
    /// Incidents in a window (default: the data's last hour): rate, errors and latency of
    /// every service, operation and edge against a baseline, localized to their origin.
    Anomalies(anomalies::Args),
    /// A short account of one trace: duration and rank, critical path, failure, unusual spans.
    Explain(explain::Args),
    /// The service graph: services, databases, queues and peers, and the calls between them.
    Graph(graph::Args),
    /// Spans, traces, blocks, bytes on disk and per-service counts.
    Stats,
    /// Verify every checksum and that catalog, trace index and blocks agree.
    Check(check::Args),
    /// Merge small blocks into larger ones now (the background worker also does it).
    Compact,
    /// Drop blocks whose spans are all older than a horizon.
    Retain(lifecycle::RetainArgs),
    /// The critical path of a trace: the spans its latency waited on.
    CriticalPath(critical_path::Args),
    /// Where the time of matching traces goes: critical-path and self time per operation.
    Breakdown(breakdown::Args),
    /// Exceptions and error spans grouped by service, type and message template.
    Errors(errors::Args),
    /// Health of a trace (orphans, missing root, duplicate ids, clock skew, links), or which
    /// of the newest matching traces are unhealthy.
    Health(health::Args),
    /// Serve OTLP (HTTP :4318, gRPC :4317) in and Tempo's and Jaeger's APIs (:3200) out.
    Serve(Box<serve::Args>),
}

/// Exit statuses (see the module docs).
pub mod exit {
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NOT_FOUND: u8 = 3;
    pub const CORRUPTION: u8 = 4;
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let draws = matches!(
        cli.command,
        Command::Trace(_) | Command::Graph(_) | Command::Metrics(_)
    );
    let otlp_ok = matches!(cli.command, Command::Logs(_)) && cli.output == Format::Otlp;
    if !draws && !otlp_ok && !matches!(cli.output, Format::Table | Format::Json) {
        let name = cli
            .output
            .to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default();
        eprintln!("spandb: --output {name}: only trace, graph and metrics draw images and HTML");
        return ExitCode::from(exit::USAGE);
    }
    if let Some(bytes) = cli.cache_bytes {
        let _ = CACHE_BYTES.set(bytes);
    }
    let result = match cli.command {
        Command::Import(args) => import::run(&cli.db, cli.output, args),
        Command::Export(args) => export::run(&cli.db, args),
        Command::Trace(args) => trace::run(&cli.db, cli.output, args),
        Command::Search(args) => search::run(&cli.db, cli.output, args),
        Command::Logs(args) => logs::run(&cli.db, cli.output, args),
        Command::Metrics(args) => metrics::run(&cli.db, cli.output, args),
        Command::Anomalies(args) => anomalies::run(&cli.db, cli.output, args),
        Command::Explain(args) => explain::run(&cli.db, cli.output, args),
        Command::Graph(args) => graph::run(&cli.db, cli.output, args),
        Command::Stats => stats::run(&cli.db, cli.output),
        Command::Check(args) => check::run(&cli.db, cli.output, args),
        Command::Compact => lifecycle::compact(&cli.db, cli.output),
        Command::Retain(args) => lifecycle::retain(&cli.db, cli.output, args),
        Command::CriticalPath(args) => critical_path::run(&cli.db, cli.output, args),
        Command::Breakdown(args) => breakdown::run(&cli.db, cli.output, args),
        Command::Errors(args) => errors::run(&cli.db, cli.output, args),
        Command::Health(args) => health::run(&cli.db, cli.output, args),
        Command::Serve(args) => serve::run(&cli.db, *args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("spandb: {e}");
            ExitCode::from(exit_status(&e))
        }
    }
}

/// The exit status a shell user can test for an error.
fn exit_status(e: &spandb::Error) -> u8 {
    use spandb::Error as E;
    match e {
        E::NotFound { .. } => exit::NOT_FOUND,
        E::Corruption { .. } | E::UnsupportedVersion { .. } => exit::CORRUPTION,
        E::InvalidInput { .. } | E::Query { .. } => exit::USAGE,
        _ => exit::FAILURE,
    }
}

/// `--cache-bytes`, set once in `main` before any command runs.
static CACHE_BYTES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

/// The database options every command opens with (`--cache-bytes`).
pub fn db_options() -> spandb::Options {
    let opts = spandb::Options::new();
    match CACHE_BYTES.get() {
        Some(bytes) => opts.cache_bytes(*bytes),
        None => opts,
    }
}

/// Parses a byte count: digits with an optional K, M or G suffix (powers of 1024; `KiB`,
/// `MB` and friends are read the same way).
fn byte_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let number: usize = number
        .parse()
        .map_err(|_| format!("{text:?} is not a byte count (e.g. 268435456 or 256MiB)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => {
            return Err(format!(
                "unknown byte unit {other:?} in {text:?} (use K, M or G)"
            ))
        }
    };
    number
        .checked_mul(1usize << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Opens an existing database for reading commands; a missing directory is "not found"
/// rather than a silently created empty database.
pub fn open_existing(dir: &std::path::Path) -> spandb::Result<spandb::Db> {
    spandb::Db::open_existing(dir, db_options())
}

#[cfg(test)]
mod tests {
    use super::byte_size;

    #[test]
    fn byte_sizes_take_binary_suffixes() {
        assert_eq!(byte_size("0"), Ok(0));
        assert_eq!(byte_size("4096"), Ok(4096));
        assert_eq!(byte_size("64k"), Ok(64 << 10));
        assert_eq!(byte_size("256MiB"), Ok(256 << 20));
        assert_eq!(byte_size("2G"), Ok(2 << 30));
        assert!(byte_size("MiB").is_err());
        assert!(byte_size("12 parsecs").is_err());
        assert!(byte_size("99999999999999999999G").is_err());
    }
}
