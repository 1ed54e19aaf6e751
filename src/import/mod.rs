//! Reading span files as people have them, in batches handed to a sink (usually
//! [`crate::Db::write`]):
//!
//! - OTLP JSON: JSON lines (the Collector `file` exporter), one whole document per file
//!   (pretty-printed or not), or several concatenated documents;
//! - OTLP protobuf: one `ExportTraceServiceRequest`, or the Collector file exporter's
//!   `format: proto` stream of 4-byte big-endian length-prefixed requests;
//! - OTLP logs (`ExportLogsServiceRequest`) in the same JSON and protobuf framings, told
//!   apart from spans by their content;
//! - Jaeger JSON (UI download, `/api/traces`) and Zipkin v2 JSON, mapped to the OpenTelemetry
//!   model (docs/IMPORT.md);
//! - any of these compressed with zstd or gzip.
//!
//! Compression and format are detected from the bytes ([`Format`] forces a format), and input
//! is streamed: nothing is read whole except Jaeger and Zipkin documents, which are single
//! JSON values. Decoding one OTLP request is the storage crate's codec; framing is this
//! module's job.

mod foreign;
mod jaeger;
mod signal;
mod zipkin;

use std::io::{BufRead, BufReader, Read};

use serde::Serialize;

use crate::error::{Error, Position, Result};
use crate::otlp::{json, proto, Dropped};
use crate::{LogRecord, Span};

/// A span file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// OTLP JSON: JSON lines or whole (concatenated) `ExportTraceServiceRequest` documents.
    OtlpJson,
    /// OTLP protobuf: one request, or a stream of length-prefixed requests.
    OtlpProto,
    /// Jaeger's JSON (`{"data":[{"spans":[...],"processes":{...}}]}`).
    Jaeger,
    /// Zipkin v2 JSON (an array of spans).
    Zipkin,
    /// OTLP JSON logs: `ExportLogsServiceRequest` documents (JSON lines or concatenated),
    /// detected by their first key, `resourceLogs`.
    OtlpLogsJson,
    /// OTLP protobuf logs: `ExportLogsServiceRequest`s framed as [`Format::OtlpProto`],
    /// detected by the wire types of the first records' fields.
    OtlpLogsProto,
}

/// How the input was compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    None,
    Zstd,
    Gzip,
}

/// How to read.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// The format; `None` detects it from the bytes.
    pub format: Option<Format>,
    /// Skip (and count) malformed JSON lines instead of stopping at the first.
    pub skip_bad_records: bool,
    /// Refuse a whole OTLP request for one bad part (an invalid link, parent id or span id)
    /// instead of dropping that part and counting it in [`ImportReport::dropped`].
    pub strict: bool,
    /// Spans per batch handed to the sink (about).
    pub batch_spans: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            format: None,
            skip_bad_records: false,
            strict: false,
            batch_spans: 4096,
        }
    }
}

/// What reading one input did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub format: Format,
    pub compression: Compression,
    pub spans: u64,
    /// Log records read (OTLP logs input).
    pub logs: u64,
    /// Malformed records skipped (with `skip_bad_records`).
    pub skipped_records: u64,
    /// The first few skipped records' errors, for the user.
    pub first_errors: Vec<String>,
    /// Parts of OTLP requests dropped, per reason (never with `strict`).
    pub dropped: Dropped,
}

/// Reads every span of `input` (any supported format and compression) into `sink`. Input
/// holding log records is refused (see [`read_telemetry`]).
pub fn read_spans(
    input: impl Read,
    opts: &ImportOptions,
    sink: impl FnMut(Vec<Span>) -> Result<()>,
) -> Result<ImportReport> {
    read_telemetry(input, opts, sink, |_| {
        Err(Error::InvalidInput {
            message: "the input holds OTLP log records, not spans".into(),
            position: None,
        })
    })
}

