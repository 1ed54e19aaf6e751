//! Two consumers in one Kafka consumer group share a 4-partition topic; a second node joining
//! and the first one leaving both rebalance while messages keep coming. Every span ends up in
//! exactly one of the two stores: on revoke a node makes what it read durable and commits its
//! offsets before letting go, and the node taking over starts from that commit.
//!
//! The broker is librdkafka's built-in Kafka-protocol cluster (`rdkafka::mocking`), because
//! tansu 0.6 (the broker of scripts/test_server_kafka.py) does not complete JoinGroup for
//! librdkafka clients; it speaks the real protocol, group coordination included.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use rdkafka::config::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use spandb::{Db, Options, ScanFilter};
use spandb_server::ingest::Ingest;
use spandb_server::kafka::{KafkaConfig, KafkaConsumer, KafkaPartitions};
use spandb_server::metrics::Metrics;
use spandb_server::ServerConfig;

const TOPIC: &str = "otlp_spans";
const SPANS_PER_TRACE: u64 = 3;

fn request(t: u64) -> (String, Vec<u8>) {
    let trace_id = (t as u128 + 1).to_be_bytes().to_vec();
    let spans = (0..SPANS_PER_TRACE)
        .map(|j| Span {
            trace_id: trace_id.clone(),
            span_id: (((t + 1) << 8) | (j + 1)).to_be_bytes().to_vec(),
            name: format!("op-{j}"),
            start_time_unix_nano: 1_700_000_000_000_000_000 + t * 1000 + j,
            end_time_unix_nano: 1_700_000_000_000_000_000 + t * 1000 + j + 500,
            ..Span::default()
        })
        .collect();
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("svc".into())),
                    }),
                }],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    };
    let hex: String = trace_id.iter().map(|b| format!("{b:02x}")).collect();
    (hex, req.encode_to_vec())
}

