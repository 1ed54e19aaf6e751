//! `/api/mcp` on a real server, driven with plain JSON-RPC over HTTP as an MCP client sends
//! it: initialize, the tool list, a search and a trace summary with real content, a bad query
//! as a tool error, and the query token enforced. (scripts/test_server_mcp.py drives every
//! tool through the official Python SDK.)

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use spandb::Options;
use spandb_server::{Server, ServerConfig};
use spandb_testkit::{numbered_batch, numbered_trace};

const T0: u64 = 1_750_000_000_000_000_000;

fn call(
    agent: &ureq::Agent,
    url: &str,
    token: Option<&str>,
    method: &str,
    params: Value,
) -> (u16, Value) {
    let mut req = agent
        .post(url)
        .set("Content-Type", "application/json")
        .set("Accept", "application/json, text/event-stream")
        .set("MCP-Protocol-Version", "2025-06-18");
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
    let response = match req.send_string(&body.to_string()) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("request failed: {e}"),
    };
    let status = response.status();
    let text = response.into_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The JSON a tool answered, and whether it was a tool error.
fn tool(agent: &ureq::Agent, url: &str, name: &str, args: Value) -> (bool, String) {
    let (status, v) = call(
        agent,
        url,
        Some("secret"),
        "tools/call",
        json!({ "name": name, "arguments": args }),
    );
    assert_eq!(status, 200, "{v}");
    let result = &v["result"];
    (
        result["isError"].as_bool().unwrap_or(false),
        result["content"][0]["text"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    )
}

#[test]
fn mcp_tools_answer_json_rpc_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(
        Options::new()
            .maintenance_interval(None)
            .open(dir.path())
            .unwrap(),
    );
    for i in 0..3 {
        db.write(numbered_batch(i, 8, T0 + i * 1_000_000_000, 5_000_000))
            .unwrap();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = ServerConfig {
        query_token: Some("secret".into()),
        ..ServerConfig::ephemeral()
    };
    let server = runtime.block_on(Server::start(db, config)).unwrap();
    let url = format!("http://{}/api/mcp", server.query_addr);
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();

    let (status, _) = call(&agent, &url, None, "tools/list", json!({}));
    assert_eq!(status, 401, "no token, no tools");

    let (status, init) = call(
        &agent,
        &url,
        Some("secret"),
        "initialize",
        json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": { "name": "test", "version": "0" }
        }),
    );
    assert_eq!(status, 200, "{init}");
    assert_eq!(init["result"]["serverInfo"]["name"], "spandb");

    let (status, list) = call(&agent, &url, Some("secret"), "tools/list", json!({}));
    assert_eq!(status, 200, "{list}");
    let mut names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "anomalies",
            "attribute_names",
            "attribute_values",
            "error_groups",
            "get_trace",
            "red_metrics",
            "search_traces",
            "service_graph"
        ]
    );

    let wanted = numbered_trace(1, 2).to_string();
    let (err, text) = tool(
        &agent,
        &url,
        "search_traces",
        json!({ "query": "{ resource.service.name = \"svc-1\" }" }),
    );
    assert!(!err, "{text}");
    let found: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(found["count"], 4, "{found}");
    assert!(text.contains(&wanted), "{text}");

    let (err, text) = tool(&agent, &url, "get_trace", json!({ "trace_id": wanted }));
    assert!(!err, "{text}");
    let summary: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(summary["trace_id"], wanted.as_str());
    assert_eq!(summary["span_count"], 2, "{summary}");

    let (err, text) = tool(&agent, &url, "red_metrics", json!({}));
    assert!(!err, "{text}");
    let red: Value = serde_json::from_str(&text).unwrap();
    let spans: u64 = red["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["spans"].as_u64().unwrap())
        .sum();
    assert_eq!(spans, 24, "{red}");

    let (err, text) = tool(&agent, &url, "search_traces", json!({ "query": "{ nope" }));
    assert!(
        err && !text.is_empty(),
        "a bad query is a tool error: {text}"
    );
    let (err, text) = tool(
        &agent,
        &url,
        "get_trace",
        json!({ "trace_id": "00000000000000000000000000000999" }),
    );
    assert!(err && text.contains("not found"), "{text}");

    runtime.block_on(server.shutdown());
}
