// Command example writes a small trace into a temporary spandb database, then looks it up,
// searches for it and asks for a metric.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	spandb "github.com/spandb/spandb/bindings/go"
)

func main() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "spandb-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	db, err := spandb.Open(dir, spandb.Options{Durability: spandb.DurabilitySync})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	traceID, _ := spandb.ParseTraceID("4bf92f3577b34da6a3ce929d0e0e4736")
	service := &spandb.Resource{Attributes: []spandb.KeyValue{spandb.String("service.name", "checkout")}}
	start := uint64(time.Now().UnixNano())
	spans := []spandb.Span{
		{TraceID: traceID, SpanID: spandb.SpanID{1}, Name: "GET /cart", Kind: spandb.KindServer,
			StartTimeUnixNano: start, EndTimeUnixNano: start + 250e6, Resource: service,
			Attributes: []spandb.KeyValue{spandb.Int("http.response.status_code", 500)},
			StatusCode: spandb.StatusError, StatusMessage: "upstream timeout"},
		{TraceID: traceID, SpanID: spandb.SpanID{2}, ParentSpanID: spandb.SpanID{1}, Name: "SELECT cart",
			Kind: spandb.KindClient, StartTimeUnixNano: start + 5e6, EndTimeUnixNano: start + 245e6, Resource: service},
	}
	if err := db.Write(ctx, spans); err != nil {
		log.Fatal(err)
	}

	trace, err := db.Trace(ctx, traceID)
	if err != nil {
		log.Fatal(err)
	}
	for i, s := range trace.Spans {
		fmt.Printf("span %s %-12s parent=%d %v\n", s.SpanID, s.Name, trace.Parents[i], s.Duration())
	}

	found, err := db.Search(ctx, `{ status = error && span.http.response.status_code >= 500 }`, spandb.SearchOptions{Limit: 10})
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range found {
		fmt.Printf("found %s root=%s/%s %v, %d spans\n", t.TraceID, t.RootService, t.RootName, t.Duration, t.SpanCount)
	}

	series, err := db.Metrics(ctx, `{ } | count_over_time() by (resource.service.name)`, spandb.MetricsOptions{Step: time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range series {
		fmt.Printf("series %v: %v\n", s.Labels, s.Samples)
	}
}
