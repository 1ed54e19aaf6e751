//! The consumer loop and the rebalance handling (one thread owns the librdkafka consumer;
//! rebalance callbacks run on it, inside `poll`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaResult;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::ClientContext;
use spandb::{Db, LogRecord, Span};
use tokio::sync::oneshot;

use super::{KafkaConfig, KafkaEncoding, KafkaPartitions, KafkaSignal};
use crate::ingest::{Ingest, IngestError};
use crate::metrics::Metrics;

/// Writes in flight before the consumer waits for the oldest.
const MAX_IN_FLIGHT: usize = 4;
/// How often consumer lag is measured (one watermark request per partition).
const LAG_INTERVAL: Duration = Duration::from_secs(2);
/// Longest a metadata or offset request to the broker may take.
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the consumer could not start.
#[derive(Debug, thiserror::Error)]
pub enum KafkaStartError {
    #[error("Kafka client: {0}")]
    Client(String),
    #[error("cannot read the stored Kafka offsets: {0}")]
    Offsets(String),
}

type Ack = oneshot::Receiver<Result<(), IngestError>>;

/// What has been read but is not yet durable.
#[derive(Default)]
struct Pipeline {
    spans: Vec<Span>,
    /// Read from a logs topic ([`KafkaSignal::Logs`]), not yet written.
    logs: Vec<LogRecord>,
    /// partition -> next offset, for messages in `spans`/`logs` (or skipped).
    positions: BTreeMap<i32, i64>,
    since: Option<Instant>,
    in_flight: VecDeque<(Ack, BTreeMap<i32, i64>)>,
    assigned: Vec<i32>,
    /// partition -> next offset whose spans are durable (what Kafka is told).
    durable: BTreeMap<i32, i64>,
    /// A write failed: stop consuming (the offsets of what failed were not stored, so a
    /// restart reads it again).
    failed: bool,
}

pub(super) struct Shared {
    db: Arc<Db>,
    ingest: Ingest,
    metrics: Arc<Metrics>,
    config: KafkaConfig,
    pipe: Mutex<Pipeline>,
    dead_letters: Option<BaseProducer>,
}

pub(super) struct Ctx {
    shared: Arc<Shared>,
}

impl ClientContext for Ctx {
    /// librdkafka's own log lines (connection trouble, and with the `debug` property the
    /// group protocol) go to the server's structured log.
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", facility, "{message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility, "{message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", facility, "{message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
        }
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.shared.metrics.kafka.errors.add(1);
        tracing::warn!(target: "librdkafka", error = %error, reason, "Kafka client error");
    }
}

impl ConsumerContext for Ctx {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let s = &self.shared;
        // Eager (classic `range`/`roundrobin`): every partition is revoked, then a new set
        // assigned. Cooperative (`cooperative-sticky`, or the KIP-848 `group.protocol=consumer`):
        // only the partitions that move are revoked or assigned.
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let partitions: Vec<i32> = tpl
            .elements_for_topic(&s.config.topic)
            .iter()
            .map(|e| e.partition())
            .collect();
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let starts = s.start_offsets(consumer, &partitions);
                for (p, offset) in &starts {
                    let _ = tpl.set_partition_offset(&s.config.topic, *p, *offset);
                }
                tracing::info!(
                    topic = %s.config.topic,
                    partitions = ?partitions,
                    starts = ?starts,
                    cooperative,
                    "Kafka partitions assigned"
                );
                // Owned from here on; messages of other partitions still in the local queue
                // (fetched before a revoke) are dropped, not written.
                {
                    let mut pipe = s.lock();
                    if !cooperative {
                        pipe.assigned.clear();
                    }
                    for p in &partitions {
                        if !pipe.assigned.contains(p) {
                            pipe.assigned.push(*p);
                        }
                    }
                }
                let assigned = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                if let Err(e) = assigned {
                    tracing::error!(error = %e, "Kafka assign failed");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let lost = consumer.assignment_lost();
                {
                    let mut pipe = s.lock();
                    // Everything read so far is written and its offsets committed (the
                    // revoked partitions' included) before they are let go: their next owner
                    // starts from that commit.
                    s.make_durable(&mut pipe, consumer);
                    pipe.assigned.retain(|p| !partitions.contains(p));
                    for p in &partitions {
                        pipe.durable.remove(p);
                        pipe.positions.remove(p);
                    }
                    if pipe.assigned.is_empty() {
                        pipe.spans.clear();
                        pipe.logs.clear();
                        pipe.since = None;
                    }
                }
                tracing::info!(
                    topic = %s.config.topic,
                    partitions = ?partitions,
                    lost,
                    cooperative,
                    "Kafka partitions revoked after storing their offsets"
                );
                let unassigned = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
                if let Err(e) = unassigned {
                    tracing::error!(error = %e, "Kafka unassign failed");
                }
            }
            other => {
                tracing::warn!(error = ?other, "Kafka rebalance error; letting the partitions go");
                let _ = consumer.unassign();
                s.lock().assigned.clear();
            }
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            let m = &self.shared.metrics.kafka;
            if m.commit_failures.get() == 0 {
                tracing::warn!(
                    error = %e,
                    "committing offsets to Kafka failed; offsets stay stored in spandb, only \
                     lag tools miss them (further failures only counted)"
                );
            }
            m.commit_failures.add(1);
        }
    }
}

