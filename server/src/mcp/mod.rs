//! The Model Context Protocol at `/api/mcp`: tools an assistant (Claude, ChatGPT, any MCP
//! client) calls to search traces, read one as a summary, and look at the service graph,
//! RED metrics, error groups, anomalies and attributes (docs/HTTP.md, "MCP").
//!
//! Built on rmcp, the official Rust SDK, with its streamable HTTP transport in stateless
//! mode with JSON answers: every POST is one self-contained exchange, so nothing is kept
//! between requests and graceful shutdown has no open streams to wait for. It sits behind
//! the query API's bearer-token check.
//!
//! - [`args`]: the tools' arguments and their JSON schemas.
//! - [`tools`]: the tools.
//! - [`trace_summary`]: one trace in a few thousand tokens.

mod args;
mod tools;
mod trace_summary;

use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::http::AppState;

pub use tools::SpandbMcp;

/// Largest MCP request body (tool arguments are small).
const MAX_REQUEST_BYTES: usize = 1 << 20;

/// The `/api/mcp` endpoint as a tower service for the query router.
pub fn service(state: AppState) -> StreamableHttpService<SpandbMcp, NeverSessionManager> {
    let mut config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_max_request_body_bytes(MAX_REQUEST_BYTES.min(state.config.max_body_bytes));
    // rmcp accepts only loopback Host headers by default, against DNS rebinding of a server
    // on a developer's machine. A server listening on another address is reached by other
    // names and requires a bearer token, which a rebinding page cannot send.
    if !state.config.query_addr.ip().is_loopback() {
        config = config.disable_allowed_hosts();
    }
    StreamableHttpService::new(
        move || Ok(SpandbMcp::new(state.clone())),
        Arc::new(NeverSessionManager::default()),
        config,
    )
}
