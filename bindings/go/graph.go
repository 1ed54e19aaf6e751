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

// Deviation is one (service, operation or edge, metric) that deviated during an incident.
type Deviation struct {
	Service   string  `json:"service"`
	Operation string  `json:"operation"` // a span name, "*" for the whole service, "-> server" for an edge
	Metric    string  `json:"metric"`    // error_ratio, latency_p50, latency_p99, rate
	StartNs   uint64  `json:"start_ns"`
	EndNs     uint64  `json:"end_ns"`
	Peak      float64 `json:"peak"`
	Baseline  float64 `json:"baseline"`
	Score     float64 `json:"score"`
}

// AttributeShift is an attribute value over-represented in an incident's anomalous spans.
type AttributeShift struct {
	Key            string  `json:"key"`
	Value          string  `json:"value"`
	AnomalousShare float64 `json:"anomalous_share"`
	BaselineShare  float64 `json:"baseline_share"`
}

// Origin names the service and operation an incident or failure started in.
type Origin struct {
	Service   string `json:"service"`
	Operation string `json:"operation"`
}

// Incident is a set of deviations that happened together, localized to its origin.
type Incident struct {
	StartNs          uint64           `json:"start_ns"`
	EndNs            uint64           `json:"end_ns"`
	Score            float64          `json:"score"`
	Kinds            []string         `json:"kinds"`
	Origin           *Origin          `json:"origin"`
	AffectedServices []string         `json:"affected_services"`
	Deviations       []Deviation      `json:"deviations"`
	Attributes       []AttributeShift `json:"attributes"`
	SampleTraceIDs   []string         `json:"sample_trace_ids"`
}

// Anomalies is the result of DB.Anomalies.
type Anomalies struct {
	StartNs         uint64     `json:"start_ns"`
	EndNs           uint64     `json:"end_ns"`
	BaselineStartNs uint64     `json:"baseline_start_ns"`
	BaselineEndNs   uint64     `json:"baseline_end_ns"`
	Incidents       []Incident `json:"incidents"`
}

// AnomalyOptions set the window and the baseline. Zero times mean unbounded; a zero
// baseline holds the window against itself.
type AnomalyOptions struct {
	Start, End                 time.Time
	BaselineStart, BaselineEnd time.Time
}

// Anomalies finds incidents in a window: the rate, error ratio and latency of every service,
// operation and edge against a baseline, each incident localized to its origin.
func (db *DB) Anomalies(ctx context.Context, opts AnomalyOptions) (*Anomalies, error) {
	var out Anomalies
	err := db.jsonCall(ctx, &out, func(h *C.spandb_db, b **C.spandb_bytes) C.spandb_status {
		return C.spandb_status(C.spandb_anomalies_json(h, unixNano(opts.Start), unixNano(opts.End),
			unixNano(opts.BaselineStart), unixNano(opts.BaselineEnd), b))
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Explanation is a short, deterministic account of one trace; Summary holds it in sentences.
type Explanation struct {
	TraceID       string   `json:"trace_id"`
	RootService   *string  `json:"root_service"`
	RootOperation *string  `json:"root_operation"`
	StartNs       uint64   `json:"start_ns"`
	DurationNs    uint64   `json:"duration_ns"`
	Spans         int      `json:"spans"`
	Services      []string `json:"services"`
	Rank          *struct {
		Requests     uint64  `json:"requests"`
		Percentile   float64 `json:"percentile"`
		TypicalP50Ns float64 `json:"typical_p50_ns"`
		TypicalP99Ns float64 `json:"typical_p99_ns"`
	} `json:"rank"`
	CriticalPath []struct {
		Service    string  `json:"service"`
		Operation  string  `json:"operation"`
		CriticalNs uint64  `json:"critical_ns"`
		Share      float64 `json:"share"`
	} `json:"critical_path"`
	Failure *struct {
		OriginSpanID      string   `json:"origin_span_id"`
		Service           string   `json:"service"`
		Operation         string   `json:"operation"`
		ExceptionType     string   `json:"exception_type"`
		Message           string   `json:"message"`
		PropagatedThrough []string `json:"propagated_through"`
		ErrorSpans        int      `json:"error_spans"`
	} `json:"failure"`
	UnusualSpans []struct {
		SpanID       string  `json:"span_id"`
		Service      string  `json:"service"`
		Operation    string  `json:"operation"`
		DurationNs   uint64  `json:"duration_ns"`
		SelfNs       uint64  `json:"self_ns"`
		TypicalP99Ns float64 `json:"typical_p99_ns"`
	} `json:"unusual_spans"`
	Health  json.RawMessage `json:"health"`
	Summary []string        `json:"summary"`
}

// Explain returns a short account of one trace. An unknown trace matches
// errors.Is(err, ErrInvalidInput).
func (db *DB) Explain(ctx context.Context, id TraceID) (*Explanation, error) {
	var out Explanation
	err := db.jsonCall(ctx, &out, func(h *C.spandb_db, b **C.spandb_bytes) C.spandb_status {
		cid := C.CBytes(id[:])
		defer C.free(cid)
		return C.spandb_status(C.spandb_explain_json(h, (*C.uint8_t)(cid), b))
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// jsonCall runs a C function that returns JSON bytes and decodes them into out.
func (db *DB) jsonCall(ctx context.Context, out any, f func(h *C.spandb_db, b **C.spandb_bytes) C.spandb_status) error {
	var raw []byte
	err := db.run(ctx, func(h *C.spandb_db) error {
		var b *C.spandb_bytes
		if err := call(func() C.spandb_status { return f(h, &b) }); err != nil {
			return err
		}
		raw = C.GoBytes(unsafe.Pointer(b.data), C.int(b.len))
		mustFree(C.uint(C.spandb_bytes_free(b)))
		return nil
	})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("spandb: decoding the result: %w", err)
	}
	return nil
}
