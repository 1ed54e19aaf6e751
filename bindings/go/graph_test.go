package spandb

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestServiceGraph(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t, Options{BlockMaxSpans: 2})
	defer db.Close()
	spans := checkoutTrace()
	// The client span calls a service that answers in another block: payments' server span.
	server := spans[1]
	server.SpanID = SpanID{0, 0, 0, 0, 0, 0, 0, 0xa3}
	server.ParentSpanID = spans[1].SpanID
	server.Kind = KindServer
	server.StatusCode = StatusError
	server.Resource = &Resource{Attributes: []KeyValue{String("service.name", "payments")}}
	server.Attributes, server.Links = nil, nil
	if err := db.Write(ctx, append(spans, server)); err != nil {
		t.Fatal(err)
	}
	g, err := db.ServiceGraph(ctx, GraphOptions{})
	if err != nil {
		t.Fatalf("ServiceGraph: %v", err)
	}
	if len(g.Edges) != 1 {
		t.Fatalf("edges = %+v", g.Edges)
	}
	e := g.Edges[0]
	if e.Client != "checkout" || e.Server != "payments" || e.Kind != "direct" || e.Calls != 1 || e.Errors != 1 ||
		e.ServerLatency == nil || e.ClientLatency.P50 < 99e6 || e.ClientLatency.P50 > 101e6 || len(e.PerMinute) != 1 {
		t.Fatalf("edge = %+v", e)
	}
	if len(g.Nodes) != 2 || g.Nodes[1].Name != "payments" || g.Nodes[1].CallsIn != 1 {
		t.Fatalf("nodes = %+v", g.Nodes)
	}
	g, err = db.ServiceGraph(ctx, GraphOptions{Filter: `{ name = "nothing" }`})
	if err != nil || len(g.Edges) != 0 {
		t.Fatalf("filtered graph: %v %+v", err, g)
	}
	if _, err := db.ServiceGraph(ctx, GraphOptions{Filter: `{ status = `}); !errors.Is(err, ErrQuerySyntax) {
		t.Fatalf("bad filter: got %v", err)
	}
}

func TestAnomaliesAndExplain(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t, Options{})
	defer db.Close()
	if err := db.Write(ctx, checkoutTrace()); err != nil {
		t.Fatal(err)
	}
	a, err := db.Anomalies(ctx, AnomalyOptions{})
	if err != nil || len(a.Incidents) != 0 || a.EndNs <= a.StartNs {
		t.Fatalf("Anomalies: %v %+v", err, a)
	}
	e, err := db.Explain(ctx, traceA)
	if err != nil {
		t.Fatalf("Explain: %v", err)
	}
	if e.RootService == nil || *e.RootService != "checkout" || e.Failure == nil || e.Failure.Operation != "reserve" ||
		e.Failure.ExceptionType != "TimeoutError" || len(e.Summary) < 3 || len(e.CriticalPath) == 0 {
		t.Fatalf("explanation = %+v", e)
	}
	if _, err := db.Explain(ctx, TraceID{0x77}); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("unknown trace: got %v", err)
	}
}

func TestCriticalPathHealthBreakdownAndErrorGroups(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t, Options{})
	defer db.Close()
	if err := db.Write(ctx, checkoutTrace()); err != nil {
		t.Fatal(err)
	}
	p, err := db.CriticalPath(ctx, traceA)
	if err != nil {
		t.Fatalf("CriticalPath: %v", err)
	}
	var onPath uint64
	for _, s := range p.Sections {
		if s.EndNs <= s.StartNs || s.SpanID == "" {
			t.Fatalf("section = %+v", s)
		}
		onPath += s.EndNs - s.StartNs
	}
	if len(p.Sections) == 0 || onPath != p.EndNs-p.StartNs || len(p.Spans) != len(checkoutTrace()) {
		t.Fatalf("critical path = %+v", p)
	}
	h, err := db.TraceHealth(ctx, traceA)
	if err != nil || h.MissingRoot || len(h.Orphans) != 0 || h.Spans != len(checkoutTrace()) {
		t.Fatalf("TraceHealth: %v %+v", err, h)
	}
	b, err := db.TimeBreakdown(ctx, BreakdownOptions{})
	if err != nil || b.Traces != 1 || len(b.CriticalPath) == 0 || b.CriticalPathNs != p.EndNs-p.StartNs {
		t.Fatalf("TimeBreakdown: %v %+v", err, b)
	}
	if _, err := db.TimeBreakdown(ctx, BreakdownOptions{Query: "{ status = "}); !errors.Is(err, ErrQuerySyntax) {
		t.Fatalf("bad query: got %v", err)
	}
	// One log record on the failed span: the group links to it.
	if err := db.WriteLogsOTLPJSON(ctx, []byte(logsJSON)); err != nil {
		t.Fatal(err)
	}
	g, err := db.ErrorGroups(ctx, ErrorGroupOptions{})
	if err != nil || len(g.Groups) != 1 {
		t.Fatalf("ErrorGroups: %v %+v", err, g)
	}
	if e := g.Groups[0]; e.ExceptionType == nil || *e.ExceptionType != "TimeoutError" || e.Count != 1 ||
		len(e.Origins) != 1 || e.Origins[0].Operation != "reserve" {
		t.Fatalf("group = %+v", e)
	}
	if l := g.Groups[0].Logs; l.Count != 1 || l.Errors != 1 || len(l.Examples) != 1 ||
		l.Examples[0].SpanID != "00000000000000a2" || l.Examples[0].Severity != "ERROR" ||
		!strings.Contains(l.Examples[0].Body, "reserve timed out") {
		t.Fatalf("group logs = %+v", l)
	}
	if _, err := db.CriticalPath(ctx, TraceID{0x77}); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("unknown trace: got %v", err)
	}
}
