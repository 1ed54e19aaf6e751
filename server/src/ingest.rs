//! The write queue between the receivers and the database: bounded in records (spans and log
//! records together), drained by one writer thread that commits whatever has queued up in one
//! `Db::write` and one `Db::write_logs` (group commit) and then acknowledges each request. A
//! receiver answers success only after that acknowledgement, so a success means durable
//! under the database's configured durability.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use spandb::{Db, LogRecord, Span};
use tokio::sync::oneshot;

use crate::config::ServerConfig;
use crate::metrics::Metrics;

/// Records (spans and log records) one group commit takes at most, so a long queue is
/// written in steps.
const MAX_GROUP_RECORDS: usize = 50_000;

/// Why spans were not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The queue holds too many records: try again later (HTTP 429, gRPC `Unavailable`).
    #[error("the write queue is full ({queued} records waiting); retry later")]
    Full { queued: usize },
    /// The server is shutting down.
    #[error("the server is shutting down")]
    Closed,
    /// The database refused the write; `message` is safe to show (no paths).
    #[error("{message}")]
    Rejected { message: String, client_error: bool },
}

struct Batch {
    spans: Vec<Span>,
    logs: Vec<LogRecord>,
    /// Source positions written atomically with `spans` (the Kafka consumer's offsets).
    sources: Vec<(String, u64)>,
    done: oneshot::Sender<Result<(), IngestError>>,
}

struct Inner {
    sender: Mutex<Option<crossbeam::channel::Sender<Batch>>>,
    queued: Arc<AtomicUsize>,
    capacity: usize,
    writer: Mutex<Option<JoinHandle<()>>>,
    db: Arc<Db>,
}

/// A handle to the queue; clones share it.
#[derive(Clone)]
pub struct Ingest {
    inner: Arc<Inner>,
}

impl Ingest {
    pub fn start(db: Arc<Db>, config: &ServerConfig, metrics: Arc<Metrics>) -> Ingest {
        let (sender, receiver) = crossbeam::channel::unbounded::<Batch>();
        let queued = Arc::new(AtomicUsize::new(0));
        let writer = {
            let (db, queued) = (db.clone(), queued.clone());
            std::thread::Builder::new()
                .name("spandb-ingest".into())
                .spawn(move || write_loop(&db, &receiver, &queued, &metrics))
                .ok()
        };
        Ingest {
            inner: Arc::new(Inner {
                sender: Mutex::new(Some(sender)),
                queued,
                capacity: config.queue_spans,
                writer: Mutex::new(writer),
                db,
            }),
        }
    }

    /// Records (spans and log records) waiting to be written.
    pub fn queued(&self) -> usize {
        self.inner.queued.load(Ordering::Relaxed)
    }

    /// Queues `spans` and waits until they are durable. Refuses at once when the queue is
    /// full (a request larger than the whole queue is let in when the queue is empty, so
    /// every request can succeed eventually).
    pub async fn write(&self, spans: Vec<Span>) -> Result<(), IngestError> {
        if spans.is_empty() {
            return Ok(());
        }
        let acked = self.submit(spans, Vec::new()).map_err(|(e, _)| e)?;
        acked.await.unwrap_or(Err(IngestError::Closed))
    }

    /// Queues log records and waits until they are durable: the same queue, bound and group
    /// commit as [`Ingest::write`].
    pub async fn write_logs(&self, logs: Vec<LogRecord>) -> Result<(), IngestError> {
        if logs.is_empty() {
            return Ok(());
        }
        let batch = |done| Batch {
            spans: Vec::new(),
            logs,
            sources: Vec::new(),
            done,
        };
        let acked = self.enqueue(batch).map_err(|(e, _)| e)?;
        acked.await.unwrap_or(Err(IngestError::Closed))
    }

    /// Queues `spans` with the source positions they bring the store to, without waiting:
    /// the receiver answers once both are durable (in one log write; a group commit keeps
    /// the last position queued for each source). Refuses at once when the queue is full,
    /// as [`Ingest::write`], handing the spans back. Usable from a plain thread
    /// (`blocking_recv`).
    #[allow(clippy::type_complexity)]
    pub fn submit(
        &self,
        spans: Vec<Span>,
        sources: Vec<(String, u64)>,
    ) -> Result<oneshot::Receiver<Result<(), IngestError>>, (IngestError, Vec<Span>)> {
        let batch = |done| Batch {
            spans,
            logs: Vec::new(),
            sources,
            done,
        };
        self.enqueue(batch)
            .map_err(|(e, refused)| (e, refused.map(|b| b.spans).unwrap_or_default()))
    }

