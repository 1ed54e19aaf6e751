#!/usr/bin/env python3
"""`spandb serve`'s MCP tools (/api/mcp) through the official MCP Python SDK (run by
scripts/test.sh).

A database is filled from examples/sample.jsonl; a server with a query token starts on free
loopback ports. Without the token the endpoint answers 401. With it, the SDK's streamable HTTP
client connects, lists the tools (each with a description and an input schema) and calls every
one, checking real content against Tempo's API of the same server: the traces search_traces
finds are Tempo's, get_trace summarizes the trace asked for with its span count, the service
graph has edges, RED metrics count every span, attribute values list the services. A bad
TraceQL query and an unknown trace come back as tool errors with their message.

Usage: test_server_mcp.py path/to/spandb
"""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

SPANDB = os.path.abspath(sys.argv[1])
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SAMPLE = os.path.join(ROOT, "examples", "sample.jsonl")
TOKEN = "mcp-test-token"
TOOLS = {
    "search_traces", "get_trace", "service_graph", "red_metrics", "error_groups",
    "anomalies", "attribute_names", "attribute_values",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAIL: {what}")
    print(f"ok: {what}")


def sample_facts():
    """Spans, traces and services of the sample, counted here from the OTLP JSON."""
    spans, traces, services = 0, set(), set()
    with open(SAMPLE) as f:
        for line in f:
            for rs in json.loads(line)["resourceSpans"]:
                for a in rs["resource"]["attributes"]:
                    if a["key"] == "service.name":
                        services.add(a["value"]["stringValue"])
                for ss in rs["scopeSpans"]:
                    for s in ss["spans"]:
                        spans += 1
                        traces.add(s["traceId"].lower())
    return spans, traces, services


def http_get(port, path):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    req.add_header("Authorization", f"Bearer {TOKEN}")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def unauthenticated_post(port):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/mcp", data=body, method="POST",
        headers={"Content-Type": "application/json",
                 "Accept": "application/json, text/event-stream"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def content(result):
    """The JSON text a tool answered."""
    if result.is_error:
        raise SystemExit("FAIL: tool error: " +
                         (result.content[0].text[:300] if result.content else ""))
    return json.loads(result.content[0].text)


async def exercise(port, spans, traces, services):
    url = f"http://127.0.0.1:{port}/api/mcp"
    client = create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"})
    async with client, streamable_http_client(url, http_client=client) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            check(init.server_info.name == "spandb", f"server is spandb ({init.server_info.name})")
            print(f"   protocol version {init.protocol_version}")

            listed = (await session.list_tools()).tools
            names = {t.name for t in listed}
            check(names == TOOLS, f"tools listed: {sorted(names)}")
            for t in listed:
                check(len(t.description or "") > 60 and t.input_schema.get("type") == "object",
                      f"{t.name} has a description and an object input schema")
            schema = next(t for t in listed if t.name == "get_trace").input_schema
            check("trace_id" in schema.get("required", []), "get_trace requires trace_id")

            # search_traces: the same traces as Tempo's search, each a real trace id.
            found = content(await session.call_tool("search_traces", {"query": "{}", "limit": 10}))
            ids = [t["trace_id"] for t in found["traces"]]
            tempo = http_get(port, "/api/search?q=%7B%7D&limit=10")
            tempo_ids = [t["traceID"].rjust(32, "0") for t in tempo["traces"]]
            check(len(ids) == 10 and ids == tempo_ids,
                  f"search_traces finds Tempo's 10 newest traces ({ids[:2]}...)")
            check(all(i in traces for i in ids), "every trace found is in the sample")
            errors = content(await session.call_tool(
                "search_traces", {"query": "{ status = error }", "limit": 100}))
            check(errors["count"] > 0 and all(
                any(m["error"] for m in t["matched"]) for t in errors["traces"]),
                f"search_traces with `{{ status = error }}` finds {errors['count']} failing traces")

            # get_trace: the trace asked for, summarized within its budget.
            tid = errors["traces"][0]["trace_id"]
            summary = content(await session.call_tool("get_trace", {"trace_id": tid, "max_spans": 8}))
            tempo_trace = http_get(port, f"/api/v2/traces/{tid}")
            tempo_spans = sum(len(ss["spans"]) for rs in tempo_trace["trace"]["resourceSpans"]
                              for ss in rs["scopeSpans"])
            check(summary["trace_id"] == tid, f"get_trace answers trace {tid}")
            check(summary["span_count"] == tempo_spans,
                  f"get_trace counts {tempo_spans} spans as Tempo's API returns")
            check(0 < len(summary["span_tree"]) <= 8, f"span tree trimmed to {len(summary['span_tree'])} <= 8 lines")
            check(summary["spans_not_listed"] == tempo_spans - len(summary["span_tree"]),
                  "the spans left out are counted")
            check(summary["error_span_count"] > 0 and summary["errors"], "get_trace lists the error spans")
            check(summary["critical_path"] and summary["explain"], "get_trace has a critical path and explain sentences")
            check(any(line.lstrip().startswith("*") for line in summary["span_tree"]),
                  "critical-path spans are marked in the tree")
            print("   " + "\n   ".join(summary["explain"][:3]))

            # service_graph: edges between sample services.
            graph = content(await session.call_tool("service_graph", {}))
            check(graph["edge_count"] > 0 and graph["edges"], f"service graph has {graph['edge_count']} edges")
            check(any(e["client"] in services and e["server"] in services for e in graph["edges"]),
                  "an edge joins two services of the sample")

            # red_metrics: every span counted once, per service.
            red = content(await session.call_tool("red_metrics", {"group_by": "service"}))
            check(sum(r["spans"] for r in red["rows"]) == spans,
                  f"red_metrics counts all {spans} spans")
            check({r["service"] for r in red["rows"]} == services, "red_metrics has a row per service")
            check(sum(r["errors"] for r in red["rows"]) > 0 and all(r["p99"] for r in red["rows"]),
                  "red_metrics has errors and p99s")
            ops = content(await session.call_tool("red_metrics", {"group_by": "operation", "limit": 5}))
            check(len(ops["rows"]) == 5 and all("operation" in r for r in ops["rows"]),
                  "red_metrics by operation, limited to 5 rows")

            # error_groups and anomalies.
            groups = content(await session.call_tool("error_groups", {}))
            check(groups["error_spans"] > 0 and groups["groups"], f"{groups['group_count']} error groups")
            check(all(t in traces for g in groups["groups"] for t in g["sample_trace_ids"]),
                  "error groups' sample traces are sample traces")
            incidents = content(await session.call_tool("anomalies", {}))
            check(isinstance(incidents["incidents"], list) and "window" in incidents,
                  f"anomalies answers ({incidents['incident_count']} incidents)")

            # attribute_names and attribute_values.
            names = content(await session.call_tool("attribute_names", {}))
            check("service.name" in names["resource"], "attribute_names has resource service.name")
            values = content(await session.call_tool(
                "attribute_values", {"key": "service.name", "scope": "resource", "limit": 1000}))
            check(set(values["values"]) == services, "attribute_values lists every service")

            # Errors are tool errors with the message.
            bad = await session.call_tool("search_traces", {"query": "{ duration > }"})
            check(bad.is_error and bad.content[0].text, f"bad TraceQL is a tool error: {bad.content[0].text[:80]}")
            missing = await session.call_tool("get_trace", {"trace_id": "0" * 31 + "1"})
            check(missing.is_error and "not found" in missing.content[0].text,
                  f"unknown trace is a tool error: {missing.content[0].text}")
            malformed = await session.call_tool("get_trace", {"trace_id": "xyz"})
            check(malformed.is_error, f"malformed id is a tool error: {malformed.content[0].text}")


def main():
    spans, traces, services = sample_facts()
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "db")
        subprocess.run([SPANDB, "--db", db, "import", SAMPLE], check=True, stdout=subprocess.DEVNULL)
        token_file = os.path.join(tmp, "token")
        with open(token_file, "w") as f:
            f.write(TOKEN + "\n")
        port = free_port()
        # The server logs a line per request: to a file, since an unread pipe would fill
        # and stall it.
        log = tempfile.TemporaryFile()
        proc = subprocess.Popen(
            [SPANDB, "--db", db, "serve", "--listen", f"127.0.0.1:{port}",
             "--otlp-http", f"127.0.0.1:{free_port()}", "--otlp-grpc", f"127.0.0.1:{free_port()}",
             "--auth-token-file", token_file],
            stderr=log)
        try:
            deadline = time.time() + 30
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5).read()
                    break
                except OSError:
                    if time.time() > deadline or proc.poll() is not None:
                        log.seek(0)
                        raise SystemExit("server did not start: " + log.read().decode())
                    time.sleep(0.05)
            check(unauthenticated_post(port) == 401, "/api/mcp without the token is refused (401)")
            asyncio.run(asyncio.wait_for(exercise(port, spans, traces, services), timeout=120))
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
        check(code == 0, "server exits 0 on SIGTERM")
    print("MCP tools: all checks passed")


if __name__ == "__main__":
    main()
