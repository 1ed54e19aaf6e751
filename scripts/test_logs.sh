#!/usr/bin/env bash
# OTLP logs end to end: gen_spans.py writes correlated spans and logs; `spandb import`
# detects the logs from their content (JSON and protobuf); `spandb logs` (filters, line filters, JSON and OTLP
# output), `spandb trace` (a span's logs under the waterfall), `spandb logs patterns`, and
# `spandb check` are checked against counts computed from the input files.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CARGO_TARGET_DIR:-target}/release/spandb
[ -x "$bin" ] || cargo build --release --bin spandb
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 benches/gen_spans.py --spans 20000 --seed 7 --out "$work/s.jsonl" --logs "$work/l.jsonl" >/dev/null
db="$work/db"
"$bin" --db "$db" import "$work/s.jsonl" >/dev/null
"$bin" --db "$db" import "$work/l.jsonl" --output json > "$work/imp.json"
read -r total errors trace errtrace <<<"$(python3 - "$work/l.jsonl" <<'PY'
import json, sys
n = err = 0
by_trace = {}
for line in open(sys.argv[1]):
    for rl in json.loads(line)["resourceLogs"]:
        for sl in rl["scopeLogs"]:
            for r in sl["logRecords"]:
                n += 1
                if r.get("severityNumber", 0) >= 17: err += 1
                t = r.get("traceId")
                if t: by_trace[t] = by_trace.get(t, 0) + 1
t = max(by_trace, key=by_trace.get)
print(n, err, t, by_trace[t])
PY
)"
got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["logs"])' "$work/imp.json")
[ "$got" = "$total" ] || { echo "FAIL import: $got log records, want $total"; exit 1; }
echo "ok   import detects logs ($got records)"
n=$("$bin" --db "$db" logs '{ severity >= error }' --limit 1000000 --output json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = "$errors" ] || { echo "FAIL severity filter: $n, want $errors"; exit 1; }
echo "ok   { severity >= error } ($n records)"
n=$("$bin" --db "$db" logs "{ trace:id = \"$trace\" }" --limit 1000 --output otlp | python3 -c 'import json,sys
d=json.load(sys.stdin); print(sum(len(s["logRecords"]) for r in d["resourceLogs"] for s in r["scopeLogs"]))')
[ "$n" = "$errtrace" ] || { echo "FAIL trace:id filter: $n, want $errtrace"; exit 1; }
echo "ok   trace:id filter, --output otlp ($n records)"
"$bin" --db "$db" logs '|= "Cache hit"' --limit 5 --output json | python3 -c 'import json,sys
d=json.load(sys.stdin); assert d and all("Cache hit" in r["body"]["stringValue"] for r in d), d'
echo "ok   line filter |="
"$bin" --db "$db" trace "$trace" --width 100 > "$work/trace.txt"
grep -q "^logs: $errtrace records" "$work/trace.txt" || { echo "FAIL trace shows no logs"; cat "$work/trace.txt"; exit 1; }
echo "ok   trace shows its $errtrace log records"
"$bin" --db "$db" logs patterns --since 1h --output json | python3 -c 'import json,sys
p=json.load(sys.stdin); assert p["records"] > 0 and len(p["patterns"]) > 3, p["records"]
assert sum(x["count"] for x in p["patterns"]) == p["records"]'
echo "ok   logs patterns"
"$bin" --db "$db" check >/dev/null
echo "ok   check"
# Protobuf: the same logs as a length-prefixed stream of ExportLogsServiceRequest (the
# Collector file exporter's `format: proto`), gzip-compressed too, and spans as protobuf:
# import tells them apart from the content.
python3 - "$work" <<'PY'
import base64, gzip, json, struct, sys
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
work = sys.argv[1]
def hex_ids_to_base64(v):
    # OTLP JSON writes ids as hex; protobuf's JSON mapping reads bytes as base64.
    if isinstance(v, dict):
        return {k: base64.b64encode(bytes.fromhex(x)).decode()
                if k in ("traceId", "spanId", "parentSpanId") and isinstance(x, str)
                else hex_ids_to_base64(x) for k, x in v.items()}
    if isinstance(v, list):
        return [hex_ids_to_base64(x) for x in v]
    return v
def framed(src, message, limit=None):
    out = bytearray()
    for i, line in enumerate(open(f"{work}/{src}")):
        if limit is not None and i >= limit:
            break
        m = json_format.ParseDict(hex_ids_to_base64(json.loads(line)), message())
        b = m.SerializeToString()
        out += struct.pack(">I", len(b)) + b
    return bytes(out)
logs = framed("l.jsonl", ExportLogsServiceRequest)
open(f"{work}/l.pb", "wb").write(logs)
open(f"{work}/l.pb.gz", "wb").write(gzip.compress(logs))
open(f"{work}/s.pb", "wb").write(framed("s.jsonl", ExportTraceServiceRequest, limit=20))
PY
"$bin" --db "$work/db2" import "$work/l.pb" "$work/l.pb.gz" "$work/s.pb" --output json > "$work/imp2.json"
python3 - "$work/imp2.json" "$total" <<'PY'
import json, sys
out, total = json.load(open(sys.argv[1])), int(sys.argv[2])
f = {x["path"].rsplit("/", 1)[-1]: x for x in out["files"]}
for name in ["l.pb", "l.pb.gz"]:
    assert f[name]["format"] == "otlp-logs-proto" and f[name]["logs"] == total and f[name]["spans"] == 0, f[name]
assert f["l.pb.gz"]["compression"] == "gzip", f["l.pb.gz"]
assert f["s.pb"]["format"] == "otlp-proto" and f["s.pb"]["spans"] > 0 and f["s.pb"]["logs"] == 0, f["s.pb"]
PY
n=$("$bin" --db "$work/db2" logs '{ severity >= error }' --limit 1000000 --output json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = "$((2 * errors))" ] || { echo "FAIL protobuf logs: $n error records, want $((2 * errors))"; exit 1; }
echo "ok   import detects protobuf logs and protobuf spans apart (plain and gzip; $n error records)"
