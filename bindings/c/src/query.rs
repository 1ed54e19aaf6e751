//! TraceQL search (trace summaries) and metrics (series), as C views or Tempo-shaped JSON.

use std::ffi::c_char;

use spandb_api::query::MetricsPath;
use spandb_api::render::tempo;
use spandb_api::{LabelValue, MetricsRequest, MetricsResult, TimeRange, TraceSummary};

use crate::args::{c_text, out_param, store};
use crate::db::{db, spandb_db};
use crate::error::{guard, spandb_status, CError, CResult};
use crate::handle::{hand_out, take_back, ViewKind};
use crate::read::{json_bytes, return_bytes};
use crate::types::*;
use crate::view::str_of;

/// A span a search matched.
#[repr(C)]
pub struct spandb_matched_span {
    pub span_id: [u8; 8],
    pub name: spandb_str,
    pub service: spandb_str,
    pub start_ns: u64,
    pub duration_ns: u64,
    /// 0 unset, 1 ok, 2 error.
    pub status_code: u32,
}

/// One trace a search found (the shape of Grafana Tempo's trace search metadata).
#[repr(C)]
pub struct spandb_trace_summary {
    pub trace_id: [u8; 16],
    /// 1 when the root span is stored; `root_service` and `root_name` are empty otherwise.
    pub has_root: u8,
    pub root_service: spandb_str,
    pub root_name: spandb_str,
    /// Start of the earliest span, ns since the Unix epoch.
    pub start_ns: u64,
    /// From the earliest start to the latest end.
    pub duration_ns: u64,
    pub span_count: u64,
    /// The matching spans, by start time.
    pub matched: *const spandb_matched_span,
    pub matched_len: usize,
}

/// Search results, newest trace first. Valid until `spandb_search_result_free`.
#[repr(C)]
pub struct spandb_search_result {
    pub traces: *const spandb_trace_summary,
    pub traces_len: usize,
}

/// One sample of a series: the step's start and its value.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct spandb_sample {
    pub time_ns: u64,
    pub value: f64,
}

/// One time series: labels (the `by(...)` fields, then `p` for quantiles; a missing attribute
/// is a `SPANDB_VALUE_EMPTY` value) and samples.
#[repr(C)]
pub struct spandb_series {
    pub labels: *const spandb_key_value,
    pub labels_len: usize,
    pub samples: *const spandb_sample,
    pub samples_len: usize,
}

/// `spandb_metrics_result.path`: answered from block rollups without decoding spans.
pub const SPANDB_METRICS_PATH_ROLLUP: u32 = 0;
/// `spandb_metrics_result.path`: answered by scanning span columns.
pub const SPANDB_METRICS_PATH_SCAN: u32 = 1;
/// `spandb_metrics_result.path`: answered by assembling candidate traces.
pub const SPANDB_METRICS_PATH_TRACE: u32 = 2;

/// Metrics results. Valid until `spandb_metrics_result_free`.
#[repr(C)]
pub struct spandb_metrics_result {
    pub series: *const spandb_series,
    pub series_len: usize,
    /// How it was answered: a `SPANDB_METRICS_PATH_*` constant.
    pub path: u32,
}

#[repr(C)]
struct SearchView {
    public: spandb_search_result,
    _summaries: Vec<spandb_trace_summary>,
    _matched: Vec<Vec<spandb_matched_span>>,
    _rust: Vec<TraceSummary>,
}

#[repr(C)]
struct MetricsView {
    public: spandb_metrics_result,
    _series: Vec<spandb_series>,
    _samples: Vec<Vec<spandb_sample>>,
    _labels: Vec<Vec<spandb_key_value>>,
    _rust: MetricsResult,
}

fn ptr_or_null<T>(v: &[T]) -> *const T {
    if v.is_empty() {
        std::ptr::null()
    } else {
        v.as_ptr()
    }
}

pub(crate) fn range(start_ns: u64, end_ns: u64) -> CResult<TimeRange> {
    let end = if end_ns == 0 { u64::MAX } else { end_ns };
    if start_ns >= end {
        return Err(CError::invalid(format!(
            "empty time range: start {start_ns} >= end {end_ns}"
        )));
    }
    Ok(TimeRange::new(start_ns, end))
}

/// An optional range such as a baseline: both bounds 0 mean none.
pub(crate) fn optional_range(start_ns: u64, end_ns: u64) -> CResult<Option<TimeRange>> {
    if start_ns == 0 && end_ns == 0 {
        return Ok(None);
    }
    range(start_ns, end_ns).map(Some)
}

/// # Safety
/// As `spandb_search` documents.
unsafe fn run_search(
    handle: *const spandb_db,
    text: *const c_char,
    start_ns: u64,
    end_ns: u64,
    limit: usize,
) -> CResult<Vec<TraceSummary>> {
    // SAFETY: the caller's contract.
    let text = unsafe { c_text(text, "query") }?;
    let range = range(start_ns, end_ns)?;
    Ok(db(handle)?.search(text, range, limit)?)
}

