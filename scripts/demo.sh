#!/usr/bin/env bash
# The main job on the built-in example: import sample spans, show a trace, stats and metrics,
# and write the pictures (HTML waterfall, service map SVG, latency chart PNG) to target/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --quiet --bin spandb
bin=${CARGO_TARGET_DIR:-target}/release/spandb
db=$(mktemp -d)/spandb-demo
trap 'rm -rf "$(dirname "$db")"' EXIT

echo "== import examples/sample.jsonl (OTLP JSON lines, 2000 spans)"
$bin --db "$db" import examples/sample.jsonl
# An error trace makes the more interesting picture; take the newest one search finds.
trace=$($bin --db "$db" search '{ status = error && kind = server }' --limit 1 --output json | grep -o '"traceID":"[0-9a-f]*"' | awk -F'"' 'NR==1 {print $4}')
echo
echo "== spandb trace $trace"
$bin --db "$db" trace "$trace"
echo
echo "== spandb stats"
$bin --db "$db" stats
echo
echo "== spandb search '{ status = error }' --limit 5"
$bin --db "$db" search '{ status = error }' --limit 5
echo
echo "== spandb metrics '{ kind = server } | quantile_over_time(duration, .5, .99) by (resource.service.name)' --step 10m"
$bin --db "$db" metrics '{ kind = server } | quantile_over_time(duration, .5, .99) by (resource.service.name)' --step 10m | awk 'NR <= 30'
echo
echo "== spandb explain $trace"
$bin --db "$db" explain "$trace"
echo
echo "== spandb graph (the service graph, from the blocks' edge rollups)"
$bin --db "$db" graph | awk 'NR <= 15'
echo
echo "== spandb errors (exception groups)"
$bin --db "$db" errors | awk 'NR <= 12'
echo
echo "== spandb anomalies"
$bin --db "$db" anomalies | awk 'NR <= 20'
echo
echo "== pictures: an HTML waterfall, the service map, a latency chart"
out=${SPANDB_DEMO_OUT:-target/demo}
mkdir -p "$out"
$bin --db "$db" trace "$trace" --output html > "$out/trace.html"
$bin --db "$db" graph --output svg > "$out/service-map.svg"
$bin --db "$db" metrics '{ kind = server } | quantile_over_time(duration, .99) by (resource.service.name)' --step 5m --output png > "$out/latency-p99.png"
echo "wrote $out/trace.html (open it in a browser), $out/service-map.svg, $out/latency-p99.png"
echo
echo "== spandb check"
$bin --db "$db" check
