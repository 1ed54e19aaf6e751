package spandb

// #include <stdlib.h>
// #include <spandb.h>
import "C"

import (
	"context"
	"time"
	"unsafe"
)

// PathSection is a stretch of one span on a trace's critical path.
type PathSection struct {
	SpanID  string `json:"span_id"`
	Service string `json:"service"`
	Name    string `json:"name"`
	StartNs uint64 `json:"start_ns"`
	EndNs   uint64 `json:"end_ns"`
}

// SpanPathTime is one span's duration, critical-path time and self time.
type SpanPathTime struct {
	SpanID     string `json:"span_id"`
	Service    string `json:"service"`
	Name       string `json:"name"`
	DurationNs uint64 `json:"duration_ns"`
	CriticalNs uint64 `json:"critical_ns"`
	SelfNs     uint64 `json:"self_ns"`
}

// CriticalPath holds the sections that determine a trace's latency, in order.
type CriticalPath struct {
	TraceID  string         `json:"trace_id"`
	StartNs  uint64         `json:"start_ns"`
	EndNs    uint64         `json:"end_ns"`
	Sections []PathSection  `json:"sections"`
	Spans    []SpanPathTime `json:"spans"`
}

// CriticalPath returns the critical path of one trace (Jaeger UI's algorithm). An unknown
// trace matches errors.Is(err, ErrInvalidInput).
func (db *DB) CriticalPath(ctx context.Context, id TraceID) (*CriticalPath, error) {
	var out CriticalPath
	if err := db.traceJSON(ctx, id, &out, func(h *C.spandb_db, tid *C.uint8_t, b **C.spandb_bytes) C.spandb_status {
		return C.spandb_status(C.spandb_critical_path_json(h, tid, b))
	}); err != nil {
		return nil, err
	}
	return &out, nil
}

// TraceHealth describes what is wrong with a trace's structure: orphans, a missing root,
// duplicate span ids, children outside their parent (clock skew), links, spans still
// arriving.
type TraceHealth struct {
	TraceID     string `json:"trace_id"`
	Spans       int    `json:"spans"`
	MissingRoot bool   `json:"missing_root"`
	Roots       int    `json:"roots"`
	Orphans     []struct {
		SpanID          string `json:"span_id"`
		Service         string `json:"service"`
		Name            string `json:"name"`
		MissingParentID string `json:"missing_parent_id"`
	} `json:"orphans"`
	DuplicateSpanIDs []struct {
		SpanID string `json:"span_id"`
		Spans  int    `json:"spans"`
	} `json:"duplicate_span_ids"`
	OutsideParent []struct {
		SpanID        string `json:"span_id"`
		Service       string `json:"service"`
		Name          string `json:"name"`
		ParentSpanID  string `json:"parent_span_id"`
		ParentService string `json:"parent_service"`
		EarlyNs       uint64 `json:"early_ns"`
		LateNs        uint64 `json:"late_ns"`
	} `json:"outside_parent"`
	Skew []struct {
		ParentService   string `json:"parent_service"`
		ChildService    string `json:"child_service"`
		Pairs           int    `json:"pairs"`
		Outside         int    `json:"outside"`
		EstimatedSkewNs int64  `json:"estimated_skew_ns"`
	} `json:"skew"`
	Links []struct {
		SpanID           string `json:"span_id"`
		LinkedTraceID    string `json:"linked_trace_id"`
		LinkedSpanID     string `json:"linked_span_id"`
		TraceFound       bool   `json:"trace_found"`
		SpanFound        bool   `json:"span_found"`
		LinkedTraceSpans int    `json:"linked_trace_spans"`
	} `json:"links"`
	LinksNotFollowed int    `json:"links_not_followed"`
	UnsealedSpans    int    `json:"unsealed_spans"`
	LastEndNs        uint64 `json:"last_end_ns"`
}

// TraceHealth returns the health of one trace. An unknown trace matches
// errors.Is(err, ErrInvalidInput).
func (db *DB) TraceHealth(ctx context.Context, id TraceID) (*TraceHealth, error) {
	var out TraceHealth
	if err := db.traceJSON(ctx, id, &out, func(h *C.spandb_db, tid *C.uint8_t, b **C.spandb_bytes) C.spandb_status {
		return C.spandb_status(C.spandb_trace_health_json(h, tid, b))
	}); err != nil {
		return nil, err
	}
	return &out, nil
}

// TimeShare is one (service, operation) pair's share of critical-path or self time.
type TimeShare struct {
	Service   string  `json:"service"`
	Operation string  `json:"operation"`
	TotalNs   uint64  `json:"total_ns"`
	Share     float64 `json:"share"`
	Traces    int     `json:"traces"`
	P50Ns     uint64  `json:"p50_ns"`
	P99Ns     uint64  `json:"p99_ns"`
}

// TimeBreakdown says where the time of many traces goes.
type TimeBreakdown struct {
	Traces         int         `json:"traces"`
	CriticalPathNs uint64      `json:"critical_path_ns"`
	CriticalPath   []TimeShare `json:"critical_path"`
	SelfTimeNs     uint64      `json:"self_time_ns"`
	SelfTime       []TimeShare `json:"self_time"`
}

