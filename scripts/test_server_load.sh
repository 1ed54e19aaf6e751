#!/usr/bin/env bash
# A short run of the OTLP load generator (server/examples/otlp_load.rs) against a real
# `spandb serve`: 20,000 generated spans over OTLP/HTTP protobuf and again over OTLP/gRPC,
# 8 connections each, with a queue small enough that some requests are refused (429 /
# Unavailable) and retried. Every request must end acknowledged, SIGTERM must end the server
# with 0, and the database must then hold exactly the acknowledged spans.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/spandb
LOAD=target/release/examples/otlp_load
[ -x "$BIN" ] && [ -x "$LOAD" ] || cargo build --release -p spandb-cli -p spandb-server --examples
tmp=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill -9 "$server" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

python3 benches/gen_spans.py --spans 20000 --out "$tmp/spans.jsonl" >/dev/null
"$BIN" --db "$tmp/db" serve --listen 127.0.0.1:0 --otlp-http 127.0.0.1:0 --otlp-grpc 127.0.0.1:0 \
  --queue-spans 1000 --log-format json --log-level warn,spandb_server=info 2>"$tmp/log" &
server=$!
for _ in $(seq 100); do grep -q '"spandb serving"' "$tmp/log" 2>/dev/null && break; sleep 0.1; done
addr() { python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("message") == "spandb serving": print(d[sys.argv[2]]); break' "$tmp/log" "$1"; }
http=$(addr otlp_http_addr)
grpc=$(addr otlp_grpc_addr)
[ -n "$http" ] && [ -n "$grpc" ] || { cat "$tmp/log"; echo "server did not start"; exit 1; }

"$LOAD" --spans "$tmp/spans.jsonl" --batch 200 --connections 8 --http "http://$http/v1/traces"
"$LOAD" --spans "$tmp/spans.jsonl" --batch 200 --connections 8 --grpc "http://$grpc"

kill -TERM "$server"
wait "$server"
server=""
spans=$("$BIN" --db "$tmp/db" stats | awk '$1 == "spans" { print $2 }')
if [ "$spans" != 40000 ]; then
  echo "expected 40000 acknowledged spans in the database, found $spans"
  exit 1
fi
# Every log line is JSON.
python3 -c 'import json,sys
n = sum(1 for l in open(sys.argv[1]) if json.loads(l))
print(f"{n} JSON log lines")' "$tmp/log"
echo "load smoke run: 40000 spans acknowledged and stored"
