//go:build spandb_pkgconfig

package spandb

// #cgo pkg-config: --static spandb
import "C"
