//! What a server listens on and the limits it enforces. The defaults are safe: loopback
//! only, bounded bodies, time and concurrency.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Server settings. [`ServerConfig::default`] listens on 127.0.0.1 at Tempo's and OTLP's
/// usual ports.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Tempo's and Jaeger's query APIs, `/metrics`, `/ready` (Tempo's port, 3200).
    pub query_addr: SocketAddr,
    /// OTLP/HTTP (`POST /v1/traces`), port 4318.
    pub otlp_http_addr: SocketAddr,
    /// OTLP/gRPC (`TraceService/Export`), port 4317.
    pub otlp_grpc_addr: SocketAddr,
    /// Bearer token the query API requires; `None` allows no-token access, which only a
    /// loopback address may use.
    pub query_token: Option<String>,
    /// Bearer token OTLP ingest requires (HTTP `Authorization`, gRPC `authorization`
    /// metadata); same rule.
    pub ingest_token: Option<String>,
    /// Largest request body, after decompression.
    pub max_body_bytes: usize,
    /// Longest a query request may run before it is answered 503.
    pub request_timeout: Duration,
    /// Queries running at once; more wait (up to the timeout), so a burst of heavy queries
    /// cannot take every core from ingest.
    pub max_concurrent_queries: usize,
    /// Spans waiting to be written; a request that would go over is refused with 429 /
    /// `Unavailable` and Retry-After.
    pub queue_spans: usize,
    /// TLS on every listener from these PEM files; `None` serves plain TCP.
    pub tls: Option<crate::tls::TlsFiles>,
    /// Origins (`https://grafana.example.com`, or `*` for any) whose pages may call the
    /// APIs from a browser; empty (the default) sends no `Access-Control-*` header at all.
    pub cors_origins: Vec<String>,
    /// Consume spans from Kafka too (`None`: no consumer).
    pub kafka: Option<crate::kafka::KafkaConfig>,
    /// Consume OTLP logs from Kafka too (`None`: no consumer); its `signal` is
    /// [`crate::kafka::KafkaSignal::Logs`].
    pub kafka_logs: Option<crate::kafka::KafkaConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let local = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        ServerConfig {
            query_addr: local(3200),
            otlp_http_addr: local(4318),
            otlp_grpc_addr: local(4317),
            query_token: None,
            ingest_token: None,
            max_body_bytes: 16 << 20,
            request_timeout: Duration::from_secs(30),
            max_concurrent_queries: 4,
            queue_spans: 200_000,
            tls: None,
            cors_origins: Vec::new(),
            kafka: None,
            kafka_logs: None,
        }
    }
}

/// A configuration the server refuses to start with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "{what} would listen on {addr}, which is not a loopback address, without a token: \
         give one (--auth-token-file) or listen on 127.0.0.1"
    )]
    ExposedWithoutToken {
        what: &'static str,
        addr: SocketAddr,
    },
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
    #[error(
        "{0:?} is not a CORS origin: give scheme, host and optional port \
         (https://grafana.example.com:3000), or *"
    )]
    BadOrigin(String),
}

impl ServerConfig {
    /// Every address for tests: loopback, ports chosen by the system.
    pub fn ephemeral() -> Self {
        let any_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        ServerConfig {
            query_addr: any_port,
            otlp_http_addr: any_port,
            otlp_grpc_addr: any_port,
            ..ServerConfig::default()
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let exposed = |addr: SocketAddr| !addr.ip().is_loopback();
        if exposed(self.query_addr) && self.query_token.is_none() {
            return Err(ConfigError::ExposedWithoutToken {
                what: "the query API",
                addr: self.query_addr,
            });
        }
        for (what, addr) in [
            ("OTLP/HTTP", self.otlp_http_addr),
            ("OTLP/gRPC", self.otlp_grpc_addr),
        ] {
            if exposed(addr) && self.ingest_token.is_none() {
                return Err(ConfigError::ExposedWithoutToken { what, addr });
            }
        }
        for (what, v) in [
            ("the body limit", self.max_body_bytes),
            ("the query concurrency", self.max_concurrent_queries),
            ("the queue size", self.queue_spans),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero(what));
            }
        }
        for origin in &self.cors_origins {
            if !crate::cors::valid_origin(origin) {
                return Err(ConfigError::BadOrigin(origin.clone()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposed_addresses_need_tokens() {
        assert!(ServerConfig::default().validate().is_ok());
        let mut c = ServerConfig {
            query_addr: "0.0.0.0:3200".parse().unwrap(),
            ..ServerConfig::default()
        };
        assert!(matches!(
            c.validate(),
            Err(ConfigError::ExposedWithoutToken { .. })
        ));
        c.query_token = Some("t".into());
        assert!(c.validate().is_ok());
        c.otlp_grpc_addr = "0.0.0.0:4317".parse().unwrap();
        assert!(c.validate().is_err());
        c.ingest_token = Some("i".into());
        assert!(c.validate().is_ok());
    }
}
