package spandb

// #include <stdlib.h>
// #include <spandb.h>
import "C"

import "unsafe"

// cArena builds the C structs of one Write in C memory (so no Go pointer is ever passed to C)
// with a few large mallocs, all released by free.
type cArena struct {
	chunks []unsafe.Pointer
	cur    unsafe.Pointer
	off    uintptr
	cap    uintptr
}

const arenaChunk = 256 << 10

func (a *cArena) alloc(size, align uintptr) unsafe.Pointer {
	off := (a.off + align - 1) &^ (align - 1)
	if a.cur == nil || off+size > a.cap {
		n := uintptr(arenaChunk)
		if size > n {
			n = size
		}
		a.cur = C.malloc(C.size_t(n))
		if a.cur == nil {
			panic("spandb: out of memory")
		}
		a.chunks = append(a.chunks, a.cur)
		a.cap, off = n, 0
	}
	a.off = off + size
	return unsafe.Add(a.cur, off)
}

func (a *cArena) free() {
	for _, c := range a.chunks {
		C.free(c)
	}
	a.chunks, a.cur = nil, nil
}

func (a *cArena) str(s string) C.spandb_str {
	if len(s) == 0 {
		return C.spandb_str{}
	}
	p := a.alloc(uintptr(len(s)), 1)
	copy(unsafe.Slice((*byte)(p), len(s)), s)
	return C.spandb_str{ptr: (*C.char)(p), len: C.size_t(len(s))}
}

func (a *cArena) bytes(b []byte) C.spandb_str {
	if len(b) == 0 {
		return C.spandb_str{}
	}
	p := a.alloc(uintptr(len(b)), 1)
	copy(unsafe.Slice((*byte)(p), len(b)), b)
	return C.spandb_str{ptr: (*C.char)(p), len: C.size_t(len(b))}
}

// array allocates n zeroed-by-assignment elements of T in C memory.
func array[T any](a *cArena, n int) []T {
	if n == 0 {
		return nil
	}
	var zero T
	p := a.alloc(unsafe.Sizeof(zero)*uintptr(n), unsafe.Alignof(zero))
	return unsafe.Slice((*T)(p), n)
}

func first[T any](s []T) *T {
	if len(s) == 0 {
		return nil
	}
	return &s[0]
}

func (a *cArena) value(v Value) C.spandb_value {
	out := C.spandb_value{kind: C.uint32_t(v.kind)}
	switch v.kind {
	case ValueString:
		out.string_value = a.str(v.str)
	case ValueInt:
		out.int_value = C.int64_t(v.num)
	case ValueDouble:
		out.double_value = C.double(v.dbl)
	case ValueBool:
		out.bool_value = C.uint8_t(v.num)
	case ValueBytes:
		out.string_value = a.bytes(v.bytes)
	case ValueArray:
		items := array[C.spandb_value](a, len(v.array))
		for i, item := range v.array {
			items[i] = a.value(item)
		}
		out.array, out.array_len = first(items), C.size_t(len(items))
	case ValueMap:
		out.kvlist, out.kvlist_len = a.attrs(v.kvs)
	}
	return out
}

func (a *cArena) attrs(kvs []KeyValue) (*C.spandb_key_value, C.size_t) {
	list := array[C.spandb_key_value](a, len(kvs))
	for i, kv := range kvs {
		list[i] = C.spandb_key_value{key: a.str(kv.Key), value: a.value(kv.Value)}
	}
	return first(list), C.size_t(len(list))
}

// spans converts spans to C; spans sharing a *Resource or *Scope share its C struct.
func (a *cArena) spans(spans []Span) []C.spandb_span {
	out := array[C.spandb_span](a, len(spans))
	resources := map[*Resource]*C.spandb_resource{}
	scopes := map[*Scope]*C.spandb_scope{}
	for i := range spans {
		s := &spans[i]
		c := C.spandb_span{
			trace_state:              a.str(s.TraceState),
			flags:                    C.uint32_t(s.Flags),
			name:                     a.str(s.Name),
			kind:                     C.uint32_t(s.Kind),
			start_ns:                 C.uint64_t(s.StartTimeUnixNano),
			end_ns:                   C.uint64_t(s.EndTimeUnixNano),
			status_code:              C.uint32_t(s.StatusCode),
			status_message:           a.str(s.StatusMessage),
			dropped_attributes_count: C.uint32_t(s.DroppedAttributesCount),
			dropped_events_count:     C.uint32_t(s.DroppedEventsCount),
			dropped_links_count:      C.uint32_t(s.DroppedLinksCount),
		}
		*(*TraceID)(unsafe.Pointer(&c.trace_id)) = s.TraceID
		*(*SpanID)(unsafe.Pointer(&c.span_id)) = s.SpanID
		*(*SpanID)(unsafe.Pointer(&c.parent_span_id)) = s.ParentSpanID
		if r := s.Resource; r != nil {
			cr, ok := resources[r]
			if !ok {
				cr = &array[C.spandb_resource](a, 1)[0]
				*cr = C.spandb_resource{schema_url: a.str(r.SchemaURL), dropped_attributes_count: C.uint32_t(r.DroppedAttributesCount)}
				cr.attributes, cr.attributes_len = a.attrs(r.Attributes)
				resources[r] = cr
			}
			c.resource = cr
		}
		if sc := s.Scope; sc != nil {
			cs, ok := scopes[sc]
			if !ok {
				cs = &array[C.spandb_scope](a, 1)[0]
				*cs = C.spandb_scope{name: a.str(sc.Name), version: a.str(sc.Version), schema_url: a.str(sc.SchemaURL), dropped_attributes_count: C.uint32_t(sc.DroppedAttributesCount)}
				cs.attributes, cs.attributes_len = a.attrs(sc.Attributes)
				scopes[sc] = cs
			}
			c.scope = cs
		}
		c.attributes, c.attributes_len = a.attrs(s.Attributes)
		if len(s.Events) > 0 {
			evs := array[C.spandb_event](a, len(s.Events))
			for j, e := range s.Events {
				evs[j] = C.spandb_event{time_ns: C.uint64_t(e.TimeUnixNano), name: a.str(e.Name), dropped_attributes_count: C.uint32_t(e.DroppedAttributesCount)}
				evs[j].attributes, evs[j].attributes_len = a.attrs(e.Attributes)
			}
			c.events, c.events_len = first(evs), C.size_t(len(evs))
		}
		if len(s.Links) > 0 {
			ls := array[C.spandb_link](a, len(s.Links))
			for j, l := range s.Links {
				ls[j] = C.spandb_link{trace_state: a.str(l.TraceState), flags: C.uint32_t(l.Flags), dropped_attributes_count: C.uint32_t(l.DroppedAttributesCount)}
				*(*TraceID)(unsafe.Pointer(&ls[j].trace_id)) = l.TraceID
				*(*SpanID)(unsafe.Pointer(&ls[j].span_id)) = l.SpanID
				ls[j].attributes, ls[j].attributes_len = a.attrs(l.Attributes)
			}
			c.links, c.links_len = first(ls), C.size_t(len(ls))
		}
		out[i] = c
	}
	return out
}
