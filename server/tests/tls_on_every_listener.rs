//! `--tls-cert/--tls-key`: a self-signed certificate made in the test; clients that trust
//! it reach the query API, OTLP/HTTP and OTLP/gRPC (with ALPN h2) over TLS, every span sent
//! is stored, and plain HTTP or gRPC on the same ports gets nothing.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{json_of, send, Running};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use spandb_server::tls::TlsFiles;
use spandb_server::ServerConfig;
use spandb_testkit::numbered_batch;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

const T0: u64 = 1_750_000_000_000_000_000;

fn client_config(cert: &CertificateDer<'static>, alpn: &[u8]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    Arc::new(config)
}

#[test]
fn tls_on_every_listener() {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = (files.path().join("cert.pem"), files.path().join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.key_pair.serialize_pem()).unwrap();
    let der = generated.cert.der().clone();

    let mut s = Running::start(ServerConfig {
        tls: Some(TlsFiles { cert, key }),
        ..ServerConfig::ephemeral()
    });
    let https = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .tls_config(client_config(&der, b"http/1.1"))
        .build();
    let q = s.server().query_addr.port();
    let (status, body) = send(https.get(&format!("https://localhost:{q}/ready")), None);
    assert_eq!((status, body.as_slice()), (200, b"ready".as_slice()));

    // OTLP/HTTP over TLS.
    let o = s.server().otlp_http_addr.port();
    let json =
        spandb::otlp::json::encode_json_request(&numbered_batch(0, 20, T0, 1_000)).to_string();
    let (status, body) = send(
        https.post(&format!("https://localhost:{o}/v1/traces")),
        Some(("application/json", json.as_bytes())),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    // OTLP/gRPC over TLS, ALPN h2, with tonic's generated client.
    let grpc_addr = s.server().otlp_grpc_addr;
    let connector = tokio_rustls::TlsConnector::from(client_config(&der, b"h2"));
    let data = spandb::otlp::proto::to_traces_data(&numbered_batch(1, 20, T0, 1_000));
    let reply = s.runtime.block_on(async {
        let channel = tonic::transport::Endpoint::from_static("http://localhost")
            .connect_with_connector(tower::service_fn(move |_| {
                let connector = connector.clone();
                async move {
                    let tcp = tokio::net::TcpStream::connect(grpc_addr).await?;
                    let name = ServerName::try_from("localhost").unwrap();
                    let tls = connector.connect(name, tcp).await?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
                }
            }))
            .await
            .unwrap();
        TraceServiceClient::new(channel)
            .export(ExportTraceServiceRequest {
                resource_spans: data.resource_spans,
            })
            .await
            .unwrap()
            .into_inner()
    });
    assert!(reply.partial_success.is_none());

    // Both batches are stored and readable over TLS.
    let (status, body) = send(
        https
            .get(&format!("https://localhost:{q}/api/search"))
            .query("q", "{ }")
            .query("limit", "100"),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(json_of(&body)["traces"].as_array().unwrap().len(), 8);
    assert_eq!(s.db.stats().unwrap().spans, 40);

    // Plain HTTP on the TLS ports gets no answer; neither does plain gRPC.
    let plain = common::agent();
    for port in [q, o] {
        let r = plain.get(&format!("http://127.0.0.1:{port}/ready")).call();
        assert!(
            matches!(r, Err(ureq::Error::Transport(_))),
            "plain HTTP on a TLS port: {r:?}"
        );
    }
    let plain_grpc = s.runtime.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc_addr}"))
            .unwrap()
            .timeout(Duration::from_secs(5))
            .connect()
            .await;
        match channel {
            Err(e) => Err(e.to_string()),
            Ok(c) => TraceServiceClient::new(c)
                .export(ExportTraceServiceRequest::default())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        }
    });
    assert!(plain_grpc.is_err(), "plain gRPC on a TLS port was answered");
    // A client that does not trust the certificate is refused.
    let untrusting = ureq::AgentBuilder::new()
        .tls_config(client_config(
            &rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
                .unwrap()
                .cert
                .der()
                .clone(),
            b"http/1.1",
        ))
        .build();
    assert!(untrusting
        .get(&format!("https://localhost:{q}/ready"))
        .call()
        .is_err());
    s.shutdown();
}

#[test]
fn unusable_certificates_stop_the_start() {
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = (files.path().join("cert.pem"), files.path().join("key.pem"));
    std::fs::write(&cert, "not a certificate").unwrap();
    std::fs::write(&key, "not a key").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(spandb::Options::new().open(dir.path()).unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config = ServerConfig {
        tls: Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        ..ServerConfig::ephemeral()
    };
    let err = runtime
        .block_on(spandb_server::Server::start(db.clone(), config))
        .err()
        .unwrap();
    assert!(err.to_string().contains("certificate"), "{err}");
    // A certificate with the wrong key.
    let a = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let b = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(&cert, a.cert.pem()).unwrap();
    std::fs::write(&key, b.key_pair.serialize_pem()).unwrap();
    let config = ServerConfig {
        tls: Some(TlsFiles { cert, key }),
        ..ServerConfig::ephemeral()
    };
    let err = runtime
        .block_on(spandb_server::Server::start(db, config))
        .err()
        .unwrap();
    assert!(err.to_string().contains("do not go together"), "{err}");
}
