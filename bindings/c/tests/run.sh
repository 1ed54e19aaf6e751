#!/bin/sh
# Builds libspandb.a, compiles the C test programs against include/spandb.h and the static
# library with the system C compiler, and runs them, under valgrind when it is installed
# (SPANDB_NO_VALGRIND=1 to skip it). Exits non-zero on any failure.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
profile=${SPANDB_PROFILE:-debug}
target=${CARGO_TARGET_DIR:-$root/target}
flag=""
[ "$profile" = release ] && flag="--release"

cd "$root"
cargo build -p spandb-c $flag
lib="$target/$profile/libspandb.a"
# What the static library needs from the system (cargo rustc --print native-static-libs).
libs="-lrocksdb -lstdc++ -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc_flags="-std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -g -I$here/../include"
status=0
for t in roundtrip bad_input; do
    echo "== $t"
    ${CC:-cc} $cc_flags "$here/$t.c" "$lib" $libs -o "$out/$t"
    if [ "${SPANDB_NO_VALGRIND:-0}" != 1 ] && command -v valgrind >/dev/null; then
        valgrind --quiet --leak-check=full --suppressions="$here/valgrind.supp" --errors-for-leak-kinds=definite,indirect,possible \
            --error-exitcode=1 "$out/$t" || status=1
    else
        "$out/$t" || status=1
    fi
done
[ $status = 0 ] && echo "C tests passed"
exit $status
