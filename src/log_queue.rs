//! The log output's writer: events go to stderr through one writer thread, so a shard
//! that logs never waits for stderr (a pipe whose reader is slow, a full journal).
//!
//! Invariants: an event's line is handed to the writer thread whole, with `try_send`
//! into a queue of [`QUEUE_LINES`] lines and [`QUEUE_BYTES_MAX`] bytes (shards hand
//! their request lines over in batches); when the queue is full the line is dropped and
//! counted, and the writer says how many were dropped before its next line. The writer
//! writes what it finds queued in one go, then rests [`BATCH_PAUSE`]. ERROR
//! events are written at once instead (rare, and the one that reports a panic must be
//! out before the process aborts). At exit [`LogQueue::finish`] waits (bounded) until
//! every queued line is written.

use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// Lines (or shards' batches of request lines) waiting for the writer thread.
pub const QUEUE_LINES: usize = 4096;
/// Bytes waiting for the writer thread, at most: a batch of request lines is one entry
/// of the queue but up to ~32 KiB.
pub const QUEUE_BYTES_MAX: usize = 4 << 20;
/// Longest wait at exit for the queued lines.
const FINISH_WAIT: Duration = Duration::from_secs(2);

/// Shared by the log output (which queues lines) and `main` (which finishes it).
#[derive(Clone)]
pub struct LogQueue {
    inner: Arc<Inner>,
}

struct Inner {
    sender: SyncSender<Vec<u8>>,
    dropped: Arc<AtomicU64>,
    /// Bytes queued and not yet taken by the writer (bounded by `QUEUE_BYTES_MAX`).
    queued_bytes: Arc<AtomicUsize>,
    done: Mutex<Receiver<()>>,
}

impl LogQueue {
    /// Starts the writer thread; `json` says how to word the "lines dropped" notice.
    pub fn start(json: bool) -> Result<Self, String> {
        let (sender, lines) = sync_channel::<Vec<u8>>(QUEUE_LINES);
        let (done_sender, done) = sync_channel(1);
        let dropped = Arc::new(AtomicU64::new(0));
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let (counted, taken) = (dropped.clone(), queued_bytes.clone());
        std::thread::Builder::new()
            .name("shoal-log".to_owned())
            .spawn(move || {
                write_lines(&lines, (&counted, &taken), json);
                let _ = done_sender.send(());
            })
            .map_err(|e| format!("cannot start the log writer: {e}"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                sender,
                dropped,
                queued_bytes,
                done: Mutex::new(done),
            }),
        })
    }

    /// Queues `count` whole lines (`lines`, shard-rendered request lines) without
    /// waiting; a full queue drops and counts them.
    pub fn push_lines(&self, lines: Vec<u8>, count: u64) {
        if lines.is_empty() {
            return; // the end marker is an empty line
        }
        self.offer(lines, count);
    }

    /// Queues `bytes` (`lines` whole lines) unless the queue is full, in entries or in
    /// bytes; else drops and counts them.
    fn offer(&self, bytes: Vec<u8>, lines: u64) {
        let inner = &self.inner;
        let len = bytes.len();
        let queued = inner.queued_bytes.fetch_add(len, Ordering::Relaxed) + len;
        if queued > QUEUE_BYTES_MAX || inner.sender.try_send(bytes).is_err() {
            inner.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            inner.dropped.fetch_add(lines, Ordering::Relaxed);
        }
    }

    /// Waits (at most [`FINISH_WAIT`]) until the lines queued so far are written. An
    /// empty line is the end marker (an event's line is never empty).
    pub fn finish(&self) {
        let deadline = Instant::now() + FINISH_WAIT;
        while let Err(TrySendError::Full(_)) = self.inner.sender.try_send(Vec::new()) {
            if Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let done = self
            .inner
            .done
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let _ = done.recv_timeout(left);
    }
}

/// How long the writer rests after writing what it found queued: lines queued meanwhile
/// go out together in one write, and a shard that queues a line while the writer rests
/// does not have to wake it (a futex call per line otherwise).
const BATCH_PAUSE: Duration = Duration::from_millis(5);
/// The writer's buffer: a batch larger than this goes out in several writes.
const BATCH_BYTES: usize = 64 << 10;

