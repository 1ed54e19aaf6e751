//! A real server on loopback for the integration tests: a fresh database in a temporary
//! directory, the server on its own runtime, and a small HTTP client.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use spandb::Options;
use spandb_server::{Server, ServerConfig};

pub struct Running {
    pub runtime: tokio::runtime::Runtime,
    pub server: Option<Server>,
    pub db: Arc<spandb::Db>,
    pub dir: tempfile::TempDir,
}

impl Running {
    pub fn start(config: ServerConfig) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(
            Options::new()
                .maintenance_interval(None)
                .open(dir.path())
                .unwrap(),
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(Server::start(db.clone(), config)).unwrap();
        Running {
            runtime,
            server: Some(server),
            db,
            dir,
        }
    }
    pub fn server(&self) -> &Server {
        self.server.as_ref().unwrap()
    }
    pub fn query_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server().query_addr)
    }
    pub fn otlp_url(&self) -> String {
        format!("http://{}/v1/traces", self.server().otlp_http_addr)
    }
    pub fn shutdown(&mut self) {
        if let Some(s) = self.server.take() {
            self.runtime.block_on(s.shutdown());
        }
    }
}

pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
}

/// Status, headers of interest and body of a request, whatever the status.
pub fn send(req: ureq::Request, body: Option<(&str, &[u8])>) -> (u16, Vec<u8>) {
    let (status, _, body) = send_full(req, body);
    (status, body)
}

/// Like [`send`], with the response headers as (lowercase name, value) pairs.
pub fn send_full(
    req: ureq::Request,
    body: Option<(&str, &[u8])>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let result = match body {
        Some((ct, bytes)) => req.set("Content-Type", ct).send_bytes(bytes),
        None => req.call(),
    };
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("request failed: {e}"),
    };
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = response.header(&n).unwrap_or_default().to_owned();
            (n.to_ascii_lowercase(), v)
        })
        .collect();
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut out).unwrap();
    (status, headers, out)
}

pub fn json_of(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}