fn produce(producer: &BaseProducer, traces: std::ops::Range<u64>) {
    for t in traces {
        let (key, value) = request(t);
        loop {
            match producer.send(BaseRecord::to(TOPIC).key(&key).payload(&value)) {
                Ok(()) => break,
                Err(_) => {
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(10)).unwrap();
}

struct Node {
    db: Arc<Db>,
    metrics: Arc<Metrics>,
    consumer: Option<KafkaConsumer>,
    _dir: tempfile::TempDir,
}

fn node(brokers: &str) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Options::new().open(dir.path()).unwrap());
    let metrics = Arc::new(Metrics::default());
    let ingest = Ingest::start(db.clone(), &ServerConfig::ephemeral(), metrics.clone());
    let mut config = KafkaConfig::new(brokers, TOPIC, "spandb");
    config.partitions = KafkaPartitions::Group;
    // The KIP-848 group protocol (Kafka 4's default for new consumers): the coordinator moves
    // a partition only after its owner has revoked it, and accepts the owner's offset commit
    // while it does. librdkafka's classic-protocol mock coordinator refuses every OffsetCommit
    // once a rebalance starts (its `rd_kafka_mock_cgrp_classic_check_state` answers
    // REBALANCE_IN_PROGRESS in the joining state; Apache Kafka accepts commits from the
    // current generation until the join completes), so with it the commit made on revoke is
    // lost and the next owner re-reads what the previous one already stored.
    config.properties = vec![("group.protocol".into(), "consumer".into())];
    // To see the group protocol: SPANDB_TEST_KAFKA_DEBUG=cgrp SPANDB_TEST_LOG=debug.
    if let Ok(debug) = std::env::var("SPANDB_TEST_KAFKA_DEBUG") {
        config.properties.push(("debug".into(), debug));
    }
    let consumer = KafkaConsumer::start(db.clone(), ingest, metrics.clone(), config).unwrap();
    Node {
        db,
        metrics,
        consumer: Some(consumer),
        _dir: dir,
    }
}

/// Partition -> durable next offset, the larger of what the nodes report.
fn durable(nodes: &[&Node]) -> u64 {
    let mut by_partition: HashMap<i32, i64> = HashMap::new();
    for n in nodes {
        for (_, p, o, _) in n.metrics.kafka.partitions() {
            let e = by_partition.entry(p).or_insert(0);
            *e = (*e).max(o);
        }
    }
    by_partition.values().map(|o| *o as u64).sum()
}

fn wait_for(nodes: &[&Node], messages: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while durable(nodes) < messages {
        assert!(
            Instant::now() < deadline,
            "the group did not consume {messages} messages (at {})",
            durable(nodes)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn span_ids(db: &Db) -> Vec<Vec<u8>> {
    db.snapshot()
        .unwrap()
        .spans(ScanFilter::default())
        .unwrap()
        .map(|s| s.unwrap().span_id.0.to_vec())
        .collect()
}

/// Produces traces `from..` at about 400 a second until told to stop; returns how many.
fn produce_until(
    brokers: String,
    from: u64,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("linger.ms", "1")
            .create()
            .unwrap();
        let mut t = from;
        while !stop.load(std::sync::atomic::Ordering::Acquire) {
            produce(&producer, t..t + 4);
            t += 4;
            std::thread::sleep(Duration::from_millis(10));
        }
        t
    })
}

/// Waits until `ok` holds for the nodes' assignments.
fn wait_for_assignment(what: &str, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ok() {
        assert!(Instant::now() < deadline, "{what} did not happen in 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_nodes_share_partitions_and_hand_them_over_without_loss_or_duplicates() {
    let level = std::env::var("SPANDB_TEST_LOG").unwrap_or_else(|_| "warn".into());
    spandb_server::logging::init(spandb_server::logging::LogFormat::Text, &level).unwrap();
    let cluster = MockCluster::new(1).expect("librdkafka's Kafka-protocol cluster must start");
    cluster.create_topic(TOPIC, 4, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();

    let mut a = node(&brokers);
    produce(&producer, 0..300);
    wait_for(&[&a], 300);
    assert_eq!(a.consumer.as_ref().unwrap().assigned(), vec![0, 1, 2, 3]);

    // While messages keep coming: a second node joins, the group shares the partitions, the
    // first node leaves and the second takes them all.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let producing = produce_until(brokers.clone(), 300, stop.clone());
    let mut b = node(&brokers);
    let (ca, cb) = (a.consumer.as_ref().unwrap(), b.consumer.as_ref().unwrap());
    wait_for_assignment("sharing the partitions between two nodes", || {
        let (pa, pb) = (ca.assigned(), cb.assigned());
        !pa.is_empty()
            && !pb.is_empty()
            && pa.len() + pb.len() == 4
            && pa.iter().all(|p| !pb.contains(p))
    });
    let shared_at = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    a.consumer.take().unwrap().stop();
    let cb = b.consumer.as_ref().unwrap();
    wait_for_assignment("the second node taking every partition", || {
        cb.assigned() == vec![0, 1, 2, 3]
    });
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Release);
    let traces = producing.join().unwrap();
    eprintln!(
        "{traces} traces; {:?} from sharing to the handover",
        shared_at.elapsed()
    );
    wait_for(&[&a, &b], traces);
    b.consumer.take().unwrap().stop();

    let (ids_a, ids_b) = (span_ids(&a.db), span_ids(&b.db));
    let trace_of = |id: &Vec<u8>| u64::from_be_bytes(id.as_slice().try_into().unwrap()) >> 8;
    let range = |ids: &[Vec<u8>]| {
        let t: Vec<u64> = ids.iter().map(trace_of).collect();
        (t.len(), t.iter().min().copied(), t.iter().max().copied())
    };
    eprintln!("node a: {:?}, node b: {:?}", range(&ids_a), range(&ids_b));
    // The first node read past the first 300 traces (it kept its share while the second
    // joined), and the second read some of the traces produced before the first one left.
    assert!(
        ids_a.iter().any(|id| trace_of(id) > 300),
        "node a stopped at the join"
    );
    assert!(!ids_b.is_empty(), "the second node consumed nothing");
    let mut all: Vec<Vec<u8>> = ids_a.into_iter().chain(ids_b).collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "{} spans are on both nodes", n - all.len());
    assert_eq!(n as u64, traces * SPANS_PER_TRACE, "spans lost");
}