pub(super) struct Runner {
    consumer: BaseConsumer<Ctx>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
}

impl Runner {
    pub(super) fn connect(
        db: Arc<Db>,
        ingest: Ingest,
        metrics: Arc<Metrics>,
        config: KafkaConfig,
        stop: Arc<AtomicBool>,
    ) -> Result<Runner, KafkaStartError> {
        let client = |e: rdkafka::error::KafkaError| KafkaStartError::Client(e.to_string());
        let mut cc = ClientConfig::new();
        cc.set("bootstrap.servers", &config.brokers)
            .set("group.id", &config.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            // The local prefetch is bounded; pausing stops it altogether.
            .set("queued.max.messages.kbytes", "16384")
            // A fetch that finds nothing returns within 50 ms (brokers such as tansu hold it
            // for the whole wait): bounds produce-to-searchable latency on quiet partitions.
            .set("fetch.wait.max.ms", "50");
        // The classic protocol's default; the KIP-848 protocol (`group.protocol=consumer`)
        // assigns on the broker and refuses the setting. The rebalance callback handles
        // eager and cooperative assignors alike.
        let kip848 = config
            .properties
            .iter()
            .any(|(k, v)| k == "group.protocol" && v == "consumer");
        if !kip848 {
            cc.set("partition.assignment.strategy", "range,roundrobin");
        }
        for (k, v) in &config.properties {
            cc.set(k, v);
        }
        // Let every level through to `Ctx::log` (the default follows the `log` crate, which
        // the server does not use); librdkafka emits debug lines only with its `debug`
        // property set.
        cc.set_log_level(RDKafkaLogLevel::Debug);
        let dead_letters = match &config.dead_letter_topic {
            None => None,
            Some(_) => {
                let mut pc = ClientConfig::new();
                pc.set("bootstrap.servers", &config.brokers);
                for (k, v) in &config.properties {
                    pc.set(k, v);
                }
                Some(pc.create::<BaseProducer>().map_err(client)?)
            }
        };
        // Fail early on unreadable stored offsets.
        db.source_positions(&config.source_prefix())
            .map_err(|e| KafkaStartError::Offsets(e.to_string()))?;
        let shared = Arc::new(Shared {
            db,
            ingest,
            metrics,
            config,
            pipe: Mutex::new(Pipeline::default()),
            dead_letters,
        });
        let consumer: BaseConsumer<Ctx> = cc
            .create_with_context(Ctx {
                shared: shared.clone(),
            })
            .map_err(client)?;
        let s = &shared;
        match &s.config.partitions {
            KafkaPartitions::Group => consumer.subscribe(&[&s.config.topic]).map_err(client)?,
            manual => {
                let partitions = match manual {
                    KafkaPartitions::Only(p) => p.clone(),
                    _ => {
                        let md = consumer
                            .fetch_metadata(Some(&s.config.topic), BROKER_TIMEOUT)
                            .map_err(client)?;
                        let t = md.topics().iter().find(|t| t.name() == s.config.topic);
                        match t {
                            Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
                                t.partitions().iter().map(|p| p.id()).collect()
                            }
                            _ => {
                                return Err(KafkaStartError::Client(format!(
                                    "topic {} does not exist or has no partitions",
                                    s.config.topic
                                )))
                            }
                        }
                    }
                };
                let starts = s.start_offsets(&consumer, &partitions);
                let mut tpl = TopicPartitionList::new();
                for (p, offset) in &starts {
                    tpl.add_partition_offset(&s.config.topic, *p, *offset)
                        .map_err(client)?;
                }
                tracing::info!(
                    topic = %s.config.topic,
                    partitions = ?partitions,
                    starts = ?starts,
                    "Kafka reading partitions"
                );
                consumer.assign(&tpl).map_err(client)?;
                s.lock().assigned = partitions;
            }
        }
        Ok(Runner {
            consumer,
            shared,
            stop,
        })
    }

