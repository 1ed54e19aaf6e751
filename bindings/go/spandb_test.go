package spandb

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

const t0 = uint64(1700000000000000000)

var traceA = TraceID{0xa1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

func checkoutTrace() []Span {
	res := &Resource{Attributes: []KeyValue{String("service.name", "checkout"), String("host.name", "web-1")}, SchemaURL: "https://opentelemetry.io/schemas/1.21.0"}
	scope := &Scope{Name: "otel-go", Version: "1.2.3"}
	root := Span{TraceID: traceA, SpanID: SpanID{0, 0, 0, 0, 0, 0, 0, 0xa0}, Name: "GET /checkout", Kind: KindServer,
		StartTimeUnixNano: t0, EndTimeUnixNano: t0 + 300e6, StatusCode: StatusOK, Resource: res, Scope: scope}
	child := Span{TraceID: traceA, SpanID: SpanID{0, 0, 0, 0, 0, 0, 0, 0xa1}, ParentSpanID: root.SpanID, Name: "POST /charge",
		Kind: KindClient, StartTimeUnixNano: t0 + 10e6, EndTimeUnixNano: t0 + 110e6, Resource: res, Scope: scope,
		TraceState: "k=v", Flags: 1, DroppedAttributesCount: 2,
		Attributes: []KeyValue{
			String("http.url", "http://payments/charge"), Int("http.response.status_code", 200),
			Double("sample.ratio", 0.25), Bool("retry", true), {"blob", BytesValue([]byte{0, 1, 0xff})},
			{"list", ArrayValue(IntValue(1), StringValue("two"))}, {"map", MapValue(Int("inner", 7))},
		},
		Links: []Link{{TraceID: TraceID{0xb2}, SpanID: SpanID{7}, TraceState: "x=y", Flags: 1, Attributes: []KeyValue{String("why", "retry")}}},
	}
	failed := Span{TraceID: traceA, SpanID: SpanID{0, 0, 0, 0, 0, 0, 0, 0xa2}, ParentSpanID: root.SpanID, Name: "reserve",
		Kind: KindInternal, StartTimeUnixNano: t0 + 120e6, EndTimeUnixNano: t0 + 290e6, StatusCode: StatusError,
		StatusMessage: "deadline exceeded", Resource: res, Scope: scope,
		Events: []Event{{TimeUnixNano: t0 + 150e6, Name: "exception", Attributes: []KeyValue{String("exception.type", "TimeoutError")}}}}
	return []Span{root, child, failed}
}

func openTemp(t *testing.T, opts Options) (*DB, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db, dir
}

func TestRoundTripAcrossReopen(t *testing.T) {
	ctx := context.Background()
	db, dir := openTemp(t, Options{Durability: DurabilitySync})
	want := checkoutTrace()
	if err := db.Write(ctx, want); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := db.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	got, err := db.Trace(ctx, traceA)
	if err != nil {
		t.Fatalf("Trace: %v", err)
	}
	if !reflect.DeepEqual(got.Spans, want) {
		t.Fatalf("trace differs:\n got %+v\nwant %+v", got.Spans, want)
	}
	if !reflect.DeepEqual(got.Parents, []int{-1, 0, 0}) {
		t.Fatalf("parents = %v", got.Parents)
	}
	if got.Spans[0].Resource != got.Spans[1].Resource || got.Spans[0].Service() != "checkout" {
		t.Fatalf("resource not shared or wrong service")
	}
	st, err := db.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if st.Spans != 3 || st.Traces != 1 || st.Blocks != 1 || st.MinStartUnixNano != t0 {
		t.Fatalf("stats = %+v", st)
	}
	missing, err := db.Trace(ctx, TraceID{9})
	if err != nil || len(missing.Spans) != 0 {
		t.Fatalf("missing trace: %v %+v", err, missing)
	}
}

func TestOTLPJSONAndProtobuf(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t, Options{})
	defer db.Close()
	line := `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"inventory"}}]},` +
		`"scopeSpans":[{"spans":[{"traceId":"b2000000000000000000000000000042","spanId":"00000000000000b1",` +
		`"name":"SELECT stock","kind":3,"startTimeUnixNano":"1700000000500000000","endTimeUnixNano":"1700000000900000000"}]}]}]}`
	if err := db.WriteOTLPJSON(ctx, []byte(line)); err != nil {
		t.Fatalf("WriteOTLPJSON: %v", err)
	}
	id, _ := ParseTraceID("b2000000000000000000000000000042")
	js, err := db.TraceOTLPJSON(ctx, id)
	if err != nil || !strings.Contains(string(js), `"SELECT stock"`) {
		t.Fatalf("TraceOTLPJSON: %v %s", err, js)
	}
	if err := db.Write(ctx, checkoutTrace()); err != nil {
		t.Fatal(err)
	}
	pb, err := db.TraceOTLPProto(ctx, traceA)
	if err != nil || len(pb) < 100 {
		t.Fatalf("TraceOTLPProto: %v (%d bytes)", err, len(pb))
	}
	db2, _ := openTemp(t, Options{})
	defer db2.Close()
	if err := db2.WriteOTLPProto(ctx, pb); err != nil {
		t.Fatalf("WriteOTLPProto: %v", err)
	}
	got, err := db2.Trace(ctx, traceA)
	if err != nil || !reflect.DeepEqual(got.Spans, checkoutTrace()) {
		t.Fatalf("protobuf round trip differs: %v\n%+v", err, got)
	}
	if err := db.WriteOTLPJSON(ctx, []byte("{nope")); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("bad JSON: got %v", err)
	}
	if err := db.WriteOTLPProto(ctx, []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("bad protobuf: got %v", err)
	}
}

