//! Reading an OTLP JSON lines file (the Collector `file` exporter's output) in batches.

use std::io::BufRead;

use super::decode::decode_request;
use crate::error::{Error, Result};
use crate::model::Span;

/// What a JSON lines import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct JsonLinesReport {
    pub lines: u64,
    pub spans: u64,
    pub skipped_lines: u64,
    /// The first few skipped lines' errors, for the user.
    pub first_errors: Vec<String>,
}

/// Reads OTLP JSON lines, calling `sink` with each decoded batch of at most about
/// `batch_spans` spans. A malformed line is `Error::BadLine` naming the line and field, unless
/// `skip_bad_lines` is set, in which case it is counted and reported. Blank lines are ignored.
pub fn read_json_lines(
    reader: impl BufRead,
    skip_bad_lines: bool,
    batch_spans: usize,
    mut sink: impl FnMut(Vec<Span>) -> Result<()>,
) -> Result<JsonLinesReport> {
    let mut report = JsonLinesReport::default();
    let mut batch = Vec::new();
    let mut reader = reader;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        report.lines += 1;
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            continue;
        }
        if let Err(message) = decode_request(trimmed, &mut batch) {
            if !skip_bad_lines {
                if !batch.is_empty() {
                    report.spans += batch.len() as u64;
                    sink(std::mem::take(&mut batch))?;
                }
                return Err(Error::BadLine {
                    line: report.lines,
                    message,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::json::GOOD;

    #[test]
    fn bad_lines_stop_the_import_or_are_skipped_and_counted() {
        let text = format!("{GOOD}\n\n{{not json\n{GOOD}\n");
        let mut got = 0;
        let err = read_json_lines(text.as_bytes(), false, 1000, |b| {
            got += b.len();
            Ok(())
        })
        .unwrap_err();
        assert!(matches!(err, Error::BadLine { line: 3, .. }), "{err}");
        assert_eq!(got, 1, "spans before the bad line are delivered, not lost");
        let report = read_json_lines(text.as_bytes(), true, 1000, |_| Ok(())).unwrap();
        assert_eq!((report.spans, report.skipped_lines), (2, 1));
        assert!(
            report.first_errors[0].starts_with("line 3:"),
            "{:?}",
            report.first_errors
        );
    }
}
