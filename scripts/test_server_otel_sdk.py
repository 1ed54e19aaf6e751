#!/usr/bin/env python3
"""`spandb serve` against the real OpenTelemetry Python SDK (run by scripts/test.sh).

1. A small instrumented program sends spans through the SDK's OTLP/HTTP protobuf exporter and
   its OTLP/gRPC exporter; every span the SDK recorded (kept by its in-memory exporter) reads
   back field for field through Tempo's API, and is found through Jaeger's.
2. SIGTERM: the server exits 0 and a restart still has every span.
3. kill -9 while several clients send: after a restart every acknowledged span is present.
   Latency percentiles of the acknowledged requests are printed.

Usage: test_server_otel_sdk.py path/to/spandb
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

SPANDB = os.path.abspath(sys.argv[1])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, db):
        self.db = db
        self.query, self.http, self.grpc = free_port(), free_port(), free_port()
        self.proc = None

    def start(self):
        # The server logs a line per request: to a file, since an unread pipe would fill
        # and stall it.
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [SPANDB, "--db", self.db, "serve",
             "--listen", f"127.0.0.1:{self.query}",
             "--otlp-http", f"127.0.0.1:{self.http}",
             "--otlp-grpc", f"127.0.0.1:{self.grpc}"],
            stderr=self.log,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if get(self, "/ready") == b"ready":
                    return
            except OSError:
                time.sleep(0.05)
        self.log.seek(0)
        raise SystemExit("server did not become ready: " + self.log.read().decode())

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=30)
        return code


def get(server, path, accept=None):
    req = urllib.request.Request(f"http://127.0.0.1:{server.query}{path}")
    if accept:
        req.add_header("Accept", accept)
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAILED: {what}")
    print(f"ok: {what}")


def hexid(n, width):
    return format(n, f"0{width}x")


def send_with_sdk(server):
    """Two providers (HTTP and gRPC exporters), each also feeding an in-memory exporter."""
    recorded = []
    for name, exporter in [
        ("http", HttpExporter(endpoint=f"http://127.0.0.1:{server.http}/v1/traces", timeout=10)),
        ("grpc", GrpcExporter(endpoint=f"127.0.0.1:{server.grpc}", insecure=True, timeout=10)),
    ]:
        memory = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({
            "service.name": f"shop-{name}", "deployment.environment.name": "test", "host.cores": 2}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        provider.add_span_processor(SimpleSpanProcessor(memory))
        tracer = provider.get_tracer("shop.instrumentation", "1.2.3")
        with tracer.start_as_current_span("GET /checkout", kind=SpanKind.SERVER,
                                          attributes={"http.request.method": "GET", "http.response.status_code": 500,
                                                      "retry": True, "ratio": 0.25, "tags": ["a", "b"]}) as root:
            with tracer.start_as_current_span("SELECT orders", kind=SpanKind.CLIENT,
                                              attributes={"db.system": "postgresql"}) as q:
                q.add_event("rows", {"count": 3})
            with tracer.start_as_current_span("charge", links=[Link(root.get_span_context(), {"why": "retry"})]) as c:
                try:
                    raise TimeoutError("payment gateway timed out after 3000 ms")
                except TimeoutError as e:
                    c.record_exception(e)
                    c.set_status(Status(StatusCode.ERROR, "gateway timeout"))
            root.set_status(Status(StatusCode.ERROR))
        provider.force_flush()
        provider.shutdown()
        recorded.extend(memory.get_finished_spans())
    return recorded


def otlp_value(v):
    (kind, val), = v.items() if v else [("empty", None)]
    if kind == "intValue":
        return int(val)
    if kind == "arrayValue":
        return [otlp_value(x) for x in val.get("values", [])]
    return val


def attrs(kvs):
    return {kv["key"]: otlp_value(kv.get("value", {})) for kv in (kvs or [])}


def sdk_attrs(a):
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in (a or {}).items()}


def compare(server, recorded):
    by_trace = {}
    for s in recorded:
        by_trace.setdefault(s.context.trace_id, []).append(s)
    check(len(by_trace) == 2, "the SDK recorded two traces (one per exporter)")
    kinds = {SpanKind.INTERNAL: 1, SpanKind.SERVER: 2, SpanKind.CLIENT: 3, SpanKind.PRODUCER: 4, SpanKind.CONSUMER: 5}
    statuses = {StatusCode.UNSET: 0, StatusCode.OK: 1, StatusCode.ERROR: 2}
    for tid, spans in by_trace.items():
        doc = json.loads(get(server, f"/api/v2/traces/{hexid(tid, 32)}"))
        got = {}
        for rs in doc["trace"]["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for sp in ss["spans"]:
                    got[sp["spanId"]] = (rs, ss, sp)
        check(len(got) == len(spans), f"trace {hexid(tid, 32)}: {len(spans)} spans read back")
        for s in spans:
            rs, ss, sp = got[hexid(s.context.span_id, 16)]
            where = f"span {s.name!r} of {s.resource.attributes['service.name']}"
            check(sp["name"] == s.name, f"{where}: name")
            check(sp.get("parentSpanId", "") == (hexid(s.parent.span_id, 16) if s.parent else ""), f"{where}: parent")
            check(int(sp["startTimeUnixNano"]) == s.start_time and int(sp["endTimeUnixNano"]) == s.end_time, f"{where}: times")
            check(sp.get("kind", 0) == kinds[s.kind], f"{where}: kind")
            check(sp.get("status", {}).get("code", 0) == statuses[s.status.status_code], f"{where}: status code")
            check(sp.get("status", {}).get("message", "") == (s.status.description or ""), f"{where}: status message")
            check(attrs(sp.get("attributes")) == sdk_attrs(s.attributes), f"{where}: attributes")
            check(attrs(rs["resource"].get("attributes")) == sdk_attrs(s.resource.attributes), f"{where}: resource")
            check(ss["scope"]["name"] == s.instrumentation_scope.name and ss["scope"].get("version") == s.instrumentation_scope.version, f"{where}: scope")
            events = [(e["name"], int(e["timeUnixNano"]), attrs(e.get("attributes"))) for e in sp.get("events", [])]
            check(events == [(e.name, e.timestamp, sdk_attrs(e.attributes)) for e in s.events], f"{where}: events")
            links = [(l["traceId"], l["spanId"], attrs(l.get("attributes"))) for l in sp.get("links", [])]
            check(links == [(hexid(l.context.trace_id, 32), hexid(l.context.span_id, 16), sdk_attrs(l.attributes)) for l in s.links], f"{where}: links")
    # Jaeger finds the failed checkout of each service.
    for svc in ["shop-http", "shop-grpc"]:
        found = json.loads(get(server, f"/jaeger/api/traces?service={svc}&tags=%7B%22error%22%3A%22true%22%7D"))
        check(len(found["data"]) == 1 and len(found["data"][0]["spans"]) == 3, f"Jaeger search finds {svc}'s trace")
    metrics = get(server, "/metrics").decode()
    check("spandb_spans_written_total 6" in metrics, "/metrics counts the six spans")


def load_and_kill(db):
    """Several JSON senders; kill -9 mid-way; every acknowledged span must survive."""
    server = Server(db)
    server.start()
    acked, latencies, refused = [], [], [0]
    lock = threading.Lock()
    stop = threading.Event()

    def sender(worker):
        n = 0
        while not stop.is_set():
            n += 1
            tid = hexid((worker << 64) | n, 32)
            spans = [{"traceId": tid, "spanId": hexid((n << 8) | j + 1, 16), "name": f"op-{j}",
                      "startTimeUnixNano": str(1_750_000_000_000_000_000 + n * 1000 + j),
                      "endTimeUnixNano": str(1_750_000_000_000_000_000 + n * 1000 + j + 500)} for j in range(20)]
            body = json.dumps({"resourceSpans": [{"resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": f"load-{worker}"}}]},
                "scopeSpans": [{"spans": spans}]}]}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{server.http}/v1/traces", data=body,
                                         headers={"Content-Type": "application/json"})
            t = time.time()
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    r.read()
                with lock:
                    acked.append(tid)
                    latencies.append(time.time() - t)
            except urllib.error.HTTPError as e:
                if e.code == 429:
                    refused[0] += 1
                    time.sleep(0.01)
                    continue
                return
            except OSError:
                return  # the server was killed

    threads = [threading.Thread(target=sender, args=(w + 1,)) for w in range(4)]
    for t in threads:
        t.start()
    time.sleep(3)
    server.proc.kill()  # kill -9, mid-ingest
    server.proc.wait()
    stop.set()
    for t in threads:
        t.join()
    lat = sorted(latencies)
    if lat:
        pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1e3
        print(f"load: {len(acked)} requests of 20 spans acknowledged by 4 clients in 3 s "
              f"({len(acked) * 20 / 3:.0f} spans/s), {refused[0]} refused with 429; "
              f"latency p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms")
    check(len(acked) > 10, "the load test got requests acknowledged before the kill")
    server = Server(db)
    server.start()
    missing = [t for t in acked if not _trace_has(server, t, 20)]
    check(not missing, f"after kill -9, every acknowledged span is present ({len(acked)} traces; missing {missing[:3]})")
    check(server.stop() == 0, "SIGTERM after the restart exits 0")


def _trace_has(server, tid, n):
    try:
        doc = json.loads(get(server, f"/api/v2/traces/{tid}"))
    except urllib.error.HTTPError:
        return False
    return sum(len(ss["spans"]) for rs in doc["trace"]["resourceSpans"] for ss in rs["scopeSpans"]) == n


def main():
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "db")
        server = Server(db)
        server.start()
        recorded = send_with_sdk(server)
        compare(server, recorded)
        check(server.stop(signal.SIGTERM) == 0, "SIGTERM: the server exits 0")
        server = Server(db)
        server.start()
        compare_after = json.loads(get(server, "/api/search?q=%7B%20%7D&limit=10"))
        check(len(compare_after["traces"]) == 2, "after a restart both traces are there")
        check(server.stop(signal.SIGINT) == 0, "SIGINT: the server exits 0")
        load_and_kill(os.path.join(tmp, "load"))
    print("server tests with the OpenTelemetry SDK passed")


if __name__ == "__main__":
    main()
