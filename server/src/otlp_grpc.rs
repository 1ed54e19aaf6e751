//! OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export` on tonic with
//! opentelemetry-proto's generated service. Same contract as OTLP/HTTP: the reply comes once
//! the spans are durable; malformed spans are `InvalidArgument`; a full queue is
//! `Unavailable` (the exporter retries); gzip-compressed requests are accepted.

use std::future::Future;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::TracesData;
use spandb::otlp::Dropped;
use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use crate::http::{constant_time_eq, AppState};
use crate::ingest::IngestError;

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
        let result = self.handle(request).await;
        let status = match &result {
            Ok(_) => 200,
            Err(s) => 400 + s.code() as u16,
        };
        let elapsed = started.elapsed();
        self.state
            .metrics
            .observe_request("grpc TraceService/Export", status, elapsed);
        crate::http::log_request(
            "POST",
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            status,
            elapsed,
        );
        result
    }
}

impl Receiver {
    async fn handle(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        if let Some(expected) = self.state.config.ingest_token.as_deref() {
            let given = request
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
                return Err(Status::unauthenticated("a valid bearer token is required"));
            }
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
                Err(match e {
                    IngestError::Full { .. } => {
                        metrics.requests_refused_full.add(1);
                        Status::unavailable(e.to_string())
                    }
                    IngestError::Closed => Status::unavailable(e.to_string()),
                    IngestError::Rejected {
                        client_error: true,
                        message,
                    } => Status::invalid_argument(message),
                    IngestError::Rejected { message, .. } => Status::unavailable(message),
                })
            }
        }
    }
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
    let service = TraceServiceServer::new(Receiver { state })
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limit);
    let router = tonic::transport::Server::builder()
        .timeout(timeout)
        .add_service(service);
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