/// Reads every span or log record of `input` (any supported format and compression; logs
/// are told apart by their content) into `sink` (spans) or `log_sink` (log records).
pub fn read_telemetry(
    input: impl Read,
    opts: &ImportOptions,
    mut sink: impl FnMut(Vec<Span>) -> Result<()>,
    mut log_sink: impl FnMut(Vec<LogRecord>) -> Result<()>,
) -> Result<ImportReport> {
    let (compression, mut reader) = decompressed(input)?;
    let format = match opts.format {
        Some(f) => f,
        None => detect(&mut reader)?,
    };
    let mut spans_read = 0u64;
    let mut logs_read = 0u64;
    let mut skipped = JsonLinesReport::default();
    let mut dropped = Dropped::default();
    let mut lenience = (!opts.strict).then_some(&mut dropped);
    let batch = opts.batch_spans.max(1);
    let mut counted = |spans: Vec<Span>| {
        spans_read += spans.len() as u64;
        sink(spans)
    };
    match format {
        Format::OtlpLogsJson => {
            skipped = logs_json(&mut reader, opts.skip_bad_records, batch, &mut |logs| {
                logs_read += logs.len() as u64;
                log_sink(logs)
            })?;
        }
        Format::OtlpJson => {
            skipped = otlp_json(
                &mut reader,
                opts.skip_bad_records,
                batch,
                &mut lenience,
                &mut counted,
            )?;
        }
        Format::OtlpProto => read_proto_with(&mut reader, batch, &mut lenience, &mut counted)?,
        Format::OtlpLogsProto => {
            for_each_proto_message(&mut reader, &mut |message| {
                let mut logs = Vec::new();
                proto::decode_proto_logs_request(message, &mut logs)?;
                logs_read += logs.len() as u64;
                in_batches(logs, batch, &mut log_sink)
            })?;
        }
        Format::Jaeger => {
            let doc: jaeger::Document = serde_json::from_reader(reader).map_err(json_error)?;
            let mut spans = Vec::new();
            jaeger::decode(doc, &mut spans)?;
            in_batches(spans, batch, &mut counted)?;
        }
        Format::Zipkin => {
            let doc: Vec<zipkin::ZipkinSpan> =
                serde_json::from_reader(reader).map_err(json_error)?;
            let mut spans = Vec::new();
            zipkin::decode(doc, &mut spans)?;
            in_batches(spans, batch, &mut counted)?;
        }
    }
    Ok(ImportReport {
        format,
        compression,
        spans: spans_read,
        logs: logs_read,
        skipped_records: skipped.skipped_lines,
        first_errors: skipped.first_errors,
        dropped,
    })
}

/// Hands `spans` (or log records) to `sink` in batches of at most `batch` (none for none).
fn in_batches<T>(
    mut spans: Vec<T>,
    batch: usize,
    sink: &mut dyn FnMut(Vec<T>) -> Result<()>,
) -> Result<()> {
    while spans.len() > batch {
        let rest = spans.split_off(batch);
        sink(std::mem::replace(&mut spans, rest))?;
    }
    if !spans.is_empty() {
        sink(spans)?;
    }
    Ok(())
}

fn json_error(e: serde_json::Error) -> Error {
    Error::InvalidInput {
        message: e.to_string(),
        position: Some(Position {
            line: e.line() as u64,
            column: Some(e.column() as u64),
        }),
    }
}

/// zstd frames start with 28 B5 2F FD, gzip members with 1F 8B.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The input, decompressed as its first bytes say, behind a buffer.
fn decompressed<'a>(input: impl Read + 'a) -> Result<(Compression, Box<dyn BufRead + 'a>)> {
    let mut raw = BufReader::with_capacity(1 << 16, input);
    let head = raw.fill_buf()?;
    Ok(if head.starts_with(&ZSTD_MAGIC) {
        // Multi-frame: the Collector appends a frame per flush.
        let decoder = zstd::stream::read::Decoder::with_buffer(raw)?;
        (
            Compression::Zstd,
            Box::new(BufReader::with_capacity(1 << 16, decoder)),
        )
    } else if head.starts_with(&GZIP_MAGIC) {
        let decoder = flate2::bufread::MultiGzDecoder::new(raw);
        (
            Compression::Gzip,
            Box::new(BufReader::with_capacity(1 << 16, decoder)),
        )
    } else {
        (Compression::None, Box::new(raw))
    })
}

