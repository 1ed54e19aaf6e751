//! `spandb serve`: OTLP in over HTTP and gRPC, Tempo's and Jaeger's APIs out (docs/HTTP.md).
//! Listens on 127.0.0.1 unless told otherwise; a non-loopback address needs a token.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use spandb::{Durability, Error, Options, Result};
use spandb_server::ServerConfig;

use crate::range::duration_ns;

#[derive(clap::Args)]
pub struct Args {
    /// Query API (Tempo, Jaeger under /jaeger, /metrics) address.
    #[arg(long, default_value = "127.0.0.1:3200")]
    listen: SocketAddr,
    /// OTLP/HTTP address (POST /v1/traces).
    #[arg(long, default_value = "127.0.0.1:4318")]
    otlp_http: SocketAddr,
    /// OTLP/gRPC address (TraceService/Export).
    #[arg(long, default_value = "127.0.0.1:4317")]
    otlp_grpc: SocketAddr,
    /// File holding the bearer token for queries and ingest (required on a non-loopback
    /// address).
    #[arg(long)]
    auth_token_file: Option<PathBuf>,
    /// File holding a separate bearer token for OTLP ingest (default: the auth token).
    #[arg(long)]
    ingest_token_file: Option<PathBuf>,
    /// Largest request body after decompression, in bytes.
    #[arg(long, default_value_t = 16 << 20)]
    max_body_bytes: usize,
    /// Longest a query may run (e.g. 30s).
    #[arg(long, value_parser = duration_ns, default_value = "30s")]
    request_timeout: u64,
    /// Queries running at once (more wait).
    #[arg(long, default_value_t = 4)]
    max_concurrent_queries: usize,
    /// Spans waiting to be written before requests are refused with 429 / Unavailable.
    #[arg(long, default_value_t = 200_000)]
    queue_spans: usize,
    /// When a write counts as durable: after fsync (`sync`, the default: an acknowledged span
    /// survives power loss) or in the OS with an fsync every 50 ms (`group`).
    #[arg(long, value_enum, default_value_t = ServeDurability::Sync)]
    durability: ServeDurability,
    /// PEM certificate chain: serve every listener over TLS (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Allow browser pages from this origin (https://host:port, or *) to call the APIs
    /// (CORS). Repeatable or comma-separated; without it no CORS header is sent.
    #[arg(long = "cors-origin", value_delimiter = ',')]
    cors_origins: Vec<String>,
    /// Log lines as text or as JSON objects (to stderr).
    #[arg(long, value_enum, default_value_t = LogFormatArg::Text)]
    log_format: LogFormatArg,
    /// Log level (error, warn, info, debug, trace) or directives
    /// (warn,spandb_server=debug).
    #[arg(long, default_value = "info")]
    log_level: String,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum ServeDurability {
    Sync,
    Group,
}

fn read_token(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let token = text.trim().to_owned();
    if token.is_empty() {
        return Err(Error::invalid(format!("{} holds no token", path.display())));
    }
    Ok(token)
}

pub fn run(db_dir: &Path, args: Args) -> Result<ExitCode> {
    let format = match args.log_format {
        LogFormatArg::Text => spandb_server::logging::LogFormat::Text,
        LogFormatArg::Json => spandb_server::logging::LogFormat::Json,
    };
    spandb_server::logging::init(format, &args.log_level)
        .map_err(|e| Error::invalid(e.to_string()))?;
    let query_token = args
        .auth_token_file
        .as_deref()
        .map(read_token)
        .transpose()?;
    let ingest_token = match args.ingest_token_file.as_deref() {
        Some(p) => Some(read_token(p)?),
        None => query_token.clone(),
    };
    let config = ServerConfig {
        query_addr: args.listen,
        otlp_http_addr: args.otlp_http,
        otlp_grpc_addr: args.otlp_grpc,
        query_token,
        ingest_token,
        max_body_bytes: args.max_body_bytes,
        request_timeout: Duration::from_nanos(args.request_timeout),
        max_concurrent_queries: args.max_concurrent_queries,
        queue_spans: args.queue_spans,
        tls: match (args.tls_cert, args.tls_key) {
            (Some(cert), Some(key)) => Some(spandb_server::tls::TlsFiles { cert, key }),
            _ => None,
        },
        cors_origins: args.cors_origins,
    };
    config
        .validate()
        .map_err(|e| Error::invalid(e.to_string()))?;
    let durability = match args.durability {
        ServeDurability::Sync => Durability::Sync,
        ServeDurability::Group => Durability::GroupCommit {
            interval: Duration::from_millis(50),
        },
    };
    let db = Arc::new(Options::new().durability(durability).open(db_dir)?);
    let served = spandb_server::run_until_signal(db.clone(), config);
    let closed = db.close();
    if let Err(e) = &served {
        tracing::error!(error = %e, "cannot serve");
    }
    spandb_server::logging::flush();
    served.map_err(|e| Error::invalid(e.to_string()))?;
    closed?;
    Ok(ExitCode::SUCCESS)
}
