// Package spandb embeds spandb, a column-oriented database for distributed-tracing spans, in
// Go programs. It is a thin layer over spandb's C API (cgo, static library): a *DB is safe for
// concurrent use by many goroutines; results are copied into Go values.
package spandb

// #include <stdlib.h>
// #include <spandb.h>
import "C"

import (
	"context"
	"sync/atomic"
	"time"
	"unsafe"
)

// Durability says when a write is durable.
type Durability int

const (
	// DurabilityGroupCommit (the default): Write returns once the log record is in the OS,
	// which fsyncs it every GroupCommitInterval (50 ms by default).
	DurabilityGroupCommit Durability = iota
	// DurabilitySync: Write returns after the log record is fsynced.
	DurabilitySync
)

// Options for Open. The zero value means the defaults.
type Options struct {
	Durability Durability
	// GroupCommitInterval is the fsync interval of DurabilityGroupCommit. 0 means 50 ms.
	GroupCommitInterval time.Duration
	// BlockMaxSpans is the number of buffered spans sealed into one block file. 0 means 131072.
	BlockMaxSpans int
}

// DB is an open database. Safe for concurrent use; call Close when done.
type DB struct {
	h atomic.Pointer[C.spandb_db]
}

// Version is the version of the linked spandb library.
func Version() string { return C.GoString(C.spandb_version()) }

// Open opens (creating if needed) the database in directory dir.
func Open(dir string, opts Options) (*DB, error) {
	var o *C.spandb_options
	if err := call(func() C.spandb_status { return C.spandb_status(C.spandb_options_new(&o)) }); err != nil {
		return nil, err
	}
	defer C.spandb_options_free(o)
	if opts.Durability == DurabilitySync {
		if err := call(func() C.spandb_status {
			return C.spandb_status(C.spandb_options_set_durability(o, C.SPANDB_DURABILITY_SYNC, 0))
		}); err != nil {
			return nil, err
		}
	} else if opts.GroupCommitInterval > 0 {
		ms := C.uint64_t((opts.GroupCommitInterval + time.Millisecond - 1) / time.Millisecond)
		if err := call(func() C.spandb_status {
			return C.spandb_status(C.spandb_options_set_durability(o, C.SPANDB_DURABILITY_GROUP_COMMIT, ms))
		}); err != nil {
			return nil, err
		}
	}
	if opts.BlockMaxSpans > 0 {
		if err := call(func() C.spandb_status {
			return C.spandb_status(C.spandb_options_set_block_max_spans(o, C.size_t(opts.BlockMaxSpans)))
		}); err != nil {
			return nil, err
		}
	}
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	var h *C.spandb_db
	if err := call(func() C.spandb_status { return C.spandb_status(C.spandb_open(cdir, o, &h)) }); err != nil {
		return nil, err
	}
	db := &DB{}
	db.h.Store(h)
	return db, nil
}

func (db *DB) handle() (*C.spandb_db, error) {
	h := db.h.Load()
	if h == nil {
		return nil, ErrClosed
	}
	return h, nil
}

// Close makes every acknowledged write durable and releases the database. Calls after Close
// (or racing with it) return ErrClosed; a second Close returns nil.
func (db *DB) Close() error {
	h := db.h.Swap(nil)
	if h == nil {
		return nil
	}
	err := call(func() C.spandb_status { return C.spandb_status(C.spandb_close(h)) })
	if ferr := call(func() C.spandb_status { return C.spandb_status(C.spandb_db_free(h)) }); err == nil {
		err = ferr
	}
	return err
}

// Write stores spans; when it returns nil they are durable per Options.Durability and visible
// to reads. All or nothing. The context is checked before the write starts.
func (db *DB) Write(ctx context.Context, spans []Span) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h, err := db.handle()
	if err != nil {
		return err
	}
	var a cArena
	defer a.free()
	cs := a.spans(spans)
	return call(func() C.spandb_status { return C.spandb_status(C.spandb_write_spans(h, first(cs), C.size_t(len(cs)))) })
}

// WriteOTLPProto stores the spans of an OTLP ExportTraceServiceRequest in protobuf.
func (db *DB) WriteOTLPProto(ctx context.Context, data []byte) error {
	return db.writeBytes(ctx, data, true)
}

// WriteOTLPJSON stores the spans of an OTLP JSON ExportTraceServiceRequest (one line of the
// OpenTelemetry Collector's file exporter).
func (db *DB) WriteOTLPJSON(ctx context.Context, data []byte) error {
	return db.writeBytes(ctx, data, false)
}

