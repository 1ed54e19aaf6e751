#!/usr/bin/env python3
"""Kafka ingest figures (docs/ARCHITECTURE.md, "Deployment at scale"):

1. spans/s one node consumes from a local tansu broker (topic filled beforehand, messages of
   100 spans as the Collector's batch processor + kafka exporter write them) against
   `spandb import` of the same spans (exported from the consumer's store as the Collector's
   length-prefixed protobuf stream), both with `--durability group`;
2. produce-to-searchable latency (p50/p99): one trace at a time produced while the node runs,
   polled through Tempo's trace-by-id API until found.

Usage: benches/kafka/run.py path/to/spandb [--spans N]
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
import test_server_kafka as t  # noqa: E402

SPANS = int(sys.argv[sys.argv.index("--spans") + 1]) if "--spans" in sys.argv else 300_000


def main():
    work = tempfile.mkdtemp(prefix="spandb-kafka-bench-")
    broker = t.Broker()
    try:
        topic = "bench"
        broker.create_topic(topic, t.PARTITIONS)
        gen, produced = t.Spans(), t.Produced(broker, topic)
        produced.producer = t.Producer({"bootstrap.servers": broker.addr, "linger.ms": 20,
                                        "batch.num.messages": 1000, "queue.buffering.max.messages": 200000})
        sent = 0
        while sent < SPANS:
            groups, ids = [], []
            for _ in range(10):  # 10 traces x 10 spans = 100 spans a message
                trace_id, spans = gen.trace(10)
                groups.append((f"svc-{trace_id[-1] % 5}", spans))
            produced.send(None, t.Spans.request(groups), [None] * 100, partition=(sent // 100) % t.PARTITIONS)
            sent += 100
        produced.flush()
        node = t.Node(os.path.join(work, "consume"), broker, topic, ["--durability", "group", "--kafka-partitions", "all"])
        started = time.time()
        node.start()
        node.wait_caught_up(produced.messages, timeout=600)
        consume_s = time.time() - started
        # Latency: one 5-span trace per message while the node runs.
        lat = []
        lp = t.Producer({"bootstrap.servers": broker.addr, "linger.ms": 0})
        for _ in range(200):
            trace_id, spans = gen.trace(5)
            t0 = time.time()
            lp.produce(topic, key=trace_id.hex().encode(), value=t.Spans.request([("lat", spans)]))
            lp.flush(10)
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{node.query}/api/v2/traces/{trace_id.hex()}", timeout=5).read()
                    break
                except urllib.error.HTTPError:
                    time.sleep(0.001)
            lat.append(time.time() - t0)
        node.stop()
        dump = os.path.join(work, "spans.otlp.bin")
        out = subprocess.run([node_spandb(), "--db", node.db, "export", "--format", "otlp-proto", "-o", dump],
                             check=True, capture_output=True, text=True)
        exported = int("".join(c for c in out.stderr.split("exported")[1].split("spans")[0] if c.isdigit()))
        t0 = time.time()
        subprocess.run([node_spandb(), "--db", os.path.join(work, "import"), "import", "--durability", "group", dump],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import_s = time.time() - t0
        lat.sort()
        print(f"spans: {SPANS} in {produced.messages} messages of 100 spans, {t.PARTITIONS} partitions")
        print(f"consume (start to caught up): {consume_s:.2f} s = {SPANS / consume_s:,.0f} spans/s")
        print(f"import of the same spans (+ the latency traces, {exported}): {import_s:.2f} s = {exported / import_s:,.0f} spans/s")
        print(f"consume / import: {100 * (SPANS / consume_s) / (exported / import_s):.0f} %")
        print(f"produce-to-searchable latency over {len(lat)} traces: p50 {1000 * lat[len(lat) // 2]:.1f} ms, "
              f"p99 {1000 * lat[int(len(lat) * 0.99)]:.1f} ms")
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


def node_spandb():
    return t.SPANDB


if __name__ == "__main__":
    main()
