package spandb

// #include <stdlib.h>
// #include <spandb.h>
import "C"

import (
	"context"
	"time"
	"unsafe"
)

// SearchOptions narrow a Search. The zero value searches everything, 20 traces at most.
type SearchOptions struct {
	Start, End time.Time // span start window [Start, End); zero means unbounded
	Limit      int       // 0 means 20
}

// MatchedSpan is a span a search matched.
type MatchedSpan struct {
	SpanID            SpanID
	Name, Service     string
	StartTimeUnixNano uint64
	Duration          time.Duration
	StatusCode        StatusCode
}

// TraceSummary is one trace a search found (Grafana Tempo's search metadata).
type TraceSummary struct {
	TraceID TraceID
	// RootService and RootName are empty when the root span is not stored.
	RootService, RootName string
	StartTimeUnixNano     uint64
	Duration              time.Duration
	SpanCount             int
	Matched               []MatchedSpan
}

func unixNano(t time.Time) C.uint64_t {
	if t.IsZero() {
		return 0
	}
	return C.uint64_t(t.UnixNano())
}

// Search runs a TraceQL query ({ resource.service.name = "api" && status = error }) and
// returns matching traces, newest first. A syntax error matches errors.Is(err, ErrQuerySyntax).
func (db *DB) Search(ctx context.Context, query string, opts SearchOptions) ([]TraceSummary, error) {
	limit := opts.Limit
	if limit <= 0 {
		limit = 20
	}
	var out []TraceSummary
	err := db.run(ctx, func(h *C.spandb_db) error {
		q := C.CString(query)
		defer C.free(unsafe.Pointer(q))
		var r *C.spandb_search_result
		if err := call(func() C.spandb_status {
			return C.spandb_status(C.spandb_search(h, q, unixNano(opts.Start), unixNano(opts.End), C.size_t(limit), &r))
		}); err != nil {
			return err
		}
		defer func() { mustFree(C.uint(C.spandb_search_result_free(r))) }()
		for _, t := range cSlice(r.traces, r.traces_len) {
			s := TraceSummary{
				TraceID:           *(*TraceID)(unsafe.Pointer(&t.trace_id)),
				RootService:       goStr(t.root_service),
				RootName:          goStr(t.root_name),
				StartTimeUnixNano: uint64(t.start_ns),
				Duration:          time.Duration(t.duration_ns),
				SpanCount:         int(t.span_count),
			}
			for _, m := range cSlice(t.matched, t.matched_len) {
				s.Matched = append(s.Matched, MatchedSpan{
					SpanID:            *(*SpanID)(unsafe.Pointer(&m.span_id)),
					Name:              goStr(m.name),
					Service:           goStr(m.service),
					StartTimeUnixNano: uint64(m.start_ns),
					Duration:          time.Duration(m.duration_ns),
					StatusCode:        StatusCode(m.status_code),
				})
			}
			out = append(out, s)
		}
		return nil
	})
	return out, err
}

// MetricsOptions set the window and resolution of Metrics. Zero Start and End mean the time
// range the data covers; Step is required.
type MetricsOptions struct {
	Start, End time.Time
	Step       time.Duration
}

// Sample is one value of a series: the step's start and its value.
type Sample struct {
	TimeUnixNano uint64
	Value        float64
}

// Series is one time series: its labels (the by(...) fields, then "p" for quantiles; a
// missing attribute is an empty Value) and samples.
type Series struct {
	Labels  []KeyValue
	Samples []Sample
}

// Metrics runs a TraceQL metrics query ({ } | rate() by (resource.service.name),
// count_over_time(), avg_over_time(duration), quantile_over_time(duration, .5, .99)).
func (db *DB) Metrics(ctx context.Context, query string, opts MetricsOptions) ([]Series, error) {
	var out []Series
	err := db.run(ctx, func(h *C.spandb_db) error {
		q := C.CString(query)
		defer C.free(unsafe.Pointer(q))
		var r *C.spandb_metrics_result
		if err := call(func() C.spandb_status {
			return C.spandb_status(C.spandb_metrics(h, q, unixNano(opts.Start), unixNano(opts.End), C.uint64_t(opts.Step), &r))
		}); err != nil {
			return err
		}
		defer func() { mustFree(C.uint(C.spandb_metrics_result_free(r))) }()
		for _, s := range cSlice(r.series, r.series_len) {
			series := Series{Labels: goAttrs(s.labels, s.labels_len)}
			for _, smp := range cSlice(s.samples, s.samples_len) {
				series.Samples = append(series.Samples, Sample{uint64(smp.time_ns), float64(smp.value)})
			}
			out = append(out, series)
		}
		return nil
	})
	return out, err
}
