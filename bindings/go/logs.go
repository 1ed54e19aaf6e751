package spandb

// #include <stdlib.h>
// #include <spandb.h>
import "C"

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unsafe"
)

// LogRecord is one OpenTelemetry log record. TraceID and SpanID are zero for a record
// without trace context.
type LogRecord struct {
	TimeUnixNano           uint64 // 0 when the source gave none
	ObservedTimeUnixNano   uint64
	SeverityNumber         int // 0 (unspecified) to 24
	SeverityText           string
	Body                   Value
	Attributes             []KeyValue
	DroppedAttributesCount uint32
	Flags                  uint32
	TraceID                TraceID
	SpanID                 SpanID
	EventName              string
	Resource               *Resource
	Scope                  *Scope
}

// LogsOptions narrow a Logs query. The zero value reads every record, 100 at most.
type LogsOptions struct {
	Start, End time.Time // record time window [Start, End); zero means unbounded
	Limit      int       // 0 means 100
}

// WriteLogsOTLPProto stores the log records of an OTLP ExportLogsServiceRequest in protobuf;
// when it returns nil they are durable and visible. All or nothing: one invalid record
// (ids of the wrong length, a severity number outside 0-24) matches ErrInvalidInput and
// nothing is written.
func (db *DB) WriteLogsOTLPProto(ctx context.Context, data []byte) error {
	return db.writeLogBytes(ctx, data, true)
}

// WriteLogsOTLPJSON stores the log records of an OTLP JSON ExportLogsServiceRequest (one
// line of the OpenTelemetry Collector's file exporter for logs). All or nothing.
func (db *DB) WriteLogsOTLPJSON(ctx context.Context, data []byte) error {
	return db.writeLogBytes(ctx, data, false)
}

func (db *DB) writeLogBytes(ctx context.Context, data []byte, proto bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h, err := db.handle()
	if err != nil {
		return err
	}
	// A []byte holds no Go pointers, so passing its first element is within the cgo rules.
	p := (*C.uint8_t)(unsafe.Pointer(first(data)))
	return call(func() C.spandb_status {
		if proto {
			return C.spandb_status(C.spandb_write_logs_otlp_proto(h, p, C.size_t(len(data))))
		}
		return C.spandb_status(C.spandb_write_logs_otlp_json(h, p, C.size_t(len(data))))
	})
}

// LogsOTLPJSON runs a log query ({ service = "api" && severity >= warn } |= "timeout"; empty
// matches every record; docs/QUERY.md, "Logs") and returns the newest matching records as
// one OTLP JSON ExportLogsServiceRequest. A syntax error matches ErrQuerySyntax.
func (db *DB) LogsOTLPJSON(ctx context.Context, query string, opts LogsOptions) ([]byte, error) {
	limit := opts.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []byte
	err := db.run(ctx, func(h *C.spandb_db) error {
		q := C.CString(query)
		defer C.free(unsafe.Pointer(q))
		var b *C.spandb_bytes
		if err := call(func() C.spandb_status {
			return C.spandb_status(C.spandb_logs_json(h, q, unixNano(opts.Start), unixNano(opts.End), C.size_t(limit), &b))
		}); err != nil {
			return err
		}
		out = C.GoBytes(unsafe.Pointer(b.data), C.int(b.len))
		mustFree(C.uint(C.spandb_bytes_free(b)))
		return nil
	})
	return out, err
}

// Logs is LogsOTLPJSON decoded into LogRecords (records of one resource share its
// *Resource, of one scope its *Scope).
func (db *DB) Logs(ctx context.Context, query string, opts LogsOptions) ([]LogRecord, error) {
	raw, err := db.LogsOTLPJSON(ctx, query, opts)
	if err != nil {
		return nil, err
	}
	logs, err := decodeOTLPLogs(raw)
	if err != nil {
		return nil, fmt.Errorf("spandb: decoding the result: %w", err)
	}
	return logs, nil
}

// The OTLP JSON mapping of logs, as far as Logs reads it.
type jsonLogsRequest struct {
	ResourceLogs []struct {
		Resource struct {
			Attributes             []jsonKeyValue `json:"attributes"`
			DroppedAttributesCount uint32         `json:"droppedAttributesCount"`
		} `json:"resource"`
		SchemaURL string `json:"schemaUrl"`
		ScopeLogs []struct {
			Scope struct {
				Name                   string         `json:"name"`
				Version                string         `json:"version"`
				Attributes             []jsonKeyValue `json:"attributes"`
				DroppedAttributesCount uint32         `json:"droppedAttributesCount"`
			} `json:"scope"`
			SchemaURL  string `json:"schemaUrl"`
			LogRecords []struct {
				TimeUnixNano           jsonUint64     `json:"timeUnixNano"`
				ObservedTimeUnixNano   jsonUint64     `json:"observedTimeUnixNano"`
				SeverityNumber         int            `json:"severityNumber"`
				SeverityText           string         `json:"severityText"`
				Body                   *jsonValue     `json:"body"`
				Attributes             []jsonKeyValue `json:"attributes"`
				DroppedAttributesCount uint32         `json:"droppedAttributesCount"`
				Flags                  uint32         `json:"flags"`
				TraceID                string         `json:"traceId"`
				SpanID                 string         `json:"spanId"`
				EventName              string         `json:"eventName"`
			} `json:"logRecords"`
		} `json:"scopeLogs"`
	} `json:"resourceLogs"`
}