    pub(super) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    pub(super) fn run(self) {
        let s = &self.shared;
        let mut last_lag = Instant::now() - LAG_INTERVAL;
        while !self.stop.load(Ordering::Acquire) {
            let wait = {
                let pipe = s.lock();
                match pipe.since {
                    Some(t) => s.config.linger.saturating_sub(t.elapsed()),
                    None => Duration::from_millis(100),
                }
            };
            match self.consumer.poll(wait) {
                Some(Ok(m)) => {
                    let mut pipe = s.lock();
                    if pipe.assigned.contains(&m.partition()) {
                        s.take_message(&mut pipe, &m);
                    } else {
                        // Fetched before this node let the partition go: its new owner reads
                        // it from the offset committed on revoke.
                        tracing::debug!(
                            partition = m.partition(),
                            offset = m.offset(),
                            "dropping a Kafka message of a partition no longer owned"
                        );
                    }
                }
                Some(Err(e)) => {
                    s.metrics.kafka.errors.add(1);
                    tracing::warn!(error = %e, "Kafka consumer error");
                }
                None => {}
            }
            let mut pipe = s.lock();
            let due = pipe.spans.len() + pipe.logs.len() >= s.config.batch_spans
                || pipe.since.is_some_and(|t| t.elapsed() >= s.config.linger);
            if due {
                s.submit(&mut pipe, &self.consumer);
            }
            s.drain_acks(&mut pipe, &self.consumer, MAX_IN_FLIGHT);
            if pipe.failed {
                tracing::error!("Kafka consumer stopped after a failed write");
                return;
            }
            if last_lag.elapsed() >= LAG_INTERVAL {
                last_lag = Instant::now();
                for p in pipe.assigned.clone() {
                    if let Ok((_, high)) =
                        self.consumer
                            .fetch_watermarks(&s.config.topic, p, Duration::from_secs(1))
                    {
                        s.metrics.kafka.set_high_watermark(&s.config.topic, p, high);
                    }
                }
            }
            if let Some(dl) = &s.dead_letters {
                dl.poll(Duration::ZERO);
            }
        }
        let mut pipe = s.lock();
        s.make_durable(&mut pipe, &self.consumer);
        if let Some(dl) = &s.dead_letters {
            let _ = dl.flush(Duration::from_secs(5));
        }
    }
}

