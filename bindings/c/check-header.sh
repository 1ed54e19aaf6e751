#!/bin/sh
# Fails when include/spandb.h is not what cbindgen generates from src/ (a stale header).
# `check-header.sh --update` rewrites it instead. Needs cbindgen (`cargo install cbindgen --locked`).
set -eu
cd "$(dirname "$0")"
if [ "${1:-}" = "--update" ]; then
    cbindgen -q --config cbindgen.toml --output include/spandb.h
    echo "include/spandb.h updated"
    exit 0
fi
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
cbindgen -q --config cbindgen.toml --output "$tmp"
if ! diff -u include/spandb.h "$tmp"; then
    echo "bindings/c/include/spandb.h is stale: run bindings/c/check-header.sh --update" >&2
    exit 1
fi
echo "include/spandb.h is up to date"