type jsonKeyValue struct {
	Key   string    `json:"key"`
	Value jsonValue `json:"value"`
}

type jsonValue struct {
	StringValue *string     `json:"stringValue"`
	BoolValue   *bool       `json:"boolValue"`
	IntValue    *jsonUint64 `json:"intValue"`
	DoubleValue *float64    `json:"doubleValue"`
	BytesValue  *string     `json:"bytesValue"`
	ArrayValue  *struct {
		Values []jsonValue `json:"values"`
	} `json:"arrayValue"`
	KvlistValue *struct {
		Values []jsonKeyValue `json:"values"`
	} `json:"kvlistValue"`
}

// jsonUint64 reads OTLP JSON's 64-bit integers, written as strings (or numbers).
type jsonUint64 uint64

func (n *jsonUint64) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' {
		s = s[1 : len(s)-1]
	}
	if v, err := strconv.ParseUint(s, 10, 64); err == nil {
		*n = jsonUint64(v)
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64) // negative intValue
	*n = jsonUint64(v)
	return err
}

func (v *jsonValue) value() (Value, error) {
	switch {
	case v == nil:
		return Value{}, nil
	case v.StringValue != nil:
		return StringValue(*v.StringValue), nil
	case v.BoolValue != nil:
		return BoolValue(*v.BoolValue), nil
	case v.IntValue != nil:
		return IntValue(int64(*v.IntValue)), nil
	case v.DoubleValue != nil:
		return DoubleValue(*v.DoubleValue), nil
	case v.BytesValue != nil:
		b, err := base64.StdEncoding.DecodeString(*v.BytesValue)
		return BytesValue(b), err
	case v.ArrayValue != nil:
		items := make([]Value, 0, len(v.ArrayValue.Values))
		for i := range v.ArrayValue.Values {
			item, err := v.ArrayValue.Values[i].value()
			if err != nil {
				return Value{}, err
			}
			items = append(items, item)
		}
		return ArrayValue(items...), nil
	case v.KvlistValue != nil:
		kvs, err := keyValues(v.KvlistValue.Values)
		return MapValue(kvs...), err
	}
	return Value{}, nil
}

func keyValues(in []jsonKeyValue) ([]KeyValue, error) {
	var out []KeyValue
	for i := range in {
		v, err := in[i].Value.value()
		if err != nil {
			return nil, err
		}
		out = append(out, KeyValue{in[i].Key, v})
	}
	return out, nil
}

func hexInto(dst []byte, s string) error {
	if s == "" {
		return nil
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(dst) {
		return fmt.Errorf("bad id %q", s)
	}
	copy(dst, b)
	return nil
}

func decodeOTLPLogs(raw []byte) ([]LogRecord, error) {
	var req jsonLogsRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, err
	}
	var out []LogRecord
	for _, rl := range req.ResourceLogs {
		attrs, err := keyValues(rl.Resource.Attributes)
		if err != nil {
			return nil, err
		}
		res := &Resource{Attributes: attrs, DroppedAttributesCount: rl.Resource.DroppedAttributesCount, SchemaURL: rl.SchemaURL}
		for _, sl := range rl.ScopeLogs {
			attrs, err := keyValues(sl.Scope.Attributes)
			if err != nil {
				return nil, err
			}
			scope := &Scope{Name: sl.Scope.Name, Version: sl.Scope.Version, Attributes: attrs,
				DroppedAttributesCount: sl.Scope.DroppedAttributesCount, SchemaURL: sl.SchemaURL}
			for i := range sl.LogRecords {
				r := &sl.LogRecords[i]
				body, err := r.Body.value()
				if err != nil {
					return nil, err
				}
				attrs, err := keyValues(r.Attributes)
				if err != nil {
					return nil, err
				}
				l := LogRecord{
					TimeUnixNano: uint64(r.TimeUnixNano), ObservedTimeUnixNano: uint64(r.ObservedTimeUnixNano),
					SeverityNumber: r.SeverityNumber, SeverityText: r.SeverityText, Body: body,
					Attributes: attrs, DroppedAttributesCount: r.DroppedAttributesCount, Flags: r.Flags,
					EventName: r.EventName, Resource: res, Scope: scope,
				}
				if err := hexInto(l.TraceID[:], r.TraceID); err != nil {
					return nil, err
				}
				if err := hexInto(l.SpanID[:], r.SpanID); err != nil {
					return nil, err
				}
				out = append(out, l)
			}
		}
	}
	return out, nil
}
