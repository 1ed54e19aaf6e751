#!/usr/bin/env bash
# Installs what spandb needs on a fresh Debian machine that has only Rust:
# system RocksDB + libclang (to link the rocksdb crate), Go (bindings), valgrind (C tests).
# Idempotent: installs only what is missing.
set -euo pipefail

need=()
for pkg in librocksdb-dev libclang-dev pkg-config; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${1:-}" = "--all" ]; then
  # chromium + chromium-driver: the HTML pages are tested in a real browser
  # (scripts/test_html_in_browser.py); fonts-dejavu-core: the font SVG/PNG images are drawn in;
  # firefox-esr: the web UI is tested in Firefox too (scripts/test_ui_in_browser.py, with
  # geckodriver from `cargo install`, see scripts/test.sh); openssl:
  # scripts/test_server_tls_sdk.py makes a self-signed certificate with it.
  for pkg in golang-go valgrind zstd chromium chromium-driver fonts-dejavu-core firefox-esr openssl; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
  done
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
