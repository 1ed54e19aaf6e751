#!/bin/sh
# Builds the static C library and runs the Go package's tests (with cgo pointer checks on),
# vet, and the example. Exits non-zero on failure. SPANDB_PROFILE=release to use target/release.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tags=""
if [ "${SPANDB_PROFILE:-debug}" = release ]; then
    (cd "$root" && cargo build -p spandb-c --release)
    tags="-tags spandb_release"
else
    (cd "$root" && cargo build -p spandb-c)
fi
cd "$here"
test -z "$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
go vet $tags ./...
GODEBUG=cgocheck=1 go test $tags -count=1 ./...
GODEBUG=cgocheck=2 go test $tags -count=1 ./...
go run $tags ./example >/dev/null
echo "Go tests passed"
