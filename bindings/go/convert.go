package spandb

// #include <spandb.h>
import "C"

import "unsafe"

// Reading C views into Go values (copies; the view is freed right after).

func goStr(s C.spandb_str) string {
	if s.len == 0 {
		return ""
	}
	return C.GoStringN(s.ptr, C.int(s.len))
}

func cSlice[T any](p *T, n C.size_t) []T {
	if n == 0 || p == nil {
		return nil
	}
	return unsafe.Slice(p, int(n))
}

func goValue(v *C.spandb_value) Value {
	switch ValueKind(v.kind) {
	case ValueString:
		return StringValue(goStr(v.string_value))
	case ValueInt:
		return IntValue(int64(v.int_value))
	case ValueDouble:
		return DoubleValue(float64(v.double_value))
	case ValueBool:
		return BoolValue(v.bool_value != 0)
	case ValueBytes:
		return BytesValue(C.GoBytes(unsafe.Pointer(v.string_value.ptr), C.int(v.string_value.len)))
	case ValueArray:
		items := cSlice(v.array, v.array_len)
		out := make([]Value, len(items))
		for i := range items {
			out[i] = goValue(&items[i])
		}
		return ArrayValue(out...)
	case ValueMap:
		return MapValue(goAttrs(v.kvlist, v.kvlist_len)...)
	}
	return Value{}
}

func goAttrs(p *C.spandb_key_value, n C.size_t) []KeyValue {
	kvs := cSlice(p, n)
	if len(kvs) == 0 {
		return nil
	}
	out := make([]KeyValue, len(kvs))
	for i := range kvs {
		out[i] = KeyValue{Key: goStr(kvs[i].key), Value: goValue(&kvs[i].value)}
	}
	return out
}

func goTrace(t *C.spandb_trace) *Trace {
	spans := cSlice(t.spans, t.span_count)
	parents := cSlice(t.parent_indices, t.span_count)
	out := &Trace{Spans: make([]Span, len(spans)), Parents: make([]int, len(spans))}
	resources := map[*C.spandb_resource]*Resource{}
	scopes := map[*C.spandb_scope]*Scope{}
	for i := range spans {
		c := &spans[i]
		s := &out.Spans[i]
		s.TraceID = *(*TraceID)(unsafe.Pointer(&c.trace_id))
		s.SpanID = *(*SpanID)(unsafe.Pointer(&c.span_id))
		s.ParentSpanID = *(*SpanID)(unsafe.Pointer(&c.parent_span_id))
		s.TraceState = goStr(c.trace_state)
		s.Flags = uint32(c.flags)
		s.Name = goStr(c.name)
		s.Kind = SpanKind(c.kind)
		s.StartTimeUnixNano = uint64(c.start_ns)
		s.EndTimeUnixNano = uint64(c.end_ns)
		s.StatusCode = StatusCode(c.status_code)
		s.StatusMessage = goStr(c.status_message)
		if c.resource != nil {
			r, ok := resources[c.resource]
			if !ok {
				r = &Resource{
					Attributes:             goAttrs(c.resource.attributes, c.resource.attributes_len),
					DroppedAttributesCount: uint32(c.resource.dropped_attributes_count),
					SchemaURL:              goStr(c.resource.schema_url),
				}
				resources[c.resource] = r
			}
			s.Resource = r
		}
		if c.scope != nil {
			sc, ok := scopes[c.scope]
			if !ok {
				sc = &Scope{
					Name:                   goStr(c.scope.name),
					Version:                goStr(c.scope.version),
					Attributes:             goAttrs(c.scope.attributes, c.scope.attributes_len),
					DroppedAttributesCount: uint32(c.scope.dropped_attributes_count),
					SchemaURL:              goStr(c.scope.schema_url),
				}
				scopes[c.scope] = sc
			}
			s.Scope = sc
		}
		s.Attributes = goAttrs(c.attributes, c.attributes_len)
		s.DroppedAttributesCount = uint32(c.dropped_attributes_count)
		for _, e := range cSlice(c.events, c.events_len) {
			s.Events = append(s.Events, Event{
				TimeUnixNano:           uint64(e.time_ns),
				Name:                   goStr(e.name),
				Attributes:             goAttrs(e.attributes, e.attributes_len),
				DroppedAttributesCount: uint32(e.dropped_attributes_count),
			})
		}
		s.DroppedEventsCount = uint32(c.dropped_events_count)
		for _, l := range cSlice(c.links, c.links_len) {
			s.Links = append(s.Links, Link{
				TraceID:                *(*TraceID)(unsafe.Pointer(&l.trace_id)),
				SpanID:                 *(*SpanID)(unsafe.Pointer(&l.span_id)),
				TraceState:             goStr(l.trace_state),
				Flags:                  uint32(l.flags),
				Attributes:             goAttrs(l.attributes, l.attributes_len),
				DroppedAttributesCount: uint32(l.dropped_attributes_count),
			})
		}
		s.DroppedLinksCount = uint32(c.dropped_links_count)
		out.Parents[i] = -1
		if p := parents[i]; p != ^C.size_t(0) {
			out.Parents[i] = int(p)
		}
	}
	return out
}
