#!/usr/bin/env bash
# `spandb import` and `spandb export` end to end on files made by each format's own tools:
# gzip and zstd compress the example, Python's json.tool pretty-prints a request, the
# OpenTelemetry Python SDK's OTLP encoder writes protobuf (one request and a stream), a
# rotated directory and standard input. Each import's span count is checked.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CARGO_TARGET_DIR:-target}/release/spandb
[ -x "$bin" ] || cargo build --release --bin spandb
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  opentelemetry-sdk opentelemetry-exporter-otlp-proto-common
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sample=examples/sample.jsonl
total=$(python3 -c 'import json,sys
n=0
for line in open(sys.argv[1]):
    for rs in json.loads(line)["resourceSpans"]:
        for ss in rs["scopeSpans"]: n += len(ss["spans"])
print(n)' "$sample")

spans_in() { "$bin" --db "$1" stats --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["spans"])'; }
passed=0
check() { # name, expected spans, import arguments...
  local name=$1 want=$2; shift 2
  local db="$work/db-$name"
  "$bin" --db "$db" import "$@" --output json >/dev/null
  local got; got=$(spans_in "$db")
  if [ "$got" != "$want" ]; then echo "FAIL $name: $got spans, want $want"; exit 1; fi
  echo "ok   $name ($got spans)"; passed=$((passed + 1))
}

gzip -c "$sample" > "$work/spans.jsonl.gz"
check gzip "$total" "$work/spans.jsonl.gz"
zstd -q -c "$sample" > "$work/spans.jsonl.zst"
check zstd "$total" "$work/spans.jsonl.zst"
head -n 1 "$sample" | python3 -m json.tool > "$work/pretty.json"
first=$(head -n 1 "$sample" | python3 -c 'import json,sys; print(sum(len(s["spans"]) for r in json.load(sys.stdin)["resourceSpans"] for s in r["scopeSpans"]))')
check pretty-document "$first" "$work/pretty.json"
mkdir "$work/rotated"
split -n l/3 "$sample" "$work/rotated/spans-"
check rotated-directory "$total" "$work/rotated"
check stdin "$total" - < "$sample"
sdk=$(python3 scripts/otel_sdk_spans.py --single "$work/sdk.pb" --stream "$work/sdk-stream.pb")
check otel-sdk-protobuf "$sdk" "$work/sdk.pb"
check otel-sdk-protobuf-stream "$sdk" "$work/sdk-stream.pb"

# Lenient by default: a span whose only fault is a link with an all-zero trace id is kept
# without the link (and counted); --strict refuses the request, exit status 2.
cat > "$work/bad-link.json" <<'JSON'
{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"web"}}]},"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"GET /","links":[{"traceId":"00000000000000000000000000000000","spanId":"0000000000000000"}],"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000100000000"}]}]}]}
JSON
check lenient-bad-link 1 "$work/bad-link.json"
dropped=$("$bin" --db "$work/db-lenient-again" import "$work/bad-link.json" --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["files"][0]["dropped"]["invalidLinks"])')
if [ "$dropped" != 1 ]; then echo "FAIL lenient import reports $dropped invalid links, want 1"; exit 1; fi
status=0; "$bin" --db "$work/db-strict" import --strict "$work/bad-link.json" >/dev/null 2>&1 || status=$?
if [ "$status" != 2 ]; then echo "FAIL --strict exit status $status, want 2"; exit 1; fi
echo "ok   --strict refuses what the default drops and counts"; passed=$((passed + 1))

# Export and import back: the same spans and the same search answers.
"$bin" --db "$work/db-zstd" export --zstd -o "$work/export.jsonl.zst" 2>/dev/null
check export-roundtrip "$total" "$work/export.jsonl.zst"
"$bin" --db "$work/db-zstd" export --format otlp-proto --query '{ status = error }' -o "$work/errors.pb" 2>/dev/null
q='{ status = error }'
a=$("$bin" --db "$work/db-zstd" search "$q" --limit 1000 --output json)
"$bin" --db "$work/db-errors" import "$work/errors.pb" >/dev/null
b=$("$bin" --db "$work/db-errors" search "$q" --limit 1000 --output json)
if [ "$a" != "$b" ]; then echo "FAIL export --query: search answers differ"; exit 1; fi
echo "ok   export --query round trip (same search answers)"; passed=$((passed + 1))
echo "$passed passed, 0 failed"
