//! Decoding ahead: records (OTLP JSON lines, protobuf requests) are decoded on worker
//! threads while the caller's thread reads the next ones and writes the decoded ones.
//!
//! Why: the writer (log encode and append, memtable) and the sealer each keep a core busy
//! only part of the time; decoding serially in front of the writer left both cores idle for
//! a third of an import. Results come back in input order, so batches, line numbers in
//! errors and "spans before a bad line are delivered" are exactly as when decoding serially.
//! Memory stays bounded: at most [`Ahead::in_flight`] records are read but not yet taken.

use std::collections::VecDeque;

use crossbeam::channel::{bounded, Receiver, Sender};

use crate::error::{Error, Result};

/// A decoded record, with its buffer (for reuse).
type Decoded<T> = (T, Vec<u8>);
/// A record to decode and where its result goes.
type Job<T> = (Vec<u8>, Sender<Decoded<T>>);

/// Worker threads to decode on: one per core but one (the writer's), at least one, and no
/// more than four (past that the writer and sealer are the limit).
pub(super) fn decoder_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get().saturating_sub(1))
        .clamp(1, 4)
}

/// The caller's end of a pool of decoders: [`Ahead::submit_with`] records in order, and each
/// decoded record is handed to `take` in the same order, on the caller's thread.
pub(super) struct Ahead<'t, T> {
    jobs: Option<Sender<Job<T>>>,
    /// Records submitted and not yet taken, oldest first, with the tag they were submitted with.
    pending: VecDeque<(u64, Receiver<Decoded<T>>)>,
    in_flight: usize,
    /// Buffers of records already decoded. Reused: a fresh buffer for every record (JSON
    /// lines are ~300 KB) made the allocator map and zero new pages over and over.
    spare: Vec<Vec<u8>>,
    take: &'t mut dyn FnMut(u64, T) -> Result<()>,
}

impl<T> Ahead<'_, T> {
    /// Queues a record (tagged, e.g. with its line number) for decoding: `fill` writes it
    /// into a reused, empty buffer and says whether there is one (`false`: nothing is
    /// submitted, and that is returned). When too many records are in flight, first waits
    /// for the oldest and hands it to `take` (whose error ends the import: it is returned).
    pub(super) fn submit_with(
        &mut self,
        tag: u64,
        fill: impl FnOnce(&mut Vec<u8>) -> Result<bool>,
    ) -> Result<bool> {
        let mut record = self.spare.pop().unwrap_or_default();
        record.clear();
        if !fill(&mut record)? {
            self.spare.push(record);
            return Ok(false);
        }
        while self.pending.len() >= self.in_flight {
            self.take_oldest()?;
        }
        let (tx, rx) = bounded(1);
        let jobs = self.jobs.as_ref().ok_or_else(stopped)?;
        jobs.send((record, tx)).map_err(|_| stopped())?;
        self.pending.push_back((tag, rx));
        Ok(true)
    }

    /// Waits for every record submitted and hands each to `take`, in order.
    pub(super) fn finish(mut self) -> Result<()> {
        // No more jobs: the workers end once the queue is empty.
        self.jobs = None;
        while !self.pending.is_empty() {
            self.take_oldest()?;
        }
        Ok(())
    }

    fn take_oldest(&mut self) -> Result<()> {
        let Some((tag, rx)) = self.pending.pop_front() else {
            return Ok(());
        };
        let (decoded, buffer) = rx.recv().map_err(|_| stopped())?;
        self.spare.push(buffer);
        (self.take)(tag, decoded)
    }
}

/// A decoder thread ended without answering: only a panic in a decoder does that.
fn stopped() -> Error {
    Error::invalid("a decoder thread stopped unexpectedly")
}

/// Runs `read` with an [`Ahead`] whose records are decoded by `decode` on `threads` worker
/// threads and handed to `take` in submission order. Returns once every submitted record
/// was taken, or at the first error of `read` or `take` (the remaining records are dropped
/// undecoded or untaken; the workers stop).
pub(super) fn decode_ahead<T: Send, R>(
    threads: usize,
    decode: impl Fn(&[u8]) -> T + Sync,
    take: &mut dyn FnMut(u64, T) -> Result<()>,
    read: impl FnOnce(&mut Ahead<'_, T>) -> Result<R>,
) -> Result<R> {
    let threads = threads.max(1);
    let (jobs_tx, jobs_rx) = bounded::<Job<T>>(threads);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let jobs = jobs_rx.clone();
            let decode = &decode;
            let worker = move || {
                for (record, reply) in jobs {
                    // The caller may have stopped (an error): then nobody wants the answer.
                    let decoded = decode(&record);
                    let _ = reply.send((decoded, record));
                }
            };
            // Named, so profiles tell decoding from writing.
            std::thread::Builder::new()
                .name("spandb-decode".into())
                .spawn_scoped(scope, worker)
                .map_err(|e| Error::invalid(format!("starting a decoder thread: {e}")))?;
        }
        drop(jobs_rx);
        let mut ahead = Ahead {
            jobs: Some(jobs_tx),
            pending: VecDeque::new(),
            // Enough to keep every worker busy while the caller writes one record's spans.
            in_flight: 2 * threads + 1,
            spare: Vec::new(),
            take,
        };
        let out = read(&mut ahead)?;
        ahead.finish()?;
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_order_whatever_the_decode_time() {
        for threads in [1, 3] {
            let mut got = Vec::new();
            decode_ahead(
                threads,
                |r: &[u8]| {
                    // Later records decode faster: out-of-order completion.
                    std::thread::sleep(std::time::Duration::from_micros(200 - u64::from(r[0])));
                    u64::from(r[0]) * 10
                },
                &mut |tag, v| {
                    got.push((tag, v));
                    Ok(())
                },
                |ahead| {
                    for i in 0..100u8 {
                        ahead.submit_with(u64::from(i), |b| {
                            b.push(i);
                            Ok(true)
                        })?;
                    }
                    Ok(())
                },
            )
            .unwrap();
            let want: Vec<(u64, u64)> = (0..100).map(|i| (i, i * 10)).collect();
            assert_eq!(got, want, "{threads} threads");
        }
    }

    #[test]
    fn an_error_in_take_stops_reading_and_is_returned() {
        let mut taken = 0;
        let err = decode_ahead(
            2,
            |r: &[u8]| r[0],
            &mut |_, v| {
                taken += 1;
                if v == 5 {
                    return Err(Error::invalid("five"));
                }
                Ok(())
            },
            |ahead| {
                for i in 0..=255u8 {
                    ahead.submit_with(0, |b| {
                        b.push(i);
                        Ok(true)
                    })?;
                }
                Ok(())
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("five"), "{err}");
        assert_eq!(taken, 6, "nothing is taken after the error");
    }
}
