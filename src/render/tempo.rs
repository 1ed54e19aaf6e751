//! Grafana Tempo's HTTP API shapes, as `Serialize` types, so tools written for Tempo can
//! read spandb's output.
//!
//! Search (`/api/search`): `{"traces":[{"traceID","rootServiceName","rootTraceName",
//! "startTimeUnixNano","durationMs","spanSet":{"spans":[...],"matched":n}}]}`.
//! Metrics (`/api/metrics/query_range`): `{"series":[{"labels":[{"key","value":{...}}],
//! "promLabels","samples":[{"timestampMs","value"}]}]}`. As in Tempo (protobuf JSON), 64-bit
//! integers are strings.

use serde::Serialize;
use spandb_query::{Exemplar, LabelValue, MatchedSpan, MetricsResult, Series, TraceSummary};

/// What Tempo reports when the root span has not arrived.
pub const ROOT_NOT_RECEIVED: &str = "<root span not yet received>";

/// `/api/search`'s response.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchResponse {
    pub traces: Vec<TraceSearchMetadata>,
    pub metrics: SearchMetrics,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchMetrics {
    pub inspected_traces: usize,
}

/// One trace of a search response.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceSearchMetadata {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    pub root_service_name: String,
    pub root_trace_name: String,
    pub start_time_unix_nano: String,
    pub duration_ms: u64,
    /// Tempo 2.0's single span set, kept beside `spanSets` for older clients.
    pub span_set: SpanSet,
    pub span_sets: Vec<SpanSet>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpanSet {
    pub spans: Vec<SpanSetSpan>,
    pub matched: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpanSetSpan {
    #[serde(rename = "spanID")]
    pub span_id: String,
    pub name: String,
    pub start_time_unix_nano: String,
    pub duration_nanos: String,
    pub attributes: Vec<Attribute>,
}

/// An OTLP `KeyValue`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Attribute {
    pub key: String,
    pub value: AnyValue,
}

/// An OTLP `AnyValue` in its JSON mapping: at most one field set; none for nil.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnyValue {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub int_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub double_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bool_value: Option<bool>,
}

impl AnyValue {
    fn string(s: &str) -> AnyValue {
        AnyValue {
            string_value: Some(s.to_string()),
            ..AnyValue::default()
        }
    }
}

impl From<&LabelValue> for AnyValue {
    fn from(v: &LabelValue) -> Self {
        match v {
            LabelValue::Str(s) => AnyValue::string(s),
            LabelValue::Int(i) => AnyValue {
                int_value: Some(i.to_string()),
                ..AnyValue::default()
            },
            LabelValue::Float(x) => AnyValue {
                double_value: Some(*x),
                ..AnyValue::default()
            },
            LabelValue::Bool(b) => AnyValue {
                bool_value: Some(*b),
                ..AnyValue::default()
            },
            LabelValue::Nil => AnyValue::default(),
        }
    }
}

impl SearchResponse {
    pub fn new(traces: &[TraceSummary]) -> SearchResponse {
        SearchResponse {
            traces: traces.iter().map(TraceSearchMetadata::from).collect(),
            metrics: SearchMetrics {
                inspected_traces: traces.len(),
            },
        }
    }
}

impl From<&TraceSummary> for TraceSearchMetadata {
    fn from(t: &TraceSummary) -> Self {
        let spans: Vec<SpanSetSpan> = t.matched.iter().map(SpanSetSpan::from).collect();
        let set = SpanSet {
            matched: spans.len(),
            spans,
        };
        TraceSearchMetadata {
            trace_id: t.trace_id.to_string(),
            root_service_name: t
                .root_service
                .clone()
                .unwrap_or_else(|| ROOT_NOT_RECEIVED.into()),
            root_trace_name: t.root_name.clone().unwrap_or_default(),
            start_time_unix_nano: t.start_ns.to_string(),
            duration_ms: t.duration_ns / 1_000_000,
            span_sets: vec![set.clone()],
            span_set: set,
        }
    }
}

impl From<&MatchedSpan> for SpanSetSpan {
    fn from(s: &MatchedSpan) -> Self {
        SpanSetSpan {
            span_id: s.span_id.to_string(),
            name: s.name.clone(),
            start_time_unix_nano: s.start_ns.to_string(),
            duration_nanos: s.duration_ns.to_string(),
            attributes: vec![
                Attribute {
                    key: "service.name".into(),
                    value: AnyValue::string(&s.service),
                },
                Attribute {
                    key: "status".into(),
                    value: AnyValue::string(s.status.as_str()),
                },
            ]
            .into_iter()
            .chain(s.selected.iter().map(|(k, v)| Attribute {
                key: k.clone(),
                value: AnyValue::from(v),
            }))
            .collect(),
        }
    }
}

