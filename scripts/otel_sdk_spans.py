#!/usr/bin/env python3
"""Writes spans made by the OpenTelemetry Python SDK as OTLP protobuf, encoded by the OTLP
exporters' own encoder: `--single OUT` one ExportTraceServiceRequest, `--stream OUT` the
Collector file exporter's length-prefixed stream (two requests). Prints the span count."""
import argparse
import struct

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


def make_spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "sdk-checkout"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("spandb-import-test", "1.0")
    for i in range(5):
        with tracer.start_as_current_span("POST /pay", kind=trace.SpanKind.SERVER) as root:
            root.set_attribute("http.request.method", "POST")
            root.set_attribute("order.items", i)
            with tracer.start_as_current_span("SELECT orders", kind=trace.SpanKind.CLIENT) as db:
                db.set_attribute("db.system", "postgresql")
                db.add_event("retry", {"attempt": 1})
                if i == 3:
                    db.set_status(trace.Status(trace.StatusCode.ERROR, "deadlock"))
    provider.shutdown()
    return exporter.get_finished_spans()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--single")
    p.add_argument("--stream")
    a = p.parse_args()
    spans = make_spans()
    if a.single:
        with open(a.single, "wb") as f:
            f.write(encode_spans(spans).SerializeToString())
    if a.stream:
        half = len(spans) // 2
        with open(a.stream, "wb") as f:
            for part in (spans[:half], spans[half:]):
                data = encode_spans(part).SerializeToString()
                f.write(struct.pack(">I", len(data)) + data)
    print(len(spans))


if __name__ == "__main__":
    main()