// BreakdownOptions select the traces of a TimeBreakdown. The zero value means the newest
// 1000 traces of all time.
type BreakdownOptions struct {
	Query      string    // a TraceQL spanset ("" means every trace)
	Start, End time.Time // zero means unbounded
	Limit      uint32    // traces; 0 means 1000
}

// TimeBreakdown returns critical-path and self time per (service, operation) over the newest
// traces matching opts. A query that does not parse matches errors.Is(err, ErrQuerySyntax).
func (db *DB) TimeBreakdown(ctx context.Context, opts BreakdownOptions) (*TimeBreakdown, error) {
	var out TimeBreakdown
	err := db.jsonCall(ctx, &out, func(h *C.spandb_db, b **C.spandb_bytes) C.spandb_status {
		var q *C.char
		if opts.Query != "" {
			q = C.CString(opts.Query)
			defer C.free(unsafe.Pointer(q))
		}
		return C.spandb_status(C.spandb_time_breakdown_json(h, q, unixNano(opts.Start), unixNano(opts.End),
			C.uint32_t(opts.Limit), b))
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// NameCount is a name and how often it occurred.
type NameCount struct {
	Name  string `json:"name"`
	Count uint64 `json:"count"`
}

// ErrorGroup is the errors of one service with one exception type and message template.
type ErrorGroup struct {
	Service       string  `json:"service"`
	ExceptionType *string `json:"exception_type"` // nil for error spans without an exception event
	Template      string  `json:"template"`
	SampleMessage string  `json:"sample_message"`
	Count         uint64  `json:"count"`
	Traces        uint64  `json:"traces"`
	FirstSeenNs   uint64  `json:"first_seen_ns"`
	LastSeenNs    uint64  `json:"last_seen_ns"`
	PerMinute     []struct {
		MinuteNs uint64 `json:"minute_ns"`
		Count    uint64 `json:"count"`
	} `json:"per_minute"`
	Operations     []NameCount `json:"operations"`
	SampleTraceIDs []string    `json:"sample_trace_ids"`
	Stacks         []struct {
		Fingerprint string   `json:"fingerprint"`
		TopFrames   []string `json:"top_frames"`
		Count       uint64   `json:"count"`
	} `json:"stacks"`
	Origins []struct {
		Service   string `json:"service"`
		Operation string `json:"operation"`
		Count     uint64 `json:"count"`
	} `json:"origins"`
	OriginShare  float64        `json:"origin_share"`
	PropagatedTo []NameCount    `json:"propagated_to"`
	New          bool           `json:"new"`
	Logs         ErrorGroupLogs `json:"logs"` // log records of the group's error spans
}

// ErrorGroupLogs are the log records joined to a group's error spans by trace id and span id.
type ErrorGroupLogs struct {
	Count    uint64 `json:"count"`
	Errors   uint64 `json:"errors"` // severity error or worse
	Examples []struct {
		TimeNs   uint64 `json:"time_ns"`
		Severity string `json:"severity"`
		Service  string `json:"service"`
		Body     string `json:"body"`
		TraceID  string `json:"trace_id"`
		SpanID   string `json:"span_id"`
	} `json:"examples"` // the newest few, newest first
}

// ErrorGroups is the result of DB.ErrorGroups.
type ErrorGroups struct {
	StartNs    uint64       `json:"start_ns"`
	EndNs      uint64       `json:"end_ns"`
	Baseline   *[2]uint64   `json:"baseline"`
	ErrorSpans uint64       `json:"error_spans"`
	Groups     []ErrorGroup `json:"groups"`
}

// ErrorGroupOptions set the window and the baseline; zero times mean unbounded, a zero
// baseline means none (no group is flagged new).
type ErrorGroupOptions struct {
	Start, End                 time.Time
	BaselineStart, BaselineEnd time.Time
}

// ErrorGroups groups the error spans of a window by service, exception type and message
// template, each group with its origin.
func (db *DB) ErrorGroups(ctx context.Context, opts ErrorGroupOptions) (*ErrorGroups, error) {
	var out ErrorGroups
	err := db.jsonCall(ctx, &out, func(h *C.spandb_db, b **C.spandb_bytes) C.spandb_status {
		return C.spandb_status(C.spandb_error_groups_json(h, unixNano(opts.Start), unixNano(opts.End),
			unixNano(opts.BaselineStart), unixNano(opts.BaselineEnd), b))
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// traceJSON runs a per-trace C function that returns JSON.
func (db *DB) traceJSON(ctx context.Context, id TraceID, out any,
	f func(h *C.spandb_db, tid *C.uint8_t, b **C.spandb_bytes) C.spandb_status) error {
	return db.jsonCall(ctx, out, func(h *C.spandb_db, b **C.spandb_bytes) C.spandb_status {
		cid := C.CBytes(id[:])
		defer C.free(cid)
		return f(h, (*C.uint8_t)(cid), b)
	})
}
