//! Background threads: the sealer, the log syncer (group commit) and the maintenance worker.
//!
//! Each is a [`Worker`]: a named thread fed by a channel. Dropping the sender is the stop
//! signal; the workers hold only a weak handle to the database, so they never keep it open.

use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{bounded, Receiver, RecvTimeoutError, Sender};

use super::write::SealJob;
use super::{lock, Db, Durability, Inner};

/// A background thread and the sending end of its channel.
pub(super) struct Worker<M> {
    tx: Sender<M>,
    handle: JoinHandle<()>,
}

impl<M: Send + 'static> Worker<M> {
    /// Starts thread `name` running `body` on the receiving end of a channel of `queue` slots.
    fn spawn(
        name: &str,
        queue: usize,
        body: impl FnOnce(Receiver<M>) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (tx, rx) = bounded::<M>(queue);
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || body(rx))?;
        Ok(Worker { tx, handle })
    }

    pub(super) fn sender(&self) -> &Sender<M> {
        &self.tx
    }

    /// Closes the channel and waits for the thread to finish. A worker may itself drop the
    /// last handle (and so stop itself); it cannot join itself, so then it just returns.
    fn stop(self) {
        drop(self.tx);
        if self.handle.thread().id() != std::thread::current().id() {
            let _ = self.handle.join();
        }
    }
}

impl Worker<()> {
    /// Calls `tick` every `every` while the database is alive, until stopped.
    fn periodic(
        name: &str,
        every: Duration,
        inner: Weak<Inner>,
        tick: fn(Arc<Inner>),
    ) -> std::io::Result<Self> {
        Self::spawn(name, 0, move |stop| loop {
            match stop.recv_timeout(every) {
                Err(RecvTimeoutError::Timeout) => {
                    let Some(inner) = inner.upgrade() else { return };
                    tick(inner);
                }
                _ => return,
            }
        })
    }
}

/// Stops the worker in `slot`, if one runs.
fn stop<M: Send + 'static>(slot: &Mutex<Option<Worker<M>>>) {
    if let Some(worker) = lock(slot).take() {
        worker.stop();
    }
}

impl Inner {
    /// Starts the background threads the options ask for.
    pub(super) fn start_workers(self: &Arc<Self>) {
        if let Durability::GroupCommit { interval } = self.opts.durability {
            // Without it acknowledged writes would never be fsynced: as before the split,
            // failing to start it is a panic (std::thread::spawn's behaviour).
            let syncer = Worker::periodic(
                "spandb-log-sync",
                interval,
                Arc::downgrade(self),
                sync_log_tick,
            )
            .expect("spawning the log-sync thread");
            *lock(&self.syncer) = Some(syncer);
        }
        // No queue: handing a frozen memtable over waits until the sealer takes it, so a
        // writer that outruns sealing waits with one frozen memtable (and the sealer holds
        // another): memory stays bounded by two memtables, not three.
        let weak = Arc::downgrade(self);
        if let Ok(sealer) = Worker::spawn("spandb-sealer", 0, move |jobs| run_sealer(jobs, weak)) {
            *lock(&self.sealer) = Some(sealer);
        }
        if let Some(every) = self.opts.maintenance_interval {
            let worker = Worker::periodic(
                "spandb-maintenance",
                every,
                Arc::downgrade(self),
                maintenance_tick,
            );
            if let Ok(worker) = worker {
                *lock(&self.maintenance_worker) = Some(worker);
            }
        }
    }

    /// Stops the background threads (maintenance first, then the sealer, then the syncer).
    pub(super) fn stop_workers(&self) {
        stop(&self.maintenance_worker);
        stop(&self.sealer);
        stop(&self.syncer);
    }
}

/// Group commit: fsyncs the log. A failure poisons the handle.
fn sync_log_tick(inner: Arc<Inner>) {
    if let Err(e) = inner.sync_log() {
        inner.mark_log_failed(format!("log fsync failed: {e}"));
    }
}

/// Compaction and retention every `maintenance_interval`.
fn maintenance_tick(inner: Arc<Inner>) {
    let db = Db {
        inner,
        _user_handle: None,
    };
    if let Some(keep) = db.inner.opts.retention {
        let _ = db.retain(keep);
    }
    let _ = db.compact();
}

/// The sealer: turns frozen memtables into sealed blocks, one at a time, in order.
fn run_sealer(jobs: Receiver<SealJob>, inner: Weak<Inner>) {
    for job in jobs {
        let Some(inner) = inner.upgrade() else { return };
        match job {
            SealJob::Seal(frozen) => {
                // A failure poisons the handle; the spans stay in the log and in the frozen
                // memtable, so readers and the next open still see them.
                if inner.check_writable().is_ok() {
                    let _ = inner.seal(&frozen);
                }
            }
            SealJob::Barrier(reply) => {
                let answer = inner.check_writable();
                // Let go first: the caller may drop the last handle and reopen at once, and
                // must not find RocksDB still locked by this Arc.
                drop(inner);
                let _ = reply.send(answer);
            }
        }
    }
}
