#!/usr/bin/env bash
# The main job on the built-in example: import sample spans, show a trace, stats and metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --quiet --bin spandb
bin=target/release/spandb
db=$(mktemp -d)/spandb-demo
trap 'rm -rf "$(dirname "$db")"' EXIT

echo "== import examples/sample.jsonl (OTLP JSON lines, 2000 spans)"
$bin --db "$db" import examples/sample.jsonl
trace=$(grep -o '"traceId":"[0-9a-f]\{32\}","spanId":"[0-9a-f]\{16\}","flags":[0-9]*,"name":"[^"]*","kind":2' examples/sample.jsonl | head -1 | cut -d'"' -f4)
echo
echo "== spandb trace $trace"
$bin --db "$db" trace "$trace"
echo
echo "== spandb stats"
$bin --db "$db" stats
if $bin metrics --help >/dev/null 2>&1; then
  echo
  echo "== spandb metrics '{} | rate() by (resource.service.name)' --step 5m"
  $bin --db "$db" metrics '{ } | rate() by (resource.service.name)' --step 5m | head -40
fi
echo
echo "== spandb check"
$bin --db "$db" check