/// The format of the (decompressed) input, from its first bytes, without consuming any:
/// JSON is text whose first non-blank byte is `[` (Zipkin's array) or `{` (OTLP JSON, or
/// Jaeger when the first key is one of Jaeger's: `data`, `total`, ...); anything else is
/// protobuf, of logs when the first records' fields say so ([`signal::signal_of`]; spans
/// otherwise, as when there are no records at all). "Text" matters: a protobuf request starts with 0x0a, a newline to JSON, and its
/// length byte may happen to be `{`, but its tags and lengths put control bytes, which JSON
/// never holds, in the first few bytes.
pub fn detect(reader: &mut impl BufRead) -> Result<Format> {
    let head = reader.fill_buf()?;
    let Some(start) = head.iter().position(|b| !b.is_ascii_whitespace()) else {
        // Empty or blank input: no spans, in any format.
        return Ok(Format::OtlpJson);
    };
    let sample = head.get(..head.len().min(4096)).unwrap_or(head);
    let text = !sample
        .iter()
        .any(|b| *b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'));
    let rest = head.get(start..).unwrap_or_default();
    Ok(match rest.first() {
        Some(b'[') if text => Format::Zipkin,
        Some(b'{') if text => match first_key(rest) {
            Some("data" | "total" | "limit" | "offset" | "errors") => Format::Jaeger,
            Some("resourceLogs") => Format::OtlpLogsJson,
            _ => Format::OtlpJson,
        },
        _ => match signal::signal_of(unframed(head)) {
            Some(signal::Signal::Logs) => Format::OtlpLogsProto,
            _ => Format::OtlpProto,
        },
    })
}

/// The first protobuf request of `head`: past the length prefix of a length-prefixed stream
/// (see [`read_proto`] for how the two framings are told apart).
fn unframed(head: &[u8]) -> &[u8] {
    match head.first() {
        Some(0x0a) => head,
        _ => head.get(4..).unwrap_or_default(),
    }
}

/// The first object key of `{ "key": ...`, when it is in `head`.
fn first_key(head: &[u8]) -> Option<&str> {
    let start = head.iter().position(|b| *b == b'"')? + 1;
    let len = head.get(start..)?.iter().position(|b| *b == b'"')?;
    std::str::from_utf8(head.get(start..start + len)?).ok()
}

/// OTLP JSON: JSON lines when the first line is a whole document (malformed lines can then be
/// skipped), else a stream of documents of any layout.
fn otlp_json(
    reader: &mut dyn BufRead,
    skip_bad_records: bool,
    batch: usize,
    lenience: &mut Option<&mut Dropped>,
    sink: &mut impl FnMut(Vec<Span>) -> Result<()>,
) -> Result<JsonLinesReport> {
    let mut first = Vec::new();
    reader.read_until(b'\n', &mut first)?;
    let whole_line = {
        let line = first.trim_ascii();
        !line.is_empty() && serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok()
    };
    let rest = std::io::Cursor::new(first).chain(reader);
    if whole_line {
        return json_lines(rest, skip_bad_records, batch, lenience, sink);
    }
    let mut batch_spans = Vec::new();
    for doc in serde_json::Deserializer::from_reader(rest).into_iter::<serde_json::Value>() {
        let doc = doc.map_err(json_error)?;
        let bytes = serde_json::to_vec(&doc).map_err(json_error)?;
        decode_json(&bytes, &mut batch_spans, lenience)?;
        if batch_spans.len() >= batch {
            sink(std::mem::take(&mut batch_spans))?;
        }
    }
    if !batch_spans.is_empty() {
        sink(batch_spans)?;
    }
    Ok(JsonLinesReport::default())
}

/// OTLP JSON logs: one request per line (a malformed line is an error naming its line, or
/// skipped and counted with `skip_bad`), or concatenated documents of any layout.
fn logs_json(
    reader: &mut dyn BufRead,
    skip_bad: bool,
    batch: usize,
    sink: &mut dyn FnMut(Vec<LogRecord>) -> Result<()>,
) -> Result<JsonLinesReport> {
    let mut report = JsonLinesReport::default();
    let mut out: Vec<LogRecord> = Vec::new();
    let mut line = Vec::new();
    let mut line_no = 0u64;
    let mut pending = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        line_no += 1;
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        pending.extend_from_slice(text);
        // A document may span lines (pretty-printed): decode once it parses as JSON.
        if serde_json::from_slice::<serde::de::IgnoredAny>(&pending).is_err()
            && pending.len() < (64 << 20)
            && pending.first() == Some(&b'{')
            && !pending.ends_with(b"}")
        {
            pending.push(b'\n');
            continue;
        }
        report.lines += 1;
        match json::decode_json_logs_request(&pending, &mut out) {
            Ok(()) => {}
            Err(e) if skip_bad => {
                report.skipped_lines += 1;
                if report.first_errors.len() < 5 {
                    report.first_errors.push(format!("line {line_no}: {e}"));
                }
            }
            Err(e) => {
                return Err(Error::InvalidInput {
                    message: e.to_string(),
                    position: Some(Position {
                        line: line_no,
                        column: None,
                    }),
                })
            }
        }
        pending.clear();
        if out.len() >= batch {
            sink(std::mem::take(&mut out))?;
        }
    }
    if !pending.is_empty() {
        json::decode_json_logs_request(&pending, &mut out)?;
    }
    if !out.is_empty() {
        sink(out)?;
    }
    Ok(report)
}

/// What a JSON lines import did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonLinesReport {
    pub lines: u64,
    pub spans: u64,
    pub skipped_lines: u64,
    /// The first few skipped lines' errors, for the user.
    pub first_errors: Vec<String>,
}

