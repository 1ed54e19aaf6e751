#!/usr/bin/env python3
"""OTLP logs into `spandb serve` from the real OpenTelemetry Python SDK (run by scripts/test.sh).

A small program logs through the SDK's `LoggerProvider` + `BatchLogRecordProcessor` with the
OTLP/HTTP protobuf exporter and with the OTLP/gRPC exporter, inside and outside a span; every
record the SDK produced (kept by its in-memory exporter) must read back field for field with
`spandb logs --output otlp` after the server stops: body (string and map), severity number
and text, attributes, timestamps, trace and span id, flags, event name, resource and scope.

Usage: test_server_otel_sdk_logs.py path/to/spandb
"""

import json
import os
import signal
import subprocess
import sys
import tempfile

from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (BatchLogRecordProcessor, InMemoryLogRecordExporter,
                                            SimpleLogRecordProcessor)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

# The span script's server harness and helpers (same directory).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_otel_sdk import SPANDB, Server, check, get, hexid  # noqa: E402


def log_with_sdk(server):
    """Per exporter, a few records inside a span and one outside; returns what the SDK made."""
    recorded = []
    tracer = TracerProvider().get_tracer("shop.logs.test")
    for name, exporter in [
        ("http", HttpLogExporter(endpoint=f"http://127.0.0.1:{server.http}/v1/logs", timeout=10)),
        ("grpc", GrpcLogExporter(endpoint=f"127.0.0.1:{server.grpc}", insecure=True, timeout=10)),
    ]:
        memory = InMemoryLogRecordExporter()
        provider = LoggerProvider(resource=Resource.create({
            "service.name": f"shop-logs-{name}", "deployment.environment.name": "test"}))
        provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
        provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
        logger = provider.get_logger("shop.logging", "2.0.1")
        with tracer.start_as_current_span("POST /pay"):
            logger.emit(severity_number=SeverityNumber.ERROR, severity_text="ERROR",
                        body=f"payment declined for order 42 ({name})",
                        attributes={"order.id": 42, "retry": True, "ratio": 0.5, "tags": ["a", "b"]},
                        event_name="payment.declined")
            logger.emit(severity_number=SeverityNumber.WARN, severity_text="WARN",
                        body={"msg": "slow gateway", "ms": 3000, "via": name}, attributes={"gateway": "acme"})
        logger.emit(severity_number=SeverityNumber.INFO, severity_text="INFO",
                    body=f"startup complete ({name})")
        provider.force_flush()
        provider.shutdown()
        recorded.extend(memory.get_finished_logs())
    return recorded


def otlp_value(v):
    if not v:
        return None
    (kind, val), = v.items()
    if kind == "intValue":
        return int(val)
    if kind == "arrayValue":
        return [otlp_value(x) for x in val.get("values", [])]
    if kind == "kvlistValue":
        return {kv["key"]: otlp_value(kv.get("value")) for kv in val.get("values", [])}
    return val


def attrs(kvs):
    return {kv["key"]: otlp_value(kv.get("value")) for kv in (kvs or [])}


def sdk_value(v):
    if isinstance(v, (tuple, list)):
        return [sdk_value(x) for x in v]
    if isinstance(v, dict):
        return {k: sdk_value(x) for k, x in v.items()}
    return v


def stored_logs(db):
    out = subprocess.run([SPANDB, "logs", "--db", db, "--output", "otlp", "--limit", "1000"],
                         check=True, capture_output=True, text=True).stdout
    got = {}
    for rl in json.loads(out).get("resourceLogs", []):
        for sl in rl.get("scopeLogs", []):
            for lr in sl.get("logRecords", []):
                key = json.dumps(otlp_value(lr.get("body")), sort_keys=True)
                got[key] = (rl, sl, lr)
    return got


def compare(db, recorded):
    check(len(recorded) == 6, "the SDK recorded six log records (three per exporter)")
    got = stored_logs(db)
    check(len(got) == len(recorded), f"spandb logs reads back {len(recorded)} records")
    for r in recorded:
        rec = r.log_record
        key = json.dumps(sdk_value(rec.body), sort_keys=True)
        check(key in got, f"record {key} is stored")
        rl, sl, lr = got[key]
        where = f"record {key}"
        check(otlp_value(lr.get("body")) == sdk_value(rec.body), f"{where}: body")
        check(lr.get("severityNumber", 0) == rec.severity_number.value, f"{where}: severity number")
        check(lr.get("severityText", "") == rec.severity_text, f"{where}: severity text")
        check(attrs(lr.get("attributes")) == sdk_value(dict(rec.attributes or {})), f"{where}: attributes")
        check(int(lr.get("timeUnixNano", 0)) == (rec.timestamp or 0), f"{where}: time")
        check(int(lr.get("observedTimeUnixNano", 0)) == rec.observed_timestamp, f"{where}: observed time")
        want_trace = hexid(rec.trace_id, 32) if rec.trace_id else ""
        want_span = hexid(rec.span_id, 16) if rec.span_id else ""
        check(lr.get("traceId", "") == want_trace, f"{where}: trace id {want_trace or '(none)'}")
        check(lr.get("spanId", "") == want_span, f"{where}: span id {want_span or '(none)'}")
        check(lr.get("flags", 0) == int(rec.trace_flags or 0), f"{where}: flags")
        check(lr.get("eventName", "") == (rec.event_name or ""), f"{where}: event name")
        check(attrs(rl["resource"].get("attributes")) == sdk_value(dict(r.resource.attributes)), f"{where}: resource")
        check(sl["scope"]["name"] == r.instrumentation_scope.name
              and sl["scope"].get("version") == r.instrumentation_scope.version, f"{where}: scope")
    in_span = [r for r in recorded if r.log_record.span_id]
    check(len(in_span) == 4, "four records carry trace context")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "db")
        server = Server(db)
        server.start()
        recorded = log_with_sdk(server)
        metrics = get(server, "/metrics").decode()
        check("spandb_logs_written_total 6" in metrics, "/metrics counts the six log records")
        check("spandb_log_requests_invalid_total 0" in metrics, "/metrics counts no bad log request")
        check(server.stop(signal.SIGTERM) == 0, "SIGTERM: the server exits 0")
        compare(db, recorded)
    print("log ingest tests with the OpenTelemetry SDK passed")


if __name__ == "__main__":
    main()
