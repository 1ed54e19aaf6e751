//! `/metrics` in Prometheus' text exposition format: counters, the queue depth, the store's
//! size, and request latency histograms per endpoint.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// A monotonically increasing count.
#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS_S: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// What the Kafka consumer counts.
#[derive(Default)]
pub struct KafkaMetrics {
    pub messages: Counter,
    pub spans: Counter,
    /// Log records read from a logs topic.
    pub log_records: Counter,
    /// Spans without valid ids, dropped while decoding a message that was otherwise kept.
    pub spans_dropped: Counter,
    /// Messages that could not be decoded and were skipped.
    pub poison: Counter,
    /// Times the partitions were paused because the write queue was full.
    pub pauses: Counter,
    pub commit_failures: Counter,
    pub errors: Counter,
    /// (topic, partition) -> (durable next offset, high watermark); -1 = unknown.
    partitions: Mutex<BTreeMap<(String, i32), (i64, i64)>>,
}

impl KafkaMetrics {
    pub fn set_position(&self, topic: &str, partition: i32, next_offset: i64) {
        if let Ok(mut m) = self.partitions.lock() {
            m.entry((topic.to_owned(), partition)).or_insert((-1, -1)).0 = next_offset;
        }
    }

    pub fn set_high_watermark(&self, topic: &str, partition: i32, high: i64) {
        if let Ok(mut m) = self.partitions.lock() {
            m.entry((topic.to_owned(), partition)).or_insert((-1, -1)).1 = high;
        }
    }

