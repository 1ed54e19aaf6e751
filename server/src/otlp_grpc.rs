//! OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export` and
//! `opentelemetry.proto.collector.logs.v1.LogsService/Export` on tonic with
//! opentelemetry-proto's generated services. Same contract as OTLP/HTTP: the reply comes once
//! the records are durable; malformed records are `InvalidArgument`; a full queue is
//! `Unavailable` (the exporter retries); gzip-compressed requests are accepted.

use std::future::Future;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::logs::v1::LogsData;
use opentelemetry_proto::tonic::trace::v1::TracesData;
use spandb::otlp::Dropped;
use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use crate::http::{constant_time_eq, AppState};
use crate::ingest::IngestError;

/// Both services share one receiver: its state holds the queue, token and metrics.
#[derive(Clone)]
struct Receiver {
    state: AppState,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let started = std::time::Instant::now();
        let result = self.handle_traces(request).await;
        self.observe(
            "TraceService",
            "opentelemetry.proto.collector.trace.v1",
            result.as_ref().err(),
            started,
        );
        result
    }
}

#[tonic::async_trait]
impl LogsService for Receiver {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let started = std::time::Instant::now();
        let result = self.handle_logs(request).await;
        self.observe(
            "LogsService",
            "opentelemetry.proto.collector.logs.v1",
            result.as_ref().err(),
            started,
        );
        result
    }
}

impl Receiver {
    /// Request metrics and the request log line for one `Export` call.
    fn observe(
        &self,
        service: &str,
        package: &str,
        error: Option<&Status>,
        started: std::time::Instant,
    ) {
        let status = match error {
            None => 200,
            Some(s) => 400 + s.code() as u16,
        };
        let elapsed = started.elapsed();
        self.state
            .metrics
            .observe_request(&format!("grpc {service}/Export"), status, elapsed);
        crate::http::log_request(
            "POST",
            &format!("/{package}.{service}/Export"),
            status,
            elapsed,
        );
    }

    /// Whether the metadata carry the ingest token (always, when none is set).
    fn authorized(&self, metadata: &MetadataMap) -> bool {
        let Some(expected) = self.state.config.ingest_token.as_deref() else {
            return true;
        };
        let given = metadata
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        constant_time_eq(given.as_bytes(), expected.as_bytes())
    }

    async fn handle_traces(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        if !self.authorized(request.metadata()) {
            return Err(unauthenticated());
        }
        let data = TracesData {
            resource_spans: request.into_inner().resource_spans,
        };
        let mut spans = Vec::new();
        let mut dropped = Dropped::default();
        spandb::otlp::proto::decode_traces_data_lenient(data, &mut spans, &mut dropped)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let metrics = &self.state.metrics;
        let n = spans.len() as u64;
        metrics.spans_received.add(n);
        metrics.spans_rejected.add(dropped.spans_without_ids);
        match self.state.ingest.write(spans).await {
            Ok(()) => Ok(Response::new(ExportTraceServiceResponse {
                partial_success: crate::otlp_http::partial_success(&dropped),
            })),
            Err(e) => {
                metrics.spans_rejected.add(n);
                Err(self.ingest_status(e))
            }
        }
    }

    async fn handle_logs(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        if !self.authorized(request.metadata()) {
            return Err(unauthenticated());
        }
        let data = LogsData {
            resource_logs: request.into_inner().resource_logs,
        };
        let metrics = &self.state.metrics;
        let mut logs = Vec::new();
        if let Err(e) = spandb::otlp::proto::decode_logs_data(data, &mut logs) {
            metrics.log_requests_invalid.add(1);
            return Err(Status::invalid_argument(e.to_string()));
        }
        let n = logs.len() as u64;
        metrics.logs_received.add(n);
        match self.state.ingest.write_logs(logs).await {
            Ok(()) => Ok(Response::new(ExportLogsServiceResponse::default())),
            Err(e) => {
                metrics.logs_rejected.add(n);
                let status = self.ingest_status(e);
                if status.code() == tonic::Code::InvalidArgument {
                    metrics.log_requests_invalid.add(1);
                }
                Err(status)
            }
        }
    }

    /// The gRPC status for a refused write: a full queue or shutdown is `Unavailable` (the
    /// exporter retries), a database refusal of the input `InvalidArgument`.
    fn ingest_status(&self, e: IngestError) -> Status {
        match e {
            IngestError::Full { .. } => {
                self.state.metrics.requests_refused_full.add(1);
                Status::unavailable(e.to_string())
            }
            IngestError::Closed => Status::unavailable(e.to_string()),
            IngestError::Rejected {
                client_error: true,
                message,
            } => Status::invalid_argument(message),
            IngestError::Rejected { message, .. } => Status::unavailable(message),
        }
    }
}

fn unauthenticated() -> Status {
    Status::unauthenticated("a valid bearer token is required")
}

/// Serves OTLP/gRPC on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    tls: Option<std::sync::Arc<tokio_rustls::rustls::ServerConfig>>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let limit = state.config.max_body_bytes;
    let timeout = state.config.request_timeout;
    let receiver = Receiver { state };
    let traces = TraceServiceServer::new(receiver.clone())
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limit);
    let logs = LogsServiceServer::new(receiver)
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limit);
    let router = tonic::transport::Server::builder()
        .timeout(timeout)
        .add_service(traces)
        .add_service(logs);
    let served = match tls {
        Some(tls) => {
            let incoming = crate::tls::GrpcIncoming::new(listener, tls);
            router
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
        }
        None => {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            router
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
        }
    };
    if let Err(e) = served {
        tracing::error!(error = %e, "OTLP/gRPC server stopped");
    }
}