/// `/api/metrics/query_range`'s response.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueryRangeResponse {
    pub series: Vec<TimeSeries>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeSeries {
    pub labels: Vec<Attribute>,
    /// The labels in Prometheus' text form: `{resource_service_name="checkout"}`.
    pub prom_labels: String,
    pub samples: Vec<Sample>,
    /// Sample spans behind the series, when asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exemplars: Vec<ExemplarJson>,
}

/// A sample span on a series: its trace and span ids as labels, a value on the series' scale
/// and its start.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExemplarJson {
    pub labels: Vec<Attribute>,
    pub value: f64,
    pub timestamp_ms: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    pub timestamp_ms: String,
    /// `null` where the value is not a finite number (an average over no spans).
    pub value: Option<f64>,
}

impl QueryRangeResponse {
    pub fn new(result: &MetricsResult) -> QueryRangeResponse {
        QueryRangeResponse {
            series: result.series.iter().map(TimeSeries::from).collect(),
        }
    }

    /// [`QueryRangeResponse::new`] with each exemplar on the series whose labels it carries
    /// (a quantile's `p` aside). Its value is the span's duration for duration-valued
    /// functions (`durations`), else the series' value at its step, so it sits on the line.
    pub fn with_exemplars(
        result: &MetricsResult,
        exemplars: &[Exemplar],
        step_ns: u64,
        durations: bool,
    ) -> QueryRangeResponse {
        let mut out = QueryRangeResponse::new(result);
        for (series, json) in result.series.iter().zip(out.series.iter_mut()) {
            let own: Vec<&(String, LabelValue)> =
                series.labels.iter().filter(|(k, _)| k != "p").collect();
            for e in exemplars {
                if e.labels.len() != own.len() || e.labels.iter().zip(&own).any(|(a, b)| a != *b) {
                    continue;
                }
                let value = if durations {
                    Some(e.duration_s)
                } else {
                    series
                        .samples
                        .iter()
                        .find(|(t, _)| *t <= e.timestamp_ns && e.timestamp_ns < t + step_ns)
                        .map(|(_, v)| *v)
                        .filter(|v| v.is_finite())
                };
                let Some(value) = value else { continue };
                json.exemplars.push(ExemplarJson {
                    labels: vec![
                        Attribute {
                            key: "trace:id".into(),
                            value: (&LabelValue::Str(e.trace_id.to_string())).into(),
                        },
                        Attribute {
                            key: "span:id".into(),
                            value: (&LabelValue::Str(e.span_id.to_string())).into(),
                        },
                    ],
                    value,
                    timestamp_ms: (e.timestamp_ns / 1_000_000).to_string(),
                });
            }
        }
        out
    }
}

/// `/api/metrics/query`'s response: one value per series for the whole range.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueryInstantResponse {
    pub series: Vec<InstantSeries>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstantSeries {
    pub labels: Vec<Attribute>,
    pub prom_labels: String,
    /// `null` where the value is not a finite number.
    pub value: Option<f64>,
}

impl QueryInstantResponse {
    /// From an instant query's result (one sample per series; a series without one is null).
    pub fn new(result: &MetricsResult) -> QueryInstantResponse {
        QueryInstantResponse {
            series: result
                .series
                .iter()
                .map(|s| {
                    let t = TimeSeries::from(s);
                    InstantSeries {
                        labels: t.labels,
                        prom_labels: t.prom_labels,
                        value: t.samples.first().and_then(|x| x.value),
                    }
                })
                .collect(),
        }
    }
}

impl From<&Series> for TimeSeries {
    fn from(s: &Series) -> Self {
        TimeSeries {
            labels: s
                .labels
                .iter()
                .map(|(k, v)| Attribute {
                    key: k.clone(),
                    value: v.into(),
                })
                .collect(),
            prom_labels: prom_labels(&s.labels),
            samples: s
                .samples
                .iter()
                .map(|(t, v)| Sample {
                    timestamp_ms: (t / 1_000_000).to_string(),
                    value: v.is_finite().then_some(*v),
                })
                .collect(),
            exemplars: Vec::new(),
        }
    }
}

fn prom_labels(labels: &[(String, LabelValue)]) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            format!(
                "{}=\"{}\"",
                k.replace(['.', ':', '-', '/'], "_"),
                v.to_string().replace('"', "\\\"")
            )
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}
