//! The write queue between the receivers and the database: bounded in spans, drained by one
//! writer thread that commits whatever has queued up in one `Db::write` (group commit) and
//! then acknowledges each request. A receiver answers success only after that
//! acknowledgement, so a success means durable under the database's configured durability.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use spandb::{Db, Span};
use tokio::sync::oneshot;

use crate::config::ServerConfig;
use crate::metrics::Metrics;

/// Spans one group commit takes at most, so a long queue is written in steps.
const MAX_GROUP_SPANS: usize = 50_000;

/// Why spans were not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The queue holds too many spans: try again later (HTTP 429, gRPC `Unavailable`).
    #[error("the write queue is full ({queued} spans waiting); retry later")]
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

    /// Spans waiting to be written.
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
        let n = spans.len();
        let before = self.inner.queued.fetch_add(n, Ordering::AcqRel);
        if before > 0 && before + n > self.inner.capacity {
            self.inner.queued.fetch_sub(n, Ordering::AcqRel);
            return Err((IngestError::Full { queued: before }, spans));
        }
        let (done, acked) = oneshot::channel();
        let sent = match self.inner.sender.lock() {
            Ok(guard) => guard
                .as_ref()
                .map(|s| {
                    s.send(Batch {
                        spans,
                        sources,
                        done,
                    })
                    .is_ok()
                })
                .unwrap_or(false),
            Err(_) => false,
        };
        if !sent {
            self.inner.queued.fetch_sub(n, Ordering::AcqRel);
            return Err((IngestError::Closed, Vec::new()));
        }
        Ok(acked)
    }

    /// Stops taking spans, writes what is queued, flushes the database.
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

fn write_loop(
    db: &Db,
    receiver: &crossbeam::channel::Receiver<Batch>,
    queued: &AtomicUsize,
    metrics: &Metrics,
) {
    while let Ok(first) = receiver.recv() {
        let mut group = vec![first];
        let mut spans_in_group = group[0].spans.len();
        while spans_in_group < MAX_GROUP_SPANS {
            match receiver.try_recv() {
                Ok(b) => {
                    spans_in_group += b.spans.len();
                    group.push(b);
                }
                Err(_) => break,
            }
        }
        let mut spans = Vec::with_capacity(spans_in_group);
        let mut acks = Vec::with_capacity(group.len());
        // Positions in queue order: a later batch of a source is further on.
        let mut sources: Vec<(String, u64)> = Vec::new();
        for b in group {
            spans.extend(b.spans);
            acks.push(b.done);
            for (name, pos) in b.sources {
                match sources.iter_mut().find(|(n, _)| *n == name) {
                    Some(slot) => slot.1 = pos,
                    None => sources.push((name, pos)),
                }
            }
        }
        let result = db.write_with_sources(spans, &sources);
        queued.fetch_sub(spans_in_group, Ordering::AcqRel);
        match &result {
            Ok(()) => metrics.spans_written.add(spans_in_group as u64),
            Err(e) => {
                metrics.write_errors.add(1);
                tracing::error!(error = %e, spans = spans_in_group, "write failed");
            }
        }
        for ack in acks {
            let r = match &result {
                Ok(()) => Ok(()),
                Err(spandb::Error::InvalidInput { message, .. }) => Err(IngestError::Rejected {
                    message: message.clone(),
                    client_error: true,
                }),
                Err(_) => Err(IngestError::Rejected {
                    message: "the spans could not be written".into(),
                    client_error: false,
                }),
            };
            let _ = ack.send(r);
        }
    }
}
