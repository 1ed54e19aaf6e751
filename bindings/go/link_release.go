//go:build spandb_release && !spandb_pkgconfig

package spandb

// #cgo CFLAGS: -I${SRCDIR}/../c/include
// #cgo LDFLAGS: ${SRCDIR}/../../target/release/libspandb.a -lrocksdb -lstdc++ -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
import "C"
