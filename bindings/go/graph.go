package spandb

// #include <stdlib.h>
// #include <spandb.h>
import "C"

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
	"unsafe"
)

// GraphOptions narrow a ServiceGraph. The zero value covers everything and every trace.
type GraphOptions struct {
	Start, End time.Time // call start window [Start, End), widened to whole minutes; zero means unbounded
	Filter     string    // a TraceQL spanset; only matching traces count ("" means all)
}

// GraphNode is a service, a database, a queue or an uninstrumented peer.
type GraphNode struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"` // service, database, messaging, peer
	CallsIn  uint64 `json:"calls_in"`
	ErrorsIn uint64 `json:"errors_in"`
}

// LatencySummary holds latency quantiles in nanoseconds (within 1% relative error).
type LatencySummary struct {
	P50 float64 `json:"p50_ns"`
	P90 float64 `json:"p90_ns"`
	P99 float64 `json:"p99_ns"`
}

// EdgeMinute is an edge's calls and errors in one minute.
type EdgeMinute struct {
	MinuteUnixNano uint64 `json:"minute_ns"`
	Calls          uint64 `json:"calls"`
	Errors         uint64 `json:"errors"`
}

// GraphEdge is Client calling Server.
type GraphEdge struct {
	Client        string          `json:"client"`
	ClientKind    string          `json:"client_kind"`
	Server        string          `json:"server"`
	ServerKind    string          `json:"server_kind"`
	Kind          string          `json:"kind"` // direct, messaging, database, virtual_peer
	Calls         uint64          `json:"calls"`
	Errors        uint64          `json:"errors"`
	ClientLatency *LatencySummary `json:"client_latency"`
	ServerLatency *LatencySummary `json:"server_latency"` // nil for databases and peers
	PerMinute     []EdgeMinute    `json:"per_minute"`
}

// ServiceGraph is the graph of calls over a time range.
type ServiceGraph struct {
	StartUnixNano uint64      `json:"start_ns"`
	EndUnixNano   uint64      `json:"end_ns"`
	Nodes         []GraphNode `json:"nodes"`
	Edges         []GraphEdge `json:"edges"`
}

// ServiceGraph returns the services, databases, queues and peers, and the calls between
// them. A filter that does not parse matches errors.Is(err, ErrQuerySyntax).
func (db *DB) ServiceGraph(ctx context.Context, opts GraphOptions) (*ServiceGraph, error) {
	var raw []byte
	err := db.run(ctx, func(h *C.spandb_db) error {
		var filter *C.char
		if opts.Filter != "" {
			filter = C.CString(opts.Filter)
			defer C.free(unsafe.Pointer(filter))
		}
		var b *C.spandb_bytes
		if err := call(func() C.spandb_status {
			return C.spandb_status(C.spandb_service_graph_json(h, filter, unixNano(opts.Start), unixNano(opts.End), &b))
		}); err != nil {
			return err
		}
		raw = C.GoBytes(unsafe.Pointer(b.data), C.int(b.len))
		mustFree(C.uint(C.spandb_bytes_free(b)))
		return nil
	})
	if err != nil {
		return nil, err
	}
	var g ServiceGraph
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, fmt.Errorf("spandb: decoding the service graph: %w", err)
	}
	return &g, nil
}