/// Runs a TraceQL search (`{ resource.service.name = "api" && status = error }`): traces with
/// spans matching `query` (NUL-terminated UTF-8) among spans starting in `[start_ns, end_ns)`
/// (`end_ns == 0` means no upper bound), newest trace first, at most `limit` of them.
/// Syntax errors give `SPANDB_ERR_QUERY_SYNTAX` with the line and column in the message.
///
/// On success `*out` receives results the caller owns: release them with
/// `spandb_search_result_free`. They do not depend on `db`. On failure `*out` is untouched.
/// Thread safety: any thread, concurrently with any call on the same `db`.
///
/// # Safety
/// `query` must be NULL or NUL-terminated; `out` NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn spandb_search(
    db: *const spandb_db,
    query: *const c_char,
    start_ns: u64,
    end_ns: u64,
    limit: usize,
    out: *mut *mut spandb_search_result,
) -> spandb_status {
    guard(|| {
        out_param(out, "out")?;
        // SAFETY: the contract above.
        let found = unsafe { run_search(db, query, start_ns, end_ns, limit) }?;
        let mut matched_lists = Vec::with_capacity(found.len());
        let mut summaries = Vec::with_capacity(found.len());
        for t in &found {
            let matched: Vec<spandb_matched_span> = t
                .matched
                .iter()
                .map(|m| spandb_matched_span {
                    span_id: m.span_id.0,
                    name: str_of(&m.name),
                    service: str_of(&m.service),
                    start_ns: m.start_ns,
                    duration_ns: m.duration_ns,
                    status_code: m.status as u32,
                })
                .collect();
            summaries.push(spandb_trace_summary {
                trace_id: t.trace_id.0,
                has_root: u8::from(t.root_name.is_some() || t.root_service.is_some()),
                root_service: t
                    .root_service
                    .as_deref()
                    .map(str_of)
                    .unwrap_or(spandb_str::EMPTY),
                root_name: t
                    .root_name
                    .as_deref()
                    .map(str_of)
                    .unwrap_or(spandb_str::EMPTY),
                start_ns: t.start_ns,
                duration_ns: t.duration_ns,
                span_count: t.span_count as u64,
                matched: ptr_or_null(&matched),
                matched_len: matched.len(),
            });
            matched_lists.push(matched);
        }
        let view = Box::new(SearchView {
            public: spandb_search_result {
                traces: ptr_or_null(&summaries),
                traces_len: summaries.len(),
            },
            _summaries: summaries,
            _matched: matched_lists,
            _rust: found,
        });
        // SAFETY: `out` checked non-NULL; valid for writes per the contract.
        unsafe { store(out, hand_out(view, ViewKind::Search).cast()) };
        Ok(())
    })
}

/// As `spandb_search`, with the results as Grafana Tempo's search response JSON
/// (`{"traces":[...]}`, UTF-8, not NUL-terminated). Free with `spandb_bytes_free`.
///
/// # Safety
/// `query` must be NULL or NUL-terminated; `out` NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn spandb_search_json(
    db: *const spandb_db,
    query: *const c_char,
    start_ns: u64,
    end_ns: u64,
    limit: usize,
    out: *mut *mut spandb_bytes,
) -> spandb_status {
    // SAFETY: `out` is NULL or valid for a pointer, per the contract above.
    unsafe {
        return_bytes(out, || {
            // SAFETY: the contract above.
            let found = run_search(db, query, start_ns, end_ns, limit)?;
            json_bytes(&tempo::SearchResponse::new(&found))
        })
    }
}

/// Releases search results. Freeing twice, or freeing something else, returns
/// `SPANDB_ERR_INVALID_HANDLE` (detected unless the address was reused for newer results).
/// Thread safety: any thread, once no thread reads the results any more.
///
/// # Safety
/// `result` must be NULL or a pointer spandb returned (or one it will reject as not live).
#[no_mangle]
pub unsafe extern "C" fn spandb_search_result_free(
    result: *mut spandb_search_result,
) -> spandb_status {
    // SAFETY: `SearchView` is what `spandb_search` registers under `ViewKind::Search`.
    guard(|| {
        unsafe { take_back(result.cast::<SearchView>(), ViewKind::Search, "result") }.map(drop)
    })
}

/// # Safety
/// As `spandb_metrics` documents.
unsafe fn run_metrics(
    handle: *const spandb_db,
    text: *const c_char,
    start_ns: u64,
    end_ns: u64,
    step_ns: u64,
) -> CResult<MetricsResult> {
    // SAFETY: the caller's contract.
    let text = unsafe { c_text(text, "query") }?;
    if step_ns == 0 {
        return Err(CError::invalid("`step_ns` must be at least 1"));
    }
    let snapshot = db(handle)?.snapshot()?;
    let window = if start_ns == 0 && end_ns == 0 {
        // No data: an empty window, still run so that the query is validated.
        snapshot.time_range().unwrap_or(TimeRange::new(0, step_ns))
    } else {
        range(start_ns, end_ns)?
    };
    let req = MetricsRequest::aligned(window.start_ns, window.end_ns, step_ns);
    Ok(snapshot.metrics(text, req)?)
}

