#!/usr/bin/env python3
"""`spandb serve --tls-cert/--tls-key` against the OpenTelemetry Python SDK's exporters.

A self-signed certificate (openssl) for localhost; the OTLP/HTTP protobuf exporter
(`certificate_file`) and the OTLP/gRPC exporter (TLS channel credentials) send one trace
each over TLS; both read back over HTTPS from Tempo's API, and a plain-HTTP request to the
TLS port gets no answer. Run by scripts/test.sh.

Usage: test_server_tls_sdk.py path/to/spandb
"""

from http.client import HTTPException
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import grpc
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

SPANDB = sys.argv[1] if len(sys.argv) > 1 else "target/release/spandb"

# requests lets these override a session's own CA file (the HTTP exporter sets
# `session.verify`), which would make `certificate_file` a no-op.
for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
    os.environ.pop(var, None)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    tmp = tempfile.mkdtemp()
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True)
    query, http, grpc_port = free_port(), free_port(), free_port()
    # The server logs a line per request: to a file, since an unread pipe would fill and
    # stall it.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [SPANDB, "--db", os.path.join(tmp, "db"), "serve",
         "--listen", f"127.0.0.1:{query}", "--otlp-http", f"127.0.0.1:{http}",
         "--otlp-grpc", f"127.0.0.1:{grpc_port}", "--tls-cert", cert, "--tls-key", key],
        stderr=log)
    trusting = ssl.create_default_context(cafile=cert)

    def get(path):
        with urllib.request.urlopen(f"https://localhost:{query}{path}", context=trusting, timeout=10) as r:
            return r.read()

    try:
        deadline = time.time() + 30
        while True:
            try:
                if get("/ready") == b"ready":
                    break
            except (OSError, urllib.error.URLError):
                if time.time() > deadline:
                    log.seek(0)
                    raise SystemExit("server did not become ready: " + log.read().decode())
                time.sleep(0.05)

        sent = {}
        with open(cert, "rb") as f:
            credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
        for name, exporter in [
            ("http", HttpExporter(endpoint=f"https://localhost:{http}/v1/traces", certificate_file=cert, timeout=10)),
            ("grpc", GrpcExporter(endpoint=f"localhost:{grpc_port}", credentials=credentials, timeout=10)),
        ]:
            memory = InMemorySpanExporter()
            provider = TracerProvider(resource=Resource.create({"service.name": f"tls-{name}"}))
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            provider.add_span_processor(SimpleSpanProcessor(memory))
            tracer = provider.get_tracer("tls.test")
            with tracer.start_as_current_span(f"over {name}"):
                with tracer.start_as_current_span("child"):
                    pass
            provider.force_flush()
            provider.shutdown()
            spans = memory.get_finished_spans()
            sent[name] = (format(spans[0].context.trace_id, "032x"), len(spans))

        for name, (trace_id, n) in sent.items():
            doc = json.loads(get(f"/api/v2/traces/{trace_id}"))
            got = [s for rs in doc["trace"]["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
            if len(got) != n:
                raise SystemExit(f"{name} over TLS: expected {n} spans of {trace_id}, read {len(got)}: {doc}")
            service = doc["trace"]["resourceSpans"][0]["resource"]["attributes"]
            if {"key": "service.name", "value": {"stringValue": f"tls-{name}"}} not in service:
                raise SystemExit(f"{name} over TLS: wrong resource {service}")
            print(f"ok: {n} spans over OTLP/{name.upper()} with TLS read back over HTTPS")

        try:
            urllib.request.urlopen(f"http://127.0.0.1:{query}/ready", timeout=5).read()
            raise SystemExit("plain HTTP on the TLS port was answered")
        except (OSError, urllib.error.URLError, HTTPException):
            # A TLS alert and a closed connection, not an HTTP answer.
            print("ok: plain HTTP on the TLS port gets no HTTP answer")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    if code != 0:
        raise SystemExit(f"SIGTERM: exit {code}")
    print("ok: SIGTERM, exit 0")


if __name__ == "__main__":
    main()
