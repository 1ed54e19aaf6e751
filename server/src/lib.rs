//! `spandb serve`: one process that takes spans in over OTLP (HTTP and gRPC) and answers
//! Grafana Tempo's and Jaeger's query APIs, over a [`spandb::Db`] (docs/HTTP.md).
//!
//! Layers, each in its own module:
//! - [`config`]: addresses, limits and tokens, checked before anything listens (a
//!   non-loopback address without a token is refused).
//! - [`ingest`]: the bounded write queue. Requests wait for their spans to be durable; a full
//!   queue is an immediate "try later" (HTTP 429, gRPC `Unavailable`), never an unbounded
//!   buffer and never a silent drop.
//! - [`front`]: the query front over several nodes (`--peers`), merging exactly.
//! - [`kafka`]: the Kafka consumer (offsets stored with the spans: exactly once in effect).
//! - [`otlp_http`] and [`otlp_grpc`]: the OTLP receivers.
//! - [`tempo`], [`jaeger`] and [`jaeger_v3`]: the query APIs.
//! - [`spandb_api`]: spandb's own analyses under `/api/spandb/` (graph, critical path, self
//!   time, error groups, anomalies, health, explain).
//! - [`ui`]: the web UI at `/`, embedded.
//! - [`mcp`]: the Model Context Protocol tools at `/api/mcp`, for assistants.
//! - [`metrics`]: `/metrics` in Prometheus' text format.
//! - [`http`]: the router, authentication, limits and error bodies shared by the HTTP APIs.
//! - [`tls`]: rustls on every listener; [`cors`]: CORS, off unless origins are configured;
//!   [`logging`]: structured logs (text or JSON lines) through `tracing`.

pub mod config;
mod cors;
pub mod front;
mod front_graph;
mod http;
pub mod ingest;
mod jaeger;
mod jaeger_v3;
pub mod kafka;
pub mod logging;
mod mcp;
pub mod metrics;
mod otlp_grpc;
mod otlp_http;
mod spandb_api;
mod tempo;
pub mod tls;
mod ui;

use std::net::SocketAddr;
use std::sync::Arc;

pub use config::{ConfigError, ServerConfig};
use spandb::Db;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A running server: its bound addresses and a handle to stop it.
pub struct Server {
    pub query_addr: SocketAddr,
    pub otlp_http_addr: SocketAddr,
    pub otlp_grpc_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    ingest: ingest::Ingest,
    kafka: Vec<kafka::KafkaConsumer>,
}

impl Server {
    /// Binds every listener and starts serving `db` on the current tokio runtime.
    pub async fn start(db: Arc<Db>, config: ServerConfig) -> Result<Server, StartError> {
        config.validate()?;
        let config = Arc::new(config);
        let metrics = Arc::new(metrics::Metrics::default());
        let ingest = ingest::Ingest::start(db.clone(), &config, metrics.clone());
        let mut kafka = Vec::new();
        for k in [config.kafka.clone(), config.kafka_logs.clone()]
            .into_iter()
            .flatten()
        {
            let (db, ingest, metrics) = (db.clone(), ingest.clone(), metrics.clone());
            // Connecting makes blocking broker requests: off the async threads.
            let started = tokio::task::spawn_blocking(move || {
                kafka::KafkaConsumer::start(db, ingest, metrics, k)
            })
            .await
            .map_err(|e| StartError::Kafka(kafka::KafkaStartError::Client(e.to_string())))?;
            kafka.push(started?);
        }
        let state = http::AppState {
            db,
            config: config.clone(),
            ingest: ingest.clone(),
            metrics: metrics.clone(),
            queries: Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_queries)),
        };
        let (stop, stopped) = watch::channel(false);
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|e| StartError::Bind { addr, source: e })
        };
        let query_listener = bind(config.query_addr).await?;
        let otlp_http_listener = bind(config.otlp_http_addr).await?;
        let otlp_grpc_listener = bind(config.otlp_grpc_addr).await?;
        let addr = |l: &TcpListener, a| {
            l.local_addr()
                .map_err(|e| StartError::Bind { addr: a, source: e })
        };
        let query_addr = addr(&query_listener, config.query_addr)?;
        let otlp_http_addr = addr(&otlp_http_listener, config.otlp_http_addr)?;
        let otlp_grpc_addr = addr(&otlp_grpc_listener, config.otlp_grpc_addr)?;

        let tls = |alpn: &[&[u8]]| {
            config
                .tls
                .as_ref()
                .map(|files| tls::server_config(files, alpn))
                .transpose()
        };
        let http_tls = tls(&[b"http/1.1"])?;
        let grpc_tls = tls(&[b"h2"])?;

        let mut tasks = Vec::new();
        for (listener, router) in [
            (query_listener, http::query_router(state.clone())),
            (otlp_http_listener, http::otlp_router(state.clone())),
        ] {
            let mut stopped = stopped.clone();
            let http_tls = http_tls.clone();
            tasks.push(tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                let served = match http_tls {
                    Some(tls) => match tls::TlsListener::new(listener, tls) {
                        Ok(l) => {
                            axum::serve(l, router)
                                .with_graceful_shutdown(shutdown)
                                .await
                        }
                        Err(e) => Err(e),
                    },
                    None => {
                        axum::serve(listener, router)
                            .with_graceful_shutdown(shutdown)
                            .await
                    }
                };
                if let Err(e) = served {
                    tracing::error!(error = %e, "http server stopped");
                }
            }));
        }
        let mut grpc_stopped = stopped.clone();
        tasks.push(tokio::spawn(otlp_grpc::serve(
            otlp_grpc_listener,
            grpc_tls,
            state,
            async move {
                let _ = grpc_stopped.wait_for(|s| *s).await;
            },
        )));
        tracing::info!(
            %query_addr,
            %otlp_http_addr,
            %otlp_grpc_addr,
            tls = config.tls.is_some(),
            cors = !config.cors_origins.is_empty(),
            "spandb serving"
        );
        Ok(Server {
            query_addr,
            otlp_http_addr,
            otlp_grpc_addr,
            stop,
            tasks,
            ingest,
            kafka,
        })
    }

    /// Stops accepting, lets in-flight requests finish, makes every acknowledged span
    /// durable (the queue drains into the database) and returns.
    pub async fn shutdown(self) {
        for k in self.kafka {
            // Writes what it read and stores its offsets, through the still-open queue.
            let _ = tokio::task::spawn_blocking(move || k.stop()).await;
        }
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.ingest.close().await;
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Kafka(#[from] kafka::KafkaStartError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Runs a server until SIGINT or SIGTERM, then shuts it down gracefully: what `spandb serve`
/// calls. Builds its own multi-threaded runtime.
pub fn run_until_signal(db: Arc<Db>, config: ServerConfig) -> Result<(), StartError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("spandb-serve")
        .build()
        .map_err(|e| StartError::Bind {
            addr: config.query_addr,
            source: e,
        })?;
    runtime.block_on(async move {
        let server = Server::start(db, config).await?;
        let signal = wait_for_signal().await;
        tracing::info!(signal, "shutting down: finishing requests, flushing");
        server.shutdown().await;
        tracing::info!("stopped");
        Ok(())
    })
}

/// Waits for SIGINT or SIGTERM and names the one that came.
pub(crate) async fn wait_for_signal() -> &'static str {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return "SIGINT";
                }
            };
        tokio::select! {
            _ = ctrl_c => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
        "SIGINT"
    }
}