    /// Counts the batch `make` builds against the bound and sends it to the writer; a
    /// refused batch comes back (unless the queue is closed).
    #[allow(clippy::type_complexity)]
    fn enqueue(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<(), IngestError>>) -> Batch,
    ) -> Result<oneshot::Receiver<Result<(), IngestError>>, (IngestError, Option<Batch>)> {
        let (done, acked) = oneshot::channel();
        let batch = make(done);
        let n = batch.records();
        let before = self.inner.queued.fetch_add(n, Ordering::AcqRel);
        if before > 0 && before + n > self.inner.capacity {
            self.inner.queued.fetch_sub(n, Ordering::AcqRel);
            return Err((IngestError::Full { queued: before }, Some(batch)));
        }
        let sent = match self.inner.sender.lock() {
            Ok(guard) => guard
                .as_ref()
                .map(|s| s.send(batch).is_ok())
                .unwrap_or(false),
            Err(_) => false,
        };
        if !sent {
            self.inner.queued.fetch_sub(n, Ordering::AcqRel);
            return Err((IngestError::Closed, None));
        }
        Ok(acked)
    }

    /// Stops taking records, writes what is queued, flushes the database.
    pub async fn close(&self) {
        if let Ok(mut s) = self.inner.sender.lock() {
            s.take();
        }
        let writer = self.inner.writer.lock().ok().and_then(|mut w| w.take());
        let db = self.inner.db.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(w) = writer {
                let _ = w.join();
            }
            if let Err(e) = db.flush() {
                tracing::error!(error = %e, "flush at shutdown failed");
            }
        })
        .await;
    }
}

impl Batch {
    /// What the batch counts against the queue's bound.
    fn records(&self) -> usize {
        self.spans.len() + self.logs.len()
    }
}

fn write_loop(
    db: &Db,
    receiver: &crossbeam::channel::Receiver<Batch>,
    queued: &AtomicUsize,
    metrics: &Metrics,
) {
    while let Ok(first) = receiver.recv() {
        let mut records_in_group = first.records();
        let mut group = vec![first];
        while records_in_group < MAX_GROUP_RECORDS {
            match receiver.try_recv() {
                Ok(b) => {
                    records_in_group += b.records();
                    group.push(b);
                }
                Err(_) => break,
            }
        }
        let mut spans = Vec::new();
        let mut logs = Vec::new();
        // (acknowledgement, whether the batch waits on the span write, on the log write).
        let mut acks = Vec::with_capacity(group.len());
        // Positions in queue order: a later batch of a source is further on.
        let mut sources: Vec<(String, u64)> = Vec::new();
        for b in group {
            let waits_on_spans = !b.spans.is_empty() || !b.sources.is_empty();
            let waits_on_logs = !b.logs.is_empty();
            spans.extend(b.spans);
            logs.extend(b.logs);
            acks.push((b.done, waits_on_spans, waits_on_logs));
            for (name, pos) in b.sources {
                match sources.iter_mut().find(|(n, _)| *n == name) {
                    Some(slot) => slot.1 = pos,
                    None => sources.push((name, pos)),
                }
            }
        }
        let (span_count, log_count) = (spans.len(), logs.len());
        let spans_result = if span_count > 0 || !sources.is_empty() {
            db.write_with_sources(spans, &sources)
        } else {
            Ok(())
        };
        let logs_result = db.write_logs(logs);
        queued.fetch_sub(records_in_group, Ordering::AcqRel);
        for (result, count, what, written) in [
            (&spans_result, span_count, "spans", &metrics.spans_written),
            (
                &logs_result,
                log_count,
                "log records",
                &metrics.logs_written,
            ),
        ] {
            match result {
                Ok(()) => written.add(count as u64),
                Err(e) => {
                    metrics.write_errors.add(1);
                    tracing::error!(error = %e, count, what, "write failed");
                }
            }
        }
        for (ack, waits_on_spans, waits_on_logs) in acks {
            let failed = [
                (waits_on_spans, &spans_result),
                (waits_on_logs, &logs_result),
            ]
            .into_iter()
            .find_map(|(waits, r)| if waits { r.as_ref().err() } else { None });
            let r = match failed {
                None => Ok(()),
                Some(spandb::Error::InvalidInput { message, .. }) => Err(IngestError::Rejected {
                    message: message.clone(),
                    client_error: true,
                }),
                Some(_) => Err(IngestError::Rejected {
                    message: "the records could not be written".into(),
                    client_error: false,
                }),
            };
            let _ = ack.send(r);
        }
    }
}