/// Runs a TraceQL metrics query (`{ status = error } | rate() by (resource.service.name)`,
/// `count_over_time()`, `avg_over_time(duration)`, `quantile_over_time(duration, .5, .99)`) over
/// spans starting in `[start_ns, end_ns)` with one sample per `step_ns`; the window is widened
/// to whole steps. `start_ns == end_ns == 0` means the time range the data covers.
///
/// On success `*out` receives results the caller owns: release them with
/// `spandb_metrics_result_free`. They do not depend on `db`. On failure `*out` is untouched.
/// Thread safety: any thread, concurrently with any call on the same `db`.
///
/// # Safety
/// `query` must be NULL or NUL-terminated; `out` NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn spandb_metrics(
    db: *const spandb_db,
    query: *const c_char,
    start_ns: u64,
    end_ns: u64,
    step_ns: u64,
    out: *mut *mut spandb_metrics_result,
) -> spandb_status {
    guard(|| {
        out_param(out, "out")?;
        // SAFETY: the contract above.
        let result = unsafe { run_metrics(db, query, start_ns, end_ns, step_ns) }?;
        let mut labels = Vec::with_capacity(result.series.len());
        let mut samples = Vec::with_capacity(result.series.len());
        let mut series = Vec::with_capacity(result.series.len());
        for s in &result.series {
            let l: Vec<spandb_key_value> = s
                .labels
                .iter()
                .map(|(key, value)| {
                    let mut v = spandb_value::EMPTY;
                    match value {
                        LabelValue::Str(text) => {
                            v.kind = SPANDB_VALUE_STRING;
                            v.string_value = str_of(text);
                        }
                        LabelValue::Int(i) => {
                            v.kind = SPANDB_VALUE_INT;
                            v.int_value = *i;
                        }
                        LabelValue::Float(f) => {
                            v.kind = SPANDB_VALUE_DOUBLE;
                            v.double_value = *f;
                        }
                        LabelValue::Bool(b) => {
                            v.kind = SPANDB_VALUE_BOOL;
                            v.bool_value = u8::from(*b);
                        }
                        LabelValue::Nil => {}
                    }
                    spandb_key_value {
                        key: str_of(key),
                        value: v,
                    }
                })
                .collect();
            let smp: Vec<spandb_sample> = s
                .samples
                .iter()
                .map(|(t, v)| spandb_sample {
                    time_ns: *t,
                    value: *v,
                })
                .collect();
            series.push(spandb_series {
                labels: ptr_or_null(&l),
                labels_len: l.len(),
                samples: ptr_or_null(&smp),
                samples_len: smp.len(),
            });
            labels.push(l);
            samples.push(smp);
        }
        let path = match result.path {
            MetricsPath::Rollup => SPANDB_METRICS_PATH_ROLLUP,
            MetricsPath::Scan => SPANDB_METRICS_PATH_SCAN,
            MetricsPath::Trace => SPANDB_METRICS_PATH_TRACE,
        };
        let view = Box::new(MetricsView {
            public: spandb_metrics_result {
                series: ptr_or_null(&series),
                series_len: series.len(),
                path,
            },
            _series: series,
            _samples: samples,
            _labels: labels,
            _rust: result,
        });
        // SAFETY: `out` checked non-NULL; valid for writes per the contract.
        unsafe { store(out, hand_out(view, ViewKind::Metrics).cast()) };
        Ok(())
    })
}

/// As `spandb_metrics`, with the results as Grafana Tempo's metrics query-range JSON (UTF-8,
/// not NUL-terminated). Free with `spandb_bytes_free`.
///
/// # Safety
/// `query` must be NULL or NUL-terminated; `out` NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn spandb_metrics_json(
    db: *const spandb_db,
    query: *const c_char,
    start_ns: u64,
    end_ns: u64,
    step_ns: u64,
    out: *mut *mut spandb_bytes,
) -> spandb_status {
    // SAFETY: `out` is NULL or valid for a pointer, per the contract above.
    unsafe {
        return_bytes(out, || {
            // SAFETY: the contract above.
            let result = run_metrics(db, query, start_ns, end_ns, step_ns)?;
            json_bytes(&tempo::QueryRangeResponse::new(&result))
        })
    }
}

/// Releases metrics results. Freeing twice, or freeing something else, returns
/// `SPANDB_ERR_INVALID_HANDLE` (detected unless the address was reused for newer results).
/// Thread safety: any thread, once no thread reads the results any more.
///
/// # Safety
/// `result` must be NULL or a pointer spandb returned (or one it will reject as not live).
#[no_mangle]
pub unsafe extern "C" fn spandb_metrics_result_free(
    result: *mut spandb_metrics_result,
) -> spandb_status {
    // SAFETY: `MetricsView` is what `spandb_metrics` registers under `ViewKind::Metrics`.
    guard(|| {
        unsafe { take_back(result.cast::<MetricsView>(), ViewKind::Metrics, "result") }.map(drop)
    })
}