impl Shared {
    pub(super) fn assigned(&self) -> Vec<i32> {
        self.lock().assigned.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Pipeline> {
        self.pipe.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn source_name(&self, partition: i32) -> String {
        format!("{}{partition}", self.config.source_prefix())
    }

    /// Where to start each partition: the larger of the offset stored with the spans and the
    /// one committed to Kafka; the beginning when neither exists.
    fn start_offsets(
        &self,
        consumer: &BaseConsumer<Ctx>,
        partitions: &[i32],
    ) -> Vec<(i32, Offset)> {
        let prefix = self.config.source_prefix();
        let stored: BTreeMap<i32, i64> = match self.db.source_positions(&prefix) {
            Ok(v) => v
                .into_iter()
                .filter_map(|(name, pos)| {
                    let p = name.strip_prefix(&prefix)?.parse::<i32>().ok()?;
                    Some((p, i64::try_from(pos).ok()?))
                })
                .collect(),
            Err(e) => {
                // Never guess: an unreadable position would mean duplicates or a gap.
                tracing::error!(error = %e, "cannot read stored Kafka offsets; stopping");
                self.lock().failed = true;
                BTreeMap::new()
            }
        };
        let mut tpl = TopicPartitionList::new();
        for p in partitions {
            tpl.add_partition(&self.config.topic, *p);
        }
        let committed: BTreeMap<i32, i64> = match consumer.committed_offsets(tpl, BROKER_TIMEOUT) {
            Ok(t) => t
                .elements_for_topic(&self.config.topic)
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(o) if o >= 0 => Some((e.partition(), o)),
                    _ => None,
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the offsets committed to Kafka");
                BTreeMap::new()
            }
        };
        partitions
            .iter()
            .map(|p| {
                let start = match (stored.get(p), committed.get(p)) {
                    (Some(a), Some(b)) => Offset::Offset(*a.max(b)),
                    (Some(a), None) | (None, Some(a)) => Offset::Offset(*a),
                    (None, None) => Offset::Beginning,
                };
                if let Offset::Offset(o) = start {
                    self.metrics.kafka.set_position(&self.config.topic, *p, o);
                }
                (*p, start)
            })
            .collect()
    }

    fn take_message(&self, pipe: &mut Pipeline, m: &impl Message) {
        let (partition, offset) = (m.partition(), m.offset());
        let k = &self.metrics.kafka;
        k.messages.add(1);
        let decoded = match self.config.signal {
            KafkaSignal::Spans => self.decode_spans(pipe, m.payload()),
            KafkaSignal::Logs => self.decode_logs(pipe, m.payload()),
        };
        match decoded {
            Ok(()) => {}
            Err(e) => {
                k.poison.add(1);
                tracing::warn!(
                    topic = %m.topic(),
                    partition,
                    offset,
                    error = %e,
                    "skipping undecodable Kafka message"
                );
                if let (Some(dl), Some(topic)) =
                    (&self.dead_letters, &self.config.dead_letter_topic)
                {
                    let mut rec = BaseRecord::<[u8], [u8]>::to(topic);
                    if let Some(key) = m.key() {
                        rec = rec.key(key);
                    }
                    if let Some(v) = m.payload() {
                        rec = rec.payload(v);
                    }
                    if let Err((e, _)) = dl.send(rec) {
                        tracing::warn!(error = %e, "cannot queue for the dead-letter topic");
                    }
                }
            }
        }
        pipe.positions.insert(partition, offset + 1);
        pipe.since.get_or_insert_with(Instant::now);
    }

    /// Decodes a message of a spans topic into `pipe.spans` (nothing on error).
    fn decode_spans(&self, pipe: &mut Pipeline, payload: Option<&[u8]>) -> spandb::Result<()> {
        let mut spans = Vec::new();
        let mut dropped = spandb::otlp::Dropped::default();
        match (payload, self.config.encoding) {
            (None, _) => {}
            (Some(b), KafkaEncoding::OtlpProto) => {
                spandb::otlp::proto::decode_proto_request_lenient(b, &mut spans, &mut dropped)?
            }
            (Some(b), KafkaEncoding::OtlpJson) => {
                spandb::otlp::json::decode_json_request_lenient(b, &mut spans, &mut dropped)?
            }
        }
        let k = &self.metrics.kafka;
        k.spans.add(spans.len() as u64);
        k.spans_dropped.add(dropped.spans_without_ids);
        pipe.spans.extend(spans);
        Ok(())
    }

    /// Decodes a message of a logs topic into `pipe.logs` (nothing on error).
    fn decode_logs(&self, pipe: &mut Pipeline, payload: Option<&[u8]>) -> spandb::Result<()> {
        let mut logs = Vec::new();
        match (payload, self.config.encoding) {
            (None, _) => {}
            (Some(b), KafkaEncoding::OtlpProto) => {
                spandb::otlp::proto::decode_proto_logs_request(b, &mut logs)?
            }
            (Some(b), KafkaEncoding::OtlpJson) => {
                spandb::otlp::json::decode_json_logs_request(b, &mut logs)?
            }
        }
        self.metrics.kafka.log_records.add(logs.len() as u64);
        pipe.logs.extend(logs);
        Ok(())
    }

    /// Hands what was read to the write queue; when the queue is full, pauses the assigned
    /// partitions and waits for it to drain. Log records are written here, on the consumer's
    /// thread (the queue carries spans): the write's own pace is the back-pressure.
    fn submit(&self, pipe: &mut Pipeline, consumer: &BaseConsumer<Ctx>) {
        if pipe.positions.is_empty() {
            return;
        }
        let positions = std::mem::take(&mut pipe.positions);
        let sources: Vec<(String, u64)> = positions
            .iter()
            .map(|(p, o)| (self.source_name(*p), u64::try_from(*o).unwrap_or(0)))
            .collect();
        if self.config.signal == KafkaSignal::Logs {
            let logs = std::mem::take(&mut pipe.logs);
            pipe.since = None;
            match self.db.write_logs_with_sources(logs, &sources) {
                Ok(()) => {
                    let (done, ack) = oneshot::channel();
                    let _ = done.send(Ok(()));
                    pipe.in_flight.push_back((ack, positions));
                }
                Err(e) => {
                    self.metrics.write_errors.add(1);
                    tracing::error!(error = %e, "writing consumed Kafka log records failed");
                    pipe.failed = true;
                }
            }
            return;
        }
        let mut spans = std::mem::take(&mut pipe.spans);
        pipe.since = None;
        let mut paused: Option<TopicPartitionList> = None;
        loop {
            match self.ingest.submit(spans, sources.clone()) {
                Ok(ack) => {
                    pipe.in_flight.push_back((ack, positions));
                    break;
                }
                Err((IngestError::Full { .. }, back)) => {
                    spans = back;
                    if paused.is_none() {
                        let tpl = self.assigned_list(pipe);
                        let _ = consumer.pause(&tpl);
                        self.metrics.kafka.pauses.add(1);
                        paused = Some(tpl);
                    }
                    if !pipe.in_flight.is_empty() {
                        self.drain_acks(pipe, consumer, pipe.in_flight.len() - 1);
                    } else {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    if pipe.failed {
                        break;
                    }
                }
                Err((e, _)) => {
                    tracing::error!(error = %e, "Kafka batch not written");
                    pipe.failed = true;
                    break;
                }
            }
        }
        if let Some(tpl) = paused {
            let _ = consumer.resume(&tpl);
        }
    }

    fn assigned_list(&self, pipe: &Pipeline) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::new();
        for p in &pipe.assigned {
            tpl.add_partition(&self.config.topic, *p);
        }
        tpl
    }

    /// Takes acknowledgements until at most `keep` writes are in flight (waiting for them),
    /// plus any already answered; commits the durable offsets to Kafka.
    fn drain_acks(&self, pipe: &mut Pipeline, consumer: &BaseConsumer<Ctx>, keep: usize) {
        let mut durable: BTreeMap<i32, i64> = BTreeMap::new();
        loop {
            let must_wait = pipe.in_flight.len() > keep;
            let Some((ack, positions)) = pipe.in_flight.pop_front() else {
                break;
            };
            let answer = if must_wait {
                ack.blocking_recv().unwrap_or(Err(IngestError::Closed))
            } else {
                let mut ack = ack;
                match ack.try_recv() {
                    Ok(r) => r,
                    Err(oneshot::error::TryRecvError::Empty) => {
                        pipe.in_flight.push_front((ack, positions));
                        break;
                    }
                    Err(oneshot::error::TryRecvError::Closed) => Err(IngestError::Closed),
                }
            };
            match answer {
                Ok(()) => durable.extend(positions),
                Err(e) => {
                    tracing::error!(error = %e, "writing consumed Kafka spans failed");
                    pipe.failed = true;
                    pipe.in_flight.clear();
                    break;
                }
            }
        }
        if durable.is_empty() {
            return;
        }
        pipe.durable.extend(durable.iter().map(|(p, o)| (*p, *o)));
        let mut tpl = TopicPartitionList::new();
        for (p, o) in &durable {
            self.metrics.kafka.set_position(&self.config.topic, *p, *o);
            let _ = tpl.add_partition_offset(&self.config.topic, *p, Offset::Offset(*o));
        }
        let _ = consumer.commit(&tpl, CommitMode::Async);
    }

    /// Writes what is pending, waits for every write in flight and commits the durable
    /// offsets to Kafka synchronously (revoke, shutdown: the next owner of a partition starts
    /// from that commit).
    fn make_durable(&self, pipe: &mut Pipeline, consumer: &BaseConsumer<Ctx>) {
        if !pipe.failed {
            self.submit(pipe, consumer);
        }
        self.drain_acks(pipe, consumer, 0);
        let mut tpl = TopicPartitionList::new();
        for (p, o) in &pipe.durable {
            if pipe.assigned.contains(p) {
                let _ = tpl.add_partition_offset(&self.config.topic, *p, Offset::Offset(*o));
            }
        }
        if tpl.count() > 0 {
            if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
                self.metrics.kafka.commit_failures.add(1);
                tracing::warn!(error = %e, "committing offsets to Kafka failed");
            }
        }
    }
}