fn write_lines(
    lines: &Receiver<Vec<u8>>,
    (dropped, queued_bytes): (&AtomicU64, &AtomicUsize),
    json: bool,
) {
    let mut out = std::io::BufWriter::with_capacity(BATCH_BYTES, std::io::stderr());
    while let Ok(first) = lines.recv() {
        let mut next = Some(first);
        while let Some(line) = next {
            queued_bytes.fetch_sub(line.len(), Ordering::Relaxed);
            if line.is_empty() {
                let _ = out.flush();
                return;
            }
            let missed = dropped.swap(0, Ordering::Relaxed);
            if missed > 0 {
                let _ = out.write_all(dropped_notice(missed, json).as_bytes());
            }
            let _ = out.write_all(&line);
            next = lines.try_recv().ok();
        }
        let _ = out.flush();
        std::thread::sleep(BATCH_PAUSE);
    }
    let _ = out.flush();
}

fn dropped_notice(missed: u64, json: bool) -> String {
    if json {
        format!(
            "{{\"level\":\"WARN\",\"message\":\"{missed} log line(s) dropped: stderr is slower than the server logs\",\"dropped\":{missed}}}\n"
        )
    } else {
        format!("WARN {missed} log line(s) dropped: stderr is slower than the server logs\n")
    }
}

/// One event's writer: collects its line, then queues it (or writes it at once).
pub enum EventWriter<'a> {
    Queued(&'a LogQueue, Vec<u8>),
    Direct(std::io::Stderr),
}

impl Write for EventWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match self {
            EventWriter::Queued(_, line) => {
                line.extend_from_slice(bytes);
                Ok(bytes.len())
            }
            EventWriter::Direct(stderr) => stderr.write(bytes),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            EventWriter::Queued(..) => Ok(()),
            EventWriter::Direct(stderr) => stderr.flush(),
        }
    }
}

impl Drop for EventWriter<'_> {
    fn drop(&mut self) {
        if let EventWriter::Queued(queue, line) = self
            && !line.is_empty()
        {
            queue.offer(std::mem::take(line), 1);
        }
    }
}

impl<'a> MakeWriter<'a> for LogQueue {
    type Writer = EventWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter::Queued(self, Vec::with_capacity(256))
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        if *meta.level() == tracing::Level::ERROR {
            EventWriter::Direct(std::io::stderr())
        } else {
            self.make_writer()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue_of(entries: usize) -> (LogQueue, Receiver<Vec<u8>>) {
        let (sender, lines) = sync_channel(entries);
        let (_, done) = sync_channel(1);
        let queue = LogQueue {
            inner: Arc::new(Inner {
                sender,
                dropped: Arc::new(AtomicU64::new(0)),
                queued_bytes: Arc::new(AtomicUsize::new(0)),
                done: Mutex::new(done),
            }),
        };
        (queue, lines)
    }

    /// A queue full in bytes drops and counts a shard's batch of request lines, and
    /// takes batches again once the writer took what was queued.
    #[test]
    fn queue_full_in_bytes_drops_whole_batches() {
        let (queue, lines) = queue_of(QUEUE_LINES);
        let batch = vec![b'x'; QUEUE_BYTES_MAX / 2 + 1];
        queue.push_lines(batch.clone(), 10);
        queue.push_lines(batch.clone(), 10);
        assert_eq!(queue.inner.dropped.load(Ordering::Relaxed), 10);
        let taken = lines.try_recv().expect("the first batch is queued");
        queue
            .inner
            .queued_bytes
            .fetch_sub(taken.len(), Ordering::Relaxed);
        queue.push_lines(batch, 10);
        assert_eq!(queue.inner.dropped.load(Ordering::Relaxed), 10);
        assert!(lines.try_recv().is_ok());
    }

    /// A full queue drops and counts lines instead of waiting.
    #[test]
    fn full_queue_drops_and_counts() {
        let (queue, _lines) = queue_of(1);
        for _ in 0..3 {
            let mut writer = queue.make_writer();
            writer.write_all(b"line\n").unwrap();
        }
        assert_eq!(queue.inner.dropped.load(Ordering::Relaxed), 2);
    }
}