/// Reads OTLP JSON lines, calling `sink` with each decoded batch of at most about
/// `batch_spans` spans. A malformed line is [`Error::InvalidInput`] with the line's
/// position, unless `skip_bad_lines` is set, in which case it is counted and reported. Blank
/// lines are ignored. Spans decoded before a bad line are delivered, never dropped.
pub fn read_json_lines(
    reader: impl BufRead,
    skip_bad_lines: bool,
    batch_spans: usize,
    mut sink: impl FnMut(Vec<Span>) -> Result<()>,
) -> Result<JsonLinesReport> {
    json_lines(reader, skip_bad_lines, batch_spans, &mut None, &mut sink)
}

/// One OTLP JSON request, strictly or (with a `Dropped` to count in) leniently.
fn decode_json(
    bytes: &[u8],
    out: &mut Vec<Span>,
    lenience: &mut Option<&mut Dropped>,
) -> Result<()> {
    match lenience {
        Some(dropped) => json::decode_json_request_lenient(bytes, out, dropped),
        None => json::decode_json_request(bytes, out),
    }
}

fn json_lines(
    mut reader: impl BufRead,
    skip_bad_lines: bool,
    batch_spans: usize,
    lenience: &mut Option<&mut Dropped>,
    sink: &mut impl FnMut(Vec<Span>) -> Result<()>,
) -> Result<JsonLinesReport> {
    let mut report = JsonLinesReport::default();
    let mut batch = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        report.lines += 1;
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            continue;
        }
        if let Err(e) = decode_json(trimmed, &mut batch, lenience) {
            let message = match e {
                Error::InvalidInput { message, .. } => message,
                other => other.to_string(),
            };
            if !skip_bad_lines {
                if !batch.is_empty() {
                    report.spans += batch.len() as u64;
                    sink(std::mem::take(&mut batch))?;
                }
                return Err(Error::InvalidInput {
                    message,
                    position: Some(Position {
                        line: report.lines,
                        column: None,
                    }),
                });
            }
            report.skipped_lines += 1;
            if report.first_errors.len() < 5 {
                report
                    .first_errors
                    .push(format!("line {}: {message}", report.lines));
            }
            continue;
        }
        if batch.len() >= batch_spans {
            report.spans += batch.len() as u64;
            sink(std::mem::take(&mut batch))?;
        }
    }
    if !batch.is_empty() {
        report.spans += batch.len() as u64;
        sink(batch)?;
    }
    Ok(report)
}

/// Reads OTLP protobuf: one request, or the Collector `file` exporter's stream of requests
/// each prefixed by its 4-byte big-endian length. A request starts with field 1's tag
/// (0x0a); a length prefix starting with that byte would announce a request over 167 MB, so
/// the first byte tells the two apart without knowing the input's size.
pub fn read_proto(
    reader: &mut dyn BufRead,
    batch_spans: usize,
    sink: &mut impl FnMut(Vec<Span>) -> Result<()>,
) -> Result<()> {
    read_proto_with(reader, batch_spans, &mut None, sink)
}

fn read_proto_with(
    reader: &mut dyn BufRead,
    batch_spans: usize,
    lenience: &mut Option<&mut Dropped>,
    sink: &mut impl FnMut(Vec<Span>) -> Result<()>,
) -> Result<()> {
    let batch = batch_spans.max(1);
    for_each_proto_message(reader, &mut |message| {
        let mut spans = Vec::new();
        match lenience {
            Some(dropped) => proto::decode_proto_request_lenient(message, &mut spans, dropped)?,
            None => proto::decode_proto_request(message, &mut spans)?,
        }
        in_batches(spans, batch, sink)
    })
}

/// Calls `each` with every protobuf request of the input: the whole input when it is one
/// request, else each message of the length-prefixed stream (see [`read_proto`]).
fn for_each_proto_message(
    reader: &mut dyn BufRead,
    each: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let mut message = Vec::new();
    match reader.fill_buf()?.first() {
        None => return Ok(()),
        Some(0x0a) => {
            reader.read_to_end(&mut message)?;
            return each(&message);
        }
        Some(_) => {}
    }
    let mut head = [0u8; 4];
    loop {
        match read_up_to(reader, &mut head)? {
            0 => return Ok(()),
            4 => {}
            _ => {
                return Err(Error::invalid(
                    "truncated stream: a length prefix ends early",
                ))
            }
        }
        let len = u32::from_be_bytes(head);
        // Grow with the bytes that arrive, not with what an untrusted prefix announces.
        message.clear();
        (&mut *reader)
            .take(u64::from(len))
            .read_to_end(&mut message)?;
        if message.len() != len as usize {
            return Err(Error::invalid(format!(
                "truncated stream: a {len}-byte request ends after {} bytes",
                message.len()
            )));
        }
        each(&message)?;
    }
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
fn read_up_to(reader: &mut dyn BufRead, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while let Some(rest) = buf.get_mut(n..).filter(|r| !r.is_empty()) {
        match reader.read(rest)? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests;