func TestSearchAndMetrics(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t, Options{BlockMaxSpans: 2})
	defer db.Close()
	if err := db.Write(ctx, checkoutTrace()); err != nil {
		t.Fatal(err)
	}
	found, err := db.Search(ctx, `{ resource.service.name = "checkout" && status = error }`, SearchOptions{})
	if err != nil {
		t.Fatalf("Search: %v", err)
	}
	if len(found) != 1 || found[0].TraceID != traceA || found[0].RootName != "GET /checkout" ||
		found[0].SpanCount != 3 || found[0].Duration != 300*time.Millisecond ||
		len(found[0].Matched) != 1 || found[0].Matched[0].Name != "reserve" {
		t.Fatalf("search results = %+v", found)
	}
	none, err := db.Search(ctx, `{ name = "nothing" }`, SearchOptions{Limit: 5})
	if err != nil || len(none) != 0 {
		t.Fatalf("empty search: %v %+v", err, none)
	}
	series, err := db.Metrics(ctx, `{ } | count_over_time() by (name)`, MetricsOptions{Step: time.Minute})
	if err != nil {
		t.Fatalf("Metrics: %v", err)
	}
	counts := map[string]float64{}
	for _, s := range series {
		for _, smp := range s.Samples {
			counts[s.Labels[0].Value.AsString()] += smp.Value
		}
	}
	if !reflect.DeepEqual(counts, map[string]float64{"GET /checkout": 1, "POST /charge": 1, "reserve": 1}) {
		t.Fatalf("metrics counts = %v", counts)
	}
	_, err = db.Search(ctx, `{ status = `, SearchOptions{})
	var e *Error
	if !errors.Is(err, ErrQuerySyntax) || !errors.As(err, &e) || !strings.Contains(e.Message, "column") {
		t.Fatalf("syntax error: got %v", err)
	}
	if _, err := db.Metrics(ctx, `{ } | rate()`, MetricsOptions{}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("zero step: got %v", err)
	}
}

