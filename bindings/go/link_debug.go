//go:build !spandb_release && !spandb_pkgconfig

package spandb

// Default: link the static library a `cargo build -p spandb-c` leaves in this repository.
// Build with `-tags spandb_release` for target/release, or `-tags spandb_pkgconfig` to use an
// installed library through pkg-config (see README.md).

// #cgo CFLAGS: -I${SRCDIR}/../c/include
// #cgo LDFLAGS: ${SRCDIR}/../../target/debug/libspandb.a -lrocksdb -lstdc++ -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
import "C"
