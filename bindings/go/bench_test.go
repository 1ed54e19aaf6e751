package spandb

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"
)

// The data of bindings/c/examples/abi_overhead.rs: 8 spans per trace, 4 attributes, one of 4
// resources. Compare ns/span and ns/trace with that program's Rust figures (same machine).
func benchSpans(n int) []Span {
	services := []string{"checkout", "cart", "payments", "inventory"}
	names := []string{"GET /cart", "POST /charge", "SELECT stock", "publish order"}
	resources := make([]*Resource, 4)
	for i, s := range services {
		resources[i] = &Resource{Attributes: []KeyValue{String("service.name", s)}}
	}
	scope := &Scope{Name: "bench"}
	out := make([]Span, n)
	for i := range out {
		u := uint64(i)
		s := &out[i]
		binary.BigEndian.PutUint64(s.TraceID[:8], u/8+1)
		binary.BigEndian.PutUint64(s.SpanID[:], u+1)
		if u%8 != 0 {
			binary.BigEndian.PutUint64(s.ParentSpanID[:], u-u%8+1)
		}
		s.Name = names[u%4]
		s.Kind = KindServer
		s.StartTimeUnixNano = 1700000000000000000 + u*1000000
		s.EndTimeUnixNano = s.StartTimeUnixNano + 1000000 + (u%97)*10000
		s.StatusCode = StatusOK
		if u%50 == 0 {
			s.StatusCode = StatusError
		}
		s.Resource, s.Scope = resources[u/8%4], scope
		s.Attributes = []KeyValue{String("http.method", "GET"), String("http.route", fmt.Sprintf("/api/v1/items/%d", u%100)),
			Int("http.response.status_code", 200), Int("net.peer.port", int64(8080+u%10))}
	}
	return out
}

func BenchmarkWriteBatch1000(b *testing.B) {
	ctx := context.Background()
	db, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	spans := benchSpans(200 * 1000)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		j := i % 200
		if err := db.Write(ctx, spans[j*1000:(j+1)*1000]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*1000), "ns/span")
}

func BenchmarkTrace(b *testing.B) {
	ctx := context.Background()
	db, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	spans := benchSpans(200 * 1000)
	for j := 0; j < 200; j++ {
		if err := db.Write(ctx, spans[j*1000:(j+1)*1000]); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t, err := db.Trace(ctx, spans[(i*8*12)%len(spans)].TraceID)
		if err != nil || len(t.Spans) != 8 {
			b.Fatalf("%v %d", err, len(t.Spans))
		}
	}
}