func TestBadInputIsAnError(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t, Options{})
	spans := checkoutTrace()
	spans[1].Name = "caf\xc3"
	if err := db.Write(ctx, spans); !errors.Is(err, ErrInvalidUTF8) || !strings.Contains(err.Error(), "spans[1]") {
		t.Fatalf("invalid UTF-8: got %v", err)
	}
	spans = checkoutTrace()
	spans[0].Kind = 42
	if err := db.Write(ctx, spans); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad kind: got %v", err)
	}
	spans = checkoutTrace()
	spans[2].TraceID = TraceID{}
	if err := db.Write(ctx, spans); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("zero trace id: got %v", err)
	}
	if st, _ := db.Stats(); st.Spans != 0 {
		t.Fatalf("a rejected batch was partly written: %+v", st)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := db.Search(cancelled, `{ }`, SearchOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled search: got %v", err)
	}
	if err := db.Write(cancelled, checkoutTrace()); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled write: got %v", err)
	}
	if _, err := Open("/proc/definitely/not/here", Options{}); err == nil {
		t.Fatalf("opening an impossible path succeeded")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Write(ctx, checkoutTrace()); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: got %v", err)
	}
	if _, err := db.Trace(ctx, traceA); !errors.Is(err, ErrClosed) {
		t.Fatalf("trace after close: got %v", err)
	}
}

func TestConcurrentWritersAndReaders(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t, Options{BlockMaxSpans: 50})
	defer db.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				spans := checkoutTrace()
				for j := range spans {
					spans[j].TraceID[6], spans[j].TraceID[7] = byte(g), byte(i) // stats tell traces apart by the first 8 bytes
				}
				if err := db.Write(ctx, spans); err != nil {
					errs <- err
					return
				}
				got, err := db.Trace(ctx, spans[0].TraceID)
				if err != nil || len(got.Spans) != 3 {
					errs <- fmt.Errorf("trace after write: %v, %d spans", err, len(got.Spans))
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if st, err := db.Stats(); err != nil || st.Spans != 300 || st.Traces != 100 {
		t.Fatalf("stats after concurrent writes: %v %+v", err, st)
	}
}

// One log record of traceA's failed span, as the Collector's file exporter writes logs.
const logsJSON = `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},
"scopeLogs":[{"scope":{"name":"otel-go","version":"1.2.3"},"logRecords":[{"timeUnixNano":"1700000000150000000",
"observedTimeUnixNano":"1700000000150000001","severityNumber":17,"severityText":"ERROR",
"body":{"kvlistValue":{"values":[{"key":"msg","value":{"stringValue":"reserve timed out"}},{"key":"ms","value":{"intValue":"170"}}]}},
"attributes":[{"key":"retry","value":{"boolValue":true}}],"flags":1,"eventName":"reserve.timeout",
"traceId":"a10102030405060708090a0b0c0d0e0f","spanId":"00000000000000a2"}]}]}]}`

// One ExportLogsServiceRequest in protobuf: a record at t0+5 ns, severity 9, body "hello".
var logsProto = []byte{0x0a, 0x18, 0x12, 0x16, 0x12, 0x14,
	0x09, 5, 0, 42, 54, 254, 156, 151, 23, 0x10, 9, 0x2a, 0x07, 0x0a, 0x05, 'h', 'e', 'l', 'l', 'o'}