    /// (topic, partition, durable next offset, high watermark).
    pub fn partitions(&self) -> Vec<(String, i32, i64, i64)> {
        self.partitions
            .lock()
            .map(|m| {
                m.iter()
                    .map(|((t, p), (o, h))| (t.clone(), *p, *o, *h))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn render(&self, out: &mut String) {
        let parts = self.partitions();
        if parts.is_empty() && self.messages.get() == 0 {
            return;
        }
        for (name, help, v) in [
            (
                "spandb_kafka_messages_total",
                "Kafka messages consumed.",
                &self.messages,
            ),
            (
                "spandb_kafka_spans_total",
                "Spans decoded from Kafka messages.",
                &self.spans,
            ),
            (
                "spandb_kafka_log_records_total",
                "Log records decoded from Kafka messages (logs topic).",
                &self.log_records,
            ),
            (
                "spandb_kafka_spans_dropped_total",
                "Spans without valid ids dropped from Kafka messages.",
                &self.spans_dropped,
            ),
            (
                "spandb_kafka_poison_messages_total",
                "Undecodable Kafka messages skipped.",
                &self.poison,
            ),
            (
                "spandb_kafka_pauses_total",
                "Times the partitions were paused because the write queue was full.",
                &self.pauses,
            ),
            (
                "spandb_kafka_commit_failures_total",
                "Offset commits to Kafka that failed (offsets stay stored in spandb).",
                &self.commit_failures,
            ),
            (
                "spandb_kafka_errors_total",
                "Errors the Kafka client reported.",
                &self.errors,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.get()
            );
        }
        let _ = writeln!(out, "# HELP spandb_kafka_offset Next offset to consume whose spans are durable.\n# TYPE spandb_kafka_offset gauge");
        for (t, p, o, _) in &parts {
            if *o >= 0 {
                let _ = writeln!(
                    out,
                    "spandb_kafka_offset{{topic=\"{}\",partition=\"{p}\"}} {o}",
                    escape(t)
                );
            }
        }
        let _ = writeln!(out, "# HELP spandb_kafka_consumer_lag Messages in the partition not yet durable in spandb.\n# TYPE spandb_kafka_consumer_lag gauge");
        for (t, p, o, h) in &parts {
            if *h >= 0 {
                let lag = (*h - (*o).max(0)).max(0);
                let _ = writeln!(
                    out,
                    "spandb_kafka_consumer_lag{{topic=\"{}\",partition=\"{p}\"}} {lag}",
                    escape(t)
                );
            }
        }
    }
}

#[derive(Clone, Default)]
struct Histogram {
    counts: [u64; BUCKETS_S.len()],
    count: u64,
    sum_s: f64,
}

/// Everything the server counts.
#[derive(Default)]
pub struct Metrics {
    pub spans_received: Counter,
    pub spans_rejected: Counter,
    pub spans_written: Counter,
    pub write_errors: Counter,
    pub requests_refused_full: Counter,
    /// Log records decoded from OTLP requests.
    pub logs_received: Counter,
    /// Log records refused (queue full, invalid, shutting down).
    pub logs_rejected: Counter,
    pub logs_written: Counter,
    /// OTLP log requests answered 400 (undecodable body, invalid record).
    pub log_requests_invalid: Counter,
    /// The Kafka consumer's counters and per-partition offsets.
    pub kafka: KafkaMetrics,
    /// (endpoint, status class) -> latency histogram.
    requests: Mutex<BTreeMap<(String, u16), Histogram>>,
}

impl Metrics {
    pub fn observe_request(&self, endpoint: &str, status: u16, took: Duration) {
        let Ok(mut map) = self.requests.lock() else {
            return;
        };
        let h = map.entry((endpoint.to_owned(), status)).or_default();
        let s = took.as_secs_f64();
        for (i, le) in BUCKETS_S.iter().enumerate() {
            if s <= *le {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum_s += s;
    }

    /// The exposition text; `queued` and `stats` are read by the caller at scrape time.
    pub fn render(&self, queued: usize, stats: Option<&spandb::Stats>) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        counter(
            &mut out,
            "spandb_spans_received_total",
            "Spans decoded from OTLP requests.",
            self.spans_received.get(),
        );
        counter(
            &mut out,
            "spandb_spans_rejected_total",
            "Spans refused (queue full, invalid, shutting down).",
            self.spans_rejected.get(),
        );
        counter(
            &mut out,
            "spandb_spans_written_total",
            "Spans written durably.",
            self.spans_written.get(),
        );
        counter(
            &mut out,
            "spandb_write_errors_total",
            "Group commits that failed.",
            self.write_errors.get(),
        );
        counter(
            &mut out,
            "spandb_requests_refused_queue_full_total",
            "Requests answered 429/Unavailable because the queue was full.",
            self.requests_refused_full.get(),
        );
        counter(
            &mut out,
            "spandb_logs_received_total",
            "Log records decoded from OTLP requests.",
            self.logs_received.get(),
        );
        counter(
            &mut out,
            "spandb_logs_rejected_total",
            "Log records refused (queue full, invalid, shutting down).",
            self.logs_rejected.get(),
        );
        counter(
            &mut out,
            "spandb_logs_written_total",
            "Log records written durably.",
            self.logs_written.get(),
        );
        counter(
            &mut out,
            "spandb_log_requests_invalid_total",
            "OTLP log requests answered 400 (malformed body or invalid record).",
            self.log_requests_invalid.get(),
        );
        let _ = writeln!(
            out,
            "# HELP spandb_queue_spans Records (spans and log records) waiting to be written.\n# TYPE spandb_queue_spans gauge\nspandb_queue_spans {queued}"
        );
        self.kafka.render(&mut out);
        if let Some(st) = stats {
            let _ = writeln!(
                out,
                "# HELP spandb_blocks Sealed blocks.\n# TYPE spandb_blocks gauge\nspandb_blocks {}",
                st.blocks
            );
            let _ = writeln!(out, "# HELP spandb_block_bytes Bytes in sealed blocks.\n# TYPE spandb_block_bytes gauge\nspandb_block_bytes {}", st.block_bytes);
            let _ = writeln!(out, "# HELP spandb_sealed_spans Spans in sealed blocks.\n# TYPE spandb_sealed_spans gauge\nspandb_sealed_spans {}", st.sealed_spans);
        }
        let _ = writeln!(
            out,
            "# HELP spandb_request_duration_seconds Request latency per endpoint and status.\n# TYPE spandb_request_duration_seconds histogram"
        );
        if let Ok(map) = self.requests.lock() {
            for ((endpoint, status), h) in map.iter() {
                let labels = format!("endpoint=\"{}\",status=\"{status}\"", escape(endpoint));
                for (i, le) in BUCKETS_S.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "spandb_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {}",
                        h.counts[i]
                    );
                }
                let _ = writeln!(
                    out,
                    "spandb_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "spandb_request_duration_seconds_sum{{{labels}}} {}",
                    h.sum_s
                );
                let _ = writeln!(
                    out,
                    "spandb_request_duration_seconds_count{{{labels}}} {}",
                    h.count
                );
            }
        }
        out
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
