//! Structured logs through `tracing`, to stderr: one line per event, as text or as JSON
//! objects (`--log-format json`), filtered by `--log-level` (`info`, or directives such as
//! `warn,spandb_server=debug`).
//!
//! What is logged: startup (addresses, TLS, CORS), shutdown, every request once it is
//! answered (method, path without the query string, which can carry search terms, status,
//! latency; probes and `/metrics` at `debug`), failed writes and internal errors. Tokens and
//! bodies never are.
//!
//! Lines go through a bounded queue to one writer thread, so a stderr that nobody reads
//! drops log lines (counted in a later line) instead of stalling requests.

use std::io::{IsTerminal as _, Write};
use std::str::FromStr as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer as _;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// `2025-06-01T12:00:00.000Z  INFO spandb_server: request method=GET ...`
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message` and the event's
    /// fields at the top level.
    Json,
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("invalid --log-level {0:?}: give a level (error, warn, info, debug, trace) or directives such as warn,spandb_server=debug")]
    Level(String),
    #[error("a logger is already installed")]
    AlreadySet,
}

/// Lines waiting for the writer thread; past this, new lines are dropped (and counted)
/// rather than stalling the request that logs.
const PENDING_LINES: usize = 10_000;

enum Message {
    Line(Vec<u8>),
    Flush(mpsc::Sender<()>),
}

static QUEUE: OnceLock<SyncSender<Message>> = OnceLock::new();

/// Where log lines go: a bounded queue drained by one thread that writes to stderr, so a
/// slow or unread stderr never blocks a request (lines are dropped and counted instead).
#[derive(Clone)]
struct Sink {
    tx: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
}

/// One event's bytes, queued whole when the formatter is done with it.
struct Line {
    buf: Vec<u8>,
    sink: Sink,
}

impl Write for Line {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let line = Message::Line(std::mem::take(&mut self.buf));
        if let Err(TrySendError::Full(_)) = self.sink.tx.try_send(line) {
            self.sink.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Sink {
    type Writer = Line;
    fn make_writer(&'a self) -> Line {
        Line {
            buf: Vec::with_capacity(256),
            sink: self.clone(),
        }
    }
}

fn start_writer(format: LogFormat) -> Sink {
    let (tx, rx) = mpsc::sync_channel::<Message>(PENDING_LINES);
    let dropped = Arc::new(AtomicU64::new(0));
    let counted = dropped.clone();
    let spawned = std::thread::Builder::new()
        .name("spandb-log".into())
        .spawn(move || {
            let mut stderr = std::io::stderr();
            for message in rx {
                match message {
                    Message::Line(line) => {
                        let _ = stderr.write_all(&line);
                    }
                    Message::Flush(done) => {
                        let _ = stderr.flush();
                        let _ = done.send(());
                    }
                }
                let lost = counted.swap(0, Ordering::Relaxed);
                if lost > 0 {
                    let notice = match format {
                        LogFormat::Json => format!(
                            "{{\"level\":\"WARN\",\"message\":\"log lines dropped\",\"dropped\":{lost},\"target\":\"spandb_server::logging\"}}\n"
                        ),
                        LogFormat::Text => format!("WARN spandb_server::logging: {lost} log lines dropped (stderr too slow)\n"),
                    };
                    let _ = stderr.write_all(notice.as_bytes());
                }
            }
        });
    if spawned.is_err() {
        // Without the thread the queue fills and lines are dropped; serving goes on.
        eprintln!("spandb: cannot start the log writer thread; logs will be lost");
    }
    Sink { tx, dropped }
}

/// Waits (at most 2 s) until every line logged so far is written: call before exiting.
/// Does nothing when [`init`] was not called.
pub fn flush() {
    if let Some(tx) = QUEUE.get() {
        let (done, wait) = mpsc::channel();
        if tx.try_send(Message::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(Duration::from_secs(2));
        }
    }
}

/// Installs the process-wide logger. Call once, before serving.
pub fn init(format: LogFormat, level: &str) -> Result<(), LogError> {
    let filter = Targets::from_str(level).map_err(|_| LogError::Level(level.to_owned()))?;
    if QUEUE.get().is_some() {
        return Err(LogError::AlreadySet);
    }
    let sink = start_writer(format);
    let _ = QUEUE.set(sink.tx.clone());
    let stderr = sink;
    let layer = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(stderr)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init()
        .map_err(|_| LogError::AlreadySet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_levels_are_refused() {
        assert!(matches!(
            init(LogFormat::Json, "loud=="),
            Err(LogError::Level(_))
        ));
    }
}
