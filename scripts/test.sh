#!/usr/bin/env bash
# Runs every test: Rust unit/integration/property tests, the C and Go binding tests, a short
# fuzz run per target, and the benchmark smoke run. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --all

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo test --workspace"
cargo test --workspace --release
for script in bindings/c/tests/run.sh bindings/c/check-header.sh bindings/go/run_tests.sh fuzz/run.sh benches/smoke.sh; do
  if [ -x "$script" ]; then
    echo "== $script"
    "./$script"
  fi
done
echo "all tests passed"
