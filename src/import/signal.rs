//! Whether an OTLP protobuf request holds spans or log records, from its first bytes.
//!
//! `ExportTraceServiceRequest` and `ExportLogsServiceRequest` are the same shape down to the
//! records (field 1: resource_spans / resource_logs, in it field 2: scope_spans /
//! scope_logs, in it field 2: spans / log_records), so only the records tell them apart: a
//! span's field 1 is its trace id (length-delimited), a log record's its time (fixed64); a
//! span's field 2 is bytes, a log record's a varint; and so on. The walk reads the wire types
//! of the first records' fields, on a possibly truncated prefix (the buffered head of the
//! input), and answers at the first field whose wire type fits one message and not the other.

/// Which signal a protobuf request carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Signal {
    Spans,
    Logs,
}

/// Wire types (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32) of `Span`'s fields 1-16.
const SPAN_WIRE: [u8; 16] = [2, 2, 2, 2, 2, 0, 1, 1, 2, 0, 2, 0, 2, 0, 2, 5];
/// Wire types of `LogRecord`'s fields 1-12; field 4 is reserved (never sent).
const LOG_WIRE: [u8; 12] = [1, 0, 2, NONE, 2, 2, 0, 5, 2, 2, 1, 2];
const NONE: u8 = 0xff;

/// The signal of the request starting at `head` (unframed), or `None` when the prefix holds
/// no record with a telling field (no records, or bytes that are not protobuf).
pub(super) fn signal_of(head: &[u8]) -> Option<Signal> {
    // request -> field 1 (resource_*) -> field 2 (scope_*) -> field 2 (records)
    for resource in submessages(head, 1) {
        for scope in submessages(resource, 2) {
            for record in submessages(scope, 2) {
                if let Some(signal) = judge(record) {
                    return Some(signal);
                }
            }
        }
    }
    None
}

/// The first telling field of one record.
fn judge(record: &[u8]) -> Option<Signal> {
    let wire_of = |table: &[u8], field: u64| {
        usize::try_from(field)
            .ok()
            .and_then(|f| f.checked_sub(1))
            .and_then(|i| table.get(i).copied())
    };
    for (field, wire, _) in Fields(record) {
        let span_fits = wire_of(&SPAN_WIRE, field) == Some(wire);
        let log_fits = wire_of(&LOG_WIRE, field) == Some(wire);
        match (span_fits, log_fits) {
            (true, false) => return Some(Signal::Spans),
            (false, true) => return Some(Signal::Logs),
            _ => {}
        }
    }
    None
}

/// The bodies of the length-delimited fields numbered `number` in `message` (each cut to
/// the bytes present when the prefix ends inside it).
fn submessages(message: &[u8], number: u64) -> impl Iterator<Item = &[u8]> {
    Fields(message)
        .filter_map(move |(field, wire, body)| (field == number && wire == 2).then_some(body))
}

/// The fields of a (possibly truncated) message: (number, wire type, body for
/// length-delimited fields). Stops at the end, at a truncated key or value, or at anything
/// that is not valid protobuf.
struct Fields<'a>(&'a [u8]);

impl<'a> Iterator for Fields<'a> {
    type Item = (u64, u8, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (key, n) = varint(self.0)?;
        let rest = self.0.get(n..)?;
        let (field, wire) = (key >> 3, (key & 7) as u8);
        if field == 0 {
            self.0 = &[];
            return None;
        }
        let (body, skip) = match wire {
            0 => (&[][..], varint(rest)?.1),
            1 => (&[][..], 8),
            5 => (&[][..], 4),
            2 => {
                let (len, m) = varint(rest)?;
                let start = rest.get(m..)?;
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                // A body cut by the end of the prefix is still worth reading.
                (start.get(..len).unwrap_or(start), m.saturating_add(len))
            }
            _ => {
                self.0 = &[];
                return None;
            }
        };
        self.0 = rest.get(skip..).unwrap_or(&[]);
        Some((field, wire, body))
    }
}

/// A base-128 varint and its length in bytes.
fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, b) in bytes.iter().take(10).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::proto;
    use crate::{LogRecord, Span, SpanId, TraceId, Value};

    fn span() -> Span {
        Span {
            trace_id: TraceId([7; 16]),
            span_id: SpanId([8; 8]),
            name: "GET /".into(),
            start_ns: 1,
            end_ns: 2,
            ..Span::default()
        }
    }

    #[test]
    fn spans_and_logs_are_told_apart() {
        let spans = proto::encode_proto_request(&[span()]);
        assert_eq!(signal_of(&spans), Some(Signal::Spans));
        let logs = proto::encode_proto_logs_request(&[LogRecord {
            time_ns: 5,
            body: Value::Str("hello".into()),
            ..LogRecord::default()
        }]);
        assert_eq!(signal_of(&logs), Some(Signal::Logs));
        // A record with no time and only a body and trace context is still a log record
        // (field 5 fits both; field 9, bytes, fits both; field 10, bytes, only a log).
        let sparse = proto::encode_proto_logs_request(&[LogRecord {
            body: Value::Str("x".into()),
            trace_id: TraceId([1; 16]),
            span_id: SpanId([2; 8]),
            ..LogRecord::default()
        }]);
        assert_eq!(signal_of(&sparse), Some(Signal::Logs));
        // Cut in the middle of the first record: the prefix still tells.
        assert_eq!(signal_of(&logs[..logs.len() - 3]), Some(Signal::Logs));
        assert_eq!(signal_of(&spans[..spans.len() - 3]), Some(Signal::Spans));
        // Nothing telling: no records, garbage.
        assert_eq!(signal_of(&proto::encode_proto_request(&[])), None);
        assert_eq!(
            signal_of(b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"),
            None
        );
        assert_eq!(signal_of(b""), None);
    }
}
