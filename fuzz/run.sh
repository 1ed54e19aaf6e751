#!/usr/bin/env bash
# Runs every fuzz target briefly on stable Rust (FUZZ_SECONDS each, default 20), starting from
# the checked-in seed corpora. For a long run: FUZZ_SECONDS=3600 fuzz/run.sh, or
#   cd fuzz && cargo fuzz run -s none block_decode -- -max_total_time=3600
set -euo pipefail
cd "$(dirname "$0")"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
seconds=${FUZZ_SECONDS:-20}
for target in $(cargo fuzz list); do
  mkdir -p "corpus/$target"
  work=$(mktemp -d)
  cp -r "corpus/$target/." "$work/" 2>/dev/null || true
  echo "fuzz: $target for ${seconds}s"
  cargo fuzz run -s none "$target" "$work" -- -max_total_time="$seconds" -rss_limit_mb=4096 2>&1 | grep -E "^(#[0-9]+.*DONE|Done|==|SUMMARY|.*panicked)" || true
  test "${PIPESTATUS[0]}" -eq 0 || { echo "fuzz: $target failed"; exit 1; }
  rm -rf "$work"
done
