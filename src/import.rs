//! Reading span files: OTLP JSON lines (the Collector `file` exporter's default output) and
//! OTLP protobuf (one request, or the exporter's stream of length-prefixed requests), in
//! batches handed to a sink (usually [`crate::Db::write`]). Decoding one request is the
//! storage crate's codec; framing files is this module's job.

use std::io::{BufRead, Read};

use serde::Serialize;

use crate::error::{Error, Position, Result};
use crate::otlp::{json, proto};
use crate::Span;

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
    mut reader: impl BufRead,
    skip_bad_lines: bool,
    batch_spans: usize,
    mut sink: impl FnMut(Vec<Span>) -> Result<()>,
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
        if let Err(e) = json::decode_json_request(trimmed, &mut batch) {
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

/// True when the buffered input looks like JSON (its first non-blank byte is `{`).
pub fn looks_like_json(reader: &mut impl BufRead) -> Result<bool> {
    let head = reader.fill_buf()?;
    Ok(head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'))
}

/// Reads OTLP protobuf: the Collector's `file` exporter writes a stream of requests, each
/// prefixed by its 4-byte big-endian length; a plain file holds one request. A request starts
/// with field 1's tag (0x0a), which read as a length exceeds any file under 167 MB, so the
/// first four bytes tell the two apart (`file_len` is the input's size).
pub fn read_proto(
    reader: &mut impl Read,
    file_len: u64,
    batch_spans: usize,
    sink: &mut impl FnMut(Vec<Span>) -> Result<()>,
) -> Result<()> {
    let batch = batch_spans.max(1);
    let mut head = [0u8; 4];
    let n = read_up_to(reader, &mut head)?;
    let first = u64::from(u32::from_be_bytes(head));
    let mut message = Vec::new();
    let mut send = |message: &[u8]| -> Result<()> {
        let mut spans = Vec::new();
        proto::decode_proto_request(message, &mut spans)?;
        while spans.len() > batch {
            let rest = spans.split_off(batch);
            sink(std::mem::replace(&mut spans, rest))?;
        }
        sink(spans)
    };
    if n < 4 || first + 4 > file_len {
        message.extend_from_slice(head.get(..n).unwrap_or_default());
        reader.read_to_end(&mut message)?;
        return send(&message);
    }
    let mut len = first;
    loop {
        message.resize(len as usize, 0);
        reader.read_exact(&mut message).map_err(|_| {
            Error::invalid(format!("truncated stream: a {len}-byte request ends early"))
        })?;
        send(&message)?;
        match read_up_to(reader, &mut head)? {
            0 => return Ok(()),
            4 => len = u64::from(u32::from_be_bytes(head)),
            _ => {
                return Err(Error::invalid(
                    "truncated stream: a length prefix ends early",
                ))
            }
        }
    }
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
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
mod tests {
    use super::*;

    const GOOD: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"web"}}]},"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"GET /","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000100000000"}]}]}]}"#;

    #[test]
    fn bad_lines_stop_the_import_or_are_skipped_and_counted() {
        let text = format!("{GOOD}\n\n{{not json\n{GOOD}\n");
        let mut got = 0;
        let err = read_json_lines(text.as_bytes(), false, 1000, |b| {
            got += b.len();
            Ok(())
        })
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidInput {
                    position: Some(Position { line: 3, .. }),
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(got, 1, "spans before the bad line are delivered, not lost");
        let report = read_json_lines(text.as_bytes(), true, 1000, |_| Ok(())).unwrap();
        assert_eq!((report.spans, report.skipped_lines), (2, 1));
        assert!(
            report.first_errors[0].starts_with("line 3:"),
            "{:?}",
            report.first_errors
        );
    }

    #[test]
    fn protobuf_streams_and_single_requests_both_read() {
        let mut spans = Vec::new();
        json::decode_json_request(GOOD.as_bytes(), &mut spans).unwrap();
        let one = proto::encode_proto_request(&spans);
        let mut stream = Vec::new();
        for _ in 0..3 {
            stream.extend_from_slice(&(one.len() as u32).to_be_bytes());
            stream.extend_from_slice(&one);
        }
        for (bytes, want) in [(&one, 1), (&stream, 3)] {
            let mut got = 0;
            read_proto(&mut bytes.as_slice(), bytes.len() as u64, 10, &mut |b| {
                got += b.len();
                Ok(())
            })
            .unwrap();
            assert_eq!(got, want);
        }
        let cut = &stream[..stream.len() - 3];
        let e = read_proto(&mut &cut[..], cut.len() as u64, 10, &mut |_| Ok(())).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
    }
}
