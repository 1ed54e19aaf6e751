//! The Kafka consumer: reads what the OpenTelemetry Collector's `kafka` exporter writes (one
//! OTLP `ExportTraceServiceRequest` per message, protobuf or JSON; one batch or one trace per
//! message; headers ignored) and writes it through the ingest queue with the consumed offsets
//! in the same log write ([`spandb::Db::write_with_sources`]), so that a restart after kill -9
//! resumes exactly where the store stands: no span lost, none written twice. A consumer of
//! the logs topic ([`KafkaSignal::Logs`], `ExportLogsServiceRequest`s) does the same with
//! [`spandb::Db::write_logs_with_sources`], writing from its own thread.
//!
//! - Offsets are stored as `kafka/<group>/<topic>/<partition>` → next offset to consume. On
//!   start (and on every assignment) the consumer starts each partition at the larger of the
//!   stored offset and the one committed to Kafka (another node of the group may have gone
//!   further; the spans up to there are on that node).
//! - After each durable write the offsets are also committed to Kafka (asynchronously, best
//!   effort), so that lag tools see progress; correctness never depends on that commit.
//! - A message that cannot be decoded is counted, logged with topic/partition/offset, sent to
//!   the dead-letter topic when one is configured, and skipped (its offset still advances).
//! - When the write queue is full, the assigned partitions are paused until it drains: the
//!   consumer never buffers more than one batch beyond the queue.
//! - On revoke (a rebalance in a consumer group), everything consumed is made durable and its
//!   offsets committed before the partitions are let go.

mod consumer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use consumer::KafkaStartError;

use crate::ingest::Ingest;
use crate::metrics::Metrics;

/// How a message's value is encoded (the Collector kafka exporter's `encoding`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KafkaEncoding {
    /// Protobuf `ExportTraceServiceRequest` (the exporter's default, `otlp_proto`).
    OtlpProto,
    /// OTLP/JSON (`otlp_json`).
    OtlpJson,
}

impl std::str::FromStr for KafkaEncoding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "otlp_proto" => Ok(KafkaEncoding::OtlpProto),
            "otlp_json" => Ok(KafkaEncoding::OtlpJson),
            other => Err(format!(
                "unknown Kafka encoding {other:?}: use otlp_proto or otlp_json"
            )),
        }
    }
}

/// What the topic carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KafkaSignal {
    /// `ExportTraceServiceRequest`s (the Collector's `otlp_spans` topic), written with
    /// [`spandb::Db::write_with_sources`] through the ingest queue.
    Spans,
    /// `ExportLogsServiceRequest`s (the Collector's `otlp_logs` topic), written with
    /// [`spandb::Db::write_logs_with_sources`].
    Logs,
}

/// Which partitions this node reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KafkaPartitions {
    /// Join the consumer group and read what the group coordinator assigns (the default).
    Group,
    /// Read every partition of the topic, without group membership (offsets are still
    /// committed under the group id).
    All,
    /// Read exactly these partitions, without group membership.
    Only(Vec<i32>),
}

/// Settings of the Kafka consumer.
#[derive(Clone, Debug)]
pub struct KafkaConfig {
    /// `host:port[,host:port...]`.
    pub brokers: String,
    pub topic: String,
    /// Consumer group id; also part of the stored offsets' names.
    pub group: String,
    pub encoding: KafkaEncoding,
    /// Spans (the default) or logs.
    pub signal: KafkaSignal,
    pub partitions: KafkaPartitions,
    /// Undecodable messages are copied here (key and value unchanged) when set.
    pub dead_letter_topic: Option<String>,
    /// Spans (or log records) gathered before one write. Defaults to 5000.
    pub batch_spans: usize,
    /// Longest a partial batch waits for more messages. Defaults to 20 ms.
    pub linger: Duration,
    /// Extra librdkafka properties (`key=value`), applied last.
    pub properties: Vec<(String, String)>,
}

impl KafkaConfig {
    pub fn new(brokers: &str, topic: &str, group: &str) -> KafkaConfig {
        KafkaConfig {
            brokers: brokers.to_owned(),
            topic: topic.to_owned(),
            group: group.to_owned(),
            encoding: KafkaEncoding::OtlpProto,
            signal: KafkaSignal::Spans,
            partitions: KafkaPartitions::Group,
            dead_letter_topic: None,
            batch_spans: 5000,
            linger: Duration::from_millis(20),
            properties: Vec::new(),
        }
    }

    /// A consumer of the Collector's logs topic (OTLP `ExportLogsServiceRequest`s).
    pub fn logs(brokers: &str, topic: &str, group: &str) -> KafkaConfig {
        KafkaConfig {
            signal: KafkaSignal::Logs,
            ..KafkaConfig::new(brokers, topic, group)
        }
    }

    /// The prefix of this consumer's stored offsets: `kafka/<group>/<topic>/`.
    pub fn source_prefix(&self) -> String {
        format!("kafka/{}/{}/", self.group, self.topic)
    }
}

/// A running consumer thread.
pub struct KafkaConsumer {
    shared: Arc<consumer::Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl KafkaConsumer {
    /// Connects (the client is created and the partitions assigned or subscribed before this
    /// returns) and starts consuming on its own thread.
    pub fn start(
        db: Arc<spandb::Db>,
        ingest: Ingest,
        metrics: Arc<Metrics>,
        config: KafkaConfig,
    ) -> Result<KafkaConsumer, KafkaStartError> {
        let stop = Arc::new(AtomicBool::new(false));
        let runner = consumer::Runner::connect(db, ingest, metrics, config, stop.clone())?;
        let shared = runner.shared();
        let thread = std::thread::Builder::new()
            .name("spandb-kafka".into())
            .spawn(move || runner.run())
            .map_err(|e| KafkaStartError::Client(format!("cannot start the thread: {e}")))?;
        Ok(KafkaConsumer {
            shared,
            stop,
            thread: Some(thread),
        })
    }

    /// The partitions this node reads now (in a consumer group: what the coordinator
    /// assigned, which changes with rebalances).
    pub fn assigned(&self) -> Vec<i32> {
        let mut p = self.shared.assigned();
        p.sort_unstable();
        p
    }

    /// Stops consuming: what was read is written, its offsets stored and committed.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for KafkaConsumer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}
