package spandb

import (
	"encoding/hex"
	"fmt"
	"time"
)

// TraceID is a 16-byte trace id.
type TraceID [16]byte

// SpanID is an 8-byte span id; the zero SpanID means "none" (a root span's parent).
type SpanID [8]byte

func (t TraceID) String() string { return hex.EncodeToString(t[:]) }
func (s SpanID) String() string  { return hex.EncodeToString(s[:]) }

// ParseTraceID parses 32 hex characters.
func ParseTraceID(s string) (TraceID, error) {
	var t TraceID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(t) {
		return t, fmt.Errorf("spandb: trace id must be 32 hex characters, got %q", s)
	}
	copy(t[:], b)
	return t, nil
}

// SpanKind is OpenTelemetry's span kind, with OTLP's numbers.
type SpanKind uint32

const (
	KindUnspecified SpanKind = 0
	KindInternal    SpanKind = 1
	KindServer      SpanKind = 2
	KindClient      SpanKind = 3
	KindProducer    SpanKind = 4
	KindConsumer    SpanKind = 5
)

// StatusCode is OpenTelemetry's span status, with OTLP's numbers.
type StatusCode uint32

const (
	StatusUnset StatusCode = 0
	StatusOK    StatusCode = 1
	StatusError StatusCode = 2
)

// ValueKind says which type a Value holds.
type ValueKind uint32

const (
	ValueEmpty ValueKind = iota
	ValueString
	ValueInt
	ValueDouble
	ValueBool
	ValueBytes
	ValueArray
	ValueMap
)

// Value is a typed attribute value (OTLP's AnyValue). Build one with StringValue, IntValue,
// DoubleValue, BoolValue, BytesValue, ArrayValue or MapValue; the zero Value is empty.
type Value struct {
	kind  ValueKind
	str   string
	num   int64
	dbl   float64
	bytes []byte
	array []Value
	kvs   []KeyValue
}

func StringValue(s string) Value      { return Value{kind: ValueString, str: s} }
func IntValue(i int64) Value          { return Value{kind: ValueInt, num: i} }
func DoubleValue(d float64) Value     { return Value{kind: ValueDouble, dbl: d} }
func BytesValue(b []byte) Value       { return Value{kind: ValueBytes, bytes: b} }
func ArrayValue(items ...Value) Value { return Value{kind: ValueArray, array: items} }
func MapValue(kvs ...KeyValue) Value  { return Value{kind: ValueMap, kvs: kvs} }
func BoolValue(b bool) Value {
	v := Value{kind: ValueBool}
	if b {
		v.num = 1
	}
	return v
}

func (v Value) Kind() ValueKind   { return v.kind }
func (v Value) AsString() string  { return v.str }
func (v Value) AsInt() int64      { return v.num }
func (v Value) AsDouble() float64 { return v.dbl }
func (v Value) AsBool() bool      { return v.kind == ValueBool && v.num != 0 }
func (v Value) AsBytes() []byte   { return v.bytes }
func (v Value) AsArray() []Value  { return v.array }
func (v Value) AsMap() []KeyValue { return v.kvs }

// String renders the value for people.
func (v Value) String() string {
	switch v.kind {
	case ValueString:
		return v.str
	case ValueInt:
		return fmt.Sprint(v.num)
	case ValueDouble:
		return fmt.Sprint(v.dbl)
	case ValueBool:
		return fmt.Sprint(v.AsBool())
	case ValueBytes:
		return fmt.Sprintf("<%d bytes>", len(v.bytes))
	case ValueArray:
		return fmt.Sprint(v.array)
	case ValueMap:
		return fmt.Sprint(v.kvs)
	}
	return ""
}

// KeyValue is an attribute.
type KeyValue struct {
	Key   string
	Value Value
}

// String, Int, Double and Bool build attributes: spandb.String("http.method", "GET").
func String(k, v string) KeyValue         { return KeyValue{k, StringValue(v)} }
func Int(k string, v int64) KeyValue      { return KeyValue{k, IntValue(v)} }
func Double(k string, v float64) KeyValue { return KeyValue{k, DoubleValue(v)} }
func Bool(k string, v bool) KeyValue      { return KeyValue{k, BoolValue(v)} }

// Resource is the process that produced spans; its "service.name" attribute is the service.
// Spans of one Write that share a *Resource share one copy of it in the database.
type Resource struct {
	Attributes             []KeyValue
	DroppedAttributesCount uint32
	SchemaURL              string
}

// Scope is the instrumentation library that recorded spans. Shared like Resource.
type Scope struct {
	Name                   string
	Version                string
	Attributes             []KeyValue
	DroppedAttributesCount uint32
	SchemaURL              string
}

// Event is a timestamped event of a span (exceptions are events named "exception").
type Event struct {
	TimeUnixNano           uint64
	Name                   string
	Attributes             []KeyValue
	DroppedAttributesCount uint32
}

// Link points from a span to another span.
type Link struct {
	TraceID                TraceID
	SpanID                 SpanID
	TraceState             string
	Flags                  uint32
	Attributes             []KeyValue
	DroppedAttributesCount uint32
}

// Span is one span, as OpenTelemetry defines it.
type Span struct {
	TraceID                TraceID
	SpanID                 SpanID
	ParentSpanID           SpanID // zero for a root span
	TraceState             string
	Flags                  uint32
	Name                   string
	Kind                   SpanKind
	StartTimeUnixNano      uint64
	EndTimeUnixNano        uint64
	StatusCode             StatusCode
	StatusMessage          string
	Resource               *Resource // nil for an empty resource
	Scope                  *Scope    // nil for an empty scope
	Attributes             []KeyValue
	DroppedAttributesCount uint32
	Events                 []Event
	DroppedEventsCount     uint32
	Links                  []Link
	DroppedLinksCount      uint32
}

// Duration is end minus start (0 when the end is before the start).
func (s *Span) Duration() time.Duration {
	if s.EndTimeUnixNano < s.StartTimeUnixNano {
		return 0
	}
	return time.Duration(s.EndTimeUnixNano - s.StartTimeUnixNano)
}

// Service is the resource's "service.name", or "".
func (s *Span) Service() string {
	if s.Resource == nil {
		return ""
	}
	return Attr(s.Resource.Attributes, "service.name").AsString()
}

// Attr finds an attribute by key (an empty Value when there is none).
func Attr(kvs []KeyValue, key string) Value {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value
		}
	}
	return Value{}
}

// Trace is every stored span of one trace, ordered by start time. Parents[i] is the index of
// Spans[i]'s parent in Spans, or -1 for a root span or one whose parent is not stored.
type Trace struct {
	Spans   []Span
	Parents []int
}
