//! `spandb serve`: OTLP in over HTTP and gRPC, Tempo's and Jaeger's APIs out (docs/HTTP.md).
//! Listens on 127.0.0.1 unless told otherwise; a non-loopback address needs a token.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use spandb::{Durability, Error, Result};
use spandb_server::kafka::KafkaConfig;
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
    /// Consume spans from Kafka: bootstrap brokers `host:port[,host:port]` (the topic written
    /// by the Collector's kafka exporter). Offsets are stored with the spans.
    #[arg(long)]
    kafka_brokers: Option<String>,
    /// Kafka topic to consume.
    #[arg(long, default_value = "otlp_spans")]
    kafka_topic: String,
    /// Also consume OTLP logs from this Kafka topic (the Collector's `otlp_logs`), with the
    /// same brokers, group, encoding, partitions and properties; offsets stored with the
    /// records.
    #[arg(long)]
    kafka_logs_topic: Option<String>,
    /// Kafka consumer group (also names the stored offsets).
    #[arg(long, default_value = "spandb")]
    kafka_group: String,
    /// Encoding of the messages: `otlp_proto` (the exporter's default) or `otlp_json`.
    #[arg(long, default_value = "otlp_proto")]
    kafka_encoding: spandb_server::kafka::KafkaEncoding,
    /// Which partitions to read: `group` (the consumer group assigns them), `all`, or a list
    /// `0,1,2` (both without group membership).
    #[arg(long, default_value = "group", value_parser = kafka_partitions)]
    kafka_partitions: spandb_server::kafka::KafkaPartitions,
    /// Copy undecodable messages to this topic (they are skipped either way).
    #[arg(long)]
    kafka_dead_letter_topic: Option<String>,
    /// Extra librdkafka property `key=value` (repeatable), e.g. `security.protocol=ssl`.
    #[arg(long, value_parser = key_value)]
    kafka_property: Vec<(String, String)>,
    /// Run as a query front instead: fan Tempo and Jaeger API requests out to these nodes'
    /// query URLs (`http://host:3200,...`) and merge the answers. No database is opened.
    #[arg(long, value_delimiter = ',')]
    peers: Vec<String>,
    /// Longest the front waits for one node (e.g. 10s); a node that does not answer in time
    /// is named in the response.
    #[arg(long, value_parser = duration_ns, default_value = "10s")]
    peer_timeout: u64,
}

fn kafka_partitions(s: &str) -> std::result::Result<spandb_server::kafka::KafkaPartitions, String> {
    use spandb_server::kafka::KafkaPartitions;
    match s {
        "group" => Ok(KafkaPartitions::Group),
        "all" => Ok(KafkaPartitions::All),
        list => list
            .split(',')
            .map(|p| {
                p.trim()
                    .parse::<i32>()
                    .ok()
                    .filter(|p| *p >= 0)
                    .ok_or_else(|| format!("{p:?} is not a partition number"))
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map(KafkaPartitions::Only),
    }
}

fn key_value(s: &str) -> std::result::Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("{s:?} is not key=value"))
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
    if !args.peers.is_empty() {
        for p in &args.peers {
            if !(p.starts_with("http://") || p.starts_with("https://")) {
                return Err(Error::invalid(format!(
                    "peer {p:?} is not an http:// or https:// URL"
                )));
            }
        }
        if !args.listen.ip().is_loopback() && query_token.is_none() {
            return Err(Error::invalid(format!(
                "the query front would listen on {}, which is not a loopback address, without \
                 a token: give one (--auth-token-file) or listen on 127.0.0.1",
                args.listen
            )));
        }
        let front = spandb_server::front::FrontConfig {
            listen: args.listen,
            peers: args.peers.clone(),
            peer_timeout: Duration::from_nanos(args.peer_timeout),
            token: query_token,
        };
        spandb_server::front::run_until_signal(front)
            .map_err(|e| Error::invalid(format!("query front: {e}")))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut config = ServerConfig {
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
        kafka: args.kafka_brokers.as_deref().map(|brokers| {
            let mut k = KafkaConfig::new(brokers, &args.kafka_topic, &args.kafka_group);
            k.encoding = args.kafka_encoding;
            k.partitions = args.kafka_partitions.clone();
            k.dead_letter_topic = args.kafka_dead_letter_topic.clone();
            k.properties = args.kafka_property.clone();
            k
        }),
        kafka_logs: None,
    };
    if let Some(topic) = &args.kafka_logs_topic {
        let Some(spans) = &config.kafka else {
            return Err(Error::invalid("--kafka-logs-topic needs --kafka-brokers"));
        };
        config.kafka_logs = Some(KafkaConfig {
            topic: topic.clone(),
            signal: spandb_server::kafka::KafkaSignal::Logs,
            ..spans.clone()
        });
    }
    config
        .validate()
        .map_err(|e| Error::invalid(e.to_string()))?;
    let durability = match args.durability {
        ServeDurability::Sync => Durability::Sync,
        ServeDurability::Group => Durability::GroupCommit {
            interval: Duration::from_millis(50),
        },
    };
    let db = Arc::new(crate::db_options().durability(durability).open(db_dir)?);
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
