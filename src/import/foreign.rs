//! Shared pieces of the Jaeger and Zipkin mappings: ids padded to OpenTelemetry's widths,
//! resources and scopes shared per distinct value, and the tags that carry span fields
//! (`span.kind`, `otel.status_code`, `error`, ...) as the OpenTelemetry Collector's
//! translators read them.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::{KeyValue, Resource, Scope, SpanId, SpanKind, StatusCode, TraceId, Value};

/// A trace id of 16 or 32 hex digits (64-bit ids are left-padded with zeros, as the
/// Collector does).
pub(super) fn trace_id(hex: &str) -> Result<TraceId> {
    let hex = hex.trim();
    if hex.is_empty() || hex.len() > 32 {
        return Err(Error::invalid(format!(
            "trace id {hex:?} is not 1-32 hex digits"
        )));
    }
    Ok(TraceId::from_hex(&format!("{hex:0>32}"))?)
}

/// A span id of up to 16 hex digits.
pub(super) fn span_id(hex: &str) -> Result<SpanId> {
    let hex = hex.trim();
    if hex.is_empty() || hex.len() > 16 {
        return Err(Error::invalid(format!(
            "span id {hex:?} is not 1-16 hex digits"
        )));
    }
    Ok(SpanId::from_hex(&format!("{hex:0>16}"))?)
}

/// Microseconds since the epoch to nanoseconds, refusing values that overflow.
pub(super) fn micros(us: i64, what: &str) -> Result<u64> {
    u64::try_from(us)
        .ok()
        .and_then(|us| us.checked_mul(1_000))
        .ok_or_else(|| Error::invalid(format!("{what} {us} µs is out of range")))
}

/// Span fields that Jaeger and Zipkin carry as tags, taken out of the attributes.
#[derive(Default)]
pub(super) struct SpecialTags {
    pub kind: Option<SpanKind>,
    pub status: Option<StatusCode>,
    pub status_message: Option<String>,
    /// The `error` tag: an error status unless `otel.status_code` says otherwise.
    pub error: Option<String>,
    pub trace_state: Option<String>,
    pub scope_name: Option<String>,
    pub scope_version: Option<String>,
}

impl SpecialTags {
    /// Takes the special tags out of `attrs`, keeping the rest in order.
    pub(super) fn take(attrs: &mut Vec<KeyValue>) -> SpecialTags {
        let mut out = SpecialTags::default();
        attrs.retain(|kv| {
            const SPECIAL: [&str; 9] = [
                "span.kind",
                "otel.status_code",
                "otel.status_description",
                "error",
                "w3c.tracestate",
                "otel.scope.name",
                "otel.library.name",
                "otel.scope.version",
                "otel.library.version",
            ];
            if !SPECIAL.contains(&kv.key.as_str()) {
                return true;
            }
            // Only special tags are rendered as text (ordinary attributes stay as they are).
            let text = match &kv.value {
                Value::Str(s) => s.clone(),
                other => other.to_string(),
            };
            match kv.key.as_str() {
                "span.kind" => out.kind = kind(&text),
                "otel.status_code" => {
                    out.status = match text.to_ascii_uppercase().as_str() {
                        "OK" => Some(StatusCode::Ok),
                        "ERROR" => Some(StatusCode::Error),
                        _ => Some(StatusCode::Unset),
                    }
                }
                "otel.status_description" => out.status_message = Some(text),
                "error" if text != "false" => out.error = Some(text),
                "w3c.tracestate" => out.trace_state = Some(text),
                "otel.scope.name" | "otel.library.name" => out.scope_name = Some(text),
                "otel.scope.version" | "otel.library.version" => out.scope_version = Some(text),
                _ => {}
            }
            false
        });
        out
    }

    /// The span's status code and message.
    pub(super) fn status(&self) -> (StatusCode, String) {
        match (self.status, &self.error) {
            (Some(code), _) => (code, self.status_message.clone().unwrap_or_default()),
            (None, Some(e)) => {
                // Zipkin's `error` tag holds the message; Jaeger's is the boolean `true`.
                let message = if e == "true" || e.is_empty() {
                    String::new()
                } else {
                    e.clone()
                };
                (
                    StatusCode::Error,
                    self.status_message.clone().unwrap_or(message),
                )
            }
            (None, None) => (StatusCode::Unset, String::new()),
        }
    }
}

/// `client`, `SERVER`, ... as a span kind.
pub(super) fn kind(text: &str) -> Option<SpanKind> {
    Some(match text.to_ascii_lowercase().as_str() {
        "client" => SpanKind::Client,
        "server" => SpanKind::Server,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        "internal" => SpanKind::Internal,
        _ => return None,
    })
}

/// One `Arc` per distinct resource and scope, as the OTLP decoders share them.
#[derive(Default)]
pub(super) struct Shared {
    resources: HashMap<u64, Arc<Resource>>,
    scopes: HashMap<u64, Arc<Scope>>,
}

impl Shared {
    pub(super) fn resource(&mut self, r: Resource) -> Arc<Resource> {
        self.resources
            .entry(r.fingerprint())
            .or_insert_with(|| Arc::new(r))
            .clone()
    }
    pub(super) fn scope(&mut self, name: Option<String>, version: Option<String>) -> Arc<Scope> {
        let s = Scope {
            name: name.unwrap_or_default(),
            version: version.unwrap_or_default(),
            ..Scope::default()
        };
        self.scopes
            .entry(s.fingerprint())
            .or_insert_with(|| Arc::new(s))
            .clone()
    }
}