func (db *DB) writeBytes(ctx context.Context, data []byte, proto bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h, err := db.handle()
	if err != nil {
		return err
	}
	// A []byte holds no Go pointers, so passing its first element is within the cgo rules.
	p := (*C.uint8_t)(unsafe.Pointer(first(data)))
	return call(func() C.spandb_status {
		if proto {
			return C.spandb_status(C.spandb_write_otlp_proto(h, p, C.size_t(len(data))))
		}
		return C.spandb_status(C.spandb_write_otlp_json(h, p, C.size_t(len(data))))
	})
}

// Flush seals buffered spans into a block file (not needed for durability).
func (db *DB) Flush(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h, err := db.handle()
	if err != nil {
		return err
	}
	return call(func() C.spandb_status { return C.spandb_status(C.spandb_flush(h)) })
}

// Trace returns every stored span of a trace, by start time; an empty Trace when none is.
func (db *DB) Trace(ctx context.Context, id TraceID) (*Trace, error) {
	var out *Trace
	err := db.run(ctx, func(h *C.spandb_db) error {
		var t *C.spandb_trace
		cid := C.CBytes(id[:])
		defer C.free(cid)
		if err := call(func() C.spandb_status { return C.spandb_status(C.spandb_trace_get(h, (*C.uint8_t)(cid), &t)) }); err != nil {
			return err
		}
		defer func() { mustFree(C.uint(C.spandb_trace_free(t))) }()
		out = goTrace(t)
		return nil
	})
	return out, err
}

// TraceOTLPProto returns a trace as an OTLP ExportTraceServiceRequest in protobuf.
func (db *DB) TraceOTLPProto(ctx context.Context, id TraceID) ([]byte, error) {
	return db.traceBytes(ctx, id, true)
}

// TraceOTLPJSON returns a trace as an OTLP JSON ExportTraceServiceRequest.
func (db *DB) TraceOTLPJSON(ctx context.Context, id TraceID) ([]byte, error) {
	return db.traceBytes(ctx, id, false)
}

func (db *DB) traceBytes(ctx context.Context, id TraceID, proto bool) ([]byte, error) {
	var out []byte
	err := db.run(ctx, func(h *C.spandb_db) error {
		cid := C.CBytes(id[:])
		defer C.free(cid)
		var b *C.spandb_bytes
		if err := call(func() C.spandb_status {
			if proto {
				return C.spandb_status(C.spandb_trace_otlp_proto(h, (*C.uint8_t)(cid), &b))
			}
			return C.spandb_status(C.spandb_trace_otlp_json(h, (*C.uint8_t)(cid), &b))
		}); err != nil {
			return err
		}
		out = C.GoBytes(unsafe.Pointer(b.data), C.int(b.len))
		mustFree(C.uint(C.spandb_bytes_free(b)))
		return nil
	})
	return out, err
}

// run calls f with the handle. When ctx can be cancelled, f runs on its own goroutine and a
// cancelled ctx returns ctx.Err() at once; f still finishes (the C call cannot be
// interrupted) and releases what it allocated.
func (db *DB) run(ctx context.Context, f func(h *C.spandb_db) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h, err := db.handle()
	if err != nil {
		return err
	}
	if ctx.Done() == nil {
		return f(h)
	}
	done := make(chan error, 1)
	go func() { done <- f(h) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats are counts and sizes of a database.
type Stats struct {
	Spans, Traces, Blocks      uint64
	SealedSpans, UnsealedSpans uint64
	BlockBytes, BytesOnDisk    uint64
	Services                   uint64
	MinStartUnixNano           uint64 // 0 when the database is empty
	MaxEndUnixNano             uint64
}

// Stats reports counts and sizes.
func (db *DB) Stats() (Stats, error) {
	h, err := db.handle()
	if err != nil {
		return Stats{}, err
	}
	var s C.spandb_db_stats
	if err := call(func() C.spandb_status { return C.spandb_status(C.spandb_stats(h, &s)) }); err != nil {
		return Stats{}, err
	}
	return Stats{
		Spans: uint64(s.spans), Traces: uint64(s.traces), Blocks: uint64(s.blocks),
		SealedSpans: uint64(s.sealed_spans), UnsealedSpans: uint64(s.unsealed_spans),
		BlockBytes: uint64(s.block_bytes), BytesOnDisk: uint64(s.bytes_on_disk),
		Services: uint64(s.services), MinStartUnixNano: uint64(s.min_start_ns), MaxEndUnixNano: uint64(s.max_end_ns),
	}, nil
}
