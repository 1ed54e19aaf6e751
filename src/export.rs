//! Writing spans out in the formats [`crate::import`] reads back: OTLP JSON lines (one
//! `ExportTraceServiceRequest` a line, as the Collector `file` exporter writes) or the
//! exporter's length-prefixed protobuf stream, optionally zstd-compressed. An export read
//! back with `import` gives the same spans, field for field.

use std::io::Write;

use serde::Serialize;

use crate::error::Result;
use crate::otlp::{json, proto};
use crate::Span;

/// An export format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExportFormat {
    /// OTLP JSON lines.
    OtlpJson,
    /// 4-byte big-endian length, then an OTLP protobuf request; repeated.
    OtlpProto,
}

/// Writes batches of spans as one request each.
pub struct SpanWriter<W: Write> {
    out: Output<W>,
    format: ExportFormat,
    /// Spans written so far.
    pub spans: u64,
}

enum Output<W: Write> {
    Plain(W),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> SpanWriter<W> {
    /// A writer of `format` to `out`, zstd-compressed (level 3) when `zstd` is set.
    pub fn new(out: W, format: ExportFormat, zstd: bool) -> Result<Self> {
        let out = if zstd {
            Output::Zstd(zstd::stream::write::Encoder::new(out, 3)?)
        } else {
            Output::Plain(out)
        };
        Ok(SpanWriter {
            out,
            format,
            spans: 0,
        })
    }

    fn sink(&mut self) -> &mut dyn Write {
        match &mut self.out {
            Output::Plain(w) => w,
            Output::Zstd(w) => w,
        }
    }

    /// Writes `spans` as one request (nothing for an empty batch).
    pub fn write(&mut self, spans: &[Span]) -> Result<()> {
        if spans.is_empty() {
            return Ok(());
        }
        match self.format {
            ExportFormat::OtlpJson => {
                let doc = json::encode_json_request(spans);
                let mut line = serde_json::to_vec(&doc).map_err(std::io::Error::other)?;
                line.push(b'\n');
                self.sink().write_all(&line)?;
            }
            ExportFormat::OtlpProto => {
                let bytes = proto::encode_proto_request(spans);
                let len = u32::try_from(bytes.len()).map_err(|_| {
                    crate::Error::invalid("a batch over 4 GiB cannot be length-prefixed")
                })?;
                self.sink().write_all(&len.to_be_bytes())?;
                self.sink().write_all(&bytes)?;
            }
        }
        self.spans += spans.len() as u64;
        Ok(())
    }

    /// Ends the zstd frame and flushes; returns the underlying writer.
    pub fn finish(self) -> Result<W> {
        let mut w = match self.out {
            Output::Plain(w) => w,
            Output::Zstd(z) => z.finish()?,
        };
        w.flush()?;
        Ok(w)
    }
}