func TestLogsWrittenQueriedAndReopened(t *testing.T) {
	ctx := context.Background()
	db, dir := openTemp(t, Options{Durability: DurabilitySync})
	if err := db.Write(ctx, checkoutTrace()); err != nil {
		t.Fatal(err)
	}
	if err := db.WriteLogsOTLPJSON(ctx, []byte(logsJSON)); err != nil {
		t.Fatalf("WriteLogsOTLPJSON: %v", err)
	}
	if err := db.WriteLogsOTLPProto(ctx, logsProto); err != nil {
		t.Fatalf("WriteLogsOTLPProto: %v", err)
	}
	check := func(db *DB) {
		all, err := db.Logs(ctx, "", LogsOptions{})
		if err != nil || len(all) != 2 {
			t.Fatalf("Logs: %d records, %v", len(all), err)
		}
		got, err := db.Logs(ctx, `{ severity >= error && service = "checkout" } |= "timed out"`, LogsOptions{})
		if err != nil || len(got) != 1 {
			t.Fatalf("filtered Logs: %d records, %v", len(got), err)
		}
		l := got[0]
		if l.TimeUnixNano != t0+150e6 || l.ObservedTimeUnixNano != t0+150e6+1 || l.SeverityNumber != 17 ||
			l.SeverityText != "ERROR" || l.Flags != 1 || l.EventName != "reserve.timeout" ||
			l.TraceID != traceA || l.SpanID != (SpanID{0, 0, 0, 0, 0, 0, 0, 0xa2}) {
			t.Fatalf("record fields: %+v", l)
		}
		body := l.Body.AsMap()
		if len(body) != 2 || body[0].Value.AsString() != "reserve timed out" || body[1].Value.AsInt() != 170 {
			t.Fatalf("body: %v", l.Body)
		}
		if len(l.Attributes) != 1 || !l.Attributes[0].Value.AsBool() || l.Scope.Name != "otel-go" ||
			l.Resource.Attributes[0].Value.AsString() != "checkout" {
			t.Fatalf("attributes, scope, resource: %+v %+v %+v", l.Attributes, l.Scope, l.Resource)
		}
		// The time window: only the protobuf record is before t0+1ms.
		early, err := db.Logs(ctx, "", LogsOptions{End: time.Unix(0, int64(t0+1e6))})
		if err != nil || len(early) != 1 || early[0].Body.AsString() != "hello" || early[0].TraceID != (TraceID{}) {
			t.Fatalf("time window: %+v, %v", early, err)
		}
		raw, err := db.LogsOTLPJSON(ctx, `|= "hello"`, LogsOptions{Limit: 5})
		if err != nil || !strings.Contains(string(raw), `"resourceLogs"`) || !strings.Contains(string(raw), `"hello"`) {
			t.Fatalf("LogsOTLPJSON: %s, %v", raw, err)
		}
	}
	check(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check(db)
}

func TestBadLogsAreAnError(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t, Options{})
	if err := db.WriteLogsOTLPJSON(ctx, []byte(`{not json`)); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("bad JSON: got %v", err)
	}
	badSeverity := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"first"}},{"severityNumber":99}]}]}]}`
	if err := db.WriteLogsOTLPJSON(ctx, []byte(badSeverity)); !errors.Is(err, ErrInvalidInput) ||
		!strings.Contains(err.Error(), "logRecords[1]") {
		t.Fatalf("bad severity: got %v", err)
	}
	if err := db.WriteLogsOTLPJSON(ctx, []byte("\"\xff\"")); !errors.Is(err, ErrInvalidUTF8) {
		t.Fatalf("invalid UTF-8: got %v", err)
	}
	if err := db.WriteLogsOTLPProto(ctx, []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01}); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("bad protobuf: got %v", err)
	}
	if logs, err := db.Logs(ctx, "", LogsOptions{}); err != nil || len(logs) != 0 {
		t.Fatalf("a rejected request was partly written: %v, %v", logs, err)
	}
	if _, err := db.Logs(ctx, `{ severity = `, LogsOptions{}); !errors.Is(err, ErrQuerySyntax) {
		t.Fatalf("syntax error: got %v", err)
	}
	if _, err := db.Logs(ctx, "", LogsOptions{Start: time.Unix(10, 0), End: time.Unix(5, 0)}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("empty window: got %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.WriteLogsOTLPJSON(ctx, []byte(logsJSON)); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: got %v", err)
	}
	if _, err := db.Logs(ctx, "", LogsOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("logs after close: got %v", err)
	}
}
